"""RULE-010 rapid_fire: several rolling windows at once, the edge of each window to the second,
the breached window's cooldown, the service's own fills, locks, daylight saving, restart and
the cross-check against RULE-007."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk import schema
from fsm_risk.config import RuleSettings
from fsm_risk.core.events import AdminCommand, Event, OrderStatus, OrderType, Quote, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.crosschecks import windows_below_max_trades
from fsm_risk.rules.base import Action, Rule, Scope, Verdict
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from fsm_risk.rules.rapid_fire import RapidFire
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    ACC,
    ES,
    MNQ,
    NQ,
    T0,
    Driver,
    Scripted,
    account,
    cancels,
    closes,
    fill,
    flat,
    make_engine,
    order,
    position,
    quote,
    restart,
    rule_driver,
    the_rule,
)

_ids = iter(range(1_000_000, 10**9))


driver = partial(rule_driver, RapidFire)
rule = partial(the_rule, cls=RapidFire)


def scalp(d: Driver, at: datetime, contract: str = ES) -> list[Any]:
    """An entry at ``at`` and its exit (the trader's orders), as the gateway reports them."""
    d.now = at
    oid = next(_ids)
    out = d.send(
        order(oid, contract, Side.BUY, 1, type=OrderType.MARKET, at=at),
        fill(contract, Side.BUY, 1, "100", order_id=oid, at=at),
        order(oid, contract, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        position(contract, 1, "100", at=at),
    )
    if d.acct.state is State.Trading:
        out += d.send(
            fill(contract, Side.SELL, 1, "100", pnl="0", order_id=next(_ids), at=at),
            flat(contract, at=at),
        )
    return out


def at_seconds(d: Driver, *offsets: float, start: datetime = T0) -> None:
    for s in offsets:
        scalp(d, start + timedelta(seconds=s))


# --- the minute window ---------------------------------------------------------------------


def test_three_entries_within_a_minute_are_allowed() -> None:
    d = driver()
    at_seconds(d, 0, 20, 59)
    assert d.acct.state is State.Trading


def test_a_fourth_entry_within_59_seconds_cools_down_for_the_minute() -> None:
    d = driver()
    at_seconds(d, 0, 20, 40)
    out = scalp(d, T0 + timedelta(seconds=59))
    assert [c.contract_id for c in closes(out)] == [ES]  # the 4th entry's position
    d.send(flat(ES))
    assert d.acct.state is State.Cooldown
    hold = d.acct.holds["RULE-010"]
    assert hold.reason is Reason.RAPID_FIRE and "4 entries within 60s > 3" in hold.detail
    assert hold.until == T0 + timedelta(seconds=59 + 60)


def test_an_entry_exactly_a_minute_old_has_left_the_window() -> None:
    d = driver()
    at_seconds(d, 0, 20, 40, 60)  # the window ending at 60 s holds 20, 40 and 60
    assert d.acct.state is State.Trading


def test_partial_fills_and_exits_are_not_extra_entries() -> None:
    d = driver()
    for k in range(3):
        d.send(fill(MNQ, Side.BUY, 1, "100", order_id=5, at=T0 + timedelta(seconds=k)))
    d.send(position(MNQ, 3, "100"))
    for _ in range(3):
        d.send(fill(MNQ, Side.SELL, 1, "100", pnl="0", order_id=next(_ids)))
    d.send(flat(MNQ))
    at_seconds(d, 10, 20)
    assert d.acct.state is State.Trading
    scalp(d, T0 + timedelta(seconds=30))
    assert d.acct.state is not State.Trading


# --- several windows -----------------------------------------------------------------------


def test_the_hour_window_counts_entries_spread_over_the_hour() -> None:
    d = driver()
    at_seconds(d, *(k * 420 for k in range(8)))  # 8 entries, 7 minutes apart
    assert d.acct.state is State.Trading
    scalp(d, T0 + timedelta(seconds=8 * 420 - 1))  # the 9th, just inside the hour
    d.send(flat(ES))
    assert d.acct.state is State.Cooldown
    hold = d.acct.holds["RULE-010"]
    assert "9 entries within 3600s > 8" in hold.detail
    assert hold.until == T0 + timedelta(seconds=8 * 420 - 1 + 3600)


def test_the_hour_window_edge_an_entry_an_hour_old_has_left_it() -> None:
    d = driver()
    at_seconds(d, *(k * 450 for k in range(9)))  # the 9th is 3600 s after the 1st
    assert d.acct.state is State.Trading


def test_the_session_window_cools_down_until_the_daily_reset() -> None:
    d = driver(windows="60: 3, 3600: 12, session: 20")
    at_seconds(d, *(k * 360 for k in range(20)))  # every 6 minutes: 10 an hour
    assert d.acct.state is State.Trading
    scalp(d, T0 + timedelta(seconds=20 * 360))
    d.send(flat(ES))
    assert d.acct.state is State.Cooldown
    hold = d.acct.holds["RULE-010"]
    assert "21 entries within session > 20" in hold.detail
    assert hold.until == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)


def test_when_several_windows_breach_the_longest_decides_the_cooldown() -> None:
    d = driver(windows="60: 3, 3600: 4")
    at_seconds(d, 0, 100, 110, 120)
    assert d.acct.state is State.Trading
    scalp(d, T0 + timedelta(seconds=130))  # 4 in the minute and 5 in the hour
    assert d.acct.holds["RULE-010"].until == T0 + timedelta(seconds=130 + 3600)


def test_a_single_window_is_enough() -> None:
    d = driver(windows="session: 2")
    at_seconds(d, 0, 3600)
    assert d.acct.state is State.Trading
    scalp(d, T0 + timedelta(hours=2))
    assert "RULE-010" in d.acct.holds


# --- the service's own fills ---------------------------------------------------------------


def close_mnq_on_quote(ctx: Any) -> Scripted:
    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, Quote):
            stop = Verdict(
                "RULE-T01", Reason.POSITION_STOP_LOSS, Action.CLOSE, Scope.CONTRACT, contract_id=MNQ
            )
            return (stop,)
        return ()

    return Scripted(ctx, script, level_triggered=False)


