"""Wiring: settings -> engine, rules, store. Every dependency can be overridden (tests pass
their own clock, store path or marks)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fsm_risk import logs
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.config import Settings, load
from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Event
from fsm_risk.core.models import InstrumentBook, Mark
from fsm_risk.core.records import Lock
from fsm_risk.errors import FsmRiskError

if TYPE_CHECKING:
    from fsm_risk.adapters.journal import Journal
    from fsm_risk.adapters.store import StoredAccount

DEFAULT_SETTINGS = "settings.ini"
SETTINGS_ENV = "FSM_RISK_SETTINGS"


def settings_path(given: str | None) -> Path:
    import os

    return Path(given or os.environ.get(SETTINGS_ENV) or DEFAULT_SETTINGS)


def load_settings(given: str | None) -> Settings:
    """The settings, with the exchange calendars' special days kept from an earlier run
    (computing them from the library costs a third of a second; kept for the next run)."""
    from fsm_risk.adapters import calendars

    calendars.load()
    settings = load(settings_path(given))
    calendars.save()
    return settings


def build_engine(
    settings: Settings,
    marks: dict[str, Mark] | None = None,
    instruments: InstrumentBook | None = None,
) -> RiskEngine:
    es = settings.engine_settings()
    instruments = instruments if instruments is not None else InstrumentBook()
    marks = marks if marks is not None else {}
    ctx = RiskEngine.context(es, instruments, marks)
    return RiskEngine(es, settings.build_rules(ctx), instruments, marks)


def open_store(settings: Settings, path: Path | None = None) -> Store:
    return Store(path or settings.database)


def restored_engine(
    settings: Settings, store: Store, now: datetime
) -> tuple[RiskEngine, list[Effect]]:
    """An engine holding every stored account, caught up to ``now`` (resets, expiries), under
    the rules in force (a looser settings file waits for the next daily reset)."""
    from fsm_risk import reload

    settings, _, _ = reload.resolve(settings, store, now)
    engine = build_engine(settings, marks=store.marks())
    effects, _ = restore_all(store, engine, now)
    return engine, effects


def offline_engine(
    settings: Settings, store: Store, now: datetime, *, adds_only: bool = False
) -> tuple[RiskEngine, list[Effect], Journal]:
    """`restored_engine` for a change made while no service runs, with the journal rows a
    service's start writes (a restart, the rules in force, the accounts restored): the change
    and the catch-up before it then replay from the journal exactly (see `commit_offline`).

    ``adds_only``: a change that may only add a lock (`fsm-risk lock`, no secret). Its
    catch-up is this machine's clock's, which nothing checks here: moved forward, it ended the
    admin's locks, wiped the day's loss and applied a held loosening, all written with the
    lock. So when the catch-up would end or shorten a lock, begin a trading day or week, or
    apply a held loosening (`caught_up`), the change is refused, nothing written: the service
    applies those at its start, once the gateway's clock has not contradicted this one's."""
    from fsm_risk import reload
    from fsm_risk.adapters.journal import RESTORE, RULES, STAGE, Journal

    effective, _, _ = reload.resolve(settings, store, now)
    pending = reload.Keeper.of(settings, store).pending() if adds_only else None
    journal = Journal(settings.journal.enabled, settings.journal.retention_days)
    journal.restart(now)
    journal.call(now, RULES, effective.raw_rules, "system", "offline")
    journal.call(now, STAGE, None, None, "")  # nothing staged: the change is made at once
    engine = build_engine(effective, marks=store.marks())
    # on a shared server, never an account a running service holds: it alone writes it
    stored = store.accounts(offline_accounts(store))
    effects, _ = restore_all(store, engine, now, stored=stored)
    if adds_only:
        due = caught_up(stored, engine)
        if pending is not None and now >= pending.applies_at:
            due.append("apply the looser settings held for the daily reset")
        if due:
            raise FsmRiskError(_only_the_service(due, now, settings.display_timezone))
    journal.call(now, RESTORE)
    return engine, effects, journal


def caught_up(stored: Sequence[StoredAccount], engine: RiskEngine) -> list[str]:
    """What restoring ``stored`` into ``engine`` applied of the time passed since they were
    written: each trading week or day it began, and each lock it ended or shortened."""
    found = []
    for s in stored:
        acct = engine.accounts.get(s.account_id)
        if acct is None:
            continue
        name = f"account {s.account_id}"
        for period, book in (("week", acct.week), ("day", acct.day)):
            if book.start > datetime.fromisoformat(s.snapshot[period]["start"]):
                found.append(f"begin {name}'s trading {period} of {book.label.isoformat()}")
        scopes = [(name, s.snapshot["holds"], acct.holds)]
        for c in s.contracts:
            cm = acct.contracts.get(c["contract_id"])
            now_held = {} if cm is None else cm.holds
            scopes.append((f"{name} {c['contract_id']}", c["holds"], now_held))
        for scope, was, holds in scopes:
            for key, raw in was.items():
                lock, kept = Lock.from_dict(raw), holds.get(key)
                if kept is None or kept.strength() < lock.strength():
                    found.append(f"end {scope}'s {lock.kind.value} ({lock.source})")
    return found


def _only_the_service(due: list[str], now: datetime, zone: str) -> str:
    """The one line refusing an offline lock whose catch-up would do ``due``."""
    from zoneinfo import ZoneInfo

    shown = "; ".join(due[:4]) + (f"; and {len(due) - 4} more" if len(due) > 4 else "")
    clock = now.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
    return (
        f"not locked, nothing changed: by this machine's clock ({clock}) a lock made through "
        f"the database would also {shown}, which only the service does, once it has checked "
        "the clock against the gateway's: start the service, or lock while it runs"
    )


def offline_accounts(store: Store) -> list[int] | None:
    """The stored accounts a change through the database may load and write: on a shared
    server those no running service holds (None: every one, on SQLite)."""
    if not store.shared:
        return None
    ids = [a for a, _ in store.account_names()]
    held = set(store.leased(ids, others=True))  # (its own: a change's hold)
    return [a for a in ids if a not in held]


def commit_offline(
    store: Store,
    engine: RiskEngine,
    journal: Journal,
    event: Event,
    effects: list[Effect],
    now: datetime,
) -> None:
    """Commit an offline change (``event`` handled, with ``effects``), its audit entries and
    its journal rows in one transaction."""
    journal.record(event, now)
    audit = [e.entry for e in effects if isinstance(e, RecordTransition)]
    store.commit(engine.take_changes(), audit, journal=journal.take(now, force=True))


def admin_auth(settings: Settings, store: Store, now: Callable[[], datetime]) -> AdminAuth:
    a = settings.admin
    if a.secret_anchor is not None:  # (never printed: masked wherever it would be)
        logs.register_secret(a.secret_anchor.text)
        logs.register_secret(a.secret_anchor.digest.hex())
        anchored(store, now())
    return AdminAuth(
        store,
        now,
        max_failures=a.max_failures,
        window=a.failure_window,
        delay=a.failure_delay.total_seconds(),
        anchor=a.secret_anchor,
    )


def anchored(store: Store, now: datetime) -> None:
    """Settings with an anchor opened ``store``: mark it anchored (a command with settings
    lacking the anchor is then refused, `AdminAuth`) and delete its own secret's hash, which
    no check reads and whoever can read the files could guess at offline."""
    from fsm_risk.adapters.auth import ANCHORED_KEY

    try:
        if store.meta(ANCHORED_KEY) is None:
            store.set_meta(ANCHORED_KEY, now.isoformat())
        store.clear_admin()
    except Exception as exc:  # (a read-only database: the anchor holds in this process)
        from loguru import logger

        logger.warning("the database could not be marked anchored: {}", exc)
