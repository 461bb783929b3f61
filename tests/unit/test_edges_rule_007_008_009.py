"""RULE-007 max_trades_per_day, RULE-008 trade_cooldown and RULE-009 position_hold_time at
their edges: the 25-hour day and its repeated hour, a restart across a daylight-saving reset,
a round trip whose fees straddle the reset or a restart, a hold deadline on the 23-hour day,
across the daily reset, and a restart one second before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest

from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from fsm_risk.rules.position_hold_time import PositionHoldTime
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    ES,
    MNQ,
    Driver,
    closes,
    fill,
    flat,
    order,
    position,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
    the_rule,
)
from tests.unit.test_edges_rule_001_002_contracts import start_up_read as service_start_up

SPRING = datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # Sunday 17:00 CDT, the 23-hour day's end
FALL = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # Sunday 17:00 CST, the 25-hour day's end
RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday 17:00 CST
SECOND = timedelta(seconds=1)

_ids = iter(range(600_000, 10**9))

trades_engine = partial(rule_engine, MaxTradesPerDay, limit="3")
trades_driver = partial(rule_driver, MaxTradesPerDay, limit="3")
cool_engine = partial(rule_engine, TradeCooldown)
cool_driver = partial(rule_driver, TradeCooldown)
hold_engine = partial(rule_engine, PositionHoldTime, limit_minutes="60")
hold_driver = partial(rule_driver, PositionHoldTime, limit_minutes="60")


def scalp(d: Driver, contract: str = ES) -> None:
    """The trader's one-lot entry (order, fill, position) and its exit at ``d.now``."""
    oid = next(_ids)
    d.send(
        order(oid, contract, Side.BUY, 1, type=OrderType.MARKET, at=d.now),
        fill(contract, Side.BUY, 1, "100", order_id=oid, at=d.now),
        order(oid, contract, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        position(contract, 1, "100", at=d.now),
        fill(contract, Side.SELL, 1, "100", pnl="0", order_id=next(_ids), at=d.now),
        flat(contract, at=d.now),
    )


def enter(d: Driver, fees: str) -> None:
    """The trader buys one ES at 6,000 at ``d.now``, paying ``fees``."""
    d.send(
        fill(ES, Side.BUY, 1, "6000", fees=fees, order_id=next(_ids), at=d.now),
        position(ES, 1, "6000", at=d.now),
    )


def leave(d: Driver, pnl: str, fees: str) -> None:
    """The trader sells the ES at ``d.now``: the fill's P&L is ``pnl``, its fees ``fees``."""
    d.send(
        fill(ES, Side.SELL, 1, "5992.25", pnl=pnl, fees=fees, order_id=next(_ids), at=d.now),
        flat(ES, at=d.now),
    )


# --- RULE-007 -------------------------------------------------------------------------------


def test_trades_entries_in_both_copies_of_the_repeated_hour_count_in_one_day() -> None:
    # Sunday 2026-11-01: 00:30 CDT, 01:30 CDT, 01:30 CST are one trading day (Oct 30 17:00 CDT
    # to Nov 1 17:00 CST); the fourth entry, at 01:45 CST, locks until 17:00 CST (23:00 UTC)
    d = trades_driver(now=datetime(2026, 11, 1, 5, 30, tzinfo=UTC))
    for _ in range(2):
        scalp(d)
        d.now += timedelta(hours=1)
    scalp(d)  # 07:30 UTC: 01:30 CST, the hour again
    assert the_rule(d, MaxTradesPerDay).count(d.acct) == 3
    assert d.acct.state is State.Trading
    d.now += timedelta(minutes=15)
    scalp(d)
    assert d.acct.state is State.LockedDaily
    assert d.acct.holds["RULE-007"].until == FALL


@pytest.mark.parametrize("reset", [SPRING, FALL])
def test_trades_a_restart_across_a_dst_reset_starts_the_count_again(reset: datetime) -> None:
    d = trades_driver(now=reset - timedelta(minutes=30))
    for _ in range(3):
        scalp(d)
    again = restart(d, trades_engine, at=reset + timedelta(minutes=5))
    start_up_read(again)
    assert again.acct.day.start == reset
    assert the_rule(again, MaxTradesPerDay).count(again.acct) == 0
    for _ in range(3):
        scalp(again)
    assert again.acct.state is State.Trading
    scalp(again)
    assert again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-007"].until == reset + timedelta(days=1)


def test_trades_three_before_a_restart_a_second_before_the_reset() -> None:
    # three entries, a restart a second before the reset: still three, the fourth (before the
    # reset) locks until the reset, which ends it
    d = trades_driver(now=RESET - timedelta(minutes=10))
    for _ in range(3):
        scalp(d)
    again = restart(d, trades_engine, at=RESET - SECOND)
    start_up_read(again)
    assert the_rule(again, MaxTradesPerDay).count(again.acct) == 3
    scalp(again)
    assert again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-007"].until == RESET
    again.at(RESET)
    assert again.acct.state is State.Trading


# --- RULE-008 -------------------------------------------------------------------------------


def test_cooldown_a_round_trip_across_the_reset_keeps_its_opening_fee() -> None:
    # ES bought at 16:59 CST paying $1.40, sold at 17:01 CST for -$97.20 and $1.40: the round
    # trip lost $100.00 net, the first tier
    d = cool_driver(now=RESET - timedelta(minutes=1))
    enter(d, fees="1.40")
    d.at(RESET)
    d.now = RESET + timedelta(minutes=1)
    leave(d, pnl="-97.20", fees="1.40")
    assert d.acct.state is State.Cooldown
    hold = d.acct.holds["RULE-008"]
    assert hold.until == d.now + timedelta(minutes=15)
    assert "net -100.00 <= -100.00" in hold.detail


def test_cooldown_a_round_trip_across_a_restart_keeps_its_opening_fee() -> None:
    start = RESET - timedelta(hours=3)
    d = cool_driver(now=start)
    enter(d, fees="1.40")
    again = restart(d, cool_engine, at=start + timedelta(minutes=5))
    start_up_read(again, position(ES, 1, "6000", at=start))
    leave(again, pnl="-97.20", fees="1.40")
    assert again.acct.state is State.Cooldown
    assert "net -100.00 <= -100.00" in again.acct.holds["RULE-008"].detail


@pytest.mark.parametrize("reset", [SPRING, FALL, RESET])
def test_cooldown_a_round_trip_across_a_restart_and_a_missed_reset(reset: datetime) -> None:
    start = reset - timedelta(minutes=2)
    d = cool_driver(now=start)
    enter(d, fees="1.40")
    again = restart(d, cool_engine, at=reset + timedelta(minutes=2))
    start_up_read(again, position(ES, 1, "6000", at=start))
    assert again.acct.day.start == reset
    leave(again, pnl="-97.20", fees="1.40")
    assert again.acct.state is State.Cooldown
    hold = again.acct.holds["RULE-008"]
    assert hold.reason is Reason.TRADE_COOLDOWN
    assert hold.until == again.now + timedelta(minutes=15)


def test_cooldown_one_cent_short_across_the_reset_does_not_fire() -> None:
    d = cool_driver(now=RESET - timedelta(minutes=1))
    enter(d, fees="1.40")
    d.at(RESET)
    leave(d, pnl="-97.19", fees="1.40")  # -99.99 net
    assert d.acct.state is State.Trading
    assert d.acct.day.trips[-1].net == Decimal("-99.99")


# --- RULE-009 -------------------------------------------------------------------------------


def test_hold_the_limit_is_real_time_on_the_spring_forward_night() -> None:
    # opened Sunday 2026-03-08 01:30 CST (07:30 UTC); 60 minutes later is 03:30 CDT (08:30 UTC)
    opened = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    d = hold_driver(now=opened)
    d.send(position(MNQ, 1, "21000", at=opened))
    assert d.engine.next_deadline() == opened + timedelta(hours=1)
    assert closes(d.at(opened + timedelta(hours=1) - SECOND)) == []
    assert [c.contract_id for c in closes(d.at(opened + timedelta(hours=1)))] == [MNQ]


def test_hold_a_position_across_the_daily_reset_keeps_its_deadline() -> None:
    opened = RESET - timedelta(minutes=30)  # 16:30 CST
    d = hold_driver(now=opened)
    d.send(position(MNQ, 1, "21000", at=opened))
    assert closes(d.at(RESET)) == []
    assert d.engine.next_deadline() == opened + timedelta(hours=1)
    assert closes(d.at(opened + timedelta(hours=1) - SECOND)) == []
    assert [c.contract_id for c in closes(d.at(opened + timedelta(hours=1)))] == [MNQ]


def test_hold_a_restart_one_second_before_the_deadline_closes_at_it() -> None:
    opened = RESET - timedelta(hours=3)
    deadline = opened + timedelta(hours=1)
    d = hold_driver(now=opened)
    d.send(position(MNQ, 1, "21000", at=opened))
    again = restart(d, hold_engine, at=deadline - SECOND)
    out = service_start_up(again, position(MNQ, 1, "21000", at=opened))
    assert closes(out) == []
    assert again.engine.next_deadline() == deadline
    assert [c.contract_id for c in closes(again.at(deadline))] == [MNQ]
    assert again.acct.state is State.Trading


def test_hold_a_restart_one_second_after_the_deadline_closes_at_start_up() -> None:
    opened = RESET - timedelta(hours=3)
    deadline = opened + timedelta(hours=1)
    d = hold_driver(now=opened)
    d.send(position(MNQ, 1, "21000", at=opened))
    again = restart(d, hold_engine, at=deadline + SECOND)
    out = service_start_up(again, position(MNQ, 1, "21000", at=opened))
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_trades_round_trips_a_position_open_at_a_restart_still_counts() -> None:
    # limit 1 round trip: the trader opens ES (1), the service restarts, the trader closes it
    # and opens MNQ from flat (2 > 1): locked until the reset
    d = trades_driver(limit="1", count="round_trips", now=RESET - timedelta(hours=3))
    oid = next(_ids)
    d.send(
        order(oid, ES, Side.BUY, 1, type=OrderType.MARKET, at=d.now),
        fill(ES, Side.BUY, 1, "6000", order_id=oid, at=d.now),
        position(ES, 1, "6000", at=d.now),
    )
    assert the_rule(d, MaxTradesPerDay).count(d.acct) == 1
    opened = d.now
    engine = partial(rule_engine, MaxTradesPerDay, limit="1", count="round_trips")
    again = restart(d, engine, at=opened + timedelta(minutes=5))
    service_start_up(again, position(ES, 1, "6000", at=opened))
    assert the_rule(again, MaxTradesPerDay).count(again.acct) == 1
    assert again.acct.state is State.Trading
    again.send(
        fill(ES, Side.SELL, 1, "6001", pnl="12.50", order_id=next(_ids), at=again.now),
        flat(ES, at=again.now),
    )
    assert the_rule(again, MaxTradesPerDay).count(again.acct) == 1
    scalp(again, MNQ)
    assert the_rule(again, MaxTradesPerDay).count(again.acct) == 2
    assert again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-007"].until == RESET
