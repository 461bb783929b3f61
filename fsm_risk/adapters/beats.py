"""Seeing that the process was frozen (a machine's sleep, a paused VM, SIGSTOP) once it runs.

A beat is taken every `BEAT` seconds while the event loop runs. At any instant, the real time
since the last beat far beyond that (`GAP`) says the loop did not run meanwhile: the process
was frozen, and the world went on without it (see `fsm_risk.core.thaw`). Both real clocks are
read: a stopped process's monotonic clock goes on, a suspended machine's may not (its wall
clock jumps). The instant handed to the engine is the service's own clock at the last beat.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

#: the beat's period (seconds)
BEAT = 0.5
#: a gap this long between beats (seconds) is a freeze
GAP = 3.0


class Beats:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._last: tuple[float, float, datetime] | None = None
        self.frozen: datetime | None = None  # a freeze seen, not yet handed over (its start)
        self.freezes = 0

    def beat(self) -> datetime | None:
        """Take a beat; the start of the freeze it ends (not yet taken), if it ends one."""
        mono, wall, now = time.monotonic(), time.time(), self._now()
        last, self._last = self._last, (mono, wall, now)
        if last is not None and max(mono - last[0], wall - last[1]) > GAP:
            self.freezes += 1
            self.frozen = last[2] if self.frozen is None else self.frozen
        return self.frozen

    def take(self) -> datetime | None:
        """The start of a freeze seen since the last call (beating first), then forgotten."""
        since = self.beat()
        self.frozen = None
        return since
