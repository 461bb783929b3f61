"""RULE-006: a trading window that runs on past the exchange's close ends
`early_close_lead_minutes` before that close when the exchange's next session is a holiday or
after the weekend: a position held past the close cannot be closed until the exchange reopens
(from 16:00 Chicago on a holiday's eve, 73 hours later; on a Friday, 49).

Found by a hunt of daylight saving: that cut only read the library's calendar. A holiday the
admin lists in `extra_holidays` (Good Friday 2027-03-26, which pandas_market_calendars gives
as an 08:15 early close) did not cut the Thursday before: a London trader's `Mon-Fri
13:00-23:00` (08:00-18:00 CDT that week) traded on past the 16:00 CDT close into a market shut
until Sunday, 73 hours. With `exchange_calendar = none` there was no weekend cut at all: the
same window rode Friday's close into the weekend (49 hours).

What must hold: the settings' holidays and early closes cut like the library's; without a
calendar the weekend is still cut the lead before Friday's 16:00 Chicago close.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fsm_risk.core.states import State
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import MNQ, Driver, closes, position, rule_driver, the_rule

LEAD = timedelta(minutes=7)
SECOND = timedelta(seconds=1)
WINDOWS = {
    "timezone": "Europe/London",
    "windows": "Mon-Fri 13:00-23:00",
    "flat_by": "none",
    "early_close_lead_minutes": "7",
}


def held(opened: datetime, **raw: str) -> Driver:
    """An account holding one MNQ since ``opened`` under the London windows."""
    d = rule_driver(TradingHours, opened, **WINDOWS, **raw)
    d.send(position(MNQ, 1, "21000", at=opened))
    assert d.acct.state is State.Trading
    return d


def stops_at(d: Driver, cut: datetime) -> None:
    """Trading one second before ``cut``; the position closed at it."""
    assert the_rule(d, TradingHours).schedule.status(d.now).stop == cut
    d.at(cut - SECOND)
    assert d.acct.state is State.Trading, "flattened before the cut"
    assert [str(c.contract_id) for c in closes(d.at(cut))] == [str(MNQ)]
    assert d.acct.state is State.Flattening


def test_the_thursday_before_an_extra_holiday_stops_before_the_exchange_close() -> None:
    # Thu 2027-03-25 14:00 GMT (09:00 CDT); the exchange closes 16:00 CDT = 21:00 UTC
    d = held(
        datetime(2027, 3, 25, 14, 0, tzinfo=UTC),
        exchange_calendar="CME Globex Equity",
        extra_holidays="2027-03-26",
    )
    stops_at(d, datetime(2027, 3, 25, 21, 0, tzinfo=UTC) - LEAD)
    assert "before a holiday" in d.acct.holds["RULE-006"].detail


def test_the_thursday_before_an_extra_holiday_stops_without_the_library_too() -> None:
    d = held(
        datetime(2027, 3, 25, 14, 0, tzinfo=UTC),
        exchange_calendar="none",
        extra_holidays="2027-03-26",
    )
    stops_at(d, datetime(2027, 3, 25, 21, 0, tzinfo=UTC) - LEAD)


def test_without_the_library_calendar_a_friday_still_stops_before_the_weekend_close() -> None:
    # Fri 2027-03-19 14:00 GMT (09:00 CDT); the exchange closes 16:00 CDT = 21:00 UTC
    d = held(datetime(2027, 3, 19, 14, 0, tzinfo=UTC), exchange_calendar="none")
    stops_at(d, datetime(2027, 3, 19, 21, 0, tzinfo=UTC) - LEAD)
    assert "before the weekend" in d.acct.holds["RULE-006"].detail


def test_with_the_library_calendar_the_same_friday_stops_in_time() -> None:
    # the guard: the library loaded, the weekend cut was always there
    d = held(datetime(2027, 3, 19, 14, 0, tzinfo=UTC), exchange_calendar="CME Globex Equity")
    stops_at(d, datetime(2027, 3, 19, 21, 0, tzinfo=UTC) - LEAD)


def test_without_the_library_an_ordinary_thursday_window_ends_where_it_is_written() -> None:
    # the guard: on an ordinary weekday the window runs past the close to 23:00 GMT
    d = held(datetime(2027, 3, 18, 14, 0, tzinfo=UTC), exchange_calendar="none")
    stops_at(d, datetime(2027, 3, 18, 23, 0, tzinfo=UTC))
