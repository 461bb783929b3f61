"""RULE-016 stop_loss_required: what counts as a protective stop, the grace deadline from the
scheduler, stops placed outside the service and loaded at start-up, restarts and locks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.events import Event, OrderStatus, OrderType, OrderUpdate, Quote, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Verdict
from fsm_risk.rules.stop_loss_required import REPLACE_GRACE, StopLossRequired
from tests.factories import (
    ES,
    MES,
    MNQ,
    MNQ_H27,
    T0,
    Driver,
    Scripted,
    account,
    closes,
    flat,
    make_engine,
    order,
    position,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
    transitions,
)

GRACE = timedelta(seconds=30)
SECOND = timedelta(seconds=1)
STOP, STOP_LIMIT, TRAIL = OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP


engine = partial(rule_engine, StopLossRequired)
driver = partial(rule_driver, StopLossRequired)


def stop(
    order_id: int,
    side: Side,
    price: str | None,
    *,
    contract: str = MNQ,
    type: OrderType = STOP,
    status: OrderStatus = OrderStatus.OPEN,
    at: datetime = T0,
) -> OrderUpdate:
    return order(order_id, contract, side, 1, type=type, stop=price, status=status, at=at)


def state(d: Driver, contract_id: str) -> State:
    cm = d.acct.contracts.get(contract_id)
    return cm.state if cm is not None else State.Trading


def closed_at_deadline(d: Driver) -> list[str]:
    """Wake the account at the grace deadline (no event) and return what was closed."""
    return [c.contract_id for c in closes(d.at(T0 + GRACE))]


# --- the deadline ----------------------------------------------------------------------------


def test_the_grace_deadline_is_armed_when_the_position_opens() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    assert d.engine.next_deadline() == T0 + GRACE


def test_one_second_before_the_grace_ends_nothing_happens() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.now = T0 + GRACE - SECOND
    out = d.send(order(3, ES, Side.BUY, 1, limit="6000", at=d.now))
    assert not closes(out) and state(d, MNQ) is State.Trading


def test_a_naked_position_is_closed_by_the_scheduler_when_the_grace_ends() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"))
    out = d.at(T0 + GRACE)
    assert [(c.contract_id, c.rule_id, c.reason) for c in closes(out)] == [
        (MNQ, "RULE-016", Reason.STOP_LOSS_REQUIRED)
    ]
    assert state(d, MNQ) is State.Flattening and d.acct.state is State.Trading
    done = d.send(flat(MNQ, at=d.now))
    assert (MNQ, "Flattening", "Trading", "flat_confirmed") in transitions(done)
    assert not d.acct.contracts[MNQ].holds  # no lock: the trader may open again


def test_only_the_naked_position_is_closed() -> None:
    d = driver()
    d.send(
        position(MNQ, 1, "21000"), position(ES, 1, "6000"), stop(1, Side.SELL, "5990", contract=ES)
    )
    assert closed_at_deadline(d) == [MNQ]


# --- what protects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("long", "side", "price", "type"),
    [
        (True, Side.SELL, "20990", STOP),  # sell stop below a long's entry
        (True, Side.SELL, "20990", STOP_LIMIT),
        (True, Side.SELL, None, TRAIL),  # a trailing stop always counts
        (False, Side.BUY, "21010", STOP),  # buy stop above a short's entry
        (False, Side.BUY, "21010", STOP_LIMIT),
        (False, Side.BUY, None, TRAIL),
    ],
)
def test_a_protective_stop_keeps_the_position(
    long: bool, side: Side, price: str | None, type: OrderType
) -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000", long=long), stop(1, side, price, type=type))
    assert closed_at_deadline(d) == []


@pytest.mark.parametrize(
    ("long", "order_update"),
    [
        (True, stop(1, Side.BUY, "21010")),  # a buy stop over a long is a stop entry
        (False, stop(1, Side.SELL, "20990")),  # a sell stop under a short is a stop entry
        (True, stop(1, Side.BUY, "20990")),  # the price is right, the side is not
        (True, stop(1, Side.SELL, "21000")),  # at the entry: not beyond it
        (False, stop(1, Side.BUY, "21000")),
        (True, stop(1, Side.SELL, "21010")),  # on the profit side of the entry
        (True, stop(1, Side.SELL, None)),  # a stop with no stop price
        (True, order(1, MNQ, Side.SELL, 1, limit="20990")),  # a limit order is not a stop
        (True, stop(1, Side.SELL, "20990", contract=MNQ_H27)),  # another contract month
        (True, stop(1, Side.SELL, "20990", status=OrderStatus.PENDING_CANCEL)),  # leaving
    ],
    ids=[
        "long-stop-entry",
        "short-stop-entry",
        "long-wrong-side",
        "long-at-entry",
        "short-at-entry",
        "long-profit-side",
        "no-stop-price",
        "limit-order",
        "other-month",
        "pending-cancel",
    ],
)
def test_orders_that_do_not_protect(long: bool, order_update: OrderUpdate) -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000", long=long), order_update)
    assert closed_at_deadline(d) == [MNQ]


def test_break_even_and_profit_stops_count_when_configured() -> None:
    for price in ("21000", "21010"):
        d = driver(count_profit_stops="true")
        d.send(position(MNQ, 1, "21000"), stop(1, Side.SELL, price))
        assert closed_at_deadline(d) == []
    d = driver(count_profit_stops="true")
    d.send(position(MNQ, 1, "21000"), stop(1, Side.BUY, "21010"))  # still a stop entry
    assert closed_at_deadline(d) == [MNQ]


def test_a_stop_placed_just_inside_the_grace_counts() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.now = T0 + GRACE - SECOND
    d.send(stop(1, Side.SELL, "20980", at=d.now))  # placed in the platform, seen as an event
    assert closed_at_deadline(d) == []


def test_cancelling_the_stop_after_the_grace_closes_the_position_unless_it_is_replaced() -> None:
    """A stop taken away past the grace: the position is closed once `REPLACE_GRACE` has
    passed with no stop back (a trader replacing his stop cancels it, then places another)."""
    d = driver()
    d.send(position(MNQ, 1, "21000"), stop(1, Side.SELL, "20980"))
    d.at(T0 + timedelta(minutes=5))
    out = d.send(stop(1, Side.SELL, "20980", status=OrderStatus.CANCELLED, at=d.now))
    assert not closes(out)
    assert d.engine.next_deadline() == d.now + REPLACE_GRACE
    out = d.at(d.now + REPLACE_GRACE)
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_a_stop_replaced_within_the_replace_grace_keeps_the_position() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"), stop(1, Side.SELL, "20980"))
    d.at(T0 + timedelta(minutes=5))
    assert not closes(d.send(stop(1, Side.SELL, "20980", status=OrderStatus.CANCELLED, at=d.now)))
    d.now += timedelta(seconds=1)
    assert not closes(d.send(stop(2, Side.SELL, "20970", at=d.now)))  # the new stop
    assert not closes(d.at(d.now + REPLACE_GRACE))


def test_the_traders_stop_filling_before_its_fill_is_told_is_no_breach() -> None:
    """Reported (a simulated week): the gateway told the trader's stop filled 180 ms before
    the position it closed; RULE-016 judged a position without a stop, the contract went
    Flattening, and the trader's exit fill was booked as our close: out of his cooldown,
    loss streak and revenge rules, and a false breach in the audit."""
    d = driver()
    d.send(position(MNQ, 1, "21000"), stop(1, Side.SELL, "20980"))
    d.at(T0 + timedelta(minutes=5))
    out = d.send(stop(1, Side.SELL, "20980", status=OrderStatus.FILLED, at=d.now))
    assert not closes(out) and state(d, MNQ) is State.Trading
    d.now += timedelta(milliseconds=180)
    out = d.send(position(MNQ, 0, "21000", at=d.now))  # its position, closed
    assert not closes(out) and not closes(d.at(d.now + REPLACE_GRACE))
    assert state(d, MNQ) is State.Trading


def test_a_stop_left_behind_by_averaging_in_stops_protecting() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"), stop(1, Side.SELL, "20990"))
    d.now = T0 + timedelta(minutes=1)
    out = d.send(position(MNQ, 2, "20980", at=d.now))  # new average is below the stop
    assert [c.contract_id for c in closes(out)] == [MNQ]


# --- start-up and restart --------------------------------------------------------------------


def test_a_position_found_at_start_up_waits_for_its_stop_to_load() -> None:
    d = Driver(engine(), now=T0)
    # the start-up snapshot: the position (opened hours ago) arrives before its open orders
    out = d.send(account(), position(MNQ, 1, "21000", at=T0 - timedelta(hours=3)))
    assert not closes(out)
    d.send(stop(1, Side.SELL, "20980", at=T0 - timedelta(hours=3)))
    assert closed_at_deadline(d) == []


def test_a_position_found_at_start_up_without_a_stop_gets_the_grace_then_closes() -> None:
    d = Driver(engine(), now=T0)
    d.send(account(), position(MNQ, 1, "21000", at=T0 - timedelta(hours=3)))
    assert d.engine.next_deadline() == T0 + GRACE
    assert closed_at_deadline(d) == [MNQ]


def test_restart_re_arms_the_deadline_from_the_open_position() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    again = restart(d, engine, at=T0 + timedelta(seconds=10))
    assert again.engine.next_deadline() == T0 + GRACE
    start_up_read(again, position(MNQ, 1, "21000"))  # the same position, opened at T0
    assert again.engine.next_deadline() == T0 + GRACE
    assert [c.contract_id for c in closes(again.at(T0 + GRACE))] == [MNQ]


def test_restart_keeps_a_protected_position_protected() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"), stop(1, Side.SELL, "20980"))
    again = restart(d, engine, at=T0 + timedelta(minutes=10))
    assert not closes(again.effects)
    assert state(again, MNQ) is State.Trading


def test_a_deadline_that_passed_while_stopped_is_enforced_at_start_up() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    again = restart(d, engine, at=T0 + timedelta(minutes=10))
    out = start_up_read(again, position(MNQ, 1, "21000"))
    # (decided on the read, sent on resuming: the shell holds back the first)
    assert {c.contract_id for c in closes(out)} == {MNQ}


def test_a_stop_cancelled_while_stopped_closes_the_same_position_at_start_up() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"), stop(1, Side.SELL, "20980"))
    again = restart(d, engine, at=T0 + timedelta(minutes=10))
    out = start_up_read(again, position(MNQ, 1, "21000"))  # the stop is not listed
    out += again.at(again.now + REPLACE_GRACE)  # (its stop ended: replaced meanwhile?)
    assert {c.contract_id for c in closes(out)} == {MNQ}


def test_a_position_reopened_while_stopped_gets_the_full_grace_from_the_read() -> None:
    # 1 MES with its stop at T0, past the grace; while the service is down the stop is
    # cancelled, the position sold and bought again (no stop) at T0 + 37 s
    d = driver()
    d.send(position(MES, 1, "6000"), stop(1, Side.SELL, "5990", contract=MES))
    d.at(T0 + timedelta(seconds=35))
    reopened = T0 + timedelta(seconds=37)
    again = restart(d, engine, at=T0 + timedelta(seconds=40))
    assert not closes(again.effects)
    out = start_up_read(again, position(MES, 1, "6010", at=reopened))
    assert not closes(out) and state(again, MES) is State.Trading
    assert not again.acct.orders  # the stop the read did not list has ended
    assert again.engine.next_deadline() == again.now + GRACE  # first seen at the read
    assert not closes(again.at(again.now + GRACE - SECOND))
    out = again.at(T0 + timedelta(seconds=40) + GRACE)
    assert [c.contract_id for c in closes(out)] == [MES]
    [row] = [e.entry for e in out if isinstance(e, RecordTransition) and e.entry.contract_id]
    assert "no protective stop 30 s after 15:00:40 UTC" in row.reason, row.reason


def test_a_sighting_stored_by_an_earlier_version_keeps_its_grace() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.acct.rule_state["RULE-016"] = {"seen": {MNQ: T0.timestamp()}}  # no open times
    again = restart(d, engine, at=T0 + timedelta(seconds=10))
    start_up_read(again, position(MNQ, 1, "21000"))
    assert again.engine.next_deadline() == T0 + GRACE


def test_the_grace_is_real_seconds_across_the_fall_back_hour() -> None:
    opened = datetime(2026, 11, 1, 6, 59, 50, tzinfo=UTC)  # 01:59:50 CDT; then 01:00 CST
    d = Driver(engine(), now=opened)
    d.send(account(), position(MNQ, 1, "21000", at=opened))
    assert d.engine.next_deadline() == datetime(2026, 11, 1, 7, 0, 20, tzinfo=UTC)


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


def test_closing_a_naked_position_never_shortens_the_accounts_lock() -> None:
    d = Driver(make_engine({StopLossRequired: {}}, extra=[_lock_without_flatten]))
    d.send(
        account(), position(MNQ, 1, "21000"), order(99, ES, Side.BUY, 1, status=OrderStatus.FILLED)
    )
    lock = d.acct.holds["RULE-T01"]
    assert d.acct.state is State.LockedDaily
    assert closed_at_deadline(d) == [MNQ]
    d.send(flat(MNQ, at=d.now))
    assert d.acct.state is State.LockedDaily and d.acct.holds == {"RULE-T01": lock}


# --- settings, usage, cost -------------------------------------------------------------------


def test_grace_from_the_settings() -> None:
    d = driver(grace_seconds="60")
    d.send(position(MNQ, 1, "21000"))
    assert d.engine.next_deadline() == T0 + timedelta(seconds=60)


def test_usage_is_how_much_of_the_grace_the_most_urgent_naked_position_used() -> None:
    d = driver()
    d.send(
        position(MNQ, 1, "21000"), position(ES, 1, "6000"), stop(1, Side.SELL, "5990", contract=ES)
    )
    rule = d.engine.rules[0]
    u = rule.usage(d.acct, T0 + timedelta(seconds=12))
    assert u is not None
    assert (u.value, u.limit, u.fraction) == (12, 30, Decimal("0.4"))
    assert MNQ in u.detail
    d.send(stop(2, Side.SELL, "20990"))
    covered = rule.usage(d.acct, T0 + timedelta(seconds=12))
    assert covered is not None and covered.fraction == 0


def test_quotes_never_evaluate_the_rule() -> None:
    assert Quote not in StopLossRequired.reacts_to


# --- a stop that covers part of the position -------------------------------------------------


def sized_stop(
    order_id: int, size: int, price: str = "20950", status: OrderStatus = OrderStatus.OPEN
) -> OrderUpdate:
    return order(order_id, MNQ, Side.SELL, size, type=STOP, stop=price, status=status)


def test_a_stop_for_part_of_the_position_does_not_protect_it() -> None:
    """Reported: long 3 MNQ with a sell stop of 1 was "every position has a stop" for good;
    two contracts had none. At the deadline the position is closed, as one with no stop."""
    d = driver()
    d.send(position(MNQ, 3, "21000"), sized_stop(1, 1))
    usage = d.engine.rules[0].usage(d.acct, T0)
    assert usage is not None and usage.detail == f"{MNQ}: stops cover 1 of 3"
    out = d.at(T0 + GRACE)
    assert [c.contract_id for c in closes(out)] == [MNQ]
    entries = [e.entry for e in out if isinstance(e, RecordTransition)]
    assert any(
        e.rule_id == "RULE-016" and "has protective stops for 1 of 3" in e.reason for e in entries
    )


def test_stops_that_together_cover_the_position_protect_it() -> None:
    d = driver()
    d.send(position(MNQ, 3, "21000"), sized_stop(1, 1), sized_stop(2, 2, "20900"))
    assert closed_at_deadline(d) == []


def test_scaling_in_a_covered_position_gives_the_added_contracts_a_grace() -> None:
    """A bracket's stop may be reported after the fill of the entry it protects."""
    d = driver()
    d.send(position(MNQ, 1, "21000"), sized_stop(1, 1))
    later = T0 + timedelta(minutes=5)
    d.now = later
    out = d.send(position(MNQ, 3, "21000", at=T0))  # scaled in: the stop still says 1
    assert not closes(out)
    assert d.engine.next_deadline() == later + GRACE
    assert [c.contract_id for c in closes(d.at(later + GRACE))] == [MNQ]


def test_scaling_in_without_a_stop_puts_no_deadline_off() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.now = T0 + GRACE - SECOND
    d.send(position(MNQ, 2, "21000", at=T0))  # naked, and adding just before the deadline
    assert closed_at_deadline(d) == [MNQ]


def test_scaling_in_then_taking_the_stop_away_puts_no_deadline_off() -> None:
    """Reported: buy 1 with a stop of 1; past the grace buy 1 more and cancel the stop; again
    and again: each scale-in gave the whole position a new grace, and it went without a stop
    for a minute. The contracts covered when it was scaled in must stay covered."""
    d = driver()
    d.send(position(MNQ, 1, "21000"), sized_stop(1, 1))
    later = T0 + timedelta(minutes=1)
    d.now = later
    assert not closes(d.send(position(MNQ, 2, "21000", at=T0)))  # the added one: a grace
    out = d.send(sized_stop(1, 1, status=OrderStatus.CANCELLED))  # the stop taken away
    out += d.at(d.now + REPLACE_GRACE)  # not replaced
    assert [c.contract_id for c in closes(out)] == [MNQ]
