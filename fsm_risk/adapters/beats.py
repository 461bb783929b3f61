"""Seeing that the process was frozen (a machine's sleep, a paused VM, SIGSTOP) once it runs.

A beat is taken every `BEAT` seconds while the event loop runs. At any instant, the time since
the last beat far beyond that (`GAP`) says the loop did not run meanwhile. That alone is no
freeze: a loop stalled by a slow synchronous commit (a disk's fsync), a blocking call or a
loaded machine did not run either, yet the process ran, its sockets kept what the world said,
and nothing was missed (taken for a freeze, every account was read again and the deadline rules
were held for the reads). A freeze stops every thread of the process, so a small thread of its
own beats too (a pulse every `BEAT` seconds), and a gap of the loop is a freeze only when the
thread's pulses show a gap as long within it (the wake is then handed over, see
`fsm_risk.core.thaw`). A stalled loop lets the thread run: a sleep, a disk's fsync or a socket's
wait release the interpreter's lock, and Python code holding it hands it over every few
milliseconds. A thread kept off the processor as long (a machine overloaded for seconds, a C
call holding that lock) counts as a freeze: the reads after it cost requests, never safety.

The gaps are measured on a clock that counts a suspended machine's sleep and that a step of the
wall clock (NTP, an admin's ``date``) never moves (`elapsed`): a wall clock set an hour ahead is
no freeze. The instant handed to the engine is the service's own clock at the last beat.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

#: the beat's period (seconds), the loop's and the thread's
BEAT = 0.5
#: a gap this long between beats (seconds), of the loop and of the thread, is a freeze
GAP = 3.0


def elapsed() -> float:
    """Seconds on a clock that goes on while the machine is suspended and is never stepped:
    Linux's boot time; elsewhere the monotonic clock (macOS's counts sleep, as Windows' does)."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    if hasattr(time, "clock_gettime") and hasattr(time, "CLOCK_MONOTONIC"):
        return time.clock_gettime(time.CLOCK_MONOTONIC)
    return time.monotonic()


class Beats:
    def __init__(self, now: Callable[[], datetime], clock: Callable[[], float] = elapsed) -> None:
        self._now = now
        self._clock = clock
        self._last: tuple[float, datetime] | None = None
        self.frozen: datetime | None = None  # a freeze seen, not yet handed over (its start)
        self.freezes = 0
        self.stalls = 0  # gaps of the loop alone (the thread ran): no freeze
        self.stalled: float | None = None  # the last such gap (seconds), not yet told
        self._lock = threading.Lock()
        self._pulse = clock()  # the thread's last pulse
        self._still = 0.0  # the thread's longest gap between pulses since the loop's last beat
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    def start(self) -> None:
        """Start the thread's pulses (with no thread, every gap of the loop is a freeze)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._done.clear()
        self.pulse()
        self._thread = threading.Thread(target=self._run, name="fsm-risk beats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * BEAT)
            self._thread = None

    def _run(self) -> None:
        while not self._done.wait(BEAT):
            self.pulse()

    def pulse(self) -> None:
        """The thread's beat."""
        at = self._clock()
        with self._lock:
            self._still = max(self._still, at - self._pulse)
            self._pulse = max(self._pulse, at)

    def beat(self) -> datetime | None:
        """Take a beat; the start of the freeze it ends (not yet taken), if it ends one."""
        at, now = self._clock(), self._now()
        with self._lock:
            still = max(self._still, at - self._pulse)  # (the wake's pulse may come after this)
            self._still = 0.0
            # the thread's next gap counts from here: its first pulse after a wake this beat
            # already took is no gap within the loop's next one (a stall just after a wake)
            self._pulse = max(self._pulse, at)
        last, self._last = self._last, (at, now)
        if last is not None and at - last[0] > GAP:
            if still > GAP:
                self.freezes += 1
                self.frozen = last[1] if self.frozen is None else self.frozen
            else:
                self.stalls += 1
                self.stalled = at - last[0]
        return self.frozen

    def take(self) -> datetime | None:
        """The start of a freeze seen since the last call (beating first), then forgotten."""
        since = self.beat()
        self.frozen = None
        return since
