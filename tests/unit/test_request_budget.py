"""The request budget: 200 per 60 s shared by every REST call, enforcement first."""

from __future__ import annotations

from fsm_risk.adapters.broker import RequestBudget


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def fill(budget: RequestBudget, clock: Clock, n: int) -> None:
    for _ in range(n):
        assert budget.wait_for(enforcement=False) == 0
        budget._sent.append(clock())


def test_reads_stop_at_the_reserve_while_enforcement_still_goes() -> None:
    clock = Clock()
    budget = RequestBudget(limit=200, window=60, reserve=50, monotonic=clock)
    fill(budget, clock, 150)
    assert budget.wait_for(enforcement=False) == 60  # the oldest read leaves in 60 s
    assert budget.wait_for(enforcement=True) == 0  # a close is never behind the reads
    for _ in range(50):
        budget._sent.append(clock())
    assert budget.wait_for(enforcement=True) == 60  # the gateway's own limit still holds


def test_the_window_slides() -> None:
    clock = Clock()
    budget = RequestBudget(limit=10, window=60, reserve=2, monotonic=clock)
    fill(budget, clock, 8)
    clock.t += 30
    assert budget.wait_for(enforcement=False) == 30
    clock.t += 30
    assert budget.wait_for(enforcement=False) == 0 and budget.used == 0


async def test_acquire_records_each_request() -> None:
    clock = Clock()
    budget = RequestBudget(limit=5, window=60, reserve=1, monotonic=clock)
    for _ in range(4):
        await budget.acquire(enforcement=False)
    await budget.acquire(enforcement=True)
    assert budget.used == 5 and budget.waited == 0
