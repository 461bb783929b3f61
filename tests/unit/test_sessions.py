"""Trading days and weeks in America/Chicago, across both daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from freezegun import freeze_time

from fsm_risk.core.events import Side
from fsm_risk.core.sessions import MarketHours, SessionCalendar
from tests.factories import MNQ, Driver, account, fill, make_engine

CAL = SessionCalendar("America/Chicago", time(17, 0), 6, time(17, 0))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_fill_at_18_00_chicago_belongs_to_the_next_trading_day() -> None:
    monday_18 = utc(2026, 11, 24, 0, 0)  # Mon 18:00 CST
    assert CAL.trading_day(monday_18) == date(2026, 11, 24)
    assert CAL.trading_day(monday_18 - timedelta(hours=1, seconds=1)) == date(2026, 11, 23)
    # exactly at the reset instant the new day has begun
    assert CAL.trading_day(utc(2026, 11, 23, 23, 0)) == date(2026, 11, 24)


def test_engine_books_an_evening_fill_into_the_next_day() -> None:
    start = utc(2026, 11, 23, 22, 0)  # Mon 16:00 CST
    d = Driver(make_engine(), now=start)
    d.send(account(), fill(MNQ, Side.BUY, 1, "21000", fees="0.74", at=start))
    assert d.acct.day.label == date(2026, 11, 23)
    d.now = utc(2026, 11, 24, 0, 0)  # Mon 18:00 CST
    d.send(fill(MNQ, Side.SELL, 1, "21010", pnl="20", fees="0.74", at=d.now))
    assert d.acct.day.label == date(2026, 11, 24)
    assert [f.price for f in d.acct.day.fills] == [21010]
    assert d.acct.week.realized == Decimal("18.52")  # the week spans both days


@pytest.mark.parametrize(
    ("day", "reset_utc", "previous_utc", "hours"),
    [
        # spring forward (Sun 2026-03-08 02:00): CST -> CDT; that trading day is 23 h long
        (date(2026, 3, 8), utc(2026, 3, 8, 22, 0), utc(2026, 3, 7, 23, 0), 23),
        # fall back (Sun 2026-11-01 02:00): CDT -> CST; that trading day is 25 h long
        (date(2026, 11, 1), utc(2026, 11, 1, 23, 0), utc(2026, 10, 31, 22, 0), 25),
    ],
)
def test_resets_stay_at_17_00_local_on_both_daylight_saving_days(
    day: date, reset_utc: datetime, previous_utc: datetime, hours: int
) -> None:
    noon = CAL.at(day, time(12, 0))
    assert CAL.next_daily_reset(noon) == reset_utc
    assert CAL.last_daily_reset(noon) == previous_utc
    assert (reset_utc - previous_utc) == timedelta(hours=hours)
    assert CAL.local(reset_utc).hour == 17
    # both resets of that Sunday are also the weekly reset
    assert CAL.next_weekly_reset(noon) == reset_utc


def test_weekly_reset_is_sunday_17_00_and_the_week_is_labelled_by_its_end() -> None:
    wed = utc(2026, 11, 25, 15, 0)
    assert CAL.last_weekly_reset(wed) == utc(2026, 11, 22, 23, 0)
    assert CAL.next_weekly_reset(wed) == utc(2026, 11, 29, 23, 0)
    assert CAL.trading_week(wed) == date(2026, 11, 29)
    # Sunday 18:00 belongs to the week that ends next Sunday
    assert CAL.trading_week(utc(2026, 11, 30, 0, 0)) == date(2026, 12, 6)


def test_a_wall_time_in_the_spring_gap_moves_forward_and_an_ambiguous_one_takes_the_first() -> None:
    assert CAL.at(date(2026, 3, 8), time(2, 30)) == utc(2026, 3, 8, 8, 30)  # 03:30 CDT
    assert CAL.at(date(2026, 11, 1), time(1, 30)) == utc(2026, 11, 1, 6, 30)  # 01:30 CDT


def test_other_time_zones_and_reset_times_are_honoured() -> None:
    cal = SessionCalendar("Europe/London", time(22, 0), 4, time(22, 0))  # Fri 22:00
    t = utc(2026, 7, 1, 12, 0)  # BST
    assert cal.next_daily_reset(t) == utc(2026, 7, 1, 21, 0)
    assert cal.next_weekly_reset(t) == utc(2026, 7, 3, 21, 0)


def test_the_calendar_never_reads_the_clock() -> None:
    with freeze_time("2030-01-01 00:00:00"):
        assert CAL.next_daily_reset(utc(2026, 11, 23, 15, 0)) == utc(2026, 11, 23, 23, 0)


# --- the market's own hours (CME Globex): when a refused close waits for the reopen ---------


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "reopen"),
    [
        ("2026-11-23T21:59:59", None),  # Mon 15:59:59 CST: open
        ("2026-11-23T22:00:00", "2026-11-23T23:00:00"),  # 16:00: the break, until 17:00
        ("2026-11-23T22:59:59", "2026-11-23T23:00:00"),
        ("2026-11-23T23:00:00", None),  # 17:00: open again
        ("2026-11-24T06:00:00", None),  # Tue 00:00: the session runs through midnight
        ("2026-11-27T21:59:59", None),  # Fri 15:59:59: open
        ("2026-11-27T22:00:00", "2026-11-29T23:00:00"),  # Fri 16:00: until Sun 17:00
        ("2026-11-27T23:00:00", "2026-11-29T23:00:00"),  # Fri 17:00: no session tonight
        ("2026-11-28T18:00:00", "2026-11-29T23:00:00"),  # Saturday
        ("2026-11-29T22:59:59", "2026-11-29T23:00:00"),  # Sun 16:59:59
        ("2026-11-29T23:00:00", None),  # Sun 17:00: open
        # the Sunday clocks go forward (8 March 2026): 17:00 CDT is 22:00 UTC
        ("2026-03-08T21:59:59", "2026-03-08T22:00:00"),
        ("2026-03-08T22:00:00", None),
        # the Sunday they go back (1 November 2026): 17:00 CST is 23:00 UTC
        ("2026-11-01T22:30:00", "2026-11-01T23:00:00"),
        ("2026-11-01T23:00:00", None),
        # summer: the break is 21:00-22:00 UTC
        ("2026-07-15T20:59:59", None),
        ("2026-07-15T21:00:00", "2026-07-15T22:00:00"),
    ],
)
def test_the_market_is_closed_in_the_daily_break_and_the_weekend(
    at: str, reopen: str | None
) -> None:
    assert MarketHours().reopen(_utc(at)) == (_utc(reopen) if reopen else None)
