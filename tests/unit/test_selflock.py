"""What the trader types for `fsm-risk lock`: durations, times of day, dates, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.selflock import Spec, duration, instant, resolve
from tests.factories import T0  # Monday 09:00 in Chicago

CAL = SessionCalendar()


@pytest.mark.parametrize(
    ("text", "minutes"), [("90m", 90), ("2h", 120), ("1h30m", 90), ("1d", 1440), ("1 h 5 m", 65)]
)
def test_durations_with_units(text: str, minutes: int) -> None:
    assert duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["90", "2 hours", "", "1h30", "30s"])
def test_durations_without_units_or_under_a_minute_are_refused(text: str) -> None:
    with pytest.raises(FsmRiskError, match="--for"):
        duration(text)


def test_a_time_of_day_is_the_next_one_in_the_session_time_zone() -> None:
    assert instant("15:30", T0, CAL.tz) == datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
    assert instant("08:00", T0, CAL.tz) == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # tomorrow


def test_a_date_and_time_or_an_offset_is_taken_as_written() -> None:
    assert instant("2026-11-25 10:00", T0, CAL.tz) == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert instant("2026-11-23T18:00+00:00", T0, CAL.tz) == datetime(2026, 11, 23, 18, tzinfo=UTC)


def test_a_time_of_day_across_the_daylight_saving_change_keeps_its_wall_time() -> None:
    sat = datetime(2027, 3, 13, 18, 0, tzinfo=UTC)  # Saturday noon CST; DST starts Sunday 02:00
    assert instant("09:00", sat, CAL.tz) == datetime(2027, 3, 14, 14, 0, tzinfo=UTC)  # CDT


def test_resolve_picks_the_lock_kind() -> None:
    assert resolve(Spec(for_="2h"), T0, CAL) == (State.Cooldown, T0 + timedelta(hours=2))
    assert resolve(Spec(rest_of_day=True), T0, CAL) == (
        State.LockedDaily,
        CAL.next_daily_reset(T0),
    )
    with pytest.raises(FsmRiskError, match="in the past"):
        resolve(Spec(until="2026-11-23 08:00"), T0, CAL)
    with pytest.raises(FsmRiskError, match="exactly one"):
        resolve(Spec(until="10:00", for_="1h"), T0, CAL)


# America/Chicago, Sunday 2026-11-01: 01:00-02:00 happens twice (CDT 06:00-07:00Z, then CST
# 07:00-08:00Z); Sunday 2027-03-14: 02:00-03:00 never happens (CST until 08:00Z, then CDT)
FIRST_PASS = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 CDT
SECOND_PASS = datetime(2026, 11, 1, 7, 10, tzinfo=UTC)  # 01:10 CST


@pytest.mark.parametrize("text", ["01:30", "2026-11-01 01:30"])
def test_a_time_in_the_repeated_hour_is_its_first_instant_still_ahead(text: str) -> None:
    assert instant(text, FIRST_PASS, CAL.tz) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # CDT
    # on the second pass 01:30 CDT is over, 01:30 CST (07:30Z) is still ahead
    assert instant(text, SECOND_PASS, CAL.tz) == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)
    assert resolve(Spec(until=text), SECOND_PASS, CAL) == (
        State.Cooldown,
        datetime(2026, 11, 1, 7, 30, tzinfo=UTC),
    )


def test_a_time_of_the_repeated_hour_once_both_are_over_is_tomorrows_or_in_the_past() -> None:
    later = datetime(2026, 11, 1, 7, 40, tzinfo=UTC)  # 01:40 CST
    assert instant("01:30", later, CAL.tz) == datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
    with pytest.raises(FsmRiskError, match="in the past"):
        resolve(Spec(until="2026-11-01 01:30"), later, CAL)


@pytest.mark.parametrize("text", ["02:30", "2027-03-14 02:30"])
def test_a_time_in_the_skipped_hour_is_the_instant_as_far_past_the_skip(text: str) -> None:
    midnight = datetime(2027, 3, 14, 6, 0, tzinfo=UTC)  # 00:00 CST
    until = instant(text, midnight, CAL.tz)
    assert until == datetime(2027, 3, 14, 8, 30, tzinfo=UTC)
    assert f"{until.astimezone(ZoneInfo(CAL.tz)):%Y-%m-%d %H:%M %Z}" == "2027-03-14 03:30 CDT"
