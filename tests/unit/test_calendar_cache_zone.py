"""RULE-006's exchange calendar dates sessions alike on a first start (the library computes)
and on every later one (read back from the disk cache), for any library calendar.

Found by a review of e412a1e: the cache kept the days but not the calendar's zone and daily
roll, so a later start dated the same session differently; and the roll was None for a
calendar whose sessions open in the morning (NYSE), so the session the rule's default windows
open Thursday evening (after NYSE's close) was Thursday's, and NYSE's Friday holidays (Good
Friday, 3 July 2026) were traded through on a first start.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fsm_risk.adapters import calendars
from fsm_risk.rules import exchange_hours as hours

CT = ZoneInfo("America/Chicago")
NAME = "NYSE"


def schedule(days: hours.ExchangeDays) -> hours.TradingSchedule:
    windows = hours.parse_windows("Sun-Thu 17:00-16:00")  # the rule's default windows
    return hours.TradingSchedule(windows, "America/Chicago", exchange=days)


def test_a_warm_start_dates_sessions_as_the_cold_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hours, "_DAYS", {})
    cold = hours.exchange_days(NAME)  # the first start: the library computes
    path = tmp_path / "days.json"
    calendars.save(path)  # as the first start leaves it
    monkeypatch.setattr(hours, "_DAYS", {})
    assert calendars.load(path) == 1  # the next start
    warm = hours.exchange_days(NAME)
    assert warm is not cold and not warm.computed
    at = datetime(2026, 7, 3, 10, 0, tzinfo=CT)
    c, w = schedule(cold).status(at), schedule(warm).status(at)
    assert (warm.tz, warm.roll) == (cold.tz, cold.roll)
    assert c.allowed == w.allowed


def test_an_nyse_holiday_is_a_holiday_for_windows_opening_the_evening_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The session opening Thu 2026-07-02 17:00 Chicago (18:00 New York, after NYSE's close)
    trades all of Fri 07-03, NYSE's Independence Day holiday: dated by its open's date (the
    library's NYSE has no evening open, so no roll) it was a Thursday's, and traded through."""
    monkeypatch.setattr(hours, "_DAYS", {})
    s = schedule(hours.exchange_days(NAME))
    for at in (datetime(2026, 7, 3, 10, 0, tzinfo=CT), datetime(2026, 4, 3, 10, 0, tzinfo=CT)):
        st = s.status(at)  # (and Good Friday, 2026-04-03)
        assert not st.allowed
    assert s.status(datetime(2026, 7, 2, 10, 0, tzinfo=CT)).allowed  # an ordinary Thursday
