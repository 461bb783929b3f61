"""Found by a review of the freeze's detection: a stall of the event loop (4 s: a slow
synchronous commit, a blocking call, a loaded machine) was taken for a freeze of the process
(SIGSTOP, a machine's sleep): every account was read again (3 requests each: 543 for 181
accounts) and the deadline rules were held for the reads (RULE-016's close waited for the
position read, 15 s with the reads failing). In a stall the process ran and its sockets kept
what the world said: nothing was missed. Now the beats' own thread tells the two apart: no
read, no rule held, only a warning.

Real SDK, paper gateway, the harness's shared manual clock; the loop stalled for real."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from fsm_risk.paper import PaperGateway
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_read_retries import counted

GRACE = "[rule.stop_loss_required]\ngrace_seconds = 10\n"
READS = ("/Position/searchOpen", "/Order/searchOpen", "/Trade/search")


def stall_the_next_commit(h: Harness, seconds: float) -> None:
    """The database's next commit takes ``seconds`` on the loop (a slow fsync)."""
    store = h.svc.store
    commit = store.commit

    def slow(*args: Any, **kw: Any) -> Any:
        store.commit = commit  # type: ignore[method-assign]
        time.sleep(seconds)
        return commit(*args, **kw)

    store.commit = slow  # type: ignore[method-assign]


@pytest.mark.parametrize("how", ["blocking call", "slow commit"])
async def test_a_stall_of_the_loop_is_no_freeze(
    h: Harness, paper_gateway: PaperGateway, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Long 2 MNQ with no stop (RULE-016, grace 10 s); the gateway's position reads fail (as
    a gateway in trouble). The loop stalls 4 s: nothing is read again, no rule is held; the
    grace passed, the position is closed at once."""
    gw = paper_gateway
    await h.start(GRACE)
    seen = counted(gw, monkeypatch)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position seen")
    gw.fail_rest("/api/Position/searchOpen", 503, 10**9)
    await h.until(lambda: h.svc.queue.empty(), "the queue handled")
    before = len(seen)
    if how == "blocking call":
        time.sleep(4)  # on the loop: the service's tasks (and the gateway's) wait
    else:
        stall_the_next_commit(h, 4)
        h.trade("MNQ", "buy", 1, type=1, limit_price=1000)  # a working order: a commit
        await h.until(lambda: h.acct.orders, "the working order seen", 30)
    await asyncio.sleep(2)  # (wall time: the beats see the gap; any read would be sent)
    reads = [p for p in seen[before:] if p.endswith(READS)]
    assert reads == [], f"read again after a stall of the loop: {reads}"
    assert h.svc.engine.book.thawing == {}, "the deadline rules were held after a stall"
    assert not any("was frozen" in m for m in h.logs)
    assert (h.svc.beats.freezes, h.svc.beats.stalls) == (0, 1)
    assert any("the event loop did not run for" in m for m in h.logs)
    await h.advance(seconds=11)  # RULE-016's grace passed: closed at once
    t0 = time.monotonic()
    await h.gw_until(lambda: h.position("MNQ") == 0, "closed by RULE-016", 30)
    took = time.monotonic() - t0
    assert took < 1.5, f"RULE-016's close came {took:.1f} s after its deadline"
