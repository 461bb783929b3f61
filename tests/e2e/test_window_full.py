"""The gateway's window full (another program on the same API key): a 429 tells the request
budget, the reads wait until the window the gateway implies has passed, and closes still go
at their pace. The real SDK in the service, the paper gateway answering 429 to every request.

Reported: a trader's bot on the same key, behind a proxy counting the gateway's per-key limit,
filled the window. The budget believed the window was its own: periodic reconciliation,
balance confirmations and order searches kept being sent, each answered 429 (three sends a
read), so the reserve kept for enforcement protected nothing, and closes and cancels, sent
again a second after their own 429, competed with our own reads for whatever slot freed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from fsm_risk import status
from tests.e2e.service_harness import MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 1
[rule.max_contracts]
limit = 5
"""
READS = ("/Order/searchOpen", "/Position/searchOpen", "/Trade/search", "/Account/search")
FULL = "request window for this API key is full"


def reads(paths: list[str]) -> list[str]:
    return [p for p in paths if p.endswith(READS)]


async def soon(predicate: Callable[[], object], what: str, timeout: float = 10) -> None:
    """Wait for something the service's events do not signal (the gateway's or the budget's
    state): looked at every 20 ms."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)
    assert predicate(), what


@pytest.mark.parametrize("retry_after", [True, False])
async def test_while_the_gateway_answers_429_reads_wait_and_a_close_goes_once_it_accepts(
    h: Harness, retry_after: bool
) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 5)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 5, "5 held")
    done = h.svc.broker.health.reads
    await h.until(lambda: h.svc.broker.health.reads >= done + 1, "a periodic read", 10)

    seconds = 14.0
    h.gateway.limit_rest(seconds, retry_after=retry_after)  # the other program, for 14 s
    loop = asyncio.get_running_loop()
    ends = loop.time() + seconds
    # the next periodic read is answered 429: the budget learns the window is full
    await soon(lambda: reads(h.gateway.limited), "a read answered 429")
    # `status` says so while it lasts (the feed itself is up)
    await soon(lambda: h.svc.health()["reads_held_back"] >= 1, "reads held back")
    shown = status.render(h.svc.status(), color=False)
    assert "the gateway's limit for this API key is full" in shown, shown
    h.trade("MNQ", "buy", 1)  # 6 > 5: the reduce meets the full window
    while loop.time() < ends - 1:
        await asyncio.sleep(1.0)
        await h.advance(seconds=1)  # the reduce's retry a second later (the service's clock)
    refused = list(h.gateway.limited)
    sent_reads = reads(refused)
    closes = [p for p in refused if p.endswith("/Position/partialCloseContract")]
    # every read sent while the gateway said full was the one that told the budget (a read
    # of the position the reduce changed may have been in flight then)
    assert len(sent_reads) <= 2, sent_reads
    assert len(closes) >= 3, refused  # the reduce still went at its pace, every second
    assert h.position("MNQ") == 6
    told = [m for m in h.logs if FULL in m]
    assert len(told) == 1, told  # said once, not once per request
    assert "closes and cancels still go" in told[0]
    assert ("its Retry-After" in told[0]) is retry_after or not retry_after

    # the other program is done: the next retry of the reduce goes, and is taken
    await asyncio.sleep(max(0.0, ends - loop.time()) + 0.1)
    await h.advance(seconds=1)
    await h.gw_until(lambda: h.position("MNQ") == 5, "reduced to the limit", 5)
    assert [c.size for c in h.closes("MNQ")] == [1]
    # the budget recovers by itself: the reads go again once the window it implied passed
    # (Retry-After: the seconds left; none: one window of the budget's)
    if retry_after:
        later = h.svc.broker.health.reads
        await h.until(lambda: h.svc.broker.health.reads > later, "periodic reads again", 10)
        assert h.svc.broker.budget.full_until is None
        assert h.svc.health()["reads_held_back"] == 0
        assert any("the gateway takes requests again" in m for m in h.logs)
    assert len(reads(h.gateway.limited)) == len(sent_reads)  # no read met a 429 since
