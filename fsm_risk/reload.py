"""Settings that tighten at once and loosen only at the next daily reset.

The rules in force are stored in the database (``settings.in_force``: each [rule.*] section as
written), and so is a held loosening (``settings.pending``: the file's rule sections and the
reset they wait for), per account group on a shared server (``settings.in_force@1001,1002``:
each service is compared with what it enforced itself, see `Keeper`). A reload (``fsm-risk
reload``, SIGHUP) and every start-up compare the file with the rules in force, key by key,
using each rule's own comparison
(`fsm_risk.rules.tighter`): a stricter value applies now, a looser one (or one whose direction is
unknown) waits for the next daily reset. So editing settings.ini and restarting gives the
tightening now and the loosening at the reset, exactly as a reload does.

Only the [rule.*] sections are compared and swapped while running; the other sections (the
database, the gateway, the calendar, enforcement timings) are read at start-up.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from loguru import logger

from fsm_risk import config, naming, stored
from fsm_risk.config import RULE_PREFIX, Settings
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.errors import SettingsError
from fsm_risk.rules import ALL_RULES
from fsm_risk.rules.base import Rule
from fsm_risk.rules.tighter import tightens

IN_FORCE, PENDING = "settings.in_force", "settings.pending"
#: the [session] the service last started with: a reset moved in the file must not bring a
#: held loosening sooner than the calendar in force would have
SESSION = "settings.session"
#: when a record was written (``settings.saved@1001``), as the count of records written on
#: this database so far (``settings.saves``): the newest record kept for an account holds
SAVED, SAVES = "settings.saved", "settings.saves"
NO_CHANGE = "no change to the rules"
Raw = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Change:
    """One changed key of one rule (``key`` None: the rule turned on or off)."""

    rule: str
    key: str | None
    old: str
    new: str
    stricter: bool

    def __str__(self) -> str:
        if self.key is None:
            return f"[{RULE_PREFIX}{self.rule}] turned {self.new}"
        return f"[{RULE_PREFIX}{self.rule}] {self.key}: {self.old} -> {self.new}"


@dataclass(frozen=True)
class Plan:
    """What to enforce now, and what waits for the reset."""

    now: Raw  # the rule sections to enforce from now on
    tightened: tuple[Change, ...] = ()
    held: tuple[Change, ...] = ()
    target: Raw = field(default_factory=dict)  # the file's rule sections (applied at the reset)
    #: values in force now looser than a record kept for some of the accounts (`resolve`)
    apart: tuple[Change, ...] = ()


@dataclass(frozen=True)
class Pending:
    """A held loosening: the rule sections to enforce from ``applies_at`` on."""

    rules: Raw
    applies_at: datetime
    held: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {"rules": self.rules, "applies_at": self.applies_at.isoformat(), "held": self.held}
        )

    @classmethod
    def from_json(cls, text: str) -> Pending:
        d = json.loads(text)
        return cls(d["rules"], datetime.fromisoformat(d["applies_at"]), tuple(d["held"]))

    def view(self) -> dict[str, Any]:
        return {"applies_at": self.applies_at.isoformat(), "changes": list(self.held)}


def _enabled(raw: Mapping[str, str] | None, settings: Settings, name: str) -> bool:
    r = settings.rule(name)
    return raw is not None and r is not None and r.enabled


def plan(in_force: Settings, wanted: Settings) -> Plan:
    """Compare the rules in force with the wanted ones, rule by rule and key by key."""
    now: Raw = {}
    tightened: list[Change] = []
    held: list[Change] = []
    for cls in ALL_RULES:
        name = cls.name
        old_raw, new_raw = in_force.raw_rules.get(name), wanted.raw_rules.get(name)
        old_on, new_on = _enabled(old_raw, in_force, name), _enabled(new_raw, wanted, name)
        if not old_on:
            if new_on:
                tightened.append(Change(name, None, "off", "on", True))
            if new_raw is not None:
                now[name] = dict(new_raw)
            continue
        assert old_raw is not None
        if not new_on:
            held.append(Change(name, None, "on", "off", False))
            now[name] = dict(old_raw)
            continue
        assert new_raw is not None
        merged, stricter, looser = _merge(cls, in_force, wanted, old_raw, new_raw)
        if looser and stricter and not _valid(in_force, name, merged):
            # the stricter keys alone would not make a valid rule: all of it waits
            held.extend(stricter)
            stricter, merged = [], dict(old_raw)
        tightened.extend(stricter)
        held.extend(looser)
        now[name] = merged
    target = {n: dict(r) for n, r in wanted.raw_rules.items()}
    return Plan(now, tuple(tightened), tuple(held), target if held else {})


def _merge(
    cls: type[Rule],
    in_force: Settings,
    wanted: Settings,
    old_raw: Mapping[str, str],
    new_raw: Mapping[str, str],
) -> tuple[dict[str, str], list[Change], list[Change]]:
    old, new = in_force.rule(cls.name), wanted.rule(cls.name)
    assert old is not None and new is not None
    keys = [f.key for f in cls.fields]
    changed = [k for k in keys if old.values.get(k) != new.values.get(k)]

    def stricter_beside(k: str, others: Mapping[str, Any]) -> bool:
        ov, nv = old.values.get(k), new.values.get(k)
        return tightens(cls.tighter, k, ov, nv, before=old.values, after=others)

    stricter = {k for k in changed if stricter_beside(k, new.values)}
    # a key stricter beside the file's other values (an early close dropped for a day the
    # file makes a holiday) is judged again beside what goes now: with one of those held (the
    # holidays, another one dropped), it waits too, or that day would be neither until the reset
    while True:
        now = {**new.values, **{k: old.values.get(k) for k in changed if k not in stricter}}
        waits = {k for k in stricter if not stricter_beside(k, now)}
        if not waits:
            break
        stricter -= waits
    merged: dict[str, str] = {"enabled": "true"}
    tightened: list[Change] = []
    looser: list[Change] = []
    for k in keys:
        if k in changed:
            ov, nv = config._show(old.values.get(k)), config._show(new.values.get(k))
            (tightened if k in stricter else looser).append(
                Change(cls.name, k, ov, nv, k in stricter)
            )
        side = old_raw if k in changed and k not in stricter else new_raw
        if k in side:
            merged[k] = side[k]
    return merged, tightened, looser


def _valid(base: Settings, name: str, raw: Mapping[str, str]) -> bool:
    try:
        config.with_rules(base, {name: raw})
    except SettingsError:
        return False
    return True


# --- the stored record --------------------------------------------------------------------------


class Keeper:
    """Reads and writes the rules in force and the held loosening (the store's meta rows).

    Kept per account group (``group``, see `naming.group`): on a shared server each service
    compares its file with what it enforced, never with another group's settings. A group
    with no record of its own yet reads the database's own rows (written before groups
    existed) when they can be its: every account of the group is stored there."""

    def __init__(self, store: Any, group: str = "") -> None:
        self.store = store
        self.group = group

    @classmethod
    def of(cls, settings: Settings, store: Any) -> Keeper:
        """The keeper of the service ``settings`` configure, on ``store``."""
        return cls(store, naming.group(settings.general.accounts, getattr(store, "shared", False)))

    def _read(self, key: str) -> str | None:
        if not self.group:
            return self.store.meta(key)
        if self.store.meta(naming.scoped(IN_FORCE, self.group)) is not None:
            return self.store.meta(naming.scoped(key, self.group))
        if self.store.meta(IN_FORCE) is None:
            return None  # the group's first start: the file is in force
        inherits = naming.covers(self.group, self.store.account_names())
        return self.store.meta(key) if inherits else None

    def saved(self) -> int:
        """When this group's own record was last written, as a count of the records written
        on this database (0: never, or before records were counted)."""
        text = self.store.meta(naming.scoped(SAVED, self.group))
        return int(text) if text and text.isdigit() else 0

    def records(self) -> list[Keeper]:
        """The records that hold for this group's accounts, oldest first: on a shared server,
        for each of its accounts the newest record kept for it, its own or another group's
        (its [general] accounts edited: an account added or removed, one written by its
        name; then edited back: its own record is older than the one kept since). Their
        settings in force and held loosenings still hold for those accounts: taking the file
        or an older record as in force instead would apply a loosening held for the reset at
        once, and an older record than the newest would bring back a limit since raised."""
        if not getattr(self.store, "shared", False):
            return [self]
        names = self.store.account_names()
        stored = {str(i) for i, _ in names}
        ours = _ids(self.group, names) if self.group else stored
        groups: dict[str, set[str]] = {}
        for key in self.store.meta_keys(IN_FORCE + "@"):
            other = key[len(IN_FORCE) + 1 :]
            groups[other] = _ids(other, names)
        if self.store.meta(IN_FORCE) is not None:
            groups[""] = stored  # the database's own record: a service of every account
        keepers = {g: Keeper(self.store, g) for g in groups}
        found: set[str] = set()
        for account in ours:
            holding = [g for g, ids in groups.items() if account in ids]
            if holding:
                newest = max(keepers[g].saved() for g in holding)
                found |= {g for g in holding if keepers[g].saved() == newest}
        return sorted((keepers[g] for g in found), key=lambda k: (k.saved(), k.group))

    def in_force(self) -> Raw | None:
        text = self._read(IN_FORCE)
        return None if text is None else dict(json.loads(text))

    def pending(self) -> Pending | None:
        text = self._read(PENDING)
        return None if text is None else Pending.from_json(text)

    def save(
        self, in_force: Raw, pending: Pending | None, calendar: SessionCalendar | None = None
    ) -> None:
        def key(k: str) -> str:
            return naming.scoped(k, self.group)

        self.store.set_meta(key(IN_FORCE), json.dumps(in_force, sort_keys=True))
        count = str(int(self.store.meta(SAVES) or 0) + 1)  # (`saved`)
        self.store.set_meta(SAVES, count)
        self.store.set_meta(key(SAVED), count)
        self.store.set_meta(key(PENDING), None if pending is None else pending.to_json())
        if calendar is not None:
            c = calendar
            kept = [c.tz, c.daily_reset.isoformat(), c.weekly_weekday, c.weekly_time.isoformat()]
            self.store.set_meta(key(SESSION), json.dumps(kept))

    def calendar(self) -> SessionCalendar | None:
        """The session calendar in force when the service last started (None: not known)."""
        text = self._read(SESSION)
        if text is None:
            return None
        try:
            tz, daily, weekday, weekly = json.loads(text)
            return SessionCalendar(
                tz, time.fromisoformat(daily), int(weekday), time.fromisoformat(weekly)
            )
        except (ValueError, TypeError, KeyError):
            return None

    def next_reset(self, file: Settings, pending: Pending | None, now: datetime) -> datetime:
        """When a loosening held at ``now`` may apply: the next daily reset, and never sooner
        than the calendar in force or an earlier held loosening would have allowed (moving
        [session] daily_reset and restarting does not bring it forward)."""
        at = file.calendar().next_daily_reset(now)
        before = self.calendar()
        if before is not None:
            at = max(at, before.next_daily_reset(now))
        if pending is not None and now < pending.applies_at:
            at = max(at, pending.applies_at)
        return at


def resolve(
    file: Settings, store: Any, now: datetime
) -> tuple[Settings, Pending | None, Plan | None]:
    """The settings to enforce at ``now`` given the file and what the database says is in
    force: the file's stricter values at once, its looser ones at the next daily reset. Does
    not write (see `record`). On a shared server the file is compared with the newest record
    kept for each of the group's accounts (`Keeper.records`), each in turn, so a value ordered from
    loose to strict is the strictest of theirs and the file's until the reset. Two of theirs
    that neither restricts more than the other (trading windows, blocked patterns) leave the
    last one's, looser than the other's for its accounts: said (`Plan.apart`)."""
    keeper = Keeper.of(file, store)
    keepers = keeper.records()
    effective, at = file, None
    plans: list[Plan] = []
    records: list[Settings] = []
    for k in keepers:
        in_force, pending = _in_force(k, file, now)
        if in_force is None:
            continue
        p = plan(in_force, effective)
        effective = config.with_rules(file, p.now)
        plans.append(p)
        records.append(in_force)
        if p.held:
            reset = k.next_reset(file, pending, now)
            at = reset if at is None else max(at, reset)
    if not plans:
        return file, None, None  # the first start on this database: the file is in force
    tightened = tuple(c for p in plans for c in p.tightened)
    changes = tuple(c for p in plans for c in p.held)
    target = {n: dict(r) for n, r in file.raw_rules.items()} if changes else {}
    held = None
    if at is not None:
        held = Pending(target, at, tuple(str(c) for c in changes))
    apart = tuple(c for r in records[:-1] for c in plan(r, effective).held)
    return effective, held, Plan(plans[-1].now, tightened, changes, target, apart)


def _in_force(keeper: Keeper, file: Settings, now: datetime) -> tuple[Settings | None, Any]:
    """The settings ``keeper`` has in force at ``now`` (a held loosening whose reset has
    passed applied), and its held loosening; None: no record. A value of the record this
    version refuses is read as what it meant, or as the file's (`stored.readable`), never
    dropped with the record: that would apply the file's loosenings at once."""
    raw = keeper.in_force()
    if raw is None:
        return None, None
    in_force, notes = stored.readable(file, raw)
    for note in notes:
        logger.warning("the rules in force stored in the database: {}", note)
    pending = keeper.pending()
    if pending is not None and now >= pending.applies_at:
        with contextlib.suppress(SettingsError):  # its reset has passed
            in_force = config.with_rules(file, pending.rules)
    return in_force, pending


