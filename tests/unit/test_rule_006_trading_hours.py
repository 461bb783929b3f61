"""RULE-006 trading_hours: window edges, the flat-by deadline from the scheduler, holidays and
early closes (CME calendar and overrides), daylight-saving changes, locks and restarts.

Instants are written in UTC on purpose (with the Chicago wall time in a comment), so that the
daylight-saving cases check the schedule against independent numbers: 17:00 Chicago is 23:00
UTC in winter (CST) and 22:00 UTC in summer (CDT).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk.core.events import (
    AdminCommand,
    Event,
    OrderStatus,
    OrderUpdate,
    PositionUpdate,
    Quote,
    Side,
    Tick,
)
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import LATE
from fsm_risk.rules.base import Action, Verdict
from fsm_risk.rules.exchange_hours import TradingSchedule, Window, parse_windows
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import (
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
    rule_engine,
    transitions,
)

SECOND = timedelta(seconds=1)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


engine = partial(rule_engine, TradingHours)


def driver(at: datetime = T0, **raw: str) -> Driver:
    return rule_driver(TradingHours, at, **raw)


def held(d: Driver, at: datetime | None = None) -> Driver:
    """An MNQ long opened at ``at`` (default: now) and a working ES buy limit."""
    when = at or d.now
    d.send(position(MNQ, 1, "21000", at=when), order(5, ES, Side.BUY, 1, limit="5900", at=when))
    return d


def hold(d: Driver) -> Any:
    return d.acct.holds["RULE-006"]


def entry(d: Driver, order_id: int = 1) -> list[Any]:
    """The trader places a buy limit in MNQ now; the broker confirms any cancel at once."""
    out = d.send(order(order_id, MNQ, Side.BUY, 1, limit="20000", at=d.now))
    if cancels(out):
        d.send(order(order_id, MNQ, Side.BUY, 1, status=OrderStatus.CANCELLED, at=d.now))
    return out


# --- the flat-by deadline --------------------------------------------------------------------

FLAT_BY_MON = utc(2026, 11, 23, 21, 8)  # Mon 15:08 CST
OPEN_MON = utc(2026, 11, 23, 23, 0)  # Mon 17:00 CST: the next session opens


def test_an_exposed_account_is_woken_at_the_flat_by_time() -> None:
    d = held(driver())
    assert d.engine.next_deadline() == FLAT_BY_MON


def test_one_second_before_the_flat_by_time_nothing_happens() -> None:
    d = held(driver())
    d.now = FLAT_BY_MON - SECOND
    out = d.send(order(6, NQ, Side.SELL, 1, limit="22000", at=d.now))
    assert d.acct.state is State.Trading
    assert not closes(out) and not cancels(out)


def test_flat_by_fires_from_the_scheduler_with_no_event() -> None:
    d = held(driver())
    d.at(FLAT_BY_MON - SECOND)
    assert d.acct.state is State.Trading
    out = d.at(FLAT_BY_MON)  # only a Tick: nothing arrived from the broker
    assert d.acct.state is State.Flattening
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert [c.order_id for c in cancels(out)] == [5]
    assert all(c.rule_id == "RULE-006" for c in closes(out))
    assert hold(d).kind is State.LockedDaily
    assert hold(d).reason is Reason.FLAT_BY
    assert hold(d).until == OPEN_MON


def test_a_quote_ahead_of_the_wake_up_at_flat_by_still_flattens() -> None:
    # the quote is handled before the scheduler's queued wake-up: the flat-by must not be lost
    d = held(driver())
    d.now = FLAT_BY_MON
    out = d.send(quote(MNQ, "21000", at=d.now))
    assert d.acct.state is State.Flattening
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert [c.order_id for c in cancels(out)] == [5]
    assert hold(d).until == OPEN_MON


def test_after_flat_by_the_lock_holds_until_the_next_session_opens() -> None:
    d = held(driver())
    d.at(FLAT_BY_MON)
    d.send(flat(MNQ, at=d.now), order(5, ES, Side.BUY, 1, status=OrderStatus.CANCELLED, at=d.now))
    assert d.acct.state is State.LockedDaily
    d.at(OPEN_MON - SECOND)
    assert d.acct.state is State.LockedDaily
    out = d.at(OPEN_MON)
    assert d.acct.state is State.Trading
    assert (None, "LockedDaily", "Trading", "release") in transitions(out)


def test_a_working_order_alone_is_cancelled_at_flat_by() -> None:
    d = driver()
    d.send(order(9, NQ, Side.BUY, 1, limit="20000"))
    assert d.engine.next_deadline() == FLAT_BY_MON
    out = d.at(FLAT_BY_MON)
    assert [c.order_id for c in cancels(out)] == [9] and not closes(out)
    assert hold(d).until == OPEN_MON


def test_a_flat_account_is_not_woken_and_not_locked_at_flat_by() -> None:
    d = driver()
    assert d.engine.next_deadline() == OPEN_MON  # the daily reset, not the flat-by time
    d.at(FLAT_BY_MON)
    assert d.acct.state is State.Trading and not d.acct.holds


# --- window edges ----------------------------------------------------------------------------


def test_an_order_in_the_maintenance_break_is_cancelled_until_the_session_opens() -> None:
    d = driver(at=OPEN_MON - SECOND)  # Mon 16:59:59 CST
    out = entry(d, 3)
    assert [c.order_id for c in cancels(out)] == [3]
    assert d.acct.state is State.LockedDaily
    assert hold(d).reason is Reason.OUTSIDE_TRADING_HOURS
    assert hold(d).until == OPEN_MON


def test_an_order_at_the_session_open_is_allowed() -> None:
    d = driver(at=OPEN_MON)
    out = entry(d, 3)
    assert not cancels(out) and d.acct.state is State.Trading
    assert d.engine.next_deadline() == utc(2026, 11, 24, 21, 8)  # Tue 15:08 CST


def test_a_position_outside_the_windows_is_closed_and_the_account_locked() -> None:
    d = driver(at=utc(2026, 11, 23, 22, 30))  # Mon 16:30 CST, in the break
    out = d.send(position(MNQ, 2, "21000", at=d.now))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert d.acct.state is State.Flattening
    d.send(flat(MNQ, at=d.now))
    assert d.acct.state is State.LockedDaily and hold(d).until == OPEN_MON


def test_flat_by_on_friday_locks_over_the_weekend_past_the_daily_reset() -> None:
    d = held(driver(at=utc(2026, 11, 20, 15, 0)))  # Fri 09:00 CST
    d.at(utc(2026, 11, 20, 21, 8))  # Fri 15:08 CST
    sunday_open = utc(2026, 11, 22, 23, 0)  # Sun 17:00 CST
    assert hold(d).until == sunday_open
    d.send(flat(MNQ, at=d.now), order(5, ES, Side.BUY, 1, status=OrderStatus.CANCELLED, at=d.now))
    d.at(utc(2026, 11, 20, 23, 0))  # Fri 17:00: the daily reset does not end this lock
    assert d.acct.state is State.LockedDaily
    d.at(sunday_open)
    assert d.acct.state is State.Trading


# --- the gateway's clock a fraction ahead of ours ------------------------------------------
# An entry is judged at its own gateway stamp when the gateway's clock is ahead of ours by no
# more than a gateway time may be (MARK_SKEW, 60 s), never at an instant before our own clock:
# the window opens when the gateway says it has, and closes when either clock says it has.

MS = timedelta(milliseconds=1)
CLOSE_MON = utc(2026, 11, 23, 22, 0)  # Mon 16:00 CST: the window's end (no flat-by below)


def filled(d: Driver, stamp: datetime, size: int = 1) -> list[Any]:
    """The trader's MNQ buy filled at ``stamp`` (gateway time): its fill, then its position."""
    return d.send(
        fill(MNQ, Side.BUY, size, "21000", order_id=41, at=stamp),
        position(MNQ, size, "21000", at=stamp),
    )


