"""What the trader types for `fsm-risk lock`: durations, times of day, dates, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
