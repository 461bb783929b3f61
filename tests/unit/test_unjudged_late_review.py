"""Found by a review of 7fd1e65 (the wait for a trades read ended 120 s after it began
whatever the reads do, two budget windows, where a start-up of many exposed accounts lands
its reads): a HEALTHY read merely queued 130 s (no read failing), a win while down, was
flattened on the estimate; the wait is five windows now."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import TradesSnapshot
from fsm_risk.core.states import State
from tests.factories import ACC, MNQ, quote
from tests.unit.test_unjudged import WON
from tests.unit.test_unread import BOUGHT, closes, restarted


def test_a_healthy_read_queued_130_s_a_win_while_down_is_not_flattened() -> None:
    """+$400 won while down, -$600 open on a $500 limit: the exact day is -$200 (no breach).
    No read fails; the trades read is queued behind the start-up's reads and lands at 130 s."""
    d = restarted("50400")
    d.send(quote(MNQ, "20850"))  # -$600 open
    sent = []
    for _ in range(13):  # a quote every 10 s; no read fails, none lands yet
        d.now += timedelta(seconds=10)
        sent += closes(d.send(quote(MNQ, "20850", at=d.now)))
    state = d.acct.state.name
    d.send(TradesSnapshot(ACC, d.acct.week.start, (BOUGHT, *WON), frozenset({101})))
    assert d.acct.day.realized == 400  # the truth: +400 - 600 open = -200 on a $500 limit
    assert not sent, f"2 MNQ closed at {state} on the estimate; the exact day was -$200"
    assert d.acct.state is State.Trading
