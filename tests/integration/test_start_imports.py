"""What a start loads: nothing `serve` does not need before it serves; the exchange calendars'
special days come from the copy kept by the last run (the calendar library and pandas are not
imported), and that copy is exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fsm_risk.adapters import calendars
from fsm_risk.rules import exchange_hours as hours

ROOT = Path(__file__).resolve().parents[2]
NAME = "CME Globex Equity"

#: what `serve` does not need before it serves (the calendar library, pandas beneath it, the
#: PostgreSQL dialect on SQLite, the notifications library until a notice is sent)
DEFERRED = ("pandas_market_calendars", "pandas", "sqlalchemy.dialects.postgresql", "apprise")
#: loads what `serve` loads before it serves, and the shipped settings as every command does;
#: says which of DEFERRED it imported
LOAD = (
    "import sys; from fsm_risk import bootstrap, cli, runtime, components, metrics, web; "
    "settings = bootstrap.load_settings(sys.argv[1]); bootstrap.open_store(settings).close(); "
    f"print(' '.join(m for m in {DEFERRED!r} if m in sys.modules))"
)


def _load(cache: Path) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", LOAD, str(cache / "settings.ini")],
        env=env, cwd=cache, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return out.stdout.strip()


def test_a_start_uses_the_special_days_the_last_one_kept(tmp_path: Path) -> None:
    (tmp_path / "settings.ini").write_text((ROOT / "settings.ini").read_text())
    assert _load(tmp_path) == "pandas_market_calendars pandas"  # the first computes them
    kept = [p.name for p in (tmp_path / "fsm-risk").iterdir()]
    assert len(kept) == 1 and kept[0].startswith(calendars.FILE_PREFIX)
    assert _load(tmp_path) == ""  # the next only reads them


def test_the_kept_special_days_are_those_the_library_computes(tmp_path: Path) -> None:
    computed = hours.ExchangeDays(NAME)
    path = tmp_path / "days.json"
    data = {"stamp": calendars.stamp(), "calendars": {NAME: calendars._plain(computed.years())}}
    path.write_text(json.dumps(data))
    kept = calendars._days(NAME, json.loads(path.read_text())["calendars"][NAME])
    assert kept.years() == computed.years() and not kept.computed
    assert kept.year(2026).early_closes  # e.g. the day after Thanksgiving
    assert kept.year(2045) == computed.year(2045)  # a year not kept: computed on first use


def test_special_days_kept_by_other_library_versions_or_unreadable_are_ignored(
    tmp_path: Path,
) -> None:
    path = tmp_path / "days.json"
    path.write_text(json.dumps({"stamp": "pandas_market_calendars:old", "calendars": {NAME: {}}}))
    assert calendars.load(path) == 0
    path.write_text("{not json")
    assert calendars.load(path) == 0
    assert calendars.load(tmp_path / "missing.json") == 0
    path.write_text(json.dumps({"stamp": calendars.stamp(), "calendars": {NAME: {"x": 1}}}))
    assert calendars.load(path) == 0  # malformed: the library computes them again
