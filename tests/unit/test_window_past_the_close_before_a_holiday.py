"""RULE-006: a window that runs on past the exchange's close stops ``early_close_lead`` before
that close when the exchange's next session is a holiday, and before the next session's early
close when it has one, whatever zone the window is written in. A position held past the close
cannot be closed until the exchange reopens: on New Year's Eve that is 73 hours later.

Found by a review of c796fa8: a Tokyo window of 05:00-11:00 on 1 January (14:00-20:00 Chicago
on 31 December) traded as the ordinary 31 December session, its stop at 20:00 Chicago, four
hours after CME shut for the holiday; a Chicago window crossing the 16:00 close always had
the same gap.

Instants are in UTC, with the wall times in comments: 16:00 Chicago is 22:00 UTC in winter,
21:00 UTC in summer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules import exchange_hours as hours
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import MNQ, Driver, closes, position, rule_driver, the_rule

SECOND = timedelta(seconds=1)

TOKYO = {"timezone": "Asia/Tokyo", "windows": "Mon-Fri 05:00-11:00", "flat_by": "none"}
#: 14:00-20:00 Chicago: across CME's 16:00 close and its 16:00-17:00 break
CHICAGO_EVENING = {"windows": "Mon-Fri 14:00-20:00", "flat_by": "none"}
#: 15:00 to 14:00 the next day, Chicago: across the close and into the next session's day
CHICAGO_LONG = {"windows": "Mon-Fri 15:00-14:00", "flat_by": "none"}
#: London's evening to the next afternoon (20:00 GMT is 15:00 Chicago in the week of
#: 22 March 2027: the US is on summer time since the 14th, the UK only from the 28th)
LONDON = {"timezone": "Europe/London", "windows": "Mon-Fri 20:00-15:00", "flat_by": "none"}
#: a Chicago window judged by EUREX's calendar (Frankfurt closes at 22:00 Berlin)
EUREX_DAY = {"windows": "Mon-Fri 08:00-18:00", "flat_by": "none", "exchange_calendar": "EUREX"}


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def held(at: datetime, **raw: str) -> Driver:
    d = rule_driver(TradingHours, at, **raw)
    d.send(position(MNQ, 1, "21000", at=at))
    return d


def rule_stop(d: Driver) -> datetime | None:
    """RULE-006's deadline now: the instant the session's trading must stop."""
    return the_rule(d, TradingHours).schedule.status(d.now).stop


def flattened_at(d: Driver, deadline: datetime) -> list[str]:
    """Trading one second before ``deadline``; the contracts closed at it."""
    d.at(deadline - SECOND)
    assert d.acct.state is State.Trading, "flattened before the cut"
    return [str(c.contract_id) for c in closes(d.at(deadline))]


def test_a_tokyo_window_on_new_years_day_stops_before_cme_closes_for_the_holiday() -> None:
    # JST Fri 2027-01-01 05:00-11:00 = Thu 2026-12-31 14:00-20:00 CST; CME closes Thu 16:00
    # CST and stays shut until Sun 2027-01-03 17:00 CST
    d = held(utc(2026, 12, 31, 21, 0), **TOKYO)  # 15:00 CST: the market is open, so is trading
    assert d.acct.state is State.Trading
    cut = utc(2026, 12, 31, 21, 53)  # 15:53 CST: 7 minutes before the close (not 20:00 CST)
    assert rule_stop(d) == cut
    assert flattened_at(d, cut) == [str(MNQ)]
    hold = d.acct.holds["RULE-006"]
    assert hold.reason is Reason.FLAT_BY
    assert "before a holiday" in hold.detail
    assert hold.until is not None and hold.until > utc(2027, 1, 2)  # not before the holiday


def test_a_chicago_window_across_the_close_before_a_friday_holiday() -> None:
    # Thu 2027-12-23 14:00-20:00 CST; Fri 12-24 is CME's Christmas holiday (no early close
    # on the Thursday): the exchange is shut from Thu 16:00 to Sun 12-26 17:00
    d = held(utc(2027, 12, 23, 21, 0), **CHICAGO_EVENING)  # 15:00 CST
    cut = utc(2027, 12, 23, 21, 53)  # 15:53 CST (not 20:00 CST)
    assert rule_stop(d) == cut
    assert flattened_at(d, cut) == [str(MNQ)]
    assert "the exchange closes Thu 2027-12-23 16:00 CST before a holiday" in (
        d.acct.holds["RULE-006"].detail
    )


@pytest.mark.parametrize(
    ("at", "cut"),
    [
        # Wed 2026-11-25 15:30 CST; Thanksgiving's session closes Thu 12:00 CST: flat by 11:53
        (utc(2026, 11, 25, 21, 30), utc(2026, 11, 26, 17, 53)),
        # Wed 2026-12-23 15:30 CST; Christmas Eve's session closes Thu 12:15 CST: flat by 12:08
        (utc(2026, 12, 23, 21, 30), utc(2026, 12, 24, 18, 8)),
    ],
    ids=["thanksgiving", "christmas-eve"],
)
def test_a_chicago_window_across_the_close_stops_before_the_next_sessions_early_close(
    at: datetime, cut: datetime
) -> None:
    # the window runs Wed 15:00 to Thu 14:00 CST: past the Thursday session's early close
    d = held(at, **CHICAGO_LONG)
    assert rule_stop(d) == cut  # (was Thu 14:00 CST, the window's end)
    assert flattened_at(d, cut) == [str(MNQ)]
    assert "early close" in d.acct.holds["RULE-006"].detail


def test_dst_week_a_london_window_stops_before_good_fridays_early_close() -> None:
    # Thu 2027-03-25 20:00 GMT (15:00 CDT) to Fri 15:00 GMT (10:00 CDT); CME's Good Friday
    # session closes Fri 08:15 CDT = 13:15 UTC: flat by 13:08 UTC (not 15:00 UTC)
    d = held(utc(2027, 3, 25, 20, 30), **LONDON)
    cut = utc(2027, 3, 26, 13, 8)
    assert rule_stop(d) == cut
    assert flattened_at(d, cut) == [str(MNQ)]


def test_dst_week_eurex_closes_at_22_00_berlin_before_good_friday() -> None:
    # Thu 2027-03-25 08:00-18:00 CDT; Berlin is still on CET (UTC+1) and Chicago already on CDT
    # (UTC-5), so EUREX's 22:00 close is 16:00 Chicago = 21:00 UTC (15:00 Chicago in an
    # ordinary week); Fri 03-26 is a EUREX holiday
    d = held(utc(2027, 3, 25, 15, 0), **EUREX_DAY)  # 10:00 CDT
    cut = utc(2027, 3, 25, 20, 53)  # 21:53 CET = 15:53 CDT (not 18:00 CDT = 23:00 UTC)
    assert rule_stop(d) == cut
    assert flattened_at(d, cut) == [str(MNQ)]


def test_a_window_across_the_close_before_a_monday_holiday_stops_on_friday() -> None:
    # a calendar whose Monday 2026-01-19 is a holiday: Friday's window, past Friday's close,
    # would be held until Monday 17:00 (Thursday's goes on: Friday is a session)
    days = hours.ExchangeDays(
        "test", {2026: hours.YearDays(frozenset({date(2026, 1, 19)}), {})}, "America/Chicago"
    )
    windows = hours.parse_windows("Mon-Fri 14:00-20:00")
    s = hours.TradingSchedule(windows, "America/Chicago", exchange=days, early_close_lead=SECOND)
    friday = s.status(utc(2026, 1, 16, 21, 0))  # Fri 15:00 CST
    assert friday.allowed and friday.stop == utc(2026, 1, 16, 22, 0) - SECOND
    assert friday.session is not None and friday.session.cut == "holiday_close"
    thursday = s.status(utc(2026, 1, 15, 21, 0))
    assert thursday.allowed and thursday.stop == utc(2026, 1, 16, 2, 0)  # Thu 20:00 CST


@pytest.mark.parametrize(
    ("raw", "at", "stop"),
    [
        # JST Fri 2027-01-08 05:00-11:00 = Thu 01-07 14:00-20:00 CST: Friday is a session
        (TOKYO, utc(2027, 1, 7, 21, 0), utc(2027, 1, 8, 2, 0)),
        # Thu 2027-12-16 14:00-20:00 CST
        (CHICAGO_EVENING, utc(2027, 12, 16, 21, 0), utc(2027, 12, 17, 2, 0)),
        # Wed 2026-11-18 15:00 to Thu 14:00 CST: no early close on Thursday
        (CHICAGO_LONG, utc(2026, 11, 18, 21, 30), utc(2026, 11, 19, 20, 0)),
        # Thu 2027-03-18 20:00 GMT to Fri 15:00 GMT: an ordinary Friday
        (LONDON, utc(2027, 3, 18, 20, 30), utc(2027, 3, 19, 15, 0)),
        # Thu 2027-03-18 08:00-18:00 CDT with EUREX: Friday is a session there
        (EUREX_DAY, utc(2027, 3, 18, 15, 0), utc(2027, 3, 18, 23, 0)),
        # the default windows on New Year's Eve: flat by 15:08 CST, before the close already
        ({}, utc(2026, 12, 31, 15, 0), utc(2026, 12, 31, 21, 8)),
    ],
    ids=["tokyo", "chicago-evening", "chicago-long", "london", "eurex", "default"],
)
def test_on_an_ordinary_day_a_window_still_ends_at_its_end(
    raw: dict[str, str], at: datetime, stop: datetime
) -> None:
    d = held(at, **raw)
    assert d.acct.state is State.Trading
    assert rule_stop(d) == stop
    session = the_rule(d, TradingHours).schedule.status(at).session
    assert session is not None and session.cut == ("flat_by" if not raw else "end")


# --- the weekend: the exchange is shut from Friday's close to Sunday's open (49 hours) ---------


def test_a_window_across_fridays_close_stops_before_it() -> None:
    """Found by a review: Fri 2027-01-08 14:00-20:00 CST, an ordinary Friday, kept its stop at
    20:00, four hours into the 49-hour weekend closure, while the same window before a
    Friday holiday was cut at 15:53."""
    d = held(utc(2027, 1, 8, 21, 0), **CHICAGO_EVENING)  # Fri 15:00 CST
    assert rule_stop(d) == utc(2027, 1, 8, 21, 53)  # 15:53 CST
    session = the_rule(d, TradingHours).schedule.status(d.now).session
    assert session is not None and session.cut == "weekend_close"
    assert flattened_at(d, utc(2027, 1, 8, 21, 53)) == [MNQ]
    hold = d.acct.holds["RULE-006"]
    assert "the exchange closes Fri 2027-01-08 16:00 CST before the weekend" in hold.detail


def test_a_tokyo_saturday_morning_is_cmes_friday_afternoon() -> None:
    """Found by a review: JST Sat 2027-01-09 05:00-11:00 is Fri 14:00-20:00 CST."""
    raw = {**TOKYO, "windows": "Mon-Sat 05:00-11:00"}
    d = held(utc(2027, 1, 8, 21, 0), **raw)
    assert flattened_at(d, utc(2027, 1, 8, 21, 53)) == [MNQ]  # 15:53 CST, not 20:00


def test_a_session_dated_on_a_sunday_has_no_close_before_a_monday_holiday() -> None:
    """Found by a review: JST Mon 2028-12-25 05:00-11:00 is Sun 12-24 14:00-20:00 CST, a
    session dated Sunday (CME shut since Friday); Monday is a holiday. It was cut at a
    "Sunday 16:00 close" that does not exist, and the lock said so."""
    d = held(utc(2028, 12, 24, 20, 30), **TOKYO)  # Sun 14:30 CST
    d.at(utc(2028, 12, 24, 21, 53))  # Sun 15:53 CST
    hold = d.acct.holds.get("RULE-006")
    assert hold is None or "the exchange closes" not in hold.detail, hold


def test_windows_written_end_to_end_through_the_weekend_hold_on_through_it() -> None:
    """Every instant a window (the benchmark's settings): Friday's 12:00-00:00 runs into
    Saturday's 00:00-12:00, so nothing ends at Friday's close."""
    raw = {"windows": "Sun-Sat 00:00-12:00, Sun-Sat 12:00-00:00", "flat_by": "none"}
    d = held(utc(2027, 1, 8, 21, 0), **raw)
    d.at(utc(2027, 1, 9, 6, 30))  # Sat 00:30 CST
    assert d.acct.state is State.Trading and closes(d.effects) == []


def test_a_friday_window_ending_before_the_close_ends_at_its_end() -> None:
    d = held(utc(2027, 1, 8, 15, 0), windows="Mon-Fri 08:30-15:00", flat_by="none")
    assert rule_stop(d) == utc(2027, 1, 8, 21, 0)  # 15:00 CST, its own end
