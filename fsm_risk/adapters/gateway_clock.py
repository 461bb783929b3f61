"""The gateway's clock against this machine's, from the ``Date`` of its HTTP answers.

Quotes are stamped by the gateway, and a mark older than ``stale_after_seconds`` (30 s) counts
for no loss limit: its price may be wrong. With this machine's clock 30 s ahead of the
gateway's (a PC or VPS with no time synchronisation drifts that far), every quote was older
than that the moment it arrived: no loss limit saw an open position's loss (2 NQ down $2,410
against a $1,000 limit stayed open, the account Trading, `status` and `/readyz` healthy), and
nothing said why. With the gateway's clock over a minute ahead, its records were refused as
stamped in the future, and the positions they told of were never seen.

Every answer of the gateway's REST API carries its clock in ``Date`` (to the second). The
difference to this machine's clock is taken from each (the second's middle: within half a
second plus the answer's way here), and the median of the last few is the estimate. Once it
is beyond `TOLERANCE` (both ways), the broker judges the gateway's stamps on its clock: a
quote's stamp is moved onto this machine's time for its freshness, and a record is refused as
"in the future" only when it is ahead of the gateway's own time; and a warning says by how
much the clocks differ, so that someone synchronises them. Resets, locks and the trading
hours keep to this machine's clock and to the gateway's stamps as before.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

#: a difference of the clocks this large (seconds, either way) is judged by; below it, the
#: ``Date``'s second and the answer's way here could make it up
TOLERANCE = 2.0
#: the answers the estimate is the median of, and how many it needs first
SAMPLES, AT_LEAST = 5, 3
#: the estimate moves the difference in force only by this much (seconds) or more
STEP = 1.0


class GatewayClock:
    """The gateway's clock minus this machine's (``skew``: None while within `TOLERANCE`)."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self._samples: deque[float] = deque(maxlen=SAMPLES)
        self.estimate: float | None = None  # seconds, gateway minus local
        self.skew: timedelta | None = None

    def heard(self, date: str | None) -> str | None:
        """One answer's ``Date``; returns what to say when the difference in force changed
        (None: nothing changed)."""
        if not date:
            return None
        try:
            told = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            return None
        if told.tzinfo is None:
            return None
        self._samples.append((told - self.now()).total_seconds() + 0.5)
        if len(self._samples) < AT_LEAST:
            return None
        self.estimate = statistics.median(self._samples)
        was = self.skew.total_seconds() if self.skew is not None else 0.0
        if abs(self.estimate) < TOLERANCE:
            if self.skew is None:
                return None
            self.skew = None
            return "this machine's clock agrees with the gateway's again"
        if self.skew is not None and abs(self.estimate - was) < STEP:
            return None
        self.skew = timedelta(seconds=round(self.estimate, 1))
        ahead = "behind" if self.estimate > 0 else "ahead of"
        return (
            f"this machine's clock is {abs(self.estimate):.1f} s {ahead} the gateway's (the "
            "Date of its answers): quotes are judged on the gateway's time; synchronise this "
            "machine's clock (NTP): the resets, locks and trading hours follow it"
        )

    def local(self, stamp: datetime) -> datetime:
        """A gateway stamp on this machine's time."""
        return stamp if self.skew is None else stamp - self.skew

    def gateway(self, local: datetime) -> datetime:
        """This machine's instant on the gateway's clock."""
        return local if self.skew is None else local + self.skew
