"""A start-up compares the settings file with the rules in force stored in the database: a
looser value waits for the next daily reset.

Found by a review of fe49f1d: it (and 4659702 before it) refuses zones earlier versions
accepted and stored (`posix/America/Chicago`, `right/America/Chicago`, `localtime`, `EST`,
`Etc/GMT+5`). A service that ran with `[rule.trading_hours] timezone = posix/America/Chicago`
and a $500 daily loss limit keeps both in its record. After the upgrade it refuses to start
until the zone is fixed; the admin (or the trader at the keyboard) fixes the zone and, in the
same edit, raises the limit to $5,000. At the restart the stored record no longer parsed and
was skipped as if there were none, so the $5,000 applied mid-day instead of at the next
reset: a trader down $480 of $500 could lose $4,520 more that day.

What must hold: a stored record this version refuses a value of never loosens anything: each
refused value is read as what it meant (or as the file's), every other key stays in force and
the file's looser values are held for the reset, and the reading is said in a warning.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from loguru import logger

from fsm_risk import reload
from fsm_risk.config import load

# Tue 2027-01-12 10:00 Chicago, mid-session
NOW = datetime(2027, 1, 12, 16, 0, tzinfo=UTC)
HOURS = {"enabled": "true", "windows": "Sun-Thu 17:00-16:00", "exchange_calendar": "none"}
FILE_HOURS = "windows = Sun-Thu 17:00-16:00\nexchange_calendar = none\n"


class Meta:
    """The store's meta rows, as a dict (one service, no account groups)."""

    shared = False

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}

    def meta(self, key: str) -> str | None:
        return self.rows.get(key)

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.rows.pop(key, None)
        else:
            self.rows[key] = value


def stored_with(hours: dict[str, str], limit: str = "500") -> Meta:
    store = Meta()
    stored = {
        "daily_loss_limit": {"enabled": "true", "limit": limit},
        "trading_hours": HOURS | hours,
    }
    store.set_meta(reload.IN_FORCE, json.dumps(stored, sort_keys=True))
    return store


def file_with(tmp_path: Path, zone: str, limit: str = "5000") -> Path:
    path = tmp_path / "settings.ini"
    path.write_text(
        f"[rule.daily_loss_limit]\nlimit = {limit}\n"
        f"[rule.trading_hours]\ntimezone = {zone}\n{FILE_HOURS}",
        encoding="utf-8",
    )
    return path


REFUSED = [
    ("posix/America/Chicago", "America/Chicago"),
    ("right/America/Chicago", "America/Chicago"),
    ("localtime", "America/Chicago"),
    ("EST", "America/Panama"),  # EST's own clock, UTC-5 all year (what the old service kept)
    ("posix/EST", "America/Panama"),
    ("Etc/GMT+5", "America/New_York"),
    ("Factory", "America/Chicago"),
]


@pytest.mark.parametrize(("stored_zone", "fixed_zone"), REFUSED)
def test_the_looser_loss_limit_waits_for_the_reset(
    tmp_path: Path, stored_zone: str, fixed_zone: str
) -> None:
    store = stored_with({"timezone": stored_zone})
    file = load(file_with(tmp_path, fixed_zone))
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING")
    try:
        effective, held, _ = reload.resolve(file, store, NOW)
    finally:
        logger.remove(sink)
    assert effective.raw_rules["daily_loss_limit"]["limit"] == "500"
    assert held is not None
    assert held.rules["daily_loss_limit"]["limit"] == "5000"
    assert held.held == ("[rule.daily_loss_limit] limit: 500 -> 5000",)
    assert effective.raw_rules["trading_hours"]["timezone"] == fixed_zone
    [said] = lines
    assert f"[rule.trading_hours] timezone = '{stored_zone}' as stored is refused now" in said


def test_a_stricter_limit_in_the_same_edit_applies_at_once(tmp_path: Path) -> None:
    store = stored_with({"timezone": "posix/America/Chicago"})
    file = load(file_with(tmp_path, "America/Chicago", limit="300"))
    effective, held, _ = reload.resolve(file, store, NOW)
    assert effective.raw_rules["daily_loss_limit"]["limit"] == "300"
    assert held is None


def test_a_zone_moved_in_the_same_edit_waits_for_the_reset(tmp_path: Path) -> None:
    """The stored folder copy is read as the zone it named, so moving the windows to another
    zone in the same edit is still a change, held for the reset like any other."""
    store = stored_with({"timezone": "right/America/Chicago"})
    file = load(file_with(tmp_path, "Europe/London", limit="500"))
    effective, held, _ = reload.resolve(file, store, NOW)
    assert effective.raw_rules["trading_hours"]["timezone"] == "America/Chicago"
    assert held is not None
    assert held.held == ("[rule.trading_hours] timezone: America/Chicago -> Europe/London",)


def test_a_key_or_rule_no_longer_known_keeps_the_rest_in_force(tmp_path: Path) -> None:
    """A key or a rule section that this version does not know is the other thing a
    stricter parser refuses in a stored record: dropped alone, the rest holds."""
    store = Meta()
    stored = {
        "daily_loss_limit": {"enabled": "true", "limit": "500", "retired_key": "1"},
        "retired_rule": {"enabled": "true"},
        "trading_hours": HOURS | {"timezone": "America/Chicago"},
    }
    store.set_meta(reload.IN_FORCE, json.dumps(stored, sort_keys=True))
    file = load(file_with(tmp_path, "America/Chicago"))
    effective, held, _ = reload.resolve(file, store, NOW)
    assert effective.raw_rules["daily_loss_limit"]["limit"] == "500"
    assert "retired_rule" not in effective.raw_rules
    assert held is not None and held.rules["daily_loss_limit"]["limit"] == "5000"
