"""The gateway's window is the API key's: a 429 tells the request budget it is full.

Reported: a trader's bot on the same API key filled the gateway's window (200 a minute). The
budget believed the window was its own: ordinary reads (periodic reconciliation, balance
confirmations, order searches) kept being sent, each answered 429, so the reserve kept for
enforcement protected nothing, and closes and cancels sent again a second after their own 429
competed with our own reads. Now a 429 holds the reads back until the window the gateway
implies has passed (its Retry-After, else one window), closes and cancels still go, and one
read sent alone after the wait decides whether reads go as usual again. Time is an input: a
fake clock, and the budget's timer run by hand at its time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from project_x_py.exceptions import ProjectXRateLimitError

from fsm_risk.adapters.broker import (
    Credentials,
    Priority,
    ProjectXBroker,
    RequestBudget,
    sdk_config,
)
from fsm_risk.adapters.wire import RateLimited, retry_after_seconds
from tests.unit.test_request_budget import Clock, settle, waiter

CLOSE, READ_FOR_CLOSE, CANCEL, READ = (
    Priority.CLOSE,
    Priority.READ_FOR_CLOSE,
    Priority.CANCEL,
    Priority.READ,
)
URLS = ("http://127.0.0.1:9/api", "http://127.0.0.1:9/hubs/user", "http://127.0.0.1:9/hubs/market")


async def test_a_429_holds_the_reads_back_for_its_retry_after_while_closes_and_cancels_go() -> None:
    clock = Clock()
    budget = RequestBudget(limit=200, window=60, reserve=50, monotonic=clock)
    assert budget.refused(10.0) == 10.0  # news: said once
    for read in (READ, READ_FOR_CLOSE):
        assert budget.wait_for(read) == 10.0
    assert budget.wait_for(CLOSE) == 0 and budget.wait_for(CANCEL) == 0
    clock.t += 4
    assert budget.refused(2.0) is None  # known already: not said again
    assert budget.wait_for(READ) == 6.0  # the later of the two ends
    assert budget.refused(9.0) is None and budget.wait_for(READ) == 9.0
    assert budget.refusals == 3


def test_a_429_long_after_a_wait_nothing_ended_is_news_again() -> None:
    clock = Clock()
    budget = RequestBudget(limit=200, window=60, reserve=50, monotonic=clock)
    assert budget.refused(5.0) == 5.0
    clock.t += 5 + 59
    assert budget.refused(5.0) is None  # within a window of the last: the same story
    clock.t += 5 + 60  # nothing sent since: the next 429 is a new story, said again
    assert budget.refused(8.0) == 8.0 and budget.refusals == 1
    assert budget.wait_for(READ) == 8.0


@pytest.mark.parametrize(
    ("retry_after", "held"),
    [(None, 60.0), (3600.0, 60.0), (0.0, 1.0), (0.2, 1.0), (17.0, 17.0)],
)
def test_the_wait_a_429_imposes_is_its_retry_after_within_a_second_and_one_window(
    retry_after: float | None, held: float
) -> None:
    """No Retry-After: one window (by then every request the gateway counted before it has
    left its window); a long one is looked at again after a window, a zero one after 1 s."""
    clock = Clock()
    budget = RequestBudget(limit=200, window=60, reserve=50, monotonic=clock)
    assert budget.refused(retry_after, now=clock.t) == held
    assert budget.wait_for(READ, clock.t) == held


async def test_reads_waiting_for_the_gateway_do_not_hold_back_a_cancel_or_a_close() -> None:
    clock = Clock()
    budget = RequestBudget(limit=4, window=60, reserve=1, monotonic=clock)
    for _ in range(4):  # our own window full of closes answered now
        async with budget.slot(CLOSE):
            pass
    clock.t += 50
    budget.refused(30.0)  # the gateway full until 80 s from the start
    log: list[str] = []
    read = waiter(budget, READ_FOR_CLOSE, "read for close", log)
    cancel = waiter(budget, CANCEL, "cancel", log)
    await settle()
    assert budget.queued == {READ_FOR_CLOSE: 1, CANCEL: 1}
    clock.t += 10  # our window frees: the cancel goes, the read waits for the gateway
    budget._serve()
    await settle()
    assert log == ["cancel"] and budget.queued == {READ_FOR_CLOSE: 1}
    await asyncio.wait_for(budget.acquire(CLOSE), 1)  # at once: the read waits on the gateway
    await cancel
    clock.t += 20
    budget._serve()
    await settle()
    assert log == ["cancel", "read for close"]
    await read


async def test_after_the_wait_one_read_goes_alone_and_its_answer_decides() -> None:
    clock = Clock()
    budget = RequestBudget(limit=200, window=60, reserve=50, monotonic=clock)
    budget.refused(5.0)
    log: list[str] = []
    first = waiter(budget, READ, "read 1", log)
    second = waiter(budget, READ_FOR_CLOSE, "read for close", log)
    third = waiter(budget, READ, "read 2", log)
    await settle()
    clock.t += 4.9
    budget._serve()
    await settle()
    assert log == []  # not before the gateway's word
    clock.t += 0.1
    budget._serve()
    await settle()
    assert log == ["read for close"]  # the first in line goes, alone
    assert budget.wait_for(READ) is None  # the others wait for its answer
    budget.refused(5.0)  # answered 429 again: the window is still full
    budget.release()
    await settle()
    assert log == ["read for close"] and budget.full_until == clock.t + 5
    clock.t += 5
    budget._serve()
    await settle()
    assert log == ["read for close", "read 1"]
    budget.release()  # answered: the gateway takes requests again, every read goes
    await settle()
    assert log == ["read for close", "read 1", "read 2"] and budget.full_until is None
    await asyncio.gather(first, second, third)


async def test_any_request_answered_once_the_wait_is_over_ends_it() -> None:
    clock = Clock()
    budget = RequestBudget(limit=200, window=60, reserve=50, monotonic=clock)
    await budget.acquire(CLOSE)
    budget.refused(3.0)
    budget.release()  # answered within the wait: it still holds
    assert budget.full_until is not None
    await budget.acquire(CLOSE)  # a close a second later (its retry) ...
    clock.t += 3
    budget.release()  # ... answered once the wait is over: the window had room
    assert budget.full_until is None and budget.wait_for(READ) == 0


async def test_a_read_given_its_turn_alone_and_cancelled_lets_the_next_one_go() -> None:
    clock = Clock()
    budget = RequestBudget(limit=200, window=60, reserve=50, monotonic=clock)
    budget.refused(1.0)
    log: list[str] = []
    gone = waiter(budget, READ, "gone", log)
    kept = waiter(budget, READ, "kept", log)
    await settle()
    clock.t += 1
    budget._serve()  # "gone" is given its turn ...
    gone.cancel()  # ... as its caller is cancelled
    await settle()
    assert log == ["kept"]
    await kept


# -- the broker tells the budget ---------------------------------------------------------------


class Limited:
    """The SDK client: every read answered 429 as the SDK words it, until ``until`` reads."""

    def __init__(self, refuse: int, message: str) -> None:
        self.session_token = "good"
        self.headers: dict[str, str] = {}
        self.refuse, self.message = refuse, message
        self.sent: list[str] = []

    async def _execute_http_request(
        self, method: str, path: str, data: Any = None, retry_count: int = 0
    ) -> Any:
        self.sent.append(path)
        if len(self.sent) <= self.refuse:
            raise ProjectXRateLimitError(self.message)
        return {"success": True, "orders": [], "bars": []}


def broker(budget: RequestBudget, client: Limited) -> ProjectXBroker:
    b = ProjectXBroker(
        sdk_config(*URLS), Credentials("u", "key-0000"), lambda _: None, budget=budget
    )
    b.client = client  # type: ignore[assignment]
    return b


async def test_a_read_answered_429_tells_the_budget_once_and_waits_its_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fsm_risk.adapters.broker as module

    monkeypatch.setattr(module, "READ_RETRY_WAIT", (0.0, 0.0))  # (tenacity's own wait)
    clock = Clock()
    budget = RequestBudget(limit=200, window=60, reserve=50, monotonic=clock)
    client = Limited(2, "Rate limit exceeded, retry after 7s")
    b = broker(budget, client)
    told: list[str] = []
    sink = module.logger.add(lambda m: told.append(str(m)), level="INFO")
    try:
        read = asyncio.ensure_future(b._post("/Order/searchOpen", {"accountId": 1}))
        await settle()
        assert client.sent == ["/Order/searchOpen"]  # answered 429: the rest wait
        assert budget.full_until == clock.t + 7
        clock.t += 7
        budget._serve()
        await settle()
        assert len(client.sent) == 2  # the one sent alone: 429 again, told again
        assert budget.full_until == clock.t + 7
        clock.t += 7
        budget._serve()
        assert await asyncio.wait_for(read, 1) == {"success": True, "orders": [], "bars": []}
    finally:
        module.logger.remove(sink)
    full = [m for m in told if "request window for this API key is full" in m]
    assert len(full) == 1 and "/Order/searchOpen answered 429" in full[0]
    assert "reads wait 7 s (its Retry-After), closes and cancels still go" in full[0]
    assert sum("the gateway takes requests again" in m for m in told) == 1
    assert budget.full_until is None


async def test_a_429_from_the_bars_own_limit_says_nothing_of_the_keys_window() -> None:
    clock = Clock()
    budget = RequestBudget(limit=200, window=60, reserve=50, monotonic=clock)
    b = broker(budget, Limited(5, "Rate limit exceeded, retry after 30s"))
    with pytest.raises(ProjectXRateLimitError):
        await b._post_once("/History/retrieveBars", {}, READ, False)
    assert budget.full_until is None and budget.wait_for(READ) == 0


def test_an_enforcement_429_carries_its_retry_after() -> None:
    from fsm_risk.adapters.wire import _decoded

    with pytest.raises(RateLimited) as refused:
        _decoded("/Order/cancel", 429, b"", {}, "12")
    assert refused.value.retry_after == 12.0
    with pytest.raises(RateLimited) as refused:
        _decoded("/Order/cancel", 429, b"", {})
    assert refused.value.retry_after is None


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        (" 30 ", 30.0),
        ("Sun, 06 Dec 2026 12:00:20 GMT", 20.0),
        ("Sun, 06 Dec 2026 11:59:00 GMT", 0.0),
        ("soon", None),
        ("-3", None),
        (None, None),
    ],
)
def test_a_retry_after_header_is_read_as_seconds_or_a_date(
    header: str | None, seconds: float | None
) -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds(header, now) == seconds
