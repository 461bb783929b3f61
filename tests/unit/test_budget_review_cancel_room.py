"""Found by a review of the request budget (closes out of the reserve): the room cancels (and the
reads a close waits on, and the silent contract's price reads) keep above ordinary reads, once
closes went in the window.

A restart: 30 accounts breach at once (30 closes), ordinary start-up reads queued for 150+
accounts. A locked account's trader then places a limit order: its cancel must go at once (SPEC:
"cancelled on sight"); before 33727ee it had 25 slots reads could never take."""

from __future__ import annotations

import asyncio

import pytest

from fsm_risk.adapters.broker import Priority, RequestBudget


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def restart_with_closes_and_queued_reads(closes: int) -> tuple[RequestBudget, Clock, list]:
    clock = Clock()
    budget = RequestBudget(limit=200, window=60, reserve=50, monotonic=clock)
    for _ in range(closes):  # the breached accounts' closes, sent and answered at t=0
        async with budget.slot(Priority.CLOSE):
            pass
    granted: list[int] = []

    async def read(i: int) -> None:  # a start-up read: answered at once, its slot stamped
        async with budget.slot(Priority.READ):
            granted.append(i)

    tasks = [asyncio.ensure_future(read(i)) for i in range(300)]  # 150 accounts x 2 reads
    await settle()
    clock.t += 1.0  # one second later
    return budget, clock, [granted, tasks]


@pytest.mark.parametrize("closes", [0, 10, 25, 30])
@pytest.mark.parametrize("priority", [Priority.CANCEL, Priority.READ_FOR_CLOSE, Priority.PRICE])
async def test_a_cancel_after_the_closes_is_not_held_behind_the_reads(
    closes: int, priority: Priority
) -> None:
    budget, _clock, (granted, tasks) = await restart_with_closes_and_queued_reads(closes)
    try:
        assert budget.wait_for(priority) == 0, (
            f"{priority.name} waits {budget.wait_for(priority)} s behind {len(granted)} reads "
            f"(window {budget.used}/200 after {closes} closes)"
        )
    finally:
        for t in tasks:
            t.cancel()
        await settle()
