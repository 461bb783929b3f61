"""RULE-009 position_hold_time: per-contract deadlines from the scheduler, the exact close, no
lock, restarts and a daylight-saving night."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.events import Event, OrderStatus, OrderUpdate, Quote, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import LATE
from fsm_risk.rules.base import Action, Verdict
from fsm_risk.rules.position_hold_time import PositionHoldTime
from tests.factories import (
    ES,
    MES,
    MNQ,
    T0,
    Driver,
    Scripted,
    account,
    cancels,
    closes,
    fill,
    flat,
    gateway_read,
    make_engine,
    order,
    our_close_filled,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
    transitions,
)

LIMIT = timedelta(minutes=240)
SECOND = timedelta(seconds=1)


engine = partial(rule_engine, PositionHoldTime)
driver = partial(rule_driver, PositionHoldTime)


def state(d: Driver, contract_id: str) -> State:
    """A contract's machine state (Trading when the engine never needed its machine)."""
    cm = d.acct.contracts.get(contract_id)
    return cm.state if cm is not None else State.Trading


def test_the_deadline_is_armed_when_the_position_opens() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    assert d.engine.next_deadline() == T0 + LIMIT


def test_one_second_before_the_limit_nothing_happens() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.now = T0 + LIMIT - SECOND
    out = d.send(position(MNQ, 1, "21000"))  # an event, not only a wake-up
    assert not closes(out) and state(d, MNQ) is State.Trading


def test_at_the_limit_the_scheduler_closes_that_contract_with_no_event() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.at(T0 + LIMIT - SECOND)
    assert not closes(d.effects)
    out = d.at(T0 + LIMIT)
    assert [(c.contract_id, c.rule_id, c.reason) for c in closes(out)] == [
        (MNQ, "RULE-009", Reason.POSITION_HOLD_TIME)
    ]
    assert state(d, MNQ) is State.Flattening
    assert d.acct.state is State.Trading  # contract scope: the account is untouched


@pytest.mark.parametrize(
    "event",
    [
        lambda at: quote(MNQ, "21000", at=at),  # the quote path
        lambda at: order(7, ES, Side.BUY, 1, limit="5000", at=at),  # any other event
    ],
    ids=["quote", "order"],
)
def test_an_event_ahead_of_the_wake_up_at_the_limit_still_closes_the_contract(
    event: Any,
) -> None:
    # the scheduler's wake-up is queued behind an event this rule does not react to: that
    # event must handle the due deadline, not reschedule past it (the close was lost)
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.now = T0 + LIMIT
    out = d.send(event(d.now))
    assert [(c.contract_id, c.rule_id) for c in closes(out)] == [(MNQ, "RULE-009")]
    assert state(d, MNQ) is State.Flattening
    assert d.engine.next_deadline() is not None and d.engine.next_deadline() > d.now


def test_the_contract_returns_to_trading_once_flat_and_may_trade_again() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.at(T0 + LIMIT)
    out = d.send(*our_close_filled(MNQ, Side.SELL, 1, "21000", at=d.now), flat(MNQ, at=d.now))
    assert (MNQ, "Flattening", "Trading", "flat_confirmed") in transitions(out)
    assert not d.acct.contracts[MNQ].holds
    # a new position: a new clock
    again = d.send(fill(MNQ, Side.BUY, 1, "21000", at=d.now), position(MNQ, 1, "21000", at=d.now))
    assert not closes(again)
    assert d.engine.next_deadline() == d.now + LIMIT


def test_only_the_overdue_contract_is_closed_and_its_orders_cancelled() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"), order(7, MNQ, Side.SELL, 1, limit="21100"))
    d.now = T0 + timedelta(hours=1)
    d.send(position(ES, 1, "6000", at=d.now), order(8, ES, Side.SELL, 1, limit="6100", at=d.now))
    out = d.at(T0 + LIMIT)
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert [c.order_id for c in cancels(out)] == [7]
    assert state(d, ES) is State.Trading
    assert d.engine.next_deadline() == T0 + timedelta(seconds=10) + LIMIT  # the close retry
    d.send(*our_close_filled(MNQ, Side.SELL, 1, "21000", at=d.now), flat(MNQ, at=d.now))
    d.send(order(7, MNQ, Side.SELL, 1, status=OrderStatus.CANCELLED))
    assert d.engine.next_deadline() == T0 + timedelta(hours=1) + LIMIT  # ES is next


