"""The exchange calendars' holidays and early closes, kept on disk between runs.

Loading pandas_market_calendars (and pandas beneath it) and computing two decades of a
calendar takes about a third of a second, on every start of every command that reads the
settings. What it computed is kept in the user's cache folder (``$XDG_CACHE_HOME/fsm-risk``,
else ``~/.cache/fsm-risk``, one file per installation), stamped with the libraries it came
from: a file written by other versions of them (or unreadable, or malformed) is ignored and
the library computes again. The file is only an optimisation: failing to read or write it
changes nothing but the time a start takes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from datetime import date, datetime, time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from fsm_risk.rules import exchange_hours as hours

#: the libraries the special days are computed with: their files stamp the cache
LIBRARIES = ("pandas_market_calendars", "exchange_calendars", "pandas")
FILE_PREFIX = "exchange-days-"


def cache_path() -> Path | None:
    """One file per set of libraries (installations side by side do not overwrite each
    other's); None when there is no home folder to keep it in."""
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except RuntimeError:
        return None
    tag = hashlib.sha256(stamp().encode()).hexdigest()[:12]
    return Path(base) / "fsm-risk" / f"{FILE_PREFIX}{tag}.json"


def stamp() -> str:
    """Which libraries would compute the days: each one's file, size and time (an upgrade
    rewrites them). Cheap: the libraries are found, not imported."""
    parts = []
    for name in LIBRARIES:
        spec = find_spec(name)
        if spec is None or spec.origin is None:
            parts.append(f"{name}:-")
            continue
        st = os.stat(spec.origin)
        parts.append(f"{name}:{spec.origin}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def load(path: Path | None = None) -> int:
    """Give the exchange-hours rule the calendars kept at ``path``; returns how many."""
    path = path or cache_path()
    if path is None:
        return 0
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("stamp") != stamp():
            return 0
        zones = data["zones"]  # (a file without them: computed again, once)
        found = [_days(name, kept, zones[name]) for name, kept in data["calendars"].items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0
    for days in found:
        hours.provide(days)
    return len(found)


def save(path: Path | None = None) -> None:
    """Keep the calendars the library computed in this run (nothing to do if none)."""
    computed = [d for d in hours.in_use() if d.computed]
    if not computed:
        return
    path = path or cache_path()
    if path is None:
        return
    data = {
        "stamp": stamp(),
        "calendars": {d.name: _plain(d.years()) for d in hours.in_use()},
        "zones": {d.name: _zone(d) for d in hours.in_use()},
    }
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        tmp.replace(path)  # whole or not at all, for a start running beside
    for d in computed:
        d.computed = False


def _plain(years: dict[int, hours.YearDays]) -> dict[str, Any]:
    return {
        str(y): {
            "holidays": sorted(d.isoformat() for d in yd.holidays),
            "early_closes": {d.isoformat(): t.isoformat() for d, t in yd.early_closes.items()},
        }
        for y, yd in years.items()
    }


def _zone(days: hours.ExchangeDays) -> list[str | None]:
    """The zone a calendar dates its sessions in, and its daily roll (None: none)."""
    return [days.tz, None if days.roll is None else days.roll.isoformat()]


def _days(
    name: str, kept: dict[str, Any], zone: list[str | None] | None = None
) -> hours.ExchangeDays:
    years = {
        int(y): hours.YearDays(
            frozenset(date.fromisoformat(d) for d in v["holidays"]),
            {
                date.fromisoformat(d): datetime.fromisoformat(t)
                for d, t in v["early_closes"].items()
            },
        )
        for y, v in kept.items()
    }
    if zone is None:
        return hours.ExchangeDays(name, years)
    tz, roll = zone
    return hours.ExchangeDays(
        name, years, str(tz), None if roll is None else time.fromisoformat(roll)
    )
