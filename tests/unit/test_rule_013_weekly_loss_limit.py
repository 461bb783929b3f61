"""RULE-013 weekly_loss_limit: the edge to the cent, both bases, the week from the weekly reset,
locks with RULE-003, daylight saving, restart, settings and the cross-check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk import schema
from fsm_risk.config import RuleSettings
from fsm_risk.core.effects import Effect
from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.crosschecks import weekly_not_below_daily
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import (
    ES,
    MNQ,
    T0,
    Driver,
    account,
    closes,
    fill,
    flat,
    make_engine,
    order,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
    transitions,
)

#: the Sunday 17:00 Chicago weekly resets on the days the clocks change
SPRING = datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # CDT: 22:00 UTC
FALL = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # CST: 23:00 UTC
NEXT_WEEK = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # the weekly reset after T0


engine = partial(rule_engine, WeeklyLossLimit, limit="2500")
driver = partial(rule_driver, WeeklyLossLimit, limit="2500")


def lose(d: Driver, pnl: str, fees: str = "0") -> list[Effect]:
    """A closed ES round trip at ``d.now`` with the given P&L."""
    return d.send(
        fill(ES, Side.BUY, 1, "6000", fees=fees, at=d.now),
        fill(ES, Side.SELL, 1, "5990", pnl=pnl, fees=fees, at=d.now),
    )


# --- the edge ------------------------------------------------------------------------------


def test_week_loss_one_cent_short_of_the_limit_does_not_fire() -> None:
    d = driver()
    lose(d, "-2499.99")
    assert d.acct.state is State.Trading and d.acct.holds == {}


def test_week_loss_exactly_at_the_limit_fires_and_locks_until_the_weekly_reset() -> None:
    d = driver()
    out = lose(d, "-2500.00")
    assert d.acct.state is State.LockedWeekly
    hold = d.acct.holds["RULE-013"]
    assert (hold.kind, hold.reason, hold.until) == (
        State.LockedWeekly,
        Reason.WEEKLY_LOSS_LIMIT,
        NEXT_WEEK,
    )
    assert transitions(out) == [
        (None, "Trading", "Flattening", "breach"),
        (None, "Flattening", "LockedWeekly", "flat_confirmed"),
    ]


def test_fees_count_towards_the_limit() -> None:
    d = driver()
    lose(d, "-2495.01", fees="2.50")  # -2495.01 - 5.00 = -2500.01
    assert d.acct.state is State.LockedWeekly


def test_losses_of_several_days_add_up_within_the_week() -> None:
    d = driver()
    lose(d, "-1500")
    d.at(d.engine.calendar.next_daily_reset(T0) + timedelta(hours=16))  # Tuesday morning
    assert d.acct.day.realized == 0 and d.acct.week.realized == Decimal("-1500")
    lose(d, "-999.99")
    assert d.acct.state is State.Trading
    lose(d, "-0.01")
    assert d.acct.state is State.LockedWeekly
    assert d.acct.day.realized == Decimal("-1000.00")  # one day alone is far from the limit


def test_equity_basis_counts_open_loss_and_closes_it() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), order(5, MNQ, Side.SELL, 2, type=OrderType.STOP, stop="1"))
    d.send(quote(MNQ, "20375.25"))  # 2 x 2499 ticks x $0.50 = -$2,499.00
    assert d.acct.state is State.Trading
    out = d.send(quote(MNQ, "20375.00"))  # exactly -$2,500.00
    assert d.acct.state is State.Flattening
    [close] = closes(out)
    assert (close.contract_id, close.rule_id, close.reason) == (
        MNQ,
        "RULE-013",
        Reason.WEEKLY_LOSS_LIMIT,
    )
    d.send(flat(MNQ))
    assert d.acct.state is State.Flattening  # the stop order is still working
    d.send(order(5, MNQ, Side.SELL, 2, type=OrderType.STOP, stop="1", status=OrderStatus.CANCELLED))
    assert d.acct.state is State.LockedWeekly


def test_realized_basis_ignores_open_losses() -> None:
    d = driver(basis="realized")
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "19000"))  # -$8,000 open
    assert d.acct.state is State.Trading
    lose(d, "-2500")
    assert d.acct.state is State.Flattening
    assert [c.contract_id for c in closes(d.effects)] == [MNQ]


def test_a_stale_quotes_loss_never_fires_the_equity_basis() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "20400"))  # -$2,400 open
    d.now = T0 + timedelta(seconds=31)  # the MNQ quote is stale
    d.send(quote(ES, "6000", at=d.now), position(ES, 1, "6000"))
    d.send(quote(ES, "5998", at=d.now))  # -$100 more, fresh: -$2,500, -$2,400 of it stale
    assert d.acct.state is State.Trading
    d.send(quote(MNQ, "20400", at=d.now))  # the same price, fresh: the loss is real
    assert d.acct.state is State.Flattening


def test_a_loss_carried_across_the_weekly_reset_does_not_count_against_the_new_week() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "20500"))  # -$2,000 open at the reset
    d.at(NEXT_WEEK)
    d.send(quote(MNQ, "20000", at=NEXT_WEEK))  # -$4,000 open: -$2,000 of it this week
    assert d.acct.week_pnl(with_unrealized=True) == Decimal("-2000.00")
    assert d.acct.state is State.Trading


# --- locks ---------------------------------------------------------------------------------


def test_the_weekly_lock_supersedes_a_daily_lock_and_outlives_the_daily_reset() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}, WeeklyLossLimit: {"limit": "2500"}}))
    d.send(account())
    lose(d, "-2000")
    assert d.acct.state is State.LockedDaily  # the day's limit, not yet the week's
    # a position opened while locked is closed on sight; the close loses another $600
    d.send(position(MNQ, 1, "21000"))
    assert [c.rule_id for c in closes(d.effects)] == ["RULE-003"]
    d.send(order(900, MNQ, Side.SELL, 1, type=OrderType.MARKET))
    d.send(fill(MNQ, Side.SELL, 1, "20400", pnl="-600", order_id=900))
    assert d.acct.state is State.LockedDaily  # an enforcement fill triggers no rule ...
    out = d.send(flat(MNQ))  # ... but the next event sees the week at -$2,600
    assert d.acct.state is State.LockedWeekly
    assert [t for t in transitions(out) if t[0] is None] == [
        (None, "LockedDaily", "Flattening", "breach"),
        (None, "Flattening", "LockedWeekly", "flat_confirmed"),
    ]
    assert set(d.acct.holds) == {"RULE-003", "RULE-013"}
    out = d.at(d.engine.calendar.next_daily_reset(T0))  # RULE-003's hold ends, not the week
    assert d.acct.state is State.LockedWeekly
    assert set(d.acct.holds) == {"RULE-013"}
    assert transitions(out) == [(None, "LockedWeekly", "LockedWeekly", "release")]
    d.at(NEXT_WEEK)
    assert d.acct.state is State.Trading


# --- daylight saving and restart -----------------------------------------------------------


@pytest.mark.parametrize(
    ("friday", "reset"),
    [
        (datetime(2026, 3, 6, 20, 0, tzinfo=UTC), SPRING),
        (datetime(2026, 10, 30, 19, 0, tzinfo=UTC), FALL),
    ],
)
def test_the_weekly_lock_ends_sunday_17_00_chicago_across_daylight_saving(
    friday: datetime, reset: datetime
) -> None:
    d = driver(now=friday)
    lose(d, "-3000")
    assert d.acct.holds["RULE-013"].until == reset
    d.at(reset - timedelta(seconds=1))
    assert d.acct.state is State.LockedWeekly
    out = d.at(reset)
    assert d.acct.state is State.Trading
    assert (None, "LockedWeekly", "Trading", "release") in transitions(out)
    assert d.acct.week.start == reset and d.acct.week.realized == 0


def test_restart_while_locked_keeps_the_lock_and_a_weekly_reset_missed_while_down_ends_it() -> None:
    friday = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    d = driver(now=friday)
    lose(d, "-2600")
    again = restart(d, engine, at=SPRING - timedelta(hours=1))
    assert again.acct.state is State.LockedWeekly
    assert again.acct.holds["RULE-013"].until == SPRING
    assert again.engine.next_deadline() == SPRING
    later = restart(again, engine, at=SPRING + timedelta(hours=3))  # down across the reset
    assert later.acct.week.start == SPRING and later.acct.week.realized == 0
    # the lock outlives its deadline until the trades are read (the rule judges them then)
    assert later.acct.state is State.LockedWeekly
    start_up_read(later)  # nothing traded while it was down
    assert later.acct.state is State.Trading
    assert (None, "LockedWeekly", "Trading", "release") in transitions(later.effects)


# --- the engine gap this rule inherits (marked: it documents current behaviour) -------------


def test_a_closing_fill_before_its_position_update_is_not_counted_twice() -> None:
    """Between a closing fill and the position update that removes the position, the fill's
    P&L is realized and the position no longer valued: a -$1,500 exit is -$1,500, not
    -$3,000 (the paper gateway, like the real one, sends the trade first)."""
    d = driver()
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "20625"))  # -$1,500 open: inside the limit
    assert d.acct.state is State.Trading
    d.send(fill(MNQ, Side.SELL, 2, "20625", pnl="-1500"))  # the exit, before its position update
    assert d.acct.week_pnl(with_unrealized=True) == Decimal("-1500")
    assert d.acct.state is State.Trading
    d.send(flat(MNQ))
    assert d.acct.week_pnl(with_unrealized=True) == Decimal("-1500")


# --- settings, cross-check and status -------------------------------------------------------


def test_defaults_are_2500_on_the_equity_basis() -> None:
    [rule] = make_engine({WeeklyLossLimit: {}}).rules
    assert rule.config.limit == Decimal("2500") and rule.config.basis == "equity"
    assert WeeklyLossLimit.level_triggered and not WeeklyLossLimit.stateful


def settings(cls: Any, **raw: str) -> RuleSettings:
    values, problems = schema.parse_section("t.ini", "rule." + cls.name, cls.fields, raw)
    assert problems == []
    return RuleSettings(cls, True, cls.configure(values), values)


def test_cross_check_refuses_a_weekly_limit_below_the_daily_limit() -> None:
    rules = {
        "weekly_loss_limit": settings(WeeklyLossLimit, limit="800"),
        "daily_loss_limit": settings(DailyLossLimit, limit="1000"),
    }
    [problem] = weekly_not_below_daily("t.ini", rules)
    assert (problem.file, problem.section, problem.key) == (
        "t.ini",
        "rule.weekly_loss_limit",
        "limit",
    )
    assert "800" in problem.reason and "[rule.daily_loss_limit]" in problem.reason
    rules["weekly_loss_limit"] = settings(WeeklyLossLimit, limit="1000")
    assert weekly_not_below_daily("t.ini", rules) == []
    assert weekly_not_below_daily("t.ini", {"weekly_loss_limit": rules["weekly_loss_limit"]}) == []


def test_usage_is_the_share_of_the_weekly_limit_lost() -> None:
    d = driver()
    lose(d, "-2000")
    u = d.engine.rules[0].usage(d.acct, d.now)
    assert (u.value, u.limit, u.fraction) == (Decimal("-2000"), Decimal("-2500"), Decimal("0.8"))
