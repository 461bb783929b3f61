"""A time zone that never follows daylight saving (EST is UTC-5 all year) is refused at load,
naming the regional zone, under whatever folder it is named.

Found by a review of 4659702: the refusal matched the bare names only (`EST`, `MST`, `HST`,
`Etc/GMT+5`, `GMT-1`). The same zones are installed again in the `posix` and `right` folders of
the system's zones (`/usr/share/zoneinfo/posix/EST`, a folder a person lists to find a name).
Python finds them there, so `timezone = posix/EST` or `posix/Etc/GMT+5` was still accepted:
every reset and RULE-006 window an hour off from March to November. `right/America/Chicago`
was accepted too: a clock counting leap seconds, whose changes come 27 s early
(-05:00 from 2027-03-14 07:59:33 UTC); and `localtime` (whatever the machine says), `posixrules`
and `Factory`, which are no place's zone.

What must hold: the fixed-offset zones are refused under any folder, naming the regional zone;
the folder copies are refused naming the zone's own name; the names of no place are refused;
the regional zones are still accepted.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

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
    [
        ("posix/EST", "America/New_York"),
        ("right/EST", "America/New_York"),
        ("posix/Etc/GMT+5", "America/New_York"),
        ("right/MST", "America/Denver"),
        ("posix/HST", "Pacific/Honolulu"),
    ],
)
def test_a_fixed_offset_zone_named_by_its_folder_is_refused_naming_the_regional_zone(
    zone: str, regional: str
) -> None:
    ZoneInfo(zone)  # the machine has it: refused by the settings, not for being unknown
    found = problems(f"[session]\ntimezone = {zone}\ndaily_reset = 18:00\n")
    assert [p for p in found if "[session] timezone" in p and regional in p], found
    assert not [p for p in found if "unknown time zone" in p], found


@pytest.mark.parametrize("zone", ["right/America/Chicago", "posix/America/Chicago"])
def test_a_zone_folders_copy_is_refused_naming_the_zones_own_name(zone: str) -> None:
    ZoneInfo(zone)
    found = problems(f"[rule.trading_hours]\ntimezone = {zone}\n")
    assert [p for p in found if "[rule.trading_hours] timezone" in p], found
    assert [p for p in found if "use the zone's own name, America/Chicago" in p], found


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory"])
def test_a_name_that_is_no_places_zone_is_refused(zone: str) -> None:
    ZoneInfo(zone)
    found = problems(f"[general]\ndisplay_timezone = {zone}\n")
    assert [p for p in found if "[general] display_timezone" in p], found
    assert [p for p in found if "not a place's time zone" in p], found


@pytest.mark.parametrize(
    "zone", ["America/Chicago", "Asia/Tokyo", "US/Eastern", "EST5EDT", "UTC", "Etc/GMT0"]
)
def test_the_regional_zones_are_still_accepted(zone: str) -> None:
    assert problems(f"[session]\ntimezone = {zone}\n[general]\ndisplay_timezone = {zone}\n") == []