def test_an_entry_filled_at_the_open_by_the_gateway_clock_is_kept_while_ours_is_behind() -> None:
    """Globex opens at 17:00:00; the fill is stamped 17:00:00.400, our clock reads
    16:59:59.900. By the gateway's clock the session is open: the entry stays, and the flat-by
    deadline of the session it opened is armed."""
    d = driver(at=OPEN_MON - 100 * MS)
    out = filled(d, OPEN_MON + 400 * MS)
    assert not closes(out) and d.acct.state is State.Trading and not d.acct.holds
    assert d.engine.next_deadline() == utc(2026, 11, 24, 21, 8)  # Tue 15:08 CST
    d.now = OPEN_MON - 50 * MS  # a wake-up while our clock is still behind judges the same
    assert not closes(d.send(Tick(d.acc))) and d.acct.state is State.Trading
    out = d.at(utc(2026, 11, 24, 21, 8))
    assert [c.contract_id for c in closes(out)] == [MNQ] and hold(d).reason is Reason.FLAT_BY


def test_an_entry_whose_position_record_comes_before_its_fill_is_judged_at_its_stamp() -> None:
    d = driver(at=OPEN_MON - 100 * MS)
    out = d.send(position(MNQ, 1, "21000", at=OPEN_MON + 400 * MS))
    assert not closes(out) and d.acct.state is State.Trading


