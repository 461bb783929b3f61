"""A real admin's typing: `timezone = EST` (or MST, HST) reads as "Eastern time" to a person,
but the IANA zone of that name is a fixed UTC-5 with no daylight saving.

Found by a hunt of daylight saving: the settings accepted it silently (while `CST` is refused
as unknown). With `[session] timezone = EST` and `daily_reset = 18:00` (the firm's 17:00
Chicago written in Eastern time) every reset from March to November fell at 18:00 CDT: the
first hour of each CME session was booked to the day that ended and a LockedDaily ended an hour
late; a RULE-006 flat-by of 15:08 EST is 16:08 CDT in summer, after the exchange's close.
`Etc/GMT+5` is the same trap with its sign inverted (it is UTC-5).

What must hold: such a zone is refused at load, naming the key and the regional zone to use;
the regional zones, their DST-following POSIX names and UTC stay accepted.
"""

from __future__ import annotations

import pytest

from fsm_risk import config
from fsm_risk.errors import SettingsError


def problems(text: str) -> list[str]:
    try:
        config.parse(text, "s.ini")
    except SettingsError as err:
        return [str(p) for p in err.problems]
    return []


@pytest.mark.parametrize(
    ("zone", "regional"),
    [("EST", "America/New_York"), ("MST", "America/Denver"), ("HST", "Pacific/Honolulu")],
)
def test_session_timezone_abbreviation_without_daylight_saving_is_refused(
    zone: str, regional: str
) -> None:
    found = problems(f"[session]\ntimezone = {zone}\ndaily_reset = 18:00\n")
    assert any("[session] timezone" in p and regional in p for p in found), found


@pytest.mark.parametrize("zone", ["Etc/GMT+5", "Etc/GMT-1"])
def test_a_sign_inverted_fixed_offset_zone_is_refused(zone: str) -> None:
    found = problems(f"[session]\ntimezone = {zone}\n")
    assert any("[session] timezone" in p and "daylight saving" in p for p in found), found


def test_trading_hours_timezone_abbreviation_without_daylight_saving_is_refused() -> None:
    found = problems(
        "[rule.trading_hours]\ntimezone = EST\nwindows = Sun-Thu 18:00-17:00\nflat_by = 16:08\n"
    )
    assert any("[rule.trading_hours] timezone" in p for p in found), found


def test_display_timezone_abbreviation_without_daylight_saving_is_refused() -> None:
    found = problems("[general]\ndisplay_timezone = EST\n")
    assert any("[general] display_timezone" in p and "America/New_York" in p for p in found)


@pytest.mark.parametrize("zone", ["America/New_York", "EST5EDT", "UTC", "Etc/UTC", "GMT"])
def test_regional_zones_and_utc_are_still_accepted(zone: str) -> None:
    assert problems(f"[session]\ntimezone = {zone}\n[general]\ndisplay_timezone = {zone}\n") == []