def test_adding_to_a_position_keeps_its_first_open_time() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.now = T0 + timedelta(hours=3)
    d.send(position(MNQ, 3, "21050", at=d.now))
    assert d.engine.next_deadline() == T0 + LIMIT


def test_reversing_a_position_starts_a_new_clock() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.now = T0 + timedelta(hours=3)
    d.send(position(MNQ, 1, "21050", long=False, at=d.now))
    assert d.engine.next_deadline() == d.now + LIMIT


def test_a_passed_deadline_is_never_returned_so_the_scheduler_cannot_spin() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.at(T0 + LIMIT)
    rule = d.engine.rules[0]
    assert rule.next_deadline(d.acct, d.now) is None  # the close is in flight
    assert d.engine.next_deadline() == d.now + timedelta(seconds=10)  # the engine's retry


def test_the_limit_is_real_time_across_the_fall_back_night() -> None:
    opened = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 00:30 CDT
    d = Driver(engine(), now=opened)
    d.send(account(), position(MNQ, 1, "21000", at=opened))
    # 4 hours later is 03:30 CST on the wall clock: three wall-clock hours, four real ones
    assert d.engine.next_deadline() == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


# --- locks -----------------------------------------------------------------------------------


def _lock_without_flatten(ctx: Any) -> Scripted:
    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, OrderUpdate) and event.order_id == 99:
            until = ctx.calendar.next_daily_reset(now)
            return (
                Verdict(
                    "RULE-T01",
                    Reason.MAX_TRADES_PER_DAY,
                    Action.LOCK,
                    lock=State.LockedDaily,
                    until=until,
                ),
            )
        return ()

    return Scripted(ctx, script)


def test_closing_a_tolerated_position_never_shortens_the_accounts_lock() -> None:
    d = Driver(make_engine({PositionHoldTime: {}}, extra=[_lock_without_flatten]))
    d.send(account(), position(MNQ, 1, "21000"))
    d.send(order(99, ES, Side.BUY, 1, status=OrderStatus.FILLED))
    assert d.acct.state is State.LockedDaily  # MNQ may stay open: a lock without flatten
    lock = d.acct.holds["RULE-T01"]
    out = d.at(T0 + LIMIT)
    assert [c.contract_id for c in closes(out)] == [MNQ]
    d.send(flat(MNQ, at=d.now))
    assert d.acct.state is State.LockedDaily
    assert d.acct.holds == {"RULE-T01": lock}


# --- restart ---------------------------------------------------------------------------------


def test_restart_re_arms_the_deadline_from_the_open_position() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    again = restart(d, engine, at=T0 + timedelta(hours=1))
    assert again.acct.deadlines["RULE-009"] == T0 + LIMIT
    # (woken first where its P&L rules, waiting for a read since the restore, would estimate)
    assert again.engine.next_deadline() == again.now + LATE < T0 + LIMIT
    start_up_read(again, position(MNQ, 1, "21000"))  # the same position, opened at T0
    assert again.engine.next_deadline() == T0 + LIMIT
    assert [c.contract_id for c in closes(again.at(T0 + LIMIT))] == [MNQ]


def test_a_deadline_that_passed_while_stopped_is_enforced_at_start_up() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    again = restart(d, engine, at=T0 + LIMIT + timedelta(minutes=30))
    out = start_up_read(again, position(MNQ, 1, "21000"))
    # (decided on the read, sent on resuming: the shell holds back the first)
    assert {c.contract_id for c in closes(out)} == {MNQ}