def test_an_order_placed_at_the_open_by_the_gateway_clock_is_not_cancelled() -> None:
    d = driver(at=OPEN_MON - 100 * MS)
    out = d.send(order(3, MNQ, Side.BUY, 1, limit="20000", at=OPEN_MON + 100 * MS))
    assert not cancels(out) and d.acct.state is State.Trading


def test_an_entry_stamped_just_before_the_open_is_closed_until_the_open() -> None:
    d = driver(at=OPEN_MON - 500 * MS)
    out = filled(d, OPEN_MON - 100 * MS)
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert hold(d).reason is Reason.OUTSIDE_TRADING_HOURS and hold(d).until == OPEN_MON


def test_an_entry_stamped_too_far_ahead_of_our_clock_is_not_trusted_to_open_the_window() -> None:
    """A stamp 61 s ahead of our clock is a wrong stamp, not a later clock: the entry is
    judged at our clock, in the break."""
    d = driver(at=OPEN_MON - 61 * SECOND)
    out = filled(d, OPEN_MON)
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert hold(d).until == OPEN_MON


def test_an_entry_stamped_at_the_flat_by_time_is_closed_while_our_clock_is_before_it() -> None:
    """Our clock reads 15:07:59.900, the fill is stamped 15:08:00.300: by the gateway's clock
    the flat-by time has passed, so the entry is closed now (not at our clock's 15:08)."""
    d = driver(at=FLAT_BY_MON - 100 * MS)
    out = filled(d, FLAT_BY_MON + 300 * MS)
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert hold(d).reason is Reason.FLAT_BY and hold(d).until == OPEN_MON


def test_an_entry_just_before_the_flat_by_time_stays_until_it() -> None:
    d = driver(at=FLAT_BY_MON - 900 * MS)
    out = filled(d, FLAT_BY_MON - 400 * MS)
    assert not closes(out) and d.acct.state is State.Trading
    assert d.engine.next_deadline() == FLAT_BY_MON


def test_an_entry_stamped_before_the_close_handled_after_it_is_closed() -> None:
    """(The mirror.) Windows end at 16:00 (no flat-by); the entry is stamped 15:59:59.800 and
    handled at 16:00:00.100 by our clock. The trader entered inside the window, yet a position
    held past the close is outside it, as one entered at noon would be: closed, and the account
    locked until the next window opens. A stamp behind our clock never reopens a window."""
    d = driver(at=CLOSE_MON + 100 * MS, flat_by="")
    out = filled(d, CLOSE_MON - 200 * MS)
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert hold(d).reason is Reason.OUTSIDE_TRADING_HOURS and hold(d).until == OPEN_MON


# --- daylight saving -------------------------------------------------------------------------


