"""A real machine: the trader's PC is set to Europe/London (or a server to UTC) while the
firm's zone is America/Chicago.

Found by a hunt of daylight saving: `serve`'s console stamped each line with the machine's
local wall time and no zone (`2026-12-08 00:39:33.118`), beside messages whose times are in
the display zone ("flat by 15:08 CST"); on the night the clocks go back the hour 01:00-02:00
was printed twice with nothing to tell the two apart, so an incident review could not order a
close and a fill in that hour.

What must hold: a console line's time carries its UTC offset, and it is the right one for the
machine's zone at that instant.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

SCRIPT = """
from loguru import logger
from fsm_risk import logs
logs.setup(None, console=True)
logger.info("the daily reset")
logs.drain()
"""


def test_a_console_log_line_carries_its_utc_offset() -> None:
    env = {**os.environ, "TZ": "Europe/London", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    line = next(ln for ln in done.stderr.splitlines() if "the daily reset" in ln)
    written = line.split(" INFO")[0]
    assert re.fullmatch(r"\S+ \S+ [+-]\d{2}:\d{2}", written), f"{written!r} names no offset"
    stamp = datetime.strptime(written, "%Y-%m-%d %H:%M:%S.%f %z")
    offset = stamp.utcoffset()
    assert offset == ZoneInfo("Europe/London").utcoffset(stamp.replace(tzinfo=None)), line
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=5), line
