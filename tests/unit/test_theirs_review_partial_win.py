"""Found by a review of 4095b8f: a trip the trader partly exited at a small profit, the rest closed
by our stop-loss close at a large loss, is judged on his part: a WIN, which resets RULE-011's
streak (before: the service's trip counted nothing, the streak ran on)."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.rules.max_consecutive_losses import MaxConsecutiveLosses
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from tests.factories import (
    MNQ,
    Driver,
    account,
    closes,
    fill,
    flat,
    make_engine,
    order,
    position,
    quote,
)

_ids = iter(range(8_900_000, 10**9))


def _losing_trip(d: Driver) -> None:
    d.send(
        fill(MNQ, Side.BUY, 1, "21000", order_id=next(_ids), at=d.now),
        position(MNQ, 1, "21000", at=d.now),
        fill(MNQ, Side.SELL, 1, "20990", pnl="-20", order_id=next(_ids), at=d.now),
        flat(MNQ, at=d.now),
    )
    d.now += timedelta(minutes=1)


def test_his_winning_part_of_a_trip_our_stop_closed_does_not_reset_the_streak() -> None:
    d = Driver(
        make_engine({MaxConsecutiveLosses: {"losses": "2"}, PositionStopLoss: {"limit": "500"}})
    )
    d.send(account())
    _losing_trip(d)  # loss 1
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    d.send(fill(MNQ, Side.SELL, 1, "21005", pnl="10", order_id=next(_ids), at=d.now))  # his +10
    d.send(position(MNQ, 2, "21000", at=d.now))
    d.now += timedelta(seconds=30)
    d.send(quote(MNQ, "20850", at=d.now))  # -600 open on 2: RULE-014 closes
    assert len(closes(d.effects)) == 1
    ours = next(_ids)
    d.send(
        order(ours, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.FILLED, at=d.now)
    )
    d.send(fill(MNQ, Side.SELL, 2, "20850", pnl="-600", order_id=ours, at=d.now))
    d.send(flat(MNQ, at=d.now))
    d.now += timedelta(minutes=1)
    _losing_trip(d)  # loss: the trader's second losing trip in a row he closed himself
    assert "RULE-011" in d.acct.holds, "a -590 trip counted as his win: the streak was reset"
