"""The typed settings sections: one frozen dataclass per section of settings.ini.

The loader (`fsm_risk.config`) parses and validates every key once and builds these; the rest
of the program reads attributes (``settings.broker.feed_silence``), never a section or key by
its name. Durations are `timedelta`, money `Decimal`, paths resolved from the settings file's
folder. Each attribute records the settings key it comes from (`key_of`), so the documentation,
``fsm-risk check`` and the tests can map one onto the other.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fsm_risk.anchor import Anchor
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import State


def _from(key: str, convert: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """A field's metadata: it is read from the settings key ``key`` (without: the key of the
    field's own name), converted from its parsed value by ``convert``."""
    return {"key": key, "convert": convert}


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _minutes(value: int) -> timedelta:
    return timedelta(minutes=value)


def key_of(attribute: dataclasses.Field[Any]) -> str:
    """The settings key a typed attribute is read from."""
    return str(attribute.metadata.get("key") or attribute.name)


def build[T](cls: type[T], values: Mapping[str, Any], **given: Any) -> T:
    """A typed section from a section's parsed values (by key); ``given`` sets attributes
    whose value needs more than its own key (paths, defaults taken from other sections)."""
    attributes = dataclasses.fields(cls)  # type: ignore[arg-type]
    stray = set(given) - {f.name for f in attributes}
    if stray:
        raise TypeError(f"{cls.__name__} has no attribute {', '.join(sorted(stray))}")
    kwargs: dict[str, Any] = {}
    for f in attributes:
        if f.name in given:
            kwargs[f.name] = given[f.name]
            continue
        value = values[key_of(f)]
        convert = f.metadata.get("convert")
        kwargs[f.name] = convert(value) if convert else value
    return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class General:
    """[general]: where state and logs live, and which accounts to watch."""

    #: the SQLite file, or a PostgreSQL server's URL as written
    database: Path | str
    log_file: Path
    #: account ids or names to monitor (empty: every active account)
    accounts: tuple[str, ...]
    #: the zone status, history and messages show times in ([session] timezone when unset)
    display_timezone: str
    #: days of fills kept (0: every fill)
    fill_retention_days: int


@dataclass(frozen=True, slots=True)
class Session:
    """[session]: the trading day and week boundaries."""

    timezone: str
    daily_reset: time
    weekly_reset: tuple[int, time]  # (weekday, Monday = 0; local time)

    def calendar(self) -> SessionCalendar:
        weekday, at = self.weekly_reset
        return SessionCalendar(self.timezone, self.daily_reset, weekday, at)


@dataclass(frozen=True, slots=True)
class Market:
    """[market]: how open positions are valued, and when a quote is too old to act on."""

    mark: MarkMode = field(metadata=_from("mark", MarkMode))
    stale_after: timedelta = field(metadata=_from("stale_after_seconds", _seconds))


def _lock(value: str) -> State:
    return State.LockedWeekly if value == "lockedweekly" else State.LockedDaily


@dataclass(frozen=True, slots=True)
class Enforcement:
    """[enforcement]: how closes and cancels are retried, and what a failure locks."""

    close_timeout: timedelta = field(metadata=_from("close_timeout_seconds", _seconds))
    close_backoff_max: timedelta = field(metadata=_from("close_backoff_max_seconds", _seconds))
    alert_after_attempts: int
    cancel_timeout: timedelta = field(metadata=_from("cancel_timeout_seconds", _seconds))
    admin_cooldown: timedelta = field(metadata=_from("admin_cooldown_minutes", _minutes))
    failsafe_lock: State = field(metadata=_from("failsafe_lock", _lock))


@dataclass(frozen=True, slots=True)
class Broker:
    """[broker]: the gateway watched, and the request budget it allows."""

    #: the credentials file (None: the environment, else the paper gateway)
    credentials_file: Path | None
    api_url: str
    user_hub_url: str
    market_hub_url: str
    requests_per_minute: int
    enforcement_reserve: int
    token_refresh: timedelta = field(metadata=_from("token_refresh_seconds", _seconds))
    feed_silence: timedelta = field(metadata=_from("feed_silence_seconds", _seconds))
    #: zero: never
    reconcile_interval: timedelta = field(metadata=_from("reconcile_interval_seconds", _seconds))
    #: zero: unsubscribed as soon as nobody holds the contract
    quote_linger: timedelta = field(metadata=_from("quote_linger_seconds", _seconds))


@dataclass(frozen=True, slots=True)
class Control:
    """[control]: the running service's local control channel."""

    socket: Path
    #: as written: auto, unix or tcp (`resolved_transport` says which auto means here)
    transport: str
    port: int
    token_file: Path

    @property
    def resolved_transport(self) -> str:
        """'unix' or 'tcp': auto is unix where the platform has it (not on Windows)."""
        if self.transport == "auto":
            return "tcp" if sys.platform == "win32" else "unix"
        return self.transport


@dataclass(frozen=True, slots=True)
class NotifyTarget:
    """Apprise URLs and the events they are told about."""

    urls: tuple[str, ...]
    events: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Notify:
    """[notify]: notifications for every account, early warnings, the send rate."""

    urls: tuple[str, ...]
    events: tuple[str, ...]
    warn_at: tuple[int, ...]  # percentages, increasing
    flat_by_warning: timedelta = field(metadata=_from("flat_by_warning_minutes", _minutes))
    per_minute: int
    retries: int


@dataclass(frozen=True, slots=True)
class Web:
    """[web]: the read-only dashboard, /metrics, /healthz and /readyz."""

    enabled: bool
    host: str
    port: int
    token: str


@dataclass(frozen=True, slots=True)
class Journal:
    """[journal]: the record of what the service saw, for replay."""

    enabled: bool
    retention_days: int


@dataclass(frozen=True, slots=True)
class Rearm:
    """How far past its value at the waiver a waived loss rule re-arms: ``share`` of the
    rule's own limit, or ``amount`` dollars when that is set."""

    share: Decimal
    amount: Decimal | None


def rearm(text: str) -> Rearm:
    """``[admin] waiver_rearm`` as parsed (``limit``, ``50%`` or ``250``) -> `Rearm`."""
    if text == "limit":
        return Rearm(Decimal(1), None)
    if text.endswith("%"):
        return Rearm(Decimal(text[:-1]) / 100, None)
    return Rearm(Decimal(1), Decimal(text))


@dataclass(frozen=True, slots=True)
class Admin:
    """[admin]: the admin secret's rate limiting, and how far a waiver reaches."""

    max_failures: int
    failure_window: timedelta = field(metadata=_from("failure_window_seconds", _seconds))
    failure_delay: timedelta = field(metadata=_from("failure_delay_seconds", _seconds))
    waiver_rearm: Rearm = field(metadata=_from("waiver_rearm", rearm))
    #: the admin secret's salted hash kept outside the database (`fsm_risk.anchor`; None: none)
    secret_anchor: Anchor | None = None


#: each typed section by its name in settings.ini
TYPES: dict[str, type[Any]] = {
    "general": General,
    "session": Session,
    "market": Market,
    "enforcement": Enforcement,
    "broker": Broker,
    "control": Control,
    "notify": Notify,
    "web": Web,
    "journal": Journal,
    "admin": Admin,
}
