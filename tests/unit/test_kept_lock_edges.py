"""A lock kept past its deadline for the trades read: found by a review, an admin freeing it
during the kept period is not overruled at the read (he gets the waiver a running service
gives); beside it, guards that held before: two restarts in the kept period release once and
lock again once, a self-lock past its end is not kept, Friday's daily loss lock restored after
Sunday's weekly reset, and the running service's reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from fsm_risk.core.events import SelfLock, Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ACC,
    NQ,
    account,
    balance_read,
    fill,
    position,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
    transitions,
)

SUNDAY = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
RELEASE_W = (None, "LockedWeekly", "Trading", "release")
engine = partial(rule_engine, TrailingDrawdown, drawdown="2000")


def test_two_restarts_in_the_kept_period_one_release_and_one_relock_at_the_read() -> None:
    d = rule_driver(TrailingDrawdown, now=SUNDAY - timedelta(days=2), drawdown="2000")
    balance_read(d, "48000")
    a = restart(d, engine, at=SUNDAY + timedelta(minutes=1))
    b = restart(a, engine, at=SUNDAY + timedelta(minutes=10))  # stopped again before its read
    assert (b.acct.state, b.acct.missed is not None) == (State.LockedWeekly, True)
    assert b.engine.next_deadline() > b.now  # no spinning
    b.now += timedelta(seconds=5)
    out = start_up_read(b, account("48000"))
    all_t = transitions([*a.effects, *b.effects])
    assert all_t.count(RELEASE_W) == 1, all_t
    assert b.acct.state is State.LockedWeekly
    assert b.acct.holds["RULE-004"].until == SUNDAY + timedelta(days=7)
    assert transitions(out)[0] == RELEASE_W


def test_a_self_lock_past_its_end_is_not_kept_for_the_read() -> None:
    d = rule_driver(TrailingDrawdown, now=SUNDAY - timedelta(days=2), drawdown="2000")
    d.send(SelfLock(ACC, State.LockedDaily, SUNDAY - timedelta(days=1), "trader"))
    assert d.acct.state is State.LockedDaily
    a = restart(d, engine, at=SUNDAY + timedelta(minutes=1))
    assert a.acct.missed is not None
    assert a.acct.state is State.Trading  # a self-lock ends at its own end, read or not


def test_a_daily_loss_lock_of_friday_restored_after_sundays_weekly_reset() -> None:
    eng = partial(rule_engine, DailyLossLimit, limit="1000")
    d = rule_driver(DailyLossLimit, now=SUNDAY - timedelta(days=2, hours=2), limit="1000")
    d.send(
        fill(NQ, Side.SELL, 1, "20000", pnl="-1000", order_id=5, trade_id=9, at=d.now),
        position(NQ, 0, "20000", at=d.now),
    )
    assert d.acct.state is State.LockedDaily
    a = restart(d, eng, at=SUNDAY + timedelta(minutes=1))
    assert a.acct.state is State.LockedDaily and a.engine.next_deadline() > a.now
    a.now += timedelta(seconds=5)
    out = start_up_read(a, account("49000"))
    assert transitions(out) == [(None, "LockedDaily", "Trading", "release")]


def test_an_admin_freeing_a_kept_lock_is_not_undone_at_the_read() -> None:
    from fsm_risk.core.events import AdminCommand

    d = rule_driver(TrailingDrawdown, now=SUNDAY - timedelta(days=2), drawdown="2000")
    balance_read(d, "48000")
    a = restart(d, engine, at=SUNDAY + timedelta(minutes=1))
    assert a.acct.state is State.LockedWeekly
    a.send(AdminCommand(ACC, State.Trading, "the firm reinstated him", "ops"))
    assert a.acct.state is State.Trading
    a.now += timedelta(seconds=5)
    start_up_read(a, account("48000"))
    assert a.acct.state is State.Trading


def test_reference_a_running_service_the_admin_frees_a_blown_account_after_the_reset() -> None:
    from fsm_risk.core.events import AdminCommand

    d = rule_driver(TrailingDrawdown, now=SUNDAY - timedelta(days=2), drawdown="2000")
    balance_read(d, "48000")
    d.at(SUNDAY)  # running: released and locked again at the reset
    d.now = SUNDAY + timedelta(minutes=1)
    d.send(AdminCommand(ACC, State.Trading, "the firm reinstated him", "ops"))
    d.now += timedelta(seconds=5)
    d.send(account("48000"))
    assert d.acct.state is State.Trading