def test_a_restored_position_is_judged_once_the_account_resumes_even_unlisted_by_a_read() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    again = restart(d, engine, at=T0 + LIMIT + timedelta(minutes=30))
    assert not closes(again.effects)  # restored: the start-up read may list a newer one
    out = again.engine.resume(again.acc, set(), again.now)
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_a_position_reopened_while_stopped_is_held_from_its_own_opening() -> None:
    # opened at T0; while the service is down it is sold (flat) and bought again at 2:00
    d = driver(limit_minutes="2")
    d.send(position(MES, 1, "6000"))
    reopened = T0 + timedelta(seconds=28)
    again = restart(
        d, partial(engine, limit_minutes="2"), at=T0 + timedelta(seconds=126)
    )  # past T0's limit
    assert not closes(again.effects)
    out = start_up_read(again, position(MES, 1, "6010", at=reopened))
    assert not closes(out) and state(again, MES) is State.Trading
    assert again.acct.positions[MES].opened_at == reopened
    assert again.engine.next_deadline() == reopened + timedelta(minutes=2)
    out = again.at(reopened + timedelta(minutes=2))
    assert [c.contract_id for c in closes(out)] == [MES]
    [row] = [e.entry for e in out if isinstance(e, RecordTransition) and e.entry.contract_id]
    assert "open since 2026-11-23 09:00:28 CST (0h02m00s)" in row.reason, row.reason


def test_a_reopened_position_read_with_its_fills_is_held_from_its_own_opening() -> None:
    # the whole reconciliation: the trades since the week began (the sell and the new buy),
    # then the positions
    d = driver(limit_minutes="2")
    d.send(position(MES, 1, "6000"), fill(MES, Side.BUY, 1, "6000"))
    reopened = T0 + timedelta(seconds=28)
    again = restart(d, partial(engine, limit_minutes="2"), at=T0 + timedelta(seconds=126))
    out = start_up_read(
        again,
        fill(MES, Side.SELL, 1, "6005", pnl="6.25", at=T0 + timedelta(seconds=20)),
        fill(MES, Side.BUY, 1, "6010", at=reopened),
        position(MES, 1, "6010", at=reopened),
    )
    assert not closes(out)
    assert again.engine.next_deadline() == reopened + timedelta(minutes=2)


def test_a_live_update_never_moves_the_open_time_later_but_a_read_does() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    later = T0 + timedelta(minutes=10)
    d.now = later
    d.send(position(MNQ, 2, "21010", at=later))  # added to: the first open time stays
    assert d.engine.next_deadline() == T0 + LIMIT
    # a read lists it opened later: it went flat and opened again unseen (a lost update)
    gateway_read(d, replace(position(MNQ, 2, "21010", at=later), snapshot=True))
    assert d.acct.positions[MNQ].opened_at == later
    assert d.engine.next_deadline() == later + LIMIT


# --- settings, usage, cost -------------------------------------------------------------------


def test_a_short_limit_from_the_settings() -> None:
    d = driver(limit_minutes="5")
    d.send(position(MNQ, 1, "21000"))
    assert d.engine.next_deadline() == T0 + timedelta(minutes=5)


def test_usage_is_the_oldest_positions_share_of_the_limit() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"), position(ES, 1, "6000", at=T0 + timedelta(minutes=30)))
    u = d.engine.rules[0].usage(d.acct, T0 + timedelta(hours=1))
    assert u is not None
    assert (u.value, u.limit, u.unit, u.fraction) == (3600, 4 * 3600, "s", Decimal("0.25"))


def test_quotes_never_evaluate_the_rule() -> None:
    assert Quote not in PositionHoldTime.reacts_to


def test_the_audit_reason_gives_the_opening_time_in_the_session_time_zone() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000", at=T0))
    out = d.advance(minutes=240)
    [row] = [e.entry for e in out if isinstance(e, RecordTransition) and e.entry.contract_id]
    assert "open since 2026-11-23 09:00:00 CST" in row.reason, row.reason
