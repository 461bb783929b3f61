"""RULE-004 trailing_drawdown at its edges: a restart one cent above the floor, the
end-of-day peak of a reset missed on a daylight-saving Sunday, a blown account's weekly lock
renewed at that Sunday's reset after a restart (and its start-up read) before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest

from fsm_risk.core.states import State
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    MNQ,
    T0,
    Driver,
    balance_read,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    settled_read,
)
from tests.unit.test_missed_reset_trades_while_down import whole_read

SPRING = datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # Sunday 17:00 CDT
FALL = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # Sunday 17:00 CST
NEXT_DAY = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # the daily reset after T0

engine = partial(rule_engine, TrailingDrawdown, drawdown="2000")
driver = partial(rule_driver, TrailingDrawdown, drawdown="2000")


def peak(d: Driver) -> Decimal:
    return Decimal(d.acct.rule_state["RULE-004"]["peak"])


def test_end_of_day_a_restart_one_cent_above_the_floor_then_the_floor_locks() -> None:
    d = driver()
    balance_read(d, "51000")
    d.at(NEXT_DAY)  # peak 51,000, floor 49,000
    assert peak(d) == Decimal("51000")
    balance_read(d, "49000.01")
    assert d.acct.state is State.Trading
    again = restart(d, engine, at=NEXT_DAY + timedelta(hours=1))
    assert peak(again) == Decimal("51000")
    settled_read(again)  # (its stored books confirmed: the rule judges them)
    balance_read(again, "49000.01")
    assert again.acct.state is State.Trading
    balance_read(again, "49000.00")
    assert again.acct.state is State.LockedWeekly
    assert again.acct.holds["RULE-004"].until == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)


def test_intraday_a_restart_one_tick_above_the_floor_then_the_tick_flattens() -> None:
    d = driver(mode="intraday")
    d.send(position(MNQ, 1, "21000"), quote(MNQ, "21500"))  # peak 51,000
    d.send(quote(MNQ, "20500.25"))  # 49,000.50
    assert d.acct.state is State.Trading
    later = T0 + timedelta(seconds=5)
    again = restart(d, lambda: engine(mode="intraday"), at=later)
    assert peak(again) == Decimal("51000")
    settled_read(again)  # (its stored books confirmed: the rule judges them)
    again.send(quote(MNQ, "20500.25", at=later))
    assert again.acct.state is State.Trading
    again.send(quote(MNQ, "20500", at=later))  # 49,000.00: the floor
    assert again.acct.state is State.Flattening


@pytest.mark.parametrize("reset", [SPRING, FALL])
def test_end_of_day_a_dst_reset_missed_while_down_takes_the_peak_at_17_00_local(
    reset: datetime,
) -> None:
    # the balance reaches 51,000 45 minutes before the Sunday reset (16:15 local); the service
    # is down across the reset and restarts 30 minutes after it: the peak is 51,000
    d = driver(now=reset - timedelta(hours=3))
    d.now = reset - timedelta(minutes=45)
    balance_read(d, "51000")
    again = restart(d, engine, at=reset + timedelta(minutes=30))
    assert again.acct.day.start == reset
    assert peak(again) == Decimal("51000")


@pytest.mark.parametrize("reset", [SPRING, FALL])
def test_the_weekly_lock_taken_before_a_dst_sunday_holds_across_a_restart_before_it(
    reset: datetime,
) -> None:
    d = driver(now=reset - timedelta(days=2))  # Friday
    balance_read(d, "48000")
    assert d.acct.state is State.LockedWeekly
    assert d.acct.holds["RULE-004"].until == reset
    before = restart(d, engine, at=reset - timedelta(minutes=1))
    whole_read(before, [], "48000")  # the start-up read: nothing traded while it was down
    assert before.acct.state is State.LockedWeekly
    assert before.engine.next_deadline() == reset
    before.at(reset)  # the account is still blown: the lock is renewed a week on
    assert before.acct.state is State.LockedWeekly
    assert before.acct.holds["RULE-004"].until == reset + timedelta(days=7)
