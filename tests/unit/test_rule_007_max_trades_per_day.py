"""RULE-007 max_trades_per_day: the trader's entries (or round trips) per trading day, the lock
that lets the trader exit, the service's own fills, the reset across daylight saving, restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk.core.events import AdminCommand, Event, OrderStatus, OrderType, Quote, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Scope, Verdict
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
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
    reduces,
    restart,
    rule_driver,
    the_rule,
)

_ids = iter(range(700_000, 10**9))


def raw(**over: str) -> dict[type[MaxTradesPerDay], dict[str, str]]:
    return {MaxTradesPerDay: {"limit": "3", **over}}


driver = partial(rule_driver, MaxTradesPerDay, limit="3")
rule = partial(the_rule, cls=MaxTradesPerDay)


def enter(d: Driver, contract: str, size: int = 1, *, held: int = 0, long: bool = True) -> int:
    """The trader's order that opens (or adds to) a position, as the gateway reports it:
    the order working, its fill, the order filled, the position."""
    oid = next(_ids)
    side = Side.BUY if long else Side.SELL
    d.send(
        order(oid, contract, side, size, type=OrderType.MARKET, at=d.now),
        fill(contract, side, size, "100", order_id=oid, at=d.now),
        order(oid, contract, side, size, type=OrderType.MARKET, status=OrderStatus.FILLED),
        position(contract, held + size, "100", long=long, at=d.now),
    )
    return oid


def leave(d: Driver, contract: str, size: int = 1, *, held: int = 1, pnl: str = "0") -> None:
    """The trader's order that closes (or reduces) a long position."""
    oid = next(_ids)
    d.send(fill(contract, Side.SELL, size, "100", pnl=pnl, order_id=oid, at=d.now))
    rest = held - size
    d.send(position(contract, rest, "100", at=d.now) if rest else flat(contract, at=d.now))


def scalp(d: Driver, contract: str = ES) -> None:
    enter(d, contract)
    leave(d, contract)
    d.now += timedelta(seconds=30)


# --- fires / does not fire ----------------------------------------------------------------


def test_exactly_the_limit_of_entries_does_not_lock() -> None:
    d = driver()
    for _ in range(3):
        scalp(d)
    assert d.acct.state is State.Trading
    assert rule(d).count(d.acct) == 3


def test_the_entry_past_the_limit_locks_until_the_next_daily_reset() -> None:
    d = driver()
    for _ in range(3):
        scalp(d)
    enter(d, ES)
    assert d.acct.state is State.LockedDaily
    hold = d.acct.holds["RULE-007"]
    assert hold.reason is Reason.MAX_TRADES_PER_DAY
    assert hold.until == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 17:00 CST
    assert "4 entries today > limit 3" in hold.detail


def test_partial_fills_of_one_order_count_as_one_entry_and_each_add_counts() -> None:
    d = driver()
    d.send(fill(MNQ, Side.BUY, 1, "100", order_id=41), fill(MNQ, Side.BUY, 2, "100", order_id=41))
    d.send(position(MNQ, 3, "100"))
    assert rule(d).count(d.acct) == 1
    enter(d, MNQ, held=3)  # adding to the position is another entry
    enter(d, MNQ, held=4)
    assert rule(d).count(d.acct) == 3 and d.acct.state is State.Trading
    enter(d, MNQ, held=5)
    assert d.acct.state is State.LockedDaily


def test_exits_never_count_as_entries() -> None:
    d = driver(limit="1")
    enter(d, MNQ, 3)
    for held in (3, 2, 1):
        leave(d, MNQ, held=held)
    assert rule(d).count(d.acct) == 1 and d.acct.state is State.Trading


def test_a_reversal_is_an_entry() -> None:
    d = driver(limit="1")
    enter(d, MNQ)
    d.send(fill(MNQ, Side.SELL, 2, "100", pnl="0", order_id=next(_ids)))  # long 1 -> short 1
    assert d.acct.day.fills[-1].entry == 1
    assert d.acct.state is State.LockedDaily


# --- the lock's effects -------------------------------------------------------------------


def locked_with_mnq_open() -> Driver:
    """Limit 2: MNQ held from the first entry, an ES scalp, then an NQ entry past the limit."""
    d = driver(limit="2")
    enter(d, MNQ)
    scalp(d, ES)
    enter(d, NQ)
    return d


def test_the_lock_closes_the_new_position_and_lets_the_old_one_stay() -> None:
    d = locked_with_mnq_open()
    assert d.acct.state is State.LockedDaily
    assert [c.contract_id for c in closes(d.effects)] == [NQ]
    assert closes(d.effects)[0].reason is Reason.POSITION_WHILE_LOCKED
    assert closes(d.effects)[0].rule_id == "RULE-007"
    assert MNQ in d.acct.positions and d.acct.tolerated == {MNQ: 1}