def test_spring_forward_sunday_opens_at_17_00_cdt() -> None:
    before = driver(at=utc(2026, 3, 8, 21, 59, 59))  # Sun 16:59:59 CDT (it was CST on Friday)
    entry(before)
    assert before.acct.state is State.LockedDaily
    assert hold(before).until == utc(2026, 3, 8, 22, 0)
    inside = driver(at=utc(2026, 3, 8, 22, 0))  # Sun 17:00 CDT
    entry(inside)
    assert inside.acct.state is State.Trading
    assert inside.engine.next_deadline() == utc(2026, 3, 9, 20, 8)  # Mon 15:08 CDT


def test_friday_flat_by_before_spring_forward_locks_until_sunday_in_summer_time() -> None:
    d = held(driver(at=utc(2026, 3, 6, 15, 0)))  # Fri 09:00 CST
    out = d.at(utc(2026, 3, 6, 21, 8))  # Fri 15:08 CST
    assert closes(out)
    assert hold(d).until == utc(2026, 3, 8, 22, 0)  # Sun 17:00 CDT


def test_fall_back_sunday_stays_closed_until_17_00_cst() -> None:
    d = driver(at=utc(2026, 11, 1, 22, 30))  # Sun 16:30 CST (17:30 in yesterday's CDT)
    entry(d)
    assert d.acct.state is State.LockedDaily
    assert hold(d).until == utc(2026, 11, 1, 23, 0)


def test_friday_flat_by_before_fall_back_locks_until_sunday_in_winter_time() -> None:
    d = held(driver(at=utc(2026, 10, 30, 14, 0)))  # Fri 09:00 CDT
    assert d.engine.next_deadline() == utc(2026, 10, 30, 20, 8)  # Fri 15:08 CDT
    d.at(utc(2026, 10, 30, 20, 8))
    assert hold(d).until == utc(2026, 11, 1, 23, 0)  # Sun 17:00 CST


NIGHT = {"windows": "Sat 22:00-04:00", "flat_by": "", "exchange_calendar": "none"}


