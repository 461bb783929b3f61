"""`fsm-risk lock`: the trader locks their own account, no secret needed.

Anyone may add a lock; only the admin removes one. The lock goes through the engine like a
rule's (flatten, then the lock; audited with the trader as the actor) and is held beside the
others, so it never shortens or weakens a lock already held. ``--until`` and ``--for`` lock
into ``Cooldown`` until that instant; ``--rest-of-day`` into ``LockedDaily`` until the next
daily reset. Times are read in the session's time zone unless they carry an offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fsm_risk import naming
from fsm_risk.core.engine import RiskEngine, self_source
from fsm_risk.core.events import SelfLock
from fsm_risk.core.records import strongest
from fsm_risk.core.sessions import SessionCalendar, lock_end
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError

#: a longer self-lock is surely a typo (only the admin could undo it)
LONGEST = timedelta(days=31)
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+)\s*(d|h|m|s)")
_EXAMPLES = "e.g. 90m, 2h, 1h30m, 1d"


@dataclass(frozen=True)
class Spec:
    """What the trader typed: exactly one of ``until``, ``for_`` and ``rest_of_day``."""

    until: str | None = None
    for_: str | None = None
    rest_of_day: bool = False

    def check(self) -> None:
        given = [self.until is not None, self.for_ is not None, self.rest_of_day]
        if sum(given) != 1:
            raise FsmRiskError("give exactly one of --until TIME, --for DURATION, --rest-of-day")

    def to_json(self) -> dict[str, Any]:
        return {"until": self.until, "for": self.for_, "rest_of_day": self.rest_of_day}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Spec:
        until, for_ = body.get("until"), body.get("for")
        return cls(
            None if until is None else str(until),
            None if for_ is None else str(for_),
            bool(body.get("rest_of_day")),
        )


def duration(text: str) -> timedelta:
    """'90m', '2h', '1h30m', '1d' -> timedelta. Refuses bare numbers (which unit?)."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or _DURATION.sub("", compact):
        raise FsmRiskError(f"--for '{text}': a duration with units is needed ({_EXAMPLES})")
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(compact))
    if seconds < 60:
        raise FsmRiskError(f"--for '{text}': a self-lock lasts at least one minute")
    if seconds > LONGEST.total_seconds():  # also keeps a huge number from overflowing
        raise FsmRiskError(f"a self-lock ends within {LONGEST.days} days (asked: --for '{text}')")
    return timedelta(seconds=seconds)


def instant(text: str, now: datetime, tz: str) -> datetime:
    """'15:30' (the next such time), '2026-12-04 15:30' or an ISO time with an offset, as an
    instant in UTC. A wall time the clocks show twice (the hour repeated when they go back) is
    the first of its instants still ahead; one they skip (the hour lost when they go forward)
    is as far past the skip as it was written into it (02:30 is 03:30 summer time)."""
    raw = text.strip()
    zone = ZoneInfo(tz)
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", raw)
    if m:
        hour, minute = int(m[1]), int(m[2])
        if hour > 23 or minute > 59:
            raise FsmRiskError(f"--until '{text}': not a time of day (HH:MM, 00:00 to 23:59)")
        day, at = now.astimezone(zone).date(), time(hour, minute)
        today, tomorrow = _occurrences(day, at, zone), _occurrences(day + timedelta(1), at, zone)
        return next(t for t in (*today, *tomorrow) if t > now)  # the next one
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise FsmRiskError(
            f"--until '{text}': give HH:MM, 'YYYY-MM-DD HH:MM' or an ISO time with an offset "
            f"(times without an offset are in {tz})"
        ) from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    found = _occurrences(parsed.date(), parsed.time(), zone)
    return next((t for t in found if t > now), found[-1])  # all past: the caller refuses it


def _occurrences(day: date, at: time, zone: ZoneInfo) -> list[datetime]:
    """The instants (UTC, in order) at which ``zone``'s clocks show ``at`` on ``day``: one, two
    in a repeated hour, and in a skipped hour the instant with the offset before the skip."""
    found = []
    for fold in (0, 1):
        local = datetime.combine(day, at, zone).replace(fold=fold)
        utc = local.astimezone(UTC)
        if utc.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
            found.append(utc)
    if not found:  # never shown: 02:30 on the spring-forward day is 03:30 summer time
        found.append(datetime.combine(day, at, zone).astimezone(UTC))
    return sorted(set(found))