def test_while_locked_entries_are_cancelled_and_exits_are_allowed() -> None:
    d = locked_with_mnq_open()
    d.send(flat(NQ))  # the close of NQ confirmed
    out = d.send(order(901, MNQ, Side.BUY, 1, limit="99"), order(902, ES, Side.SELL, 1))
    assert sorted(c.order_id for c in cancels(out)) == [901, 902]
    out = d.send(order(903, MNQ, Side.SELL, 1, limit="101"))  # exits the tolerated MNQ
    assert cancels(out) == [] and closes(out) == []
    leave(d, MNQ)
    assert MNQ not in d.acct.positions and d.acct.state is State.LockedDaily
    # a new position appears: closed on sight
    out = d.send(fill(MNQ, Side.BUY, 1, "100", order_id=904), position(MNQ, 1, "100"))
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_adding_to_a_tolerated_position_while_locked_is_reduced_back() -> None:
    d = locked_with_mnq_open()
    d.send(flat(NQ))
    out = d.send(
        fill(MNQ, Side.BUY, 1, "100", order_id=next(_ids)), position(MNQ, 2, "100", at=d.now)
    )
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 1)]


def test_flatten_existing_closes_the_open_positions_too() -> None:
    d = driver(limit="2", flatten_existing="true")
    enter(d, MNQ)
    scalp(d, ES)
    enter(d, NQ)
    assert d.acct.state is State.Flattening
    assert sorted(c.contract_id for c in closes(d.effects)) == sorted([MNQ, NQ])
    d.send(flat(MNQ), flat(NQ))
    assert d.acct.state is State.LockedDaily
    assert d.acct.holds["RULE-007"].until == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)


# --- round trips --------------------------------------------------------------------------


def test_round_trips_count_positions_opened_from_flat_not_adds() -> None:
    d = driver(count="round_trips", limit="2")
    enter(d, MNQ)
    enter(d, MNQ, held=1)  # an add: still one round trip
    assert rule(d).count(d.acct) == 1
    leave(d, MNQ, 2, held=2)
    enter(d, ES)  # the second, still open
    assert rule(d).count(d.acct) == 2 and d.acct.state is State.Trading
    enter(d, NQ)  # the third
    assert d.acct.state is State.LockedDaily
    assert "3 round trips today > limit 2" in d.acct.holds["RULE-007"].detail


def test_round_trips_ignore_a_position_held_before_monitoring_began() -> None:
    d = driver(count="round_trips", limit="1")
    d.send(position(MNQ, 2, "100"))  # open before the service saw any fill
    leave(d, MNQ, 2, held=2)  # the trader's exit closes a trip the service did not see open
    assert rule(d).count(d.acct) == 0
    enter(d, ES)
    assert rule(d).count(d.acct) == 1 and d.acct.state is State.Trading


# --- the service's own fills --------------------------------------------------------------


def close_mnq_on_quote(ctx: Any) -> Scripted:
    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, Quote):
            stop = Verdict(
                "RULE-T01", Reason.POSITION_STOP_LOSS, Action.CLOSE, Scope.CONTRACT, contract_id=MNQ
            )
            return (stop,)
        return ()

    return Scripted(ctx, script, level_triggered=False)


def test_the_service_own_close_never_counts_even_when_it_opens_a_position() -> None:
    d = Driver(make_engine(raw(limit="1"), extra=[close_mnq_on_quote]))
    d.send(account())
    enter(d, MNQ)
    out = d.send(quote(MNQ, "90"))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    d.send(order(950, MNQ, Side.SELL, 1, type=OrderType.MARKET))  # the gateway's close order
    # the trader's own exit races the close and fills first; then the close fills too and
    # leaves a short position: the service's fill opened it
    d.send(fill(MNQ, Side.SELL, 1, "90", pnl="-5", order_id=951))
    d.send(fill(MNQ, Side.SELL, 1, "90", order_id=950))
    own = d.acct.day.fills[-1]
    assert own.order_id == 950 and own.entry == 1 and own.enforcement
    assert rule(d).count(d.acct) == 1
    assert "RULE-007" not in d.acct.holds


# --- locks, overrides ---------------------------------------------------------------------