@pytest.mark.parametrize(
    ("start", "opened", "end", "next_open"),
    [
        # Sat 22:00 CST -> Sun 04:00 CDT: five hours, the clocks jump at 02:00
        (utc(2026, 3, 8, 4, 0), utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 9, 0), utc(2026, 3, 15, 3)),
        # Sat 22:00 CDT -> Sun 04:00 CST: seven hours, 01:00-02:00 happens twice
        (utc(2026, 11, 1, 3), utc(2026, 11, 1, 7), utc(2026, 11, 1, 10), utc(2026, 11, 8, 4)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_a_window_crossing_midnight_on_a_dst_night(
    start: datetime, opened: datetime, end: datetime, next_open: datetime
) -> None:
    early = driver(at=start - SECOND, **NIGHT)
    entry(early)
    assert early.acct.state is State.LockedDaily and hold(early).until == start
    d = driver(at=opened, **NIGHT)
    d.send(position(MNQ, 1, "21000", at=opened))
    assert d.acct.state is State.Trading
    assert d.engine.next_deadline() == end
    d.at(end - SECOND)
    assert d.acct.state is State.Trading
    out = d.at(end)
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert hold(d).reason is Reason.OUTSIDE_TRADING_HOURS
    assert hold(d).until == next_open


# --- holidays and early closes ---------------------------------------------------------------


def test_christmas_is_a_cme_holiday_locked_until_sunday_evening() -> None:
    d = driver(at=utc(2026, 12, 25, 15, 0))  # Fri 09:00 CST
    entry(d)
    assert d.acct.state is State.LockedDaily
    assert hold(d).reason is Reason.HOLIDAY
    assert hold(d).until == utc(2026, 12, 27, 23, 0)  # Sun 17:00 CST
    assert "2026-12-25 is an exchange holiday" in hold(d).detail


def test_christmas_eve_early_close_moves_the_flat_by_time_and_the_lock_spans_the_holiday() -> None:
    d = held(driver(at=utc(2026, 12, 24, 15, 0)))  # Thu 09:00 CST, early close 12:15
    assert d.engine.next_deadline() == utc(2026, 12, 24, 18, 8)  # 12:08 CST (7 min lead)
    d.at(utc(2026, 12, 24, 18, 8))
    assert hold(d).until == utc(2026, 12, 27, 23, 0)  # Friday is Christmas


def test_black_friday_early_close_flat_by_from_the_scheduler() -> None:
    d = held(driver(at=utc(2026, 11, 27, 0, 0)))  # Thu 18:00 CST: Friday's session
    deadline = utc(2026, 11, 27, 18, 8)  # CME closes at 12:15 CST; flat by 12:08
    assert d.engine.next_deadline() == deadline
    d.at(deadline - SECOND)
    assert d.acct.state is State.Trading
    out = d.at(deadline)
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert hold(d).reason is Reason.FLAT_BY
    assert "early close" in hold(d).detail
    assert hold(d).until == utc(2026, 11, 29, 23, 0)  # Sun 17:00 CST


def test_thanksgiving_is_a_cme_early_close_at_noon() -> None:
    d = held(driver(at=utc(2026, 11, 26, 15, 0)))  # Thu 09:00 CST: trading allowed
    assert d.acct.state is State.Trading
    assert d.engine.next_deadline() == utc(2026, 11, 26, 17, 53)  # 12:00 CST - 7 min
    d.at(utc(2026, 11, 26, 17, 53))
    assert hold(d).until == utc(2026, 11, 26, 23, 0)  # Friday's session opens Thu 17:00


def test_an_extra_holiday_from_the_settings_closes_thanksgiving() -> None:
    d = driver(at=utc(2026, 11, 26, 15, 0), extra_holidays="2026-11-26")
    d.send(position(MNQ, 1, "21000", at=d.now))
    assert d.acct.state is State.Flattening
    assert hold(d).reason is Reason.HOLIDAY
    assert hold(d).until == utc(2026, 11, 26, 23, 0)


def test_an_extra_early_close_from_the_settings() -> None:
    d = held(driver(at=utc(2026, 12, 31, 15, 0), early_closes="2026-12-31 12:15"))
    assert d.engine.next_deadline() == utc(2026, 12, 31, 18, 8)
    d.at(utc(2026, 12, 31, 18, 8))
    assert hold(d).reason is Reason.FLAT_BY
    assert hold(d).until == utc(2027, 1, 3, 23, 0)  # New Year's Day: back on Sunday


def test_the_exchange_calendar_can_be_turned_off() -> None:
    d = driver(at=utc(2026, 12, 25, 15, 0), exchange_calendar="none")
    entry(d)
    assert d.acct.state is State.Trading
    assert d.engine.next_deadline() == utc(2026, 12, 25, 21, 8)  # an ordinary Friday


def test_the_cme_calendar_knows_2026_holidays_and_early_closes() -> None:
    sched = rule_of(engine()).schedule
    exchange = sched.exchange
    assert exchange is not None
    days = exchange.year(2026)
    assert {date(2026, 1, 1), date(2026, 12, 25)} <= days.holidays
    early = {d: sched.local(t)[-9:] for d, t in days.early_closes.items()}
    assert early[date(2026, 11, 26)] == "12:00 CST"  # Thanksgiving
    assert early[date(2026, 11, 27)] == "12:15 CST"
    assert early[date(2026, 7, 3)] == "12:00 CDT"  # Independence Day observed


# --- locks -----------------------------------------------------------------------------------


def _weekly(ctx: Any) -> Scripted:
    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, PositionUpdate) and event.contract_id == NQ:
            until = ctx.calendar.next_weekly_reset(now)
            return (
                Verdict(
                    "RULE-T01",
                    Reason.WEEKLY_LOSS_LIMIT,
                    Action.FLATTEN,
                    lock=State.LockedWeekly,
                    until=until,
                ),
            )
        return ()

    return Scripted(ctx, script)


def test_a_stronger_weekly_lock_is_never_shortened_by_the_session_lock() -> None:
    d = Driver(make_engine({TradingHours: {}}, extra=[_weekly]), now=T0)
    d.send(account(), position(NQ, 1, "20000"), flat(NQ))
    weekly = d.acct.holds["RULE-T01"]
    assert d.acct.state is State.LockedWeekly
    d.at(FLAT_BY_MON)
    d.send(position(MNQ, 1, "21000", at=d.now))  # appears after flat-by
    assert d.acct.holds["RULE-T01"] == weekly
    d.send(flat(MNQ, at=d.now))
    assert d.acct.state is State.LockedWeekly
    d.at(OPEN_MON)  # the session lock, if any, has ended; the weekly lock has not
    assert d.acct.state is State.LockedWeekly
    assert d.acct.holds["RULE-T01"].until == weekly.until


def _cooldown(ctx: Any) -> Scripted:
    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, OrderUpdate) and event.order_id == 99:
            return (
                Verdict(
                    "RULE-T01",
                    Reason.TRADE_COOLDOWN,
                    Action.FLATTEN,
                    lock=State.Cooldown,
                    until=now + timedelta(minutes=30),
                ),
            )
        return ()

    return Scripted(ctx, script)