def test_a_fill_of_the_service_own_close_is_never_an_entry() -> None:
    d = Driver(make_engine({RapidFire: {"windows": "60: 1"}}, extra=[close_mnq_on_quote]))
    d.send(account())
    d.send(fill(MNQ, Side.BUY, 1, "100", order_id=1), position(MNQ, 1, "100"))
    d.send(quote(MNQ, "90"))
    d.send(order(950, MNQ, Side.SELL, 1, type=OrderType.MARKET))  # the gateway's close order
    d.send(fill(MNQ, Side.SELL, 1, "90", pnl="-5", order_id=951))  # the trader exits first
    d.send(fill(MNQ, Side.SELL, 1, "90", order_id=950))  # the close fills: it opens a short
    assert d.acct.day.fills[-1].entry == 1 and d.acct.day.fills[-1].enforcement
    assert rule(d).usage(d.acct, d.now).value == 1
    assert "RULE-010" not in d.acct.holds


# --- locks ---------------------------------------------------------------------------------


def test_a_cooldown_while_locked_daily_keeps_the_daily_lock_and_its_deadline() -> None:
    d = driver()
    d.send(AdminCommand(ACC, State.LockedDaily, "risk desk", "ops"))
    daily = d.acct.holds["ADMIN"]
    for s in (0, 1, 2, 3):  # entries slip through before their cancels land
        d.now = T0 + timedelta(seconds=s)
        d.send(fill(NQ, Side.BUY, 1, "100", order_id=next(_ids), at=d.now))
    assert d.acct.holds["RULE-010"].until == T0 + timedelta(seconds=63)
    assert d.acct.state is State.LockedDaily and d.acct.holds["ADMIN"] == daily
    assert [c.contract_id for c in closes(d.send(position(NQ, 4, "100")))] == [NQ]
    d.send(flat(NQ))
    d.advance(minutes=2)  # the cooldown ended; the daily lock holds, deadline unchanged
    assert d.acct.state is State.LockedDaily and d.acct.holds == {"ADMIN": daily}


def test_with_a_losing_reversal_the_later_cooldown_wins() -> None:
    d = Driver(make_engine({RapidFire: {"windows": "60: 3"}, TradeCooldown: {}}))
    d.send(account())
    at_seconds(d, 0, 10)
    d.now = T0 + timedelta(seconds=20)
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now))
    d.send(position(ES, 1, "6000", at=d.now))
    # one fill: closes the long at -$150 (RULE-008: 15 minutes) and is the 4th entry (60 s)
    d.send(fill(ES, Side.SELL, 2, "5990", pnl="-150", order_id=next(_ids), at=d.now))
    d.send(position(ES, 1, "5990", long=False, at=d.now))
    d.send(flat(ES))
    assert d.acct.state is State.Cooldown
    assert d.acct.holds["RULE-010"].until == d.now + timedelta(seconds=60)
    assert d.acct.holds["RULE-008"].until == d.now + timedelta(minutes=15)
    d.advance(seconds=61)
    assert d.acct.state is State.Cooldown  # the shorter one ending does not release it
    d.advance(minutes=14)
    assert d.acct.state is State.Trading


# --- time ----------------------------------------------------------------------------------


