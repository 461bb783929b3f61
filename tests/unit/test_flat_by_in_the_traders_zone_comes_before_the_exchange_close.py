"""RULE-006 written in the trader's own zone: a London trader writes the CME equity session as
`Sun-Thu 23:00-22:00` and flat-by `21:08` Europe/London (15:08 Chicago, 52 minutes before the
16:00 close, as the default).

Found by a hunt of daylight saving: for the weeks the US is on summer time and the UK is not
(2027-03-14 to 03-28, and 2026-10-25 to 11-01) 21:08 GMT is 16:08 CDT, eight minutes after the
exchange's daily close. The position was allowed past the close, the flat-by fired into a shut
market and the close waited for the 17:00 reopen: about 67 minutes past the moment it had to
be flat, through the daily settlement.

What must hold: a flat-by at or after the exchange's daily close (while it is shut) is cut the
lead before that close, as the Friday and holiday cuts are; a flat-by before the close, or
after the exchange has reopened, stays where it is written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fsm_risk.core.states import State
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import MNQ, Driver, closes, position, rule_driver, the_rule

RAW = {
    "timezone": "Europe/London",
    "windows": "Sun-Thu 23:00-22:00",
    "flat_by": "21:08",
    "exchange_calendar": "CME Globex Equity",
    "early_close_lead_minutes": "7",
}
LEAD = timedelta(minutes=7)
SECOND = timedelta(seconds=1)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def held(opened: datetime, **raw: str) -> Driver:
    d = rule_driver(TradingHours, opened, **{**RAW, **raw})
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


def test_a_london_flat_by_stops_trading_before_the_exchange_closes_in_the_gap_weeks() -> None:
    # Tue 2027-03-16: US on CDT, UK on GMT; the exchange closes 16:00 CDT = 21:00 UTC
    d = held(utc(2027, 3, 16, 14, 0))  # 09:00 CDT
    stops_at(d, utc(2027, 3, 16, 21, 0) - LEAD)  # 15:53 CDT, not 21:08 GMT = 16:08 CDT
    assert "the exchange closes" in d.acct.holds["RULE-006"].detail


def test_the_autumn_gap_week_stops_before_the_close_too() -> None:
    # Tue 2026-10-27: UK back on GMT since the 25th, US on CDT until 11-01
    d = held(utc(2026, 10, 27, 14, 0))
    stops_at(d, utc(2026, 10, 27, 21, 0) - LEAD)


def test_without_the_library_the_flat_by_is_cut_at_the_cme_close() -> None:
    d = held(utc(2027, 3, 16, 14, 0), exchange_calendar="none")
    stops_at(d, utc(2027, 3, 16, 21, 0) - LEAD)


def test_a_control_week_when_both_are_on_winter_time_stops_at_the_flat_by() -> None:
    # the guard: Tue 2027-03-09, 21:08 GMT is 15:08 CST, before the 16:00 close
    d = held(utc(2027, 3, 9, 14, 0))
    stops_at(d, utc(2027, 3, 9, 21, 8))


def test_a_flat_by_after_the_exchange_reopens_stays_where_it_is_written() -> None:
    # the guard: a whole Chicago day, flat by 18:00: the exchange reopened at 17:00, so the
    # position held through the break is closed at 18:00 CST into an open market
    d = held(
        utc(2027, 3, 9, 14, 0),
        timezone="America/Chicago",
        windows="Mon-Fri 00:00-24:00",
        flat_by="18:00",
    )
    stops_at(d, utc(2027, 3, 10, 0, 0))  # Tue 18:00 CST
