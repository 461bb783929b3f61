"""Found by a review: a stale quote on a position a live reset carried at a GAIN, part of which
was closed after the reset and bought back (same direction, the gateway's position never flat:
its open time stays before the reset). `RuleContext.stale_value` takes off the carry of every
contract carried (size >= carried n) although only one of the two carried contracts is still
held: the closed one's carried gain (already realized in the day) is taken off again, and the
stale position reads as a loss the loss limit leaves out: false room.

Long 2 MNQ @21,000, at 21,500 (+$2,000) when the 17:00 reset carries it. 17:01 sell 1 @21,500
(+$1,000 realized, all of it carried), buy 1 back @21,500: long 2 @21,250 at 21,500, +$1,000
open; the day reads 0. MNQ then quiet (stale). The trader buys 1 MES @6,000; MES falls to
5,800: -$1,000 today on a $1,000 limit, all of it MES's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import MES, MNQ, fill, position, quote, rule_driver

MON_RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday 17:00 CST


@pytest.mark.parametrize("trade_back", [False, True])
def test_a_partly_closed_and_rebought_carried_gain_is_no_room(trade_back: bool) -> None:
    entry = MON_RESET - timedelta(minutes=10)
    d = rule_driver(DailyLossLimit, now=entry, limit="1000")
    d.send(
        fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now),
        position(MNQ, 2, "21000", at=entry),
        quote(MNQ, "21500", at=d.now),
    )
    d.at(MON_RESET)
    assert d.acct.day.carry == 2000
    d.now = MON_RESET + timedelta(minutes=1)
    d.send(quote(MNQ, "21500", at=d.now))
    if trade_back:
        d.send(
            fill(MNQ, Side.SELL, 1, "21500", order_id=2, at=d.now, pnl="1000"),
            position(MNQ, 1, "21000", at=entry),
        )
        d.now += timedelta(seconds=1)
        d.send(
            fill(MNQ, Side.BUY, 1, "21500", order_id=3, at=d.now),
            position(MNQ, 2, "21250", at=entry),  # the gateway's position: opened before
        )
    assert d.acct.day_pnl(with_unrealized=True) == 0  # MNQ made nothing since the reset
    d.now += timedelta(minutes=1)  # MNQ quiet since: stale
    d.send(
        fill(MES, Side.BUY, 1, "6000", order_id=4, at=d.now),
        position(MES, 1, "6000", at=d.now),
        quote(MES, "5850", at=d.now),
    )
    assert d.acct.day_pnl(with_unrealized=True) == -750
    assert d.acct.state is State.Trading
    d.send(quote(MES, "5800", at=d.now))  # -$1,000 today, all of it MES's
    assert d.acct.day_pnl(with_unrealized=True) == -1000
    assert d.acct.state is not State.Trading, "the closed contract's carried gain read as room"


@pytest.mark.parametrize("kept_open_time", [False, True])
def test_a_reversal_of_a_carried_gain_carries_nothing(kept_open_time: bool) -> None:
    """The carried long 2 sold 4 after the reset: short 2 @21,500, opened since. The paper
    gateway stamps a reversal anew; whether the real gateway keeps the position's
    creationTimestamp (same position id) is unverified: kept, the short is offset by the long's
    carried +$2,000 and its 0 since reads as -$2,000 left out."""
    entry = MON_RESET - timedelta(minutes=10)
    d = rule_driver(DailyLossLimit, now=entry, limit="1000")
    d.send(
        fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now),
        position(MNQ, 2, "21000", at=entry),
        quote(MNQ, "21500", at=d.now),
    )
    d.at(MON_RESET)
    d.now = MON_RESET + timedelta(minutes=1)
    d.send(
        quote(MNQ, "21500", at=d.now),
        fill(MNQ, Side.SELL, 4, "21500", order_id=2, at=d.now, pnl="2000"),
        position(MNQ, 2, "21500", long=False, at=entry if kept_open_time else d.now),
    )
    assert d.acct.day_pnl(with_unrealized=True) == 0
    d.now += timedelta(minutes=1)  # MNQ quiet since: stale
    d.send(
        fill(MES, Side.BUY, 1, "6000", order_id=4, at=d.now),
        position(MES, 1, "6000", at=d.now),
        quote(MES, "5800", at=d.now),
    )
    assert d.acct.day_pnl(with_unrealized=True) == -1000
    assert d.acct.state is not State.Trading, "the long's carried gain offset the short"