def test_a_stronger_lock_is_kept_with_its_deadline() -> None:
    d = driver(limit="1")
    d.send(AdminCommand(ACC, State.LockedWeekly, "risk desk", "ops"))
    weekly = d.acct.holds["ADMIN"].until
    enter(d, MNQ)  # fills slip through while locked: they still count
    enter(d, ES)
    assert d.acct.state is State.LockedWeekly
    assert "RULE-007" in d.acct.holds and d.acct.holds["ADMIN"].until == weekly
    d.send(flat(MNQ), flat(ES))
    d.at(d.acct.holds["RULE-007"].until)  # the daily hold ends at the reset; weekly remains
    assert d.acct.state is State.LockedWeekly and "RULE-007" not in d.acct.holds


def test_a_cooldown_is_superseded_by_the_daily_lock() -> None:
    d = driver(limit="1")
    d.send(AdminCommand(ACC, State.Cooldown, "breathe", "ops", minutes=5))
    enter(d, MNQ)
    enter(d, ES)
    assert d.acct.state is State.LockedDaily
    d.send(flat(MNQ), flat(ES))
    d.advance(minutes=10)  # the cooldown ended; the daily lock holds
    assert d.acct.state is State.LockedDaily


def test_an_admin_override_waives_the_rule_until_the_reset() -> None:
    d = driver(limit="1")
    enter(d, MNQ)
    enter(d, ES)
    assert d.acct.state is State.LockedDaily
    d.send(AdminCommand(ACC, State.Trading, "agreed extra trades", "ops"))
    enter(d, NQ, held=0)
    assert d.acct.state is State.Trading
    reset = d.engine.calendar.next_daily_reset(T0)
    d.at(reset + timedelta(minutes=1))
    assert rule(d).count(d.acct) == 0
    enter(d, NQ, held=1)
    enter(d, NQ, held=2)
    assert d.acct.state is State.LockedDaily  # a new day: the rule applies again


# --- time: the daily reset across daylight saving, restart ---------------------------------


@pytest.mark.parametrize(
    ("reset", "label"),
    [
        (datetime(2026, 3, 8, 22, 0, tzinfo=UTC), "spring forward: 17:00 CDT"),
        (datetime(2026, 11, 1, 23, 0, tzinfo=UTC), "fall back: 17:00 CST"),
    ],
)
def test_the_count_starts_again_at_17_chicago_on_a_dst_change_day(
    reset: datetime, label: str
) -> None:
    start = reset - timedelta(hours=2)
    before = driver(start)
    for _ in range(3):
        scalp(before)
    before.now = reset - timedelta(seconds=1)
    enter(before, NQ)
    assert before.acct.state is State.LockedDaily, label
    assert before.acct.holds["RULE-007"].until == reset
    before.at(reset)
    assert before.acct.state is State.Trading

    after = driver(start)
    for _ in range(3):
        scalp(after)
    after.now = reset
    enter(after, NQ)
    assert after.acct.state is State.Trading, label
    assert rule(after).count(after.acct) == 1


def test_restart_keeps_the_count() -> None:
    d = driver()
    for _ in range(3):
        scalp(d)
    again = restart(d, lambda: make_engine(raw()), at=d.now + timedelta(hours=1))
    assert rule(again).count(again.acct) == 3
    enter(again, NQ)
    assert again.acct.state is State.LockedDaily


def test_restart_while_locked_keeps_the_lock_its_deadline_and_the_tolerated_position() -> None:
    d = locked_with_mnq_open()
    d.send(flat(NQ))
    until = d.acct.holds["RULE-007"].until
    again = restart(d, lambda: make_engine(raw(limit="2")), at=d.now + timedelta(hours=2))
    assert again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-007"].until == until
    assert closes(again.effects) == []  # MNQ may stay
    out = again.send(fill(ES, Side.BUY, 1, "100", order_id=905), position(ES, 1, "100"))
    assert [c.contract_id for c in closes(out)] == [ES]
    again.send(flat(ES))
    again.at(until - timedelta(seconds=1))
    assert again.acct.state is State.LockedDaily
    again.at(until)
    assert again.acct.state is State.Trading


# --- settings and usage -------------------------------------------------------------------


def test_defaults_suit_a_50k_account() -> None:
    cfg = rule(Driver(make_engine({MaxTradesPerDay: {}}))).config
    assert (cfg.limit, cfg.count, cfg.flatten_existing) == (10, "entries", False)


def test_usage_is_the_share_of_the_limit_used() -> None:
    d = driver(limit="4")
    scalp(d)
    enter(d, MNQ)
    u = rule(d).usage(d.acct, d.now)
    assert (u.value, u.limit, u.unit) == (Decimal(2), Decimal(4), "entries")
    assert u.fraction == Decimal("0.5")
