"""Found by a review of the positions left to the trades read: a position opened while the
day's lock was real (the service down, before the reset), held across the reset, is closed at
the restart after it, as under any lock (it was left to the read, and the read kept it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    MNQ,
    closes,
    fill,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
    transitions,
)

TUESDAY = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # Tuesday 17:00 CST, a daily reset
daily = partial(rule_engine, DailyLossLimit, limit="500")


def test_a_position_opened_under_the_real_lock_while_down_is_closed_at_the_restart() -> None:
    d = rule_driver(DailyLossLimit, now=TUESDAY - timedelta(hours=2), limit="500")
    d.send(
        fill(MNQ, Side.BUY, 2, "20150", order_id=4, trade_id=8, at=d.now),
        position(MNQ, 2, "20150", at=d.now),
        fill(MNQ, Side.SELL, 2, "20000", pnl="-603", order_id=5, trade_id=9, at=d.now),
        position(MNQ, 0, "20000", at=d.now),
    )
    assert d.acct.state is State.LockedDaily
    # the service stops at 15:30; at 16:50, the day still locked, the trader buys 2 MNQ
    d.now += timedelta(minutes=30)
    again = restart(d, daily, at=TUESDAY + timedelta(minutes=5))
    locked_buy = TUESDAY - timedelta(minutes=10)
    out = again.send(quote(MNQ, "20000", at=again.now))
    again.now += timedelta(seconds=3)
    read = start_up_read(
        again,
        fill(MNQ, Side.BUY, 2, "20000", order_id=50, trade_id=50, at=locked_buy),
        position(MNQ, 2, "20000", at=locked_buy),  # (its open time at the gateway)
    )
    assert [c.contract_id for c in closes(out + read)][:1] == [MNQ]
    assert ("CON.F.US.MNQ.Z26", "Trading", "Flattening", "breach") in transitions(read)
