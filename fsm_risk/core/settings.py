"""What the engine is tuned with: the calendar, valuation, timeouts and override defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.sessions import MarketHours, SessionCalendar
from fsm_risk.core.states import State

#: the first wait before re-sending a refused close (doubling with each refusal)
REFUSAL_RETRY = timedelta(seconds=1)
#: the most doublings a back-off takes (past every cap: more would overflow a timedelta, a
#: close turned away once a second for 44 s raised at every step and failed the account closed)
MAX_DOUBLINGS = 20


@dataclass(frozen=True)
class EngineSettings:
    calendar: SessionCalendar
    mark_mode: MarkMode = MarkMode.LAST
    stale_after: timedelta = timedelta(seconds=30)
    close_timeout: timedelta = timedelta(seconds=10)  # re-send a close not confirmed by then
    close_backoff_max: timedelta = timedelta(seconds=60)
    alert_after_attempts: int = 3  # alert when this many closes have not flattened
    cancel_timeout: timedelta = timedelta(seconds=10)
    admin_cooldown: timedelta = timedelta(minutes=30)  # a forced Cooldown's default length
    #: how long a position update may wait for the fills that explain it
    settle_timeout: timedelta = timedelta(seconds=10)
    failsafe_lock: State = State.LockedDaily
    #: how much deeper a waived loss rule re-arms, past its value at the waiver: this share of
    #: the rule's own limit, or ``rearm_amount`` dollars when that is set
    rearm_share: Decimal = Decimal(1)
    rearm_amount: Decimal | None = None
    #: symbol roots an admin may name besides the built-in instruments (from the settings)
    known_roots: frozenset[str] = frozenset()
    #: the time zone messages show times in (None: the session's)
    display_tz: str | None = None
    #: when the exchange is closed: a close it refuses then goes again at the reopen (None:
    #: the market is never taken to be closed, every refusal backs off)
    market: MarketHours | None = field(default_factory=MarketHours)

    def backoff(self, attempts: int) -> timedelta:
        """How long to wait before re-sending after ``attempts`` tries (doubling, capped)."""
        base = self.close_timeout
        return min(base * (1 << min(max(attempts - 1, 0), MAX_DOUBLINGS)), self.close_backoff_max)

    def after_refusal(self, attempts: int) -> timedelta:
        """How long to wait before re-sending a close the gateway refused (or cancelled) after
        ``attempts`` tries: a second, doubling, capped. A refused close did nothing, so no
        second one can reverse the position; waiting a close timeout before trying again left
        a breached scope open for 10, then 30, then 70 s."""
        doublings = min(max(attempts - 1, 0), MAX_DOUBLINGS)
        return min(REFUSAL_RETRY * (1 << doublings), self.close_backoff_max)

    def reopen(self, now: datetime) -> datetime | None:
        """When the market opens again, if it is closed at ``now`` (None: open)."""
        return self.market.reopen(now) if self.market is not None else None

    def when(self, at: datetime) -> str:
        """An instant as the trader reads it (the display time zone, date included)."""
        zone = ZoneInfo(self.display_tz or self.calendar.tz)
        return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")
