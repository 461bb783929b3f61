"""A lock "until the next daily (weekly) reset" ends when the account's trading day (week) ends
as the engine applies it (its day book's end), not at the calendar's next reset: a `[session]
daily_reset` moved across a restart never pushes a lock past the end of the day it was taken
in, and a rule firing again within that day never extends it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import partial

from fsm_risk import selflock
from fsm_risk.core.events import AdminCommand, Event, Quote, Side
from fsm_risk.core.sessions import SessionCalendar, lock_end
from fsm_risk.core.sources import ADMIN, ENGINE
from fsm_risk.core.states import State
from fsm_risk.rules.base import Verdict
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import (
    ES,
    MNQ,
    T0,
    Driver,
    Scripted,
    account,
    closes,
    fill,
    make_engine,
    position,
    quote,
    restart,
    rule_driver,
    transitions,
)
from tests.unit.test_missed_reset_trades_while_down import whole_read

#: Monday 2026-11-23 17:00 Chicago (CST): the day T0 (09:00 CST) falls in ends then
DAY_END = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
#: 09:05 Chicago on Monday: a daily reset moved a few minutes ahead of T0 + 1 min
MOVED = SessionCalendar(daily_reset=time(9, 5))


def _lose(d: Driver, pnl: str, at: datetime = T0) -> list[object]:
    return list(
        d.send(
            fill(ES, Side.BUY, 1, "6000", at=at, order_id=7),
            fill(ES, Side.SELL, 1, "5990", pnl=pnl, at=at, order_id=8),
        )
    )


def _restarted_with(d: Driver, calendar: SessionCalendar, at: datetime, **raw: str) -> Driver:
    """Stop, start again at ``at`` with ``calendar`` (the file's `[session]` edited), and
    read the account (nothing traded while stopped)."""
    rules = {DailyLossLimit: {"limit": "1000", "basis": "realized", **raw}}
    again = restart(d, partial(make_engine, rules, calendar=calendar), at=at)
    whole_read(again, [], "48891.62")
    return again


def test_daily_reset_moved_across_a_restart_does_not_extend_the_days_lock() -> None:
    # the reviewer's scenario: locked until 17:00 CST; restarted at 09:01 CST with the
    # reset moved to 09:05; past 09:05 the rule fires again (a fill, say): the lock stays
    # until 17:00, the end of the breached day, not 09:05 the next morning
    d = rule_driver(DailyLossLimit, limit="1000", basis="realized")
    _lose(d, "-1108.38")
    assert d.acct.holds["RULE-003"].until == DAY_END
    again = _restarted_with(d, MOVED, T0 + timedelta(minutes=1))
    assert again.acct.day.end == DAY_END  # the day book keeps its end
    assert again.acct.holds["RULE-003"].until == DAY_END
    # past the moved reset the rule evaluates again (a Tick, then a fill) and fires again
    again.at(datetime(2026, 11, 23, 15, 6, tzinfo=UTC))
    out = again.send(fill(ES, Side.BUY, 1, "6000", at=again.now, order_id=9))
    assert again.acct.holds["RULE-003"].until == DAY_END
    assert (None, "LockedDaily", "LockedDaily", "breach") not in transitions(out)
    out = again.send(position(ES, 1, "6000", at=again.now))
    assert [c.contract_id for c in closes(out)] == [ES]  # closed: the account stays locked
    assert again.acct.holds["RULE-003"].until == DAY_END
    # and it ends at the end of that day, when the engine opens the next one
    again.send(position(ES, 0, "0", at=again.now))
    out = again.at(DAY_END)
    assert again.acct.state is State.Trading
    assert (None, "LockedDaily", "Trading", "release") in transitions(out)
    # the new day is the new calendar's: it ends at 09:05 CST on Tuesday
    assert again.acct.day.end == datetime(2026, 11, 24, 15, 5, tzinfo=UTC)


def test_a_lock_taken_after_the_restart_ends_with_the_day_not_the_moved_reset() -> None:
    # breached only after the restart, past the moved reset but before the day book's end
    d = rule_driver(DailyLossLimit, limit="1000", basis="realized")
    again = _restarted_with(d, MOVED, T0 + timedelta(minutes=1))
    again.now = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    _lose(again, "-1000", at=again.now)
    assert again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-003"].until == DAY_END


def test_a_normal_day_locks_until_the_calendars_next_reset() -> None:
    d = rule_driver(DailyLossLimit, limit="1000", basis="realized")
    _lose(d, "-1000")
    assert d.acct.holds["RULE-003"].until == d.engine.calendar.next_daily_reset(T0) == DAY_END
    d.at(DAY_END - timedelta(seconds=1))
    assert d.acct.state is State.LockedDaily
    d.at(DAY_END)
    assert d.acct.state is State.Trading


def test_the_weekly_lock_ends_with_the_week_book_when_the_weekly_reset_moved() -> None:
    # the week of T0 ends Sunday 2026-11-29 17:00 CST; restarted with the weekly reset moved
    # to Monday 09:05, a re-fire keeps the lock until Sunday, not Monday of the next week
    week_end = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    d = rule_driver(WeeklyLossLimit, limit="1000", basis="realized")
    _lose(d, "-1200")
    assert d.acct.holds["RULE-013"].until == week_end
    moved = SessionCalendar(weekly_reset_weekday=0, weekly_reset_time=time(9, 5))
    rules = {WeeklyLossLimit: {"limit": "1000", "basis": "realized"}}
    again = restart(d, partial(make_engine, rules, calendar=moved), at=T0 + timedelta(minutes=1))
    whole_read(again, [], "48800")
    assert moved.next_weekly_reset(again.now) == datetime(2026, 11, 23, 15, 5, tzinfo=UTC)
    again.at(datetime(2026, 11, 23, 15, 6, tzinfo=UTC))
    again.send(fill(ES, Side.BUY, 1, "6000", at=again.now, order_id=9))
    assert again.acct.holds["RULE-013"].until == week_end


def test_an_admin_daily_lock_after_the_reset_moved_ends_with_the_day() -> None:
    d = rule_driver(DailyLossLimit, limit="1000", basis="realized")
    again = _restarted_with(d, MOVED, T0 + timedelta(minutes=1))
    again.now = datetime(2026, 11, 23, 15, 10, tzinfo=UTC)
    again.send(AdminCommand(again.acc, State.LockedDaily, "desk", "ops"))
    assert again.acct.holds[ADMIN].until == DAY_END


def test_a_self_lock_for_the_rest_of_the_day_after_the_reset_moved_ends_with_the_day() -> None:
    d = rule_driver(DailyLossLimit, limit="1000", basis="realized")
    again = _restarted_with(d, MOVED, T0 + timedelta(minutes=1))
    at = datetime(2026, 11, 23, 15, 10, tzinfo=UTC)
    ev = selflock.event(again.engine, {"rest_of_day": True}, at)
    assert (ev.to, ev.until) == (State.LockedDaily, DAY_END)


def test_failing_closed_after_the_reset_moved_locks_until_the_days_end() -> None:
    def broken(view: object, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, Quote):
            raise ZeroDivisionError("bug")
        return ()

    d = Driver(make_engine())
    d.send(account())
    rebuild = partial(make_engine, extra=[lambda ctx: Scripted(ctx, broken)], calendar=MOVED)
    again = restart(d, rebuild, at=T0 + timedelta(minutes=1))
    whole_read(again, [], "50000")
    again.now = datetime(2026, 11, 23, 15, 10, tzinfo=UTC)
    again.send(position(MNQ, 1, "21000", at=again.now), quote(MNQ, "21000", at=again.now))
    assert again.acct.holds[ENGINE].kind is State.LockedDaily
    assert again.acct.holds[ENGINE].until == DAY_END


def test_across_the_fall_back_change_the_lock_ends_at_the_day_books_end() -> None:
    # Sunday 2026-11-01: clocks fall back at 02:00 CDT. The day that opened Saturday 17:00 CDT
    # (22:00Z) ends Sunday 17:00 CST (23:00Z): 25 hours. Restarted Sunday 08:00 CST with the
    # reset moved to 08:30, a breach at 09:00 CST is locked until 17:00 CST that Sunday
    sunday = datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # 08:00 CST
    d = rule_driver(DailyLossLimit, now=sunday, limit="1000", basis="realized")
    assert d.acct.day.start == datetime(2026, 10, 31, 22, 0, tzinfo=UTC)
    assert d.acct.day.end == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)
    again = _restarted_with(d, SessionCalendar(daily_reset=time(8, 30)), sunday)
    again.now = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)  # 09:00 CST, past the moved reset
    _lose(again, "-1000", at=again.now)
    assert again.acct.holds["RULE-003"].until == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)


def test_lock_end_falls_back_to_the_calendar_when_the_day_book_has_ended() -> None:
    cal = SessionCalendar()
    assert lock_end(cal, DAY_END, T0) == DAY_END
    assert lock_end(MOVED, DAY_END, T0 + timedelta(hours=1)) == DAY_END
    # a reset due and not yet applied: the calendar's next one, daily or weekly
    after = DAY_END + timedelta(minutes=1)
    assert lock_end(cal, DAY_END, after) == cal.next_daily_reset(after)
    assert lock_end(cal, DAY_END, after, weekly=True) == cal.next_weekly_reset(after)


def test_status_names_the_reset_the_engine_applies_not_the_moved_calendars() -> None:
    """`status` said "resets: daily 09:05" (the moved calendar's) while the day, and the lock
    until its reset, end at 17:00: the trader read the lock as ending at 09:05."""
    from fsm_risk import status

    d = rule_driver(DailyLossLimit, limit="1000", basis="realized")
    _lose(d, "-1108.38")
    again = _restarted_with(d, MOVED, T0 + timedelta(minutes=1))
    snap = status.snapshot(again.engine, again.now)
    assert snap["next_daily_reset"] == DAY_END.isoformat()
    assert again.acct.holds["RULE-003"].until == DAY_END
    fresh = make_engine(calendar=MOVED)  # no account open: the calendar's own
    assert (
        status.snapshot(fresh, again.now)["next_daily_reset"]
        == datetime(2026, 11, 23, 15, 5, tzinfo=UTC).isoformat()
    )
