"""RULE-010 rapid_fire: too many entries within a rolling window.

``windows`` lists several windows at once, shortest first, each with the most entries it
allows: ``60: 3, 3600: 12, session: 30`` fires on a 4th entry within 60 seconds, a 13th within
an hour or a 31st within the trading day. The window that breaches decides the cooldown: as
long as the window itself (``session``: until the next daily reset); when several breach on
one entry, the one whose cooldown ends last wins (near the reset, an hour's window outlasts
the session's). An *entry* is counted as RULE-007 counts it (an order of the
trader's that opened or added to a position; its partial fills once; never the service's own
orders), at the time of its first fill.

Windows are real elapsed seconds (daylight-saving changes do not stretch them) and read the
trading day's journal, so a rolling window does not reach back past the daily reset (CME
futures are closed in the hour before it). The rule fires on an entry, not on a level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, Fill
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import (
    AccountView,
    Action,
    Outcome,
    Rule,
    RuleContext,
    Usage,
    Verdict,
    used,
)
from fsm_risk.rules.max_trades_per_day import EntryCache
from fsm_risk.rules.trade_cooldown import journaled
from fsm_risk.schema import Field

#: named windows; ``session`` (None) is the whole trading day
NAMED: dict[str, int | None] = {"minute": 60, "hour": 3600, "session": None}
MAX_SECONDS = 24 * 3600


def window(text: str) -> int | None:
    """A window: a number of seconds, or minute, hour, session."""
    low = text.lower()
    if low in NAMED:
        return NAMED[low]
    try:
        seconds = int(low)
    except ValueError:
        raise ValueError(
            f"a window is a number of seconds or minute, hour, session; got '{text}'"
        ) from None
    if not 1 <= seconds <= MAX_SECONDS:
        raise ValueError(f"a window must be 1 to {MAX_SECONDS} seconds, got '{text}'")
    return seconds


def label(seconds: int | None) -> str:
    return "session" if seconds is None else f"{seconds}s"


@dataclass(frozen=True)
class Window:
    seconds: int | None  # None: the trading day
    limit: int

    @property
    def span(self) -> float:
        return float("inf") if self.seconds is None else self.seconds

    @property
    def length(self) -> timedelta | None:
        return None if self.seconds is None else timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class Config:
    windows: tuple[Window, ...]  # shortest first


def ordered_windows(windows: dict[int | None, int]) -> tuple[Window, ...]:
    """At least one window, shortest first, a longer window allowing more entries (otherwise
    the shorter one could never fire first)."""
    if not windows:
        raise ValueError("windows: list at least one 'seconds: entries' window, e.g. '60: 3'")
    out = tuple(Window(s, n) for s, n in windows.items())
    for a, b in pairwise(out):
        if b.span <= a.span:
            raise ValueError(
                f"windows: list the shortest window first ({label(b.seconds)} comes after "
                f"{label(a.seconds)})"
            )
        if b.limit <= a.limit:
            raise ValueError(
                f"windows: a longer window must allow more entries ({label(b.seconds)}: "
                f"{b.limit} is not more than {label(a.seconds)}: {a.limit})"
            )
    return out


class RapidFire(Rule):
    id = "RULE-010"
    name = "rapid_fire"
    fires_when = (
        "more than N entries within a rolling window (several windows at once; this "
        "trading day's entries only)"
    )
    default_action = "flatten + cancel, Cooldown for the breached window's length"
    tighter = {"windows": strict.each_lower_or_added}
    fields = (
        Field(
            "windows",
            schema.mapping(window, schema.integer(minimum=1)),
            "60: 3, 3600: 8",
            "window (seconds, or minute/hour/session): most entries in it, shortest first; "
            "a breach cools down for that window's length; a window counts this trading "
            "day's entries only (it does not reach back past the daily reset)",
        ),
    )
    reacts_to = frozenset({Fill})
    level_triggered = False

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(ordered_windows(values["windows"]))

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        return Outcome(Action.FLATTEN, State.Cooldown, ends="timer (the window's length)")

    config: Config

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self._entries = EntryCache()
        # (window, its length) longest first (the breached window whose cooldown ends last
        # decides, see `evaluate`)
        self._longest_first = tuple((w, w.length) for w in reversed(config.windows))

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        rec = journaled(view, event)
        if rec is None or rec.entry <= 0 or rec.enforcement:
            return ()
        entries = self._entries.of(view)
        if not entries.is_first_fill(rec.order_id):
            return ()  # a later fill of an entry already counted
        # the breached window whose cooldown ends last decides (the session window's ends at
        # the daily reset, which may come before a shorter window's length has passed)
        found: tuple[datetime, str] | None = None
        for w, length in self._longest_first:
            n = entries.within(rec.at, length)
            if n > w.limit:
                until = self.ctx.next_reset(view, now) if length is None else now + length
                if found is None or until > found[0]:
                    found = (until, f"{n} entries within {label(w.seconds)} > {w.limit}")
        if found is None:
            return ()
        return (
            Verdict(
                self.id,
                Reason.RAPID_FIRE,
                Action.FLATTEN,
                lock=State.Cooldown,
                until=found[0],
                detail=found[1],
            ),
        )

    def usage(self, view: AccountView, now: datetime) -> Usage:
        """The window closest to its limit, for the window that ends now."""
        entries = self._entries.of(view)
        best: Usage | None = None
        for w in self.config.windows:
            n = entries.within(now, w.length)
            u = Usage(Decimal(n), Decimal(w.limit), "entries", used(n, w.limit), label(w.seconds))
            if best is None or u.fraction > best.fraction:
                best = u
        assert best is not None  # configure guarantees a window
        return best
