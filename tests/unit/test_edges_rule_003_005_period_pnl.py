"""RULE-003 daily_loss_limit and RULE-005 daily_profit_target at their edges: a restart one
cent before the limit, the days that change the clocks (the 25-hour day and its repeated
hour, the 23-hour day), a fill at the reset's own instant, fees that decide the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.daily_profit_target import DailyProfitTarget
from tests.factories import (
    ES,
    MNQ,
    Driver,
    closes,
    fill,
    gateway_trades,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    transitions,
)
from tests.unit.test_missed_reset_trades_while_down import whole_read

SPRING = datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # Sunday 17:00 CDT, the 23-hour day's end
FALL = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # Sunday 17:00 CST, the 25-hour day's end
#: Monday 2026-11-23 10:00 CST, mid-session
MID = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)

loss_engine = partial(rule_engine, DailyLossLimit, limit="1000")
loss_driver = partial(rule_driver, DailyLossLimit, limit="1000")
target_engine = partial(rule_engine, DailyProfitTarget, target="1500")
target_driver = partial(rule_driver, DailyProfitTarget, target="1500")


def trade(d: Driver, pnl: str, fees: str = "0") -> None:
    """A closed ES round trip at ``d.now``: the opening fill, then the closing one with ``pnl``
    (each fill pays ``fees``)."""
    d.send(
        fill(ES, Side.BUY, 1, "6000", fees=fees, at=d.now),
        fill(ES, Side.SELL, 1, "6000", pnl=pnl, fees=fees, at=d.now),
    )


# --- restart one cent before the edge -------------------------------------------------------


def test_loss_restart_one_cent_short_then_the_last_cent_locks() -> None:
    d = loss_driver(now=MID)
    trade(d, "-998.99", fees="0.50")  # -999.99 net
    assert d.acct.state is State.Trading
    assert d.acct.day.realized == Decimal("-999.99")
    again = restart(d, loss_engine, at=MID + timedelta(minutes=5))
    whole_read(again, [], "49000.01")  # nothing traded while it was down
    assert again.acct.day.realized == Decimal("-999.99")
    assert again.acct.state is State.Trading
    trade(again, "0.73", fees="0.37")  # +0.73 - 0.74: one cent more lost, the limit touched
    assert again.acct.day.realized == Decimal("-1000.00")
    assert again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-003"].until == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)


def test_loss_restart_with_an_open_loss_one_tick_short_then_the_tick_flattens() -> None:
    # 2 MNQ long from 21,000 at 20,750.25: -$999.50 open; the service restarts; one more tick
    # down is -$1,000.00 on the equity basis
    d = loss_driver(now=MID)
    d.send(position(MNQ, 2, "21000", at=MID), quote(MNQ, "20750.25", at=MID))
    assert d.acct.state is State.Trading
    later = MID + timedelta(minutes=5)
    again = restart(d, loss_engine, at=later)
    whole_read(again, [], "50000", positions=[position(MNQ, 2, "21000", at=MID)])
    again.send(quote(MNQ, "20750.25", at=later))
    assert again.acct.state is State.Trading
    out = again.send(quote(MNQ, "20750.00", at=later))
    assert again.acct.day_pnl(with_unrealized=True) == Decimal("-1000.00")
    assert again.acct.state is State.Flattening
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_target_restart_one_cent_short_then_the_last_cent_locks() -> None:
    d = target_driver(now=MID)
    trade(d, "1500.99", fees="0.50")  # +1,499.99 net
    assert d.acct.state is State.Trading
    again = restart(d, target_engine, at=MID + timedelta(minutes=5))
    whole_read(again, [], "51499.99")
    assert again.acct.state is State.Trading
    trade(again, "1.01", fees="0.50")  # +0.01 net: +1,500.00 for the day
    assert again.acct.day.realized == Decimal("1500.00")
    assert again.acct.state is State.LockedDaily


# --- the fees decide the cent ---------------------------------------------------------------


def test_target_a_gross_win_at_the_target_is_short_once_the_fees_are_paid() -> None:
    d = target_driver(now=MID)
    trade(d, "1500.00", fees="0.37")  # 1,500.00 - 0.74 = 1,499.26
    assert d.acct.day.realized == Decimal("1499.26")
    assert d.acct.state is State.Trading


def test_loss_a_gross_loss_short_of_the_limit_touches_it_with_the_fees() -> None:
    d = loss_driver(now=MID)
    trade(d, "-999.26", fees="0.37")  # -999.26 - 0.74 = -1,000.00
    assert d.acct.state is State.LockedDaily


# --- a fill at the reset's own instant -----------------------------------------------------


def test_loss_a_fill_at_the_reset_instant_is_the_new_days() -> None:
    reset = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    d = loss_driver(now=MID)
    trade(d, "-999.99")
    d.at(reset)
    assert d.acct.day.start == reset and d.acct.day.realized == 0
    trade(d, "-999.99")  # 17:00:00.000 CST: the new day's first trade
    assert d.acct.state is State.Trading
    assert d.acct.day.realized == Decimal("-999.99")


def test_loss_a_fill_a_microsecond_before_the_reset_heard_at_it_is_the_old_days() -> None:
    reset = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    d = loss_driver(now=MID)
    trade(d, "-999.99")
    d.now = reset - timedelta(microseconds=1)
    trade(d, "-0.01")
    assert d.acct.state is State.LockedDaily
    assert d.acct.holds["RULE-003"].until == reset
    d.at(reset)
    assert d.acct.state is State.Trading


# --- the days that change the clocks ------------------------------------------------------


def test_loss_both_copies_of_the_repeated_hour_are_one_trading_day() -> None:
    # 2026-11-01 01:30 CDT (06:30 UTC) and 01:30 CST (07:30 UTC): both belong to the trading
    # day that ends Sunday 17:00 CST; their losses add up and the lock ends at 23:00 UTC
    first = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    d = loss_driver(now=first)
    trade(d, "-500.00")
    d.now = first + timedelta(hours=1)
    assert d.engine.calendar.local(d.now).hour == 1  # the same wall-clock hour, again
    trade(d, "-500.00")
    assert d.acct.day.realized == Decimal("-1000.00")
    assert d.acct.state is State.LockedDaily
    assert d.acct.holds["RULE-003"].until == FALL
    d.at(FALL - timedelta(hours=1))  # 16:00 CST: 17:00 by Saturday's CDT, not the reset
    assert d.acct.state is State.LockedDaily
    out = d.at(FALL)
    assert d.acct.state is State.Trading
    assert (None, "LockedDaily", "Trading", "release") in transitions(out)
    assert d.acct.day.start == FALL and d.acct.day.realized == 0


def test_loss_a_lock_taken_before_spring_forward_ends_at_17_00_cdt() -> None:
    # Sunday 2026-03-08 01:30 CST (07:30 UTC), a position held over the weekend is sold at a
    # loss: the lock ends at 17:00 CDT, 22:00 UTC (not 23:00, the hour the day no longer has)
    at = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    d = loss_driver(now=at)
    trade(d, "-1000.00")
    assert d.acct.holds["RULE-003"].until == SPRING
    d.at(SPRING - timedelta(seconds=1))
    assert d.acct.state is State.LockedDaily
    d.at(SPRING)
    assert d.acct.state is State.Trading
    assert d.acct.day.start == SPRING


@pytest.mark.parametrize("reset", [SPRING, FALL])
def test_loss_restart_across_a_dst_reset_starts_the_new_day_at_17_00_local(
    reset: datetime,
) -> None:
    d = loss_driver(now=reset - timedelta(hours=2))
    trade(d, "-999.99")
    again = restart(d, loss_engine, at=reset + timedelta(minutes=30))
    whole_read(again, [], "49000.01")
    assert again.acct.day.start == reset
    assert again.acct.day.realized == 0
    trade(again, "-999.99")
    assert again.acct.state is State.Trading
    trade(again, "-0.01")
    assert again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-003"].until == reset + timedelta(days=1)


@pytest.mark.parametrize("reset", [SPRING, FALL])
def test_loss_restart_while_locked_across_a_dst_reset_releases(reset: datetime) -> None:
    d = loss_driver(now=reset - timedelta(hours=2))
    trade(d, "-1000.00")
    assert d.acct.holds["RULE-003"].until == reset
    before = restart(d, loss_engine, at=reset - timedelta(seconds=1))
    assert before.acct.state is State.LockedDaily
    after = restart(before, loss_engine, at=reset + timedelta(seconds=1))
    assert after.acct.day.start == reset
    # the lock outlives its deadline until the trades are read (the rule judges them then)
    assert after.acct.state is State.LockedDaily
    whole_read(after, [], "49000.00")  # nothing traded while it was down: the new day is clean
    assert after.acct.state is State.Trading


# --- the entry's fee counts while the position is still open ---------------------------------


def test_loss_equity_basis_an_open_loss_plus_the_entry_fee_touches_the_limit() -> None:
    # 2 MNQ bought at 21,000 paying $1.00: at 20,750.25 they are $999.00 down open, $1,000.00
    # with the fee (without it the limit would wait one more tick); at 20,750.50, $999.00
    d = loss_driver(now=MID)
    d.send(fill(MNQ, Side.BUY, 2, "21000", fees="1.00", at=MID), position(MNQ, 2, "21000", at=MID))
    d.send(quote(MNQ, "20750.50", at=MID))
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("-999.00")
    assert d.acct.state is State.Trading
    out = d.send(quote(MNQ, "20750.25", at=MID))
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("-1000.00")
    assert d.acct.state is State.Flattening
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_target_equity_basis_an_open_gain_at_the_target_is_short_by_the_entry_fee() -> None:
    # 3 MNQ bought at 21,000 paying $1.11: at 21,250 they are $1,500.00 up open, $1,498.89 for
    # the day: short of the target; one tick more, $1,501.50 open, $1,500.39: reached
    d = target_driver(now=MID)
    d.send(fill(MNQ, Side.BUY, 3, "21000", fees="1.11", at=MID), position(MNQ, 3, "21000", at=MID))
    d.send(quote(MNQ, "21250", at=MID))
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("1498.89")
    assert d.acct.state is State.Trading
    d.send(quote(MNQ, "21250.25", at=MID))
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("1500.39")
    assert d.acct.state is State.Flattening


# --- one cent more while the service was down -----------------------------------------------


def test_loss_the_last_cent_lost_while_down_locks_at_start_up() -> None:
    d = loss_driver(now=MID)
    trade(d, "-998.99", fees="0.50")  # -999.99 net
    later = MID + timedelta(minutes=30)
    again = restart(d, loss_engine, at=later)
    made = MID + timedelta(minutes=10)  # while stopped: +0.73 gross, 0.74 of fees
    down = [
        fill(ES, Side.BUY, 1, "6000", fees="0.37", at=made, order_id=4242),
        fill(ES, Side.SELL, 1, "6000", pnl="0.73", fees="0.37", at=made, order_id=4243),
    ]
    listed = [*gateway_trades(d), *down]
    whole_read(again, listed, "48999.99")
    assert again.acct.day.realized == Decimal("-1000.00")
    assert again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-003"].until == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)


def test_target_the_last_cent_made_while_down_locks_at_start_up() -> None:
    d = target_driver(now=MID)
    trade(d, "1500.99", fees="0.50")  # +1,499.99 net
    later = MID + timedelta(minutes=30)
    again = restart(d, target_engine, at=later)
    made = MID + timedelta(minutes=10)
    down = [
        fill(ES, Side.BUY, 1, "6000", fees="0.37", at=made, order_id=4244),
        fill(ES, Side.SELL, 1, "6000", pnl="0.75", fees="0.37", at=made, order_id=4245),
    ]
    listed = [*gateway_trades(d), *down]
    whole_read(again, listed, "51500.00")
    assert again.acct.day.realized == Decimal("1500.00")
    assert again.acct.state is State.LockedDaily
