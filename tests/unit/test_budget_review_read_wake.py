"""Found by a review of the request budget (closes out of the reserve): when the reads' share
(closes apart) is used, `wait_for(READ)` answers the moment the whole window holds fewer than
150, not the moment the reads' share does: the line's timer wakes later than the window has room
(nothing else wakes it while no request is answered)."""

from __future__ import annotations

from fsm_risk.adapters.broker import Priority, RequestBudget


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def test_the_reads_wake_when_their_share_has_room() -> None:
    clock = Clock()
    budget = RequestBudget(limit=200, window=60, reserve=50, monotonic=clock)
    for i in range(150):  # a large book's periodic reads, one every 0.4 s
        clock.t = i * 0.4
        async with budget.slot(Priority.READ):
            pass
    clock.t = 59.8
    for _ in range(25):  # 25 closes (a fall through 25 accounts' loss limits)
        async with budget.slot(Priority.CLOSE):
            pass
    said = budget.wait_for(Priority.READ)
    t = 59.8
    while budget.wait_for(Priority.READ, now=t) != 0:
        t += 0.01
    assert said <= t - 59.8 + 0.05, f"said {said:.2f} s, room after {t - 59.8:.2f} s"