def test_a_weaker_cooldown_does_not_shorten_the_weekend_lock() -> None:
    d = Driver(make_engine({TradingHours: {}}, extra=[_cooldown]), now=utc(2026, 11, 20, 15))
    d.send(account())
    held(d)
    d.at(utc(2026, 11, 20, 21, 8))  # Friday flat-by
    d.send(flat(MNQ, at=d.now), order(5, ES, Side.BUY, 1, status=OrderStatus.CANCELLED, at=d.now))
    d.send(order(99, ES, Side.SELL, 1, status=OrderStatus.CANCELLED, at=d.now))
    assert d.acct.state is State.LockedDaily
    d.at(utc(2026, 11, 20, 21, 40))  # the cooldown has ended
    assert d.acct.state is State.LockedDaily
    assert hold(d).until == utc(2026, 11, 22, 23, 0)


def test_admin_override_during_closed_hours_is_waived_until_the_next_open() -> None:
    d = driver(at=utc(2026, 11, 23, 22, 30))
    entry(d)
    assert d.acct.state is State.LockedDaily
    d.send(AdminCommand(d.acc, State.Trading, "exchange reopened early", "ops"))
    out = entry(d, 2)
    assert d.acct.state is State.Trading and not cancels(out)


# --- restart ---------------------------------------------------------------------------------


def test_restart_re_arms_the_flat_by_deadline_from_open_positions() -> None:
    d = held(driver())
    again = restart(d, engine, at=T0 + timedelta(hours=2))
    assert again.acct.state is State.Trading
    assert again.acct.deadlines["RULE-006"] == FLAT_BY_MON
    # (woken first where its P&L rules, waiting for a read since the restore, would estimate)
    assert again.engine.next_deadline() == again.now + LATE < FLAT_BY_MON
    out = again.at(FLAT_BY_MON)
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_restart_after_the_flat_by_time_flattens_at_start_up() -> None:
    d = held(driver())
    again = restart(d, engine, at=FLAT_BY_MON + timedelta(minutes=5))
    assert [c.contract_id for c in closes(again.effects)] == [MNQ]
    assert again.acct.holds["RULE-006"].until == OPEN_MON


def test_restart_while_locked_keeps_the_lock_until_the_next_open() -> None:
    d = held(driver())
    d.at(FLAT_BY_MON)
    d.send(flat(MNQ, at=d.now), order(5, ES, Side.BUY, 1, status=OrderStatus.CANCELLED, at=d.now))
    again = restart(d, engine, at=FLAT_BY_MON + timedelta(minutes=20))
    assert again.acct.state is State.LockedDaily
    assert again.engine.next_deadline() == OPEN_MON
    out = again.send(position(NQ, 1, "20000", at=again.now))
    assert [c.contract_id for c in closes(out)] == [NQ]


# --- settings --------------------------------------------------------------------------------