def test_the_hour_window_is_real_time_across_the_fall_back_hour() -> None:
    d = driver(datetime(2026, 11, 1, 6, 0, tzinfo=UTC), windows="3600: 3")
    # 01:30, 01:45, 01:55 CDT and then 01:10 CST on 2026-11-01: 40 real minutes
    for hh, mm in ((6, 30), (6, 45), (6, 55)):
        scalp(d, datetime(2026, 11, 1, hh, mm, tzinfo=UTC))
    assert d.acct.state is State.Trading
    scalp(d, datetime(2026, 11, 1, 7, 10, tzinfo=UTC))
    assert "RULE-010" in d.acct.holds
    assert d.acct.holds["RULE-010"].until == datetime(2026, 11, 1, 8, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "reset",
    [datetime(2026, 3, 8, 22, 0, tzinfo=UTC), datetime(2026, 11, 1, 23, 0, tzinfo=UTC)],
)
def test_the_session_window_starts_again_at_17_chicago_on_a_dst_change_day(
    reset: datetime,
) -> None:
    start = reset - timedelta(hours=1)
    d = driver(start, windows="60: 2, session: 3")
    at_seconds(d, 0, 600, 1200, start=start)
    scalp(d, reset)  # the 4th of the old day, but the 1st of the new one
    assert d.acct.state is State.Trading and d.acct.day.start == reset
    late = driver(start, windows="60: 2, session: 3")
    at_seconds(late, 0, 600, 1200, start=start)
    scalp(late, reset - timedelta(seconds=1))
    assert late.acct.holds["RULE-010"].until == reset


def test_restart_keeps_the_entries_of_the_window() -> None:
    d = driver()
    at_seconds(d, 0, 10, 20)
    again = restart(d, lambda: make_engine({RapidFire: {}}), at=T0 + timedelta(seconds=30))
    scalp(again, T0 + timedelta(seconds=30))
    assert "RULE-010" in again.acct.holds


def test_restart_during_the_cooldown_keeps_its_deadline() -> None:
    d = driver()
    at_seconds(d, 0, 10, 20, 30)
    d.send(flat(ES))
    until = d.acct.holds["RULE-010"].until
    assert until == T0 + timedelta(seconds=90)
    again = restart(d, lambda: make_engine({RapidFire: {}}), at=T0 + timedelta(seconds=60))
    assert again.acct.state is State.Cooldown and again.engine.next_deadline() == until
    out = again.send(order(77, MNQ, Side.BUY, 1, limit="99"))
    assert [c.order_id for c in cancels(out)] == [77]
    again.send(order(77, MNQ, Side.BUY, 1, status=OrderStatus.CANCELLED))
    again.at(until)
    assert again.acct.state is State.Trading


# --- settings, cross-check, usage ----------------------------------------------------------


def test_named_windows_and_defaults() -> None:
    cfg = rule(driver(windows="minute: 2, hour: 5, session: 9")).config
    assert [(w.seconds, w.limit) for w in cfg.windows] == [(60, 2), (3600, 5), (None, 9)]
    assert [(w.seconds, w.limit) for w in rule(driver()).config.windows] == [
        (60, 3),
        (3600, 8),
    ]


def settings(cls: type[Rule], raw: dict[str, str]) -> RuleSettings:
    values, problems = schema.parse_section("x.ini", "rule." + cls.name, cls.fields, raw)
    assert problems == []
    return RuleSettings(cls, True, cls.configure(values), values)


def test_cross_check_a_window_must_allow_fewer_entries_than_the_whole_day() -> None:
    rules = {
        "rapid_fire": settings(RapidFire, {"windows": "60: 3, 3600: 10, session: 12"}),
        "max_trades_per_day": settings(MaxTradesPerDay, {"limit": "10"}),
    }
    problems = windows_below_max_trades("x.ini", rules)
    assert [str(p) for p in problems] == [
        "x.ini: [rule.rapid_fire] windows: 3600s: 10 is not below the daily limit of 10 "
        "entries in [rule.max_trades_per_day]",
        "x.ini: [rule.rapid_fire] windows: session: 12 is not below the daily limit of 10 "
        "entries in [rule.max_trades_per_day]",
    ]
    rules["max_trades_per_day"] = settings(MaxTradesPerDay, {"limit": "13"})
    assert windows_below_max_trades("x.ini", rules) == []
    defaults = {
        "rapid_fire": settings(RapidFire, {}),
        "max_trades_per_day": settings(MaxTradesPerDay, {}),
    }
    assert windows_below_max_trades("x.ini", defaults) == []  # the defaults agree
    rules["max_trades_per_day"] = settings(MaxTradesPerDay, {"limit": "5", "count": "round_trips"})
    assert windows_below_max_trades("x.ini", rules) == []  # round trips are not entries
    assert windows_below_max_trades("x.ini", {"rapid_fire": rules["rapid_fire"]}) == []


def test_usage_is_the_window_closest_to_its_limit() -> None:
    d = driver()
    at_seconds(d, 0, 10)
    u = rule(d).usage(d.acct, T0 + timedelta(seconds=10))
    assert (u.value, u.limit, u.detail) == (Decimal(2), Decimal(3), "60s")
    later = rule(d).usage(d.acct, T0 + timedelta(minutes=5))
    assert (later.value, later.limit, later.detail) == (Decimal(2), Decimal(8), "3600s")
