"""A reset missed while the service was stopped is valued at the prices at the reset (read
from the gateway's history by the shell and handed to the restore), each reset at its own
instant; a contract without one falls back to the price last known before the stop."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.states import State
from fsm_risk.core.timers import missed_resets
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ES,
    MNQ,
    Driver,
    account,
    make_engine,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
)
from tests.unit.test_missed_reset_trades_while_down import whole_read

NEXT_DAY = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # the daily reset after T0 (Monday)
NEXT_WEEK = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # the weekly reset after T0 (Sunday)
MONDAY = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # the daily reset after it
D = Decimal


def both() -> RiskEngine:
    return make_engine({DailyLossLimit: {"limit": "1000"}, TrailingDrawdown: {"drawdown": "2000"}})


def test_the_day_missed_while_stopped_starts_at_the_price_at_the_reset() -> None:
    """The tester's case: 3 MNQ from 21,000 at 20,900 (-$600) when serve is killed; the price
    is 21,300 at the reset (+$1,800). The new day carries the +$1,800 and the end-of-day peak
    is 51,800 (at the stop's prices: -$600 carried, peak 50,000, and a fall back to 20,900 read
    as the day +$0 though $2,400 was lost since the reset)."""
    d = Driver(both())
    d.send(account("50000"), position(MNQ, 3, "21000"), quote(MNQ, "20900"))
    later = NEXT_DAY + timedelta(minutes=10)
    again = restart(d, both, at=later, at_reset={NEXT_DAY: {MNQ: D("21300")}})
    assert again.acct.day.start == NEXT_DAY and again.acct.day.carry == D("1800")
    assert D(again.acct.rule_state["RULE-004"]["peak"]) == D("51800")
    # valued at the price at the reset (stale: no fresh quote yet), not at the stop's: a
    # stale loss of $600 against a carry of +$1,800 would fire the $1,000 limit at once
    assert again.acct.positions[MNQ].upnl == D("1800")
    assert again.acct.state is State.Trading
    # the start-up read: nothing traded while stopped (the P&L rules wait for its trades)
    whole_read(again, [], "50000", positions=[position(MNQ, 3, "21000")])
    assert again.acct.state is State.Trading and again.acct.day.carry == D("1800")
    again.send(quote(MNQ, "21300", at=later))
    assert again.acct.day_pnl(with_unrealized=True) == 0
    again.send(quote(MNQ, "20900", at=later))
    assert again.acct.day_pnl(with_unrealized=True) == D("-2400")
    assert again.acct.state is State.Flattening
    assert {"RULE-003", "RULE-004"} <= set(again.acct.holds)


def test_the_week_and_the_day_each_carry_the_price_at_their_own_reset() -> None:
    """Stopped on Monday, started on Tuesday: the week began Sunday 17:00 (MNQ 21,200), the
    day Monday 17:00 (MNQ 21,300)."""
    d = rule_driver(DailyLossLimit, limit="1000")
    d.send(position(MNQ, 3, "21000"), quote(MNQ, "20900"))
    prices = {NEXT_WEEK: {MNQ: D("21200")}, MONDAY: {MNQ: D("21300")}}
    again = restart(
        d,
        partial(rule_engine, DailyLossLimit, limit="1000"),
        at=MONDAY + timedelta(hours=16),
        at_reset=prices,
    )
    assert (again.acct.week.start, again.acct.week.carry) == (NEXT_WEEK, D("1200"))
    assert (again.acct.day.start, again.acct.day.carry) == (MONDAY, D("1800"))


def test_two_accounts_on_one_contract_share_the_price_at_the_reset() -> None:
    d = rule_driver(DailyLossLimit, limit="1000")
    d.send(position(MNQ, 3, "21000"), quote(MNQ, "21105"))
    other = Driver(d.engine, acc=2002)
    other.send(account("50000", acc=2002), position(MNQ, 1, "21100", acc=2002))
    again = restart(
        d,
        partial(rule_engine, DailyLossLimit, limit="1000"),
        at=NEXT_DAY,
        at_reset={NEXT_DAY: {MNQ: D("21300")}},
    )
    carries = {i: a.day.carry for i, a in again.engine.accounts.items()}
    assert carries == {d.acc: D("1800"), 2002: D("400")}


def test_a_contract_without_a_price_at_the_reset_falls_back_to_the_last_known() -> None:
    """ES's price at the reset was read (6,020: +$1,000), MNQ's was not: MNQ counts at its
    last price before the stop (21,105: +$630)."""
    d = rule_driver(DailyLossLimit, limit="1000")
    d.send(position(MNQ, 3, "21000"), quote(MNQ, "21105"))
    d.send(position(ES, 1, "6000"), quote(ES, "6010"))
    again = restart(
        d,
        partial(rule_engine, DailyLossLimit, limit="1000"),
        at=NEXT_DAY + timedelta(minutes=1),
        at_reset={NEXT_DAY: {ES: D("6020")}, NEXT_WEEK: {MNQ: D("1")}},
    )
    assert again.acct.day.carry == D("1630")
    assert again.acct.week.carry == 0  # the week has not ended: the other instant is unused


def test_the_prices_a_restore_wants_are_the_contracts_held_at_each_missed_reset() -> None:
    d = rule_driver(DailyLossLimit, limit="1000")
    d.send(position(MNQ, 3, "21000"), position(ES, 1, "6000"))
    snap = json.loads(json.dumps(d.acct.to_dict()))
    cal = d.engine.calendar
    tuesday = MONDAY + timedelta(hours=16)
    # every reset passed while stopped (each end of day is a peak of its own), in time order
    days = [NEXT_DAY + timedelta(days=k) for k in range(8)]
    assert days[6] == NEXT_WEEK and days[7] == MONDAY
    assert missed_resets(cal, snap, tuesday) == [(at, c) for at in days for c in (ES, MNQ)]
    assert missed_resets(cal, snap, NEXT_DAY) == [(NEXT_DAY, ES), (NEXT_DAY, MNQ)]
    assert missed_resets(cal, snap, NEXT_DAY - timedelta(seconds=1)) == []  # still its day
    flat = rule_driver(DailyLossLimit, limit="1000", balance="50000")
    assert missed_resets(cal, json.loads(json.dumps(flat.acct.to_dict())), tuesday) == []