def test_windows_expand_day_ranges_including_across_the_weekend() -> None:
    ws = parse_windows("Fri-Mon 08:00-12:00")
    assert [str(w) for w in ws] == [
        "Mon 08:00-12:00",
        "Fri 08:00-12:00",
        "Sat 08:00-12:00",
        "Sun 08:00-12:00",
    ]
    assert len(parse_windows("Sun-Thu 17:00-16:00")) == 5
    assert parse_windows("Mon 08:00-12:00, Mon 12:00-15:00")  # touching is not overlapping


def test_a_window_may_end_at_24_00_so_a_whole_day_can_be_written() -> None:
    """'00:00-23:59' left a minute a night closed (RULE-006 flattened and locked anyone
    holding then); '24:00' ends the day exactly."""
    whole = parse_windows("Sun-Sat 00:00-24:00")
    assert [str(w) for w in whole][:2] == ["Mon 00:00-24:00", "Tue 00:00-24:00"]
    assert len(whole) == 7
    assert parse_windows("Mon 12:00-24:00") == parse_windows("Mon 12:00-00:00")
    assert parse_windows("Mon 00:00-24:00:00") == parse_windows("Mon 00:00-24:00")
    schedule = TradingSchedule(whole, "America/Chicago")
    # every second around each Chicago midnight of a week, and across both clock changes
    days = [utc(2026, 12, 7) + timedelta(days=k) for k in range(7)]
    days += [utc(2026, 3, 8), utc(2026, 3, 9), utc(2026, 11, 1), utc(2026, 11, 2)]
    for day in days:
        for hour in (5, 6):  # Chicago's midnight in CDT and in CST
            for s in range(-90, 90):
                now = day + timedelta(hours=hour, seconds=s, microseconds=500_000)
                assert schedule.status(now).allowed, now
    weekdays = TradingSchedule(parse_windows("Mon-Fri 00:00-24:00"), "America/Chicago")
    friday_midnight = utc(2026, 12, 12, 6)  # Sat 00:00 CST
    assert weekdays.status(friday_midnight - SECOND).allowed
    assert not weekdays.status(friday_midnight).allowed
    assert weekdays.next_open(friday_midnight) == utc(2026, 12, 14, 6)  # Mon 00:00 CST


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Mon 00:00-00:00", "a whole day is 00:00-24:00"),
        ("Mon 09:00-24:30", "between 00:00 and 23:59"),
        ("Mon 24:00-12:00", "between 00:00 and 23:59"),
        ("Mon 00:00-24:00, Mon 20:00-22:00", "overlap"),
    ],
)
def test_windows_that_are_empty_or_past_the_day_are_refused(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_windows(text)


def test_schedule_without_a_library_is_pure_windows() -> None:
    sched = TradingSchedule([Window(0, time(9), time(10))], "America/New_York")
    monday_9am_ny = utc(2026, 11, 23, 14, 0)
    assert sched.status(monday_9am_ny).allowed
    assert not sched.status(monday_9am_ny - SECOND).allowed
    assert sched.next_open(monday_9am_ny) == utc(2026, 11, 30, 14, 0)


# --- usage and cost --------------------------------------------------------------------------


def test_usage_shows_the_share_of_the_session_used_and_when_it_reopens() -> None:
    d = driver()
    rule = rule_of(d.engine)
    u = rule.usage(d.acct, T0)  # 16 h into a 22 h 08 min session
    assert u.value == 16 * 3600 and u.limit == 22 * 3600 + 8 * 60
    assert u.fraction == Decimal(16 * 3600) / Decimal(22 * 3600 + 8 * 60)
    closed = rule.usage(d.acct, utc(2026, 11, 23, 22, 30))
    assert closed.fraction == 1 and "closed until Mon 2026-11-23 17:00 CST" in closed.detail


def test_quotes_never_evaluate_the_rule() -> None:
    assert Quote not in TradingHours.reacts_to
    assert {PositionUpdate, OrderUpdate, Tick} <= TradingHours.reacts_to


def rule_of(e: Any) -> TradingHours:
    rule = e.rules[0]
    assert isinstance(rule, TradingHours)
    return rule