def resolve(
    spec: Spec, now: datetime, calendar: SessionCalendar, day_end: datetime | None = None
) -> tuple[State, datetime]:
    """The lock and its end for what the trader typed, at ``now``: the rest of the day ends
    with the account's trading day (``day_end``, its day book's end; see `lock_end`)."""
    spec.check()
    if spec.rest_of_day:
        if day_end is None:
            return State.LockedDaily, calendar.next_daily_reset(now)
        return State.LockedDaily, lock_end(calendar, day_end, now)
    if spec.for_ is not None:
        until = now + duration(spec.for_)
    else:
        assert spec.until is not None
        until = instant(spec.until, now, calendar.tz)
        if until <= now:
            raise FsmRiskError(f"--until '{spec.until}' is in the past")
    if until - now > LONGEST:
        raise FsmRiskError(
            f"a self-lock ends within {LONGEST.days} days (asked: until "
            f"{until.astimezone(ZoneInfo(calendar.tz)).isoformat()})"
        )
    return State.Cooldown, until


def account_of(engine: RiskEngine, account: str | None) -> int:
    """The account named (id or name), or the only one monitored."""
    names = [(i, a.name) for i, a in engine.accounts.items()]
    if account is None:
        if len(engine.accounts) == 1:
            return next(iter(engine.accounts))
        raise FsmRiskError(f"name the account to lock ({naming.choices(sorted(names))})")
    return naming.account_id(account, names)


def event(engine: RiskEngine, body: dict[str, Any], now: datetime) -> SelfLock:
    spec = Spec.from_json(body)
    spec.check()
    account = body.get("account")
    account_id = account_of(engine, None if account is None else str(account))
    to, until = resolve(spec, now, engine.calendar, engine.accounts[account_id].day.end)
    who = _one_line(str(body.get("who") or "")) or "trader"
    return SelfLock(account_id, to, until, who, _one_line(str(body.get("reason") or "")))


def _one_line(text: str) -> str:
    """Anyone may lock, so what they type reaches the audit log as one plain line: no line
    breaks or control characters that could forge an entry in `history` or a terminal."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def outcome(engine: RiskEngine, ev: SelfLock, tz: str) -> str:
    """What the lock did, in the trader's words, its times in ``tz`` (the display zone)."""
    acct = engine.accounts[ev.account_id]
    zone = ZoneInfo(tz)

    def until(at: datetime | None) -> str:  # to the second when it has seconds: 20:39:23
        if at is None:
            return "no end"
        local = at.astimezone(zone)
        return local.strftime("%Y-%m-%d %H:%M:%S %Z" if local.second else "%Y-%m-%d %H:%M %Z")

    held = acct.holds.get(self_source(ev.to))
    asked = f"{ev.to} until {until(ev.until)}"
    now = f"{acct.state}"
    best = strongest(acct.holds)  # the lock in force, when it is not the one asked for
    if best is not None and (best.kind, best.until) != (ev.to, ev.until):
        now += f" until {until(best.until)} ({best.source})"
    if held is not None and held.until != ev.until:
        return (
            f"account {ev.account_id}: already self-locked ({held.kind} until "
            f"{until(held.until)}); a lock is never shortened, so {asked} changes nothing; "
            f"now {now}"
        )
    text = f"account {ev.account_id}: locked by trader:{ev.who}: {asked}; now {now}"
    if acct.state is State.Flattening:
        text += " (open positions are being closed first)"
    return text


async def through_service(service: Any, body: dict[str, Any]) -> str:
    """Add the lock through the running service's queue (validated and audited there)."""
    ev = event(service.engine, body, service.clock.now())
    await service.admin(ev)
    text = outcome(service.engine, ev, service.settings.display_timezone)
    note = service.unsaved_note()  # the database refuses writes: said, never hidden
    return text if note is None else f"{text} | {note}"


def offline(settings: Any, store: Any, body: dict[str, Any], now: datetime) -> str:
    """Add the lock through the database when no service runs (the service enforces it,
    flattening included, as soon as it starts). Refused, nothing written, when that would
    also end a lock, begin a trading day or apply a held loosening by this machine's clock
    (see `bootstrap.offline_engine`)."""
    from fsm_risk import bootstrap

    engine, effects, journal = bootstrap.offline_engine(settings, store, now, adds_only=True)
    ev = event(engine, body, now)
    effects.extend(engine.handle(ev, now))
    bootstrap.commit_offline(store, engine, journal, ev, effects, now)
    return outcome(engine, ev, settings.display_timezone)