def _ids(group: str, names: list[tuple[int, str]]) -> set[str]:
    """The accounts of ``group`` as ids (a name the database knows, as its id; any other as
    written, ignoring case)."""
    out: set[str] = set()
    for a in (a.strip() for a in group.split(",")):
        if a:
            found = {
                str(i) for i, n in names if a == str(i) or (n and a.casefold() == n.casefold())
            }
            out |= found or {a.casefold()}
    return out


def raw_of(settings: Settings) -> Raw:
    return {name: dict(values) for name, values in settings.raw_rules.items()}


def describe(p: Plan, held: Pending | None, zone: str = "UTC") -> str:
    """One line per change: what applied now and what waits (for the audit log and replies),
    the reset's time in the display time zone ``zone``."""
    parts = []
    if p.tightened:
        parts.append("stricter now: " + "; ".join(str(c) for c in p.tightened))
    if held is not None:
        at = held.applies_at.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")
        parts.append(f"looser from the daily reset at {at}: " + "; ".join(held.held))
    if p.apart:
        parts.append(
            "looser now than a record kept for some of the accounts, which neither restricts "
            "more than the other: " + "; ".join(str(c) for c in p.apart)
        )
    return " | ".join(parts) if parts else NO_CHANGE


def other_changes(running: Settings, file: Settings) -> list[str]:
    """Keys outside the [rule.*] sections that differ: read only at start-up."""
    return config.changed_keys(running, file)
