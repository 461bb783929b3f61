"""Found by a review of 0bb95eb: a start-up with a stored fixed-offset zone (`EST`, `MST`) fixed in
the file to the regional zone of the same fixed offset (`America/Panama`, `America/Phoenix`)
trades the window both mean, all of it.

Found by a review of 2a6ec60/0bb95eb (`schema.timezone_meant`, a regression of it). `EST` is
UTC-5 all year and `MST` UTC-7 (Arizona's); the refusal reads a stored `EST` as
`America/New_York` and `MST` as `America/Denver`, which keep summer time. The admin who
fixes the file to the zone with the same offset (`America/Panama`, `America/Phoenix`, what
the old service enforced) gets a zone change New York -> Panama, held for the reset, and
until then the window in force is one neither the old service nor the file ever had: in
July `Mon-Fri 09:30-16:00` is 14:30-21:00 UTC under both, but 13:30-20:00 UTC under New
York. At 20:15 UTC a position opened within both windows is flattened at market and the
account locked until the next window (the session's last 45 min lost, a false lock).
Before 0bb95eb the record was dropped and the file's window held.

What must hold: at 20:15 UTC (22:15 for MST) in July the window in force after the restart
is open.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fsm_risk import reload
from fsm_risk.config import load
from fsm_risk.rules import exchange_hours as hours


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


WINDOWS = "Mon-Fri 09:30-16:00"
CASES = [
    ("EST", "America/Panama", datetime(2027, 7, 13, 20, 15, tzinfo=UTC)),
    ("MST", "America/Phoenix", datetime(2027, 7, 13, 22, 15, tzinfo=UTC)),
]


@pytest.mark.parametrize(("stored_zone", "file_zone", "open_in_both"), CASES)
def test_the_window_both_mean_stays_open(
    tmp_path: Path, stored_zone: str, file_zone: str, open_in_both: datetime
) -> None:
    stored = {
        "enabled": "true",
        "timezone": stored_zone,
        "windows": WINDOWS,
        "exchange_calendar": "none",
        "flat_by": "none",
    }
    store = Meta()
    store.set_meta(reload.IN_FORCE, json.dumps({"trading_hours": stored}, sort_keys=True))
    path = tmp_path / "settings.ini"
    path.write_text(
        f"[rule.trading_hours]\ntimezone = {file_zone}\nwindows = {WINDOWS}\n"
        "exchange_calendar = none\nflat_by = none\n",
        encoding="utf-8",
    )
    effective, _, _ = reload.resolve(load(path), store, open_in_both)
    rule = effective.rule("trading_hours")
    assert rule is not None and rule.config is not None
    c = rule.config
    schedule = hours.build_schedule(
        c.windows,
        c.timezone,
        c.flat_by,
        c.early_close_lead,
        c.exchange_calendar,
        c.extra_holidays,
        c.early_closes,
    )
    assert schedule.status(open_in_both).allowed
