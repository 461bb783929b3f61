"""A position carried across the reset keeps its value when a restart reads it back.

Long 3 MNQ from 21,000 at 21,300 at the daily reset: the new day carries +$1,800, its day
P&L $0. The service restarts mid-day: the restore values the position at the last price known
(stale, no quote yet), $0 for the day. The start-up read's position then replaced it before
the first quote came, and counted nothing: the day read -$1,800 (0 open against the carry),
past the $1,000 limit: the winning position was flattened and the account locked for the day.
Read back, it keeps the last price known until a quote comes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import partial

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    MNQ,
    T0,
    fill,
    flat,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
)

daily_loss = partial(rule_engine, DailyLossLimit, limit="1000")


def test_a_carried_position_read_back_after_a_restart_is_not_a_loss_of_its_carry() -> None:
    d = rule_driver(DailyLossLimit, limit="1000")
    d.send(position(MNQ, 3, "21000"), quote(MNQ, "21300"))
    reset = d.engine.calendar.next_daily_reset(T0)
    d.at(reset)
    assert d.acct.day.carry == Decimal("1800.00")
    again = restart(d, daily_loss, at=reset + timedelta(minutes=10))
    assert again.acct.day_pnl(with_unrealized=True) == 0
    start_up_read(again, position(MNQ, 3, "21000"))
    assert again.acct.positions[MNQ].upnl == Decimal("1800.00")  # the last price known
    assert again.acct.day_pnl(with_unrealized=True) == 0
    assert again.acct.state is State.Trading
    # a fresh quote values it from then on: a real fall of $1,050 since the reset fires
    later = reset + timedelta(minutes=11)
    again.send(quote(MNQ, "21125", at=later))
    assert again.acct.day_pnl(with_unrealized=True) == Decimal("-1050.00")
    assert again.acct.state is State.Flattening


def test_a_restores_stale_price_never_values_a_position_opened_after_the_contract_was_let_go() -> (
    None
):
    """The restore's last price known values only what it restored: once the contract is
    flat and unwatched, a position opened later waits for a fresh quote as any other."""
    d = rule_driver(DailyLossLimit, limit="1000")
    d.send(position(MNQ, 3, "21000"), quote(MNQ, "21300"))
    reset = d.engine.calendar.next_daily_reset(T0)
    d.at(reset)
    again = restart(d, daily_loss, at=reset + timedelta(minutes=10))
    start_up_read(again, position(MNQ, 3, "21000"))
    later = reset + timedelta(hours=2)
    again.now = later
    again.send(fill(MNQ, Side.SELL, 3, "21300", pnl="900", at=later), flat(MNQ, at=later))
    # bought far below the old price
    again.send(fill(MNQ, Side.BUY, 1, "20000", at=later), position(MNQ, 1, "20000", at=later))
    assert not again.acct.positions[MNQ].priced  # no fresh quote yet: not valued at 21,300
    assert again.acct.state is State.Trading
