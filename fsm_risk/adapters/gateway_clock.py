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
second, less the answer's way here: a slow answer makes the gateway look behind, never
ahead), and the largest of the last few is the estimate (the answer that came quickest). An
answer a cache kept (it says its ``Age``) tells an old clock and is not taken. Once the
estimate is beyond `TOLERANCE` (both ways), a warning says by how much the clocks differ, so
that someone synchronises them. A record is refused as "in the future" only when it is ahead of
the gateway's time too, from the first answer heard (a gateway ahead is allowed its lead; one
behind never tightens the bound; `latest`). Once the estimate is beyond the tolerance:

- a quote's stamp is moved onto this machine's time for its freshness only while the quotes
  agree: the freshest of the recent ones (the least time between its stamp and its arrival)
  must lag by about the same difference. An API host whose clock is off, unlike the market
  feed's, so never makes a stale quote fresh. A quote with no stamp is this machine's time.

Resets, locks and the trading hours keep to this machine's clock and to the gateway's stamps
as before. But a service must not start on a clock the gateway contradicts by more than
`AHEAD_LIMIT`: its restore would end every lock whose deadline that clock has passed, open a
new trading day (its P&L at zero) and apply a loosening held for the reset, and write it all,
for good, to the database. Moving the clock forward a day and restarting ended an admin's lock
and wiped the day's loss. `ahead` is what the start checks, from the first answer heard (the
login's): see `Service._start`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

#: a difference of the clocks this large (seconds, either way) is judged by; below it, the
#: ``Date``'s second and the answer's way here could make it up
TOLERANCE = 2.0
#: the answers the estimate is taken from, and how many it needs first
SAMPLES, AT_LEAST = 5, 3
#: the quotes whose lag (arrival minus stamp) confirm the estimate, and how far they may differ
LAGS, AGREE = 50, 1.5
#: the estimate moves the difference in force only by this much (seconds) or more
STEP = 1.0
#: this machine's clock ahead of the gateway's by more than this (seconds) refuses a start: far
#: above what a clock without time synchronisation drifts (tens of seconds; the quotes' and
#: records' handling above covers it) and the stamps' own allowance (`MARK_SKEW`, 60 s), while
#: a lock could end at most this early
AHEAD_LIMIT = 60.0


class GatewayClock:
    """The gateway's clock minus this machine's (``skew``: None while within `TOLERANCE`)."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self._samples: deque[float] = deque(maxlen=SAMPLES)
        self._lags: deque[float] = deque(maxlen=LAGS)
        self.estimate: float | None = None  # seconds, gateway minus local
        self.skew: timedelta | None = None
        self._lead: timedelta | None = None  # the largest sample, when ahead (`latest`)

    def heard(self, date: str | None, age: str | None = None) -> str | None:
        """One answer's ``Date`` (and ``Age``: a cache's copy, not taken); returns what to say
        when the difference in force changed (None: nothing changed)."""
        if not date or age is not None:
            return None
        try:
            told = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            return None
        if told.tzinfo is None:
            return None
        self._samples.append((told - self.now()).total_seconds() + 0.5)
        lead = max(self._samples)
        self._lead = timedelta(seconds=lead) if lead > 0 else None
        if len(self._samples) < AT_LEAST:
            return None
        self.estimate = max(self._samples)  # the quickest answer's
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

    def ahead(self) -> float | None:
        """How far (seconds) this machine's clock is ahead of the gateway's by the answers heard
        so far, one being enough (None: none heard): the quickest answer's, so a slow answer
        never makes this machine look further ahead than it is."""
        return -max(self._samples) if self._samples else None

    def refusal(self) -> str | None:
        """Why a service must not start on this machine's clock (None: it may; also when no
        answer carried a ``Date``: nothing contradicts the clock)."""
        ahead = self.ahead()
        if ahead is None or ahead <= AHEAD_LIMIT:
            return None
        return (
            f"this machine's clock is {ahead:.0f} s ({_span(ahead)}) ahead of the gateway's (the "
            f"Date of its answers; at most {AHEAD_LIMIT:.0f} s is allowed): started on it, the "
            "service would end locks, open a new trading day and apply held settings early; "
            "nothing was changed: synchronise this machine's clock (NTP) and start again"
        )

    def lag(self, arrived: datetime, stamp: datetime) -> None:
        """A stamped quote's lag: when it arrived here, less the gateway's stamp on it."""
        self._lags.append((arrived - stamp).total_seconds())

    @property
    def quotes_agree(self) -> bool:
        """Whether the freshest recent quote lags by about the difference (see the module)."""
        if self.skew is None or not self._lags:
            return False
        return abs(min(self._lags) + self.skew.total_seconds()) <= AGREE

    def local(self, stamp: datetime) -> datetime:
        """A quote's gateway stamp on this machine's time (as it is, unless the quotes agree
        with the difference)."""
        return stamp - self.skew if self.skew is not None and self.quotes_agree else stamp

    def latest(self, local: datetime) -> datetime:
        """The latest this machine's instant may be on the gateway's clock: the bound a
        gateway stamp may not pass (only a gateway ahead moves it). Taken from the answers
        heard so far, one being enough (as `ahead`), not from the difference judged after a
        few (`skew`): the start-up reads come right after the login's answers, and with this
        machine's clock 5 minutes behind they refused the trades of those minutes as stamped
        in the future."""
        return local if self._lead is None else local + self._lead


def _span(seconds: float) -> str:
    """'1 d 0 h 0 min', '5 h 30 min', '2 min': a difference of the clocks, for people."""
    minutes = round(seconds / 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h {mins} min"
    return f"{hours} h {mins} min" if hours else f"{mins} min"
