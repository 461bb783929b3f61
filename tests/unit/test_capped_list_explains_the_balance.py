"""A trades list capped newest first that holds every trade the service knows, but not the
trades of a loss made while it was down, is no complete list: it must end neither the estimate
nor the lock made on it, nor the week's fall."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import Side, Tick
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import GRACE
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    balance_read,
    fill,
    flat,
    position,
    quote,
    restart,
    start_listed,
)
from tests.unit.test_estimate_lock_kept_by_an_incomplete_list import read
from tests.unit.test_hidden_loss_kept_for_the_week import daily_500_weekly_1500


def test_a_capped_list_holding_only_the_trades_made_since_the_restart_keeps_the_estimate_lock() -> (
    None
):
    """Found by a review of f9ca9b8: a capped list lacking no trade the service had applied was
    taken as complete though its trades did not explain the balance's fall: the estimate lock
    ended, the week's fall was forgotten, and a real -$1,000 on a $500 limit traded on.

    A fresh week, $50,000 stored, flat, no trade yet. While the service is down the trader
    loses $1,000 (its trades never heard); restarted, the balance is listed and read 49,000. He
    makes a round trip at no P&L (trades 130/131, heard live) while the trades search fails;
    past the grace RULE-003 ($500) locks on the estimate (-1,000). The search answers again,
    capped at its newest 2: 130 and 131, the only trades the service knows. It lacks the
    -$1,000's trades: the day is -$1,000 on a $500 limit and the lock must hold."""
    d = Driver(daily_500_weekly_1500())
    d.send(account("50000"))
    again = restart(d, daily_500_weekly_1500, at=d.now + timedelta(minutes=5))
    start_listed(again, "49000")
    balance_read(again, "49000")
    t = again.now
    again.send(
        fill(MNQ, Side.BUY, 1, "21000", order_id=30, trade_id=130, at=t),
        position(MNQ, 1, "21000", at=t),
        quote(MNQ, "21000", at=t),
    )
    again.send(
        fill(MNQ, Side.SELL, 1, "21000", pnl="0", order_id=31, trade_id=131, at=t),
        flat(MNQ, at=t),
        Tick(ACC, unread=True),
    )
    again.advance(seconds=GRACE.total_seconds() + 1)
    assert again.acct.state is State.LockedDaily, again.acct.state
    trip = (
        fill(MNQ, Side.BUY, 1, "21000", order_id=30, trade_id=130, at=t),
        fill(MNQ, Side.SELL, 1, "21000", pnl="0", order_id=31, trade_id=131, at=t),
    )
    read(again, trip)  # capped at 2: the -$1,000's trades left out
    assert again.acct.state is State.LockedDaily and "RULE-003" in again.acct.holds, (
        f"a real -$1,000 on a $500 daily limit: {again.acct.state}, day "
        f"{again.acct.day.realized}, week hidden {again.acct.week.hidden}"
    )
