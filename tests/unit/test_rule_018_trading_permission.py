"""RULE-018 trading_permission: canTrade false flattens into a hold with no deadline; canTrade
true releases that hold and no other; restarts and resets do not end it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from functools import partial

from fsm_risk.core.admin import summary
from fsm_risk.core.effects import AuditEntry, Effect, RecordTransition
from fsm_risk.core.events import AdminCommand, OrderStatus, OrderType, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trading_permission import TradingPermission
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import (
    ACC,
    ES,
    MES,
    MNQ,
    NQ,
    T0,
    Driver,
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
    rule_engine,
    transitions,
)

engine = partial(rule_engine, TradingPermission)
driver = partial(rule_driver, TradingPermission)


def audit(effects: Iterable[Effect]) -> list[AuditEntry]:
    return [e.entry for e in effects if isinstance(e, RecordTransition)]


def disabled(d: Driver) -> list[Effect]:
    return d.send(account(can_trade=False))


def test_can_trade_true_does_nothing() -> None:
    d = driver()
    out = d.send(account("50100"), position(MNQ, 1, "21000"), account("50200"))
    assert transitions(out) == [] and closes(out) == [] and d.acct.holds == {}


def test_can_trade_false_flattens_cancels_and_locks_with_no_deadline() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), order(77, NQ, Side.BUY, 1, limit="20000"))
    out = disabled(d)
    assert d.acct.state is State.Flattening
    assert [(c.contract_id, c.rule_id, c.reason) for c in closes(out)] == [
        (MNQ, "RULE-018", Reason.TRADING_PERMISSION)
    ]
    assert [c.order_id for c in cancels(out)] == [77]
    [entry] = [a for a in audit(out) if a.contract_id is None]
    assert (entry.rule_id, entry.trigger) == ("RULE-018", "breach")
    assert entry.reason.startswith("TRADING_PERMISSION")
    d.send(flat(MNQ), order(77, NQ, Side.BUY, 1, limit="20000", status=OrderStatus.CANCELLED))
    assert d.acct.state is State.LockedDaily
    hold = d.acct.holds["RULE-018"]
    assert (hold.kind, hold.until, hold.reason) == (
        State.LockedDaily,
        None,
        Reason.TRADING_PERMISSION,
    )


def test_can_trade_true_again_releases_the_lock() -> None:
    d = driver()
    disabled(d)
    assert d.acct.state is State.LockedDaily
    out = d.send(account())
    assert d.acct.state is State.Trading and d.acct.holds == {}
    [entry] = audit(out)
    assert (entry.from_state, entry.to_state, entry.trigger, entry.rule_id) == (
        State.LockedDaily,
        State.Trading,
        "release",
        "RULE-018",
    )
    assert entry.reason.startswith("TRADING_PERMISSION_RESTORED")


def test_repeated_can_trade_false_updates_change_nothing_more() -> None:
    d = driver()
    disabled(d)
    out = d.send(account("49900", can_trade=False), account("49800", can_trade=False))
    assert transitions(out) == [] and d.acct.state is State.LockedDaily


def test_can_trade_true_while_still_flattening_ends_in_trading_once_flat() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    disabled(d)
    d.send(account())
    assert d.acct.state is State.Flattening and d.acct.holds == {}  # the close still works
    out = d.send(flat(MNQ))
    assert (None, "Flattening", "Trading", "flat_confirmed") in transitions(out)


def test_while_locked_new_positions_are_closed_and_opening_orders_cancelled() -> None:
    d = driver()
    disabled(d)
    out = d.send(order(5, ES, Side.BUY, 1, limit="5900"), position(MNQ, 1, "21000"))
    assert [c.order_id for c in cancels(out)] == [5]
    assert [c.contract_id for c in closes(out)] == [MNQ]


# --- other locks ---------------------------------------------------------------------------


def test_a_daily_loss_lock_still_holds_after_trading_is_allowed_again() -> None:
    d = Driver(make_engine({TradingPermission: {}, DailyLossLimit: {"limit": "1000"}}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 1, "6000"), fill(ES, Side.SELL, 1, "5980", pnl="-1000"))
    assert d.acct.state is State.LockedDaily
    disabled(d)
    assert set(d.acct.holds) == {"RULE-003", "RULE-018"}
    out = d.send(account())
    assert d.acct.state is State.LockedDaily and set(d.acct.holds) == {"RULE-003"}
    assert transitions(out) == [(None, "LockedDaily", "LockedDaily", "release")]
    d.at(d.engine.calendar.next_daily_reset(T0))
    assert d.acct.state is State.Trading


def test_the_permission_hold_outlives_a_daily_lock_that_expires() -> None:
    d = Driver(make_engine({TradingPermission: {}, DailyLossLimit: {"limit": "1000"}}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 1, "6000"), fill(ES, Side.SELL, 1, "5980", pnl="-1000"))
    disabled(d)
    d.at(d.engine.calendar.next_daily_reset(T0))  # RULE-003's lock ends, RULE-018's does not
    assert d.acct.state is State.LockedDaily and set(d.acct.holds) == {"RULE-018"}
    d.at(d.engine.calendar.next_weekly_reset(T0) + timedelta(hours=1))
    assert d.acct.state is State.LockedDaily  # no reset ends it either
    d.send(account())
    assert d.acct.state is State.Trading


def test_a_weekly_lock_is_never_shortened_by_the_permission_coming_back() -> None:
    d = Driver(make_engine({TradingPermission: {}, WeeklyLossLimit: {"limit": "2500"}}))
    d.send(account())
    disabled(d)
    d.send(fill(ES, Side.BUY, 1, "6000"), fill(ES, Side.SELL, 1, "5950", pnl="-2500"))
    assert d.acct.state is State.LockedWeekly
    assert set(d.acct.holds) == {"RULE-013", "RULE-018"}
    d.send(account("47500"))
    assert d.acct.state is State.LockedWeekly and set(d.acct.holds) == {"RULE-013"}


# --- options -------------------------------------------------------------------------------


def test_without_flatten_open_positions_stay_but_may_not_grow() -> None:
    d = driver(flatten="false")
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    out = disabled(d)
    assert closes(out) == [] and d.acct.state is State.LockedDaily
    assert transitions(out) == [(None, "Trading", "LockedDaily", "lock")]
    out = d.send(order(6, MNQ, Side.BUY, 1, limit="20990"))  # would add: cancelled
    assert [c.order_id for c in cancels(out)] == [6]
    out = d.send(order(7, MNQ, Side.SELL, 2, type=OrderType.LIMIT, limit="21010"))  # an exit
    assert cancels(out) == []


def test_the_lock_kind_is_configurable() -> None:
    d = driver(lock="LockedWeekly")
    disabled(d)
    assert d.acct.state is State.LockedWeekly
    assert d.acct.holds["RULE-018"].until is None


# --- admin and restart ---------------------------------------------------------------------


def test_an_admin_override_sticks_until_the_next_daily_reset() -> None:
    d = driver()
    disabled(d)
    d.send(AdminCommand(ACC, State.Trading, "broker flag is stale", "ops"))
    assert d.acct.state is State.Trading
    disabled(d)
    assert d.acct.state is State.Trading  # waived for the rest of the day
    d.at(d.engine.calendar.next_daily_reset(T0) + timedelta(minutes=1))
    disabled(d)
    assert d.acct.state is State.LockedDaily


def test_the_waiver_ends_when_the_gateway_allows_trading_so_a_second_block_flattens() -> None:
    # a tester: blocked, forced Trading ("firm glitch"), canTrade true, the trader buys 1 MES,
    # canTrade false again: the account stayed Trading with the MES open, the waiver listed
    d = driver()
    disabled(d)
    cmd = AdminCommand(ACC, State.Trading, "firm glitch", "ops")
    text = summary(d.engine, cmd, d.send(cmd))
    assert "waived RULE-018 trading_permission until the gateway reports it can trade" in text
    assert "(at the latest Mon 2026-11-23 17:00 CST)" in text, text  # the day's end, at most
    d.send(account())  # the lock would have ended here: so does the waiver
    assert d.engine.waivers(d.acct) == {} and d.acct.state is State.Trading
    d.send(position(MES, 1, "6000"))
    assert d.acct.state is State.Trading  # kept: trading is allowed again
    out = disabled(d)
    assert d.acct.state is State.Flattening
    assert [c.contract_id for c in closes(out)] == [MES]
    assert [(a.contract_id, a.to_state, a.trigger, a.rule_id) for a in audit(out)] == [
        (None, State.Flattening, "breach", "RULE-018"),
        (MES, State.Flattening, "breach", "RULE-018"),
    ]
    d.send(flat(MES))
    assert d.acct.state is State.LockedDaily and d.acct.holds["RULE-018"].until is None


def test_the_waiver_lasts_while_the_gateway_still_disallows_trading() -> None:
    d = driver()
    disabled(d)
    d.send(AdminCommand(ACC, State.Trading, "firm glitch", "ops"))
    out = d.send(account("49900", can_trade=False), position(MES, 1, "6000"))
    assert d.acct.state is State.Trading and closes(out) == []
    assert list(d.engine.waivers(d.acct)) == ["RULE-018"]


def test_restart_while_locked_keeps_the_hold_until_the_gateway_says_otherwise() -> None:
    d = driver()
    disabled(d)
    again = restart(d, engine, at=T0 + timedelta(days=3))  # across resets, while down
    assert again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-018"].until is None
    # the hold has no deadline of its own: the next wake-up is only the day's reset
    assert again.engine.next_deadline() == again.engine.calendar.next_daily_reset(again.now)
    again.send(account())
    assert again.acct.state is State.Trading


# --- settings and status -------------------------------------------------------------------


def test_defaults_flatten_into_locked_daily() -> None:
    [rule] = make_engine({TradingPermission: {}}).rules
    assert rule.config.lock is State.LockedDaily and rule.config.flatten is True
    assert TradingPermission.level_triggered and not TradingPermission.stateful


def test_usage_shows_whether_trading_is_blocked() -> None:
    d = driver()
    rule = d.engine.rules[0]
    u = rule.usage(d.acct, d.now)
    assert (u.value, u.fraction, u.detail) == (Decimal(0), Decimal(0), "canTrade true")
    disabled(d)
    u = rule.usage(d.acct, d.now)
    assert (u.value, u.fraction, u.detail) == (Decimal(1), Decimal(1), "canTrade false")
