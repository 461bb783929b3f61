"""Wiring: settings -> engine, rules, store. Every dependency can be overridden (tests pass
their own clock, store path or marks)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.config import Settings, load
from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Event
from fsm_risk.core.models import InstrumentBook, Mark

if TYPE_CHECKING:
    from fsm_risk.adapters.journal import Journal

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
    settings: Settings, store: Store, now: datetime
) -> tuple[RiskEngine, list[Effect], Journal]:
    """`restored_engine` for a change made while no service runs, with the journal rows a
    service's start writes (a restart, the rules in force, the accounts restored): the change
    and the catch-up before it then replay from the journal exactly (see `commit_offline`)."""
    from fsm_risk import reload
    from fsm_risk.adapters.journal import RESTORE, RULES, STAGE, Journal

    effective, _, _ = reload.resolve(settings, store, now)
    journal = Journal(settings.journal.enabled, settings.journal.retention_days)
    journal.restart(now)
    journal.call(now, RULES, effective.raw_rules, "system", "offline")
    journal.call(now, STAGE, None, None, "")  # nothing staged: the change is made at once
    engine = build_engine(effective, marks=store.marks())
    # on a shared server, never an account a running service holds: it alone writes it
    effects, _ = restore_all(store, engine, now, only=offline_accounts(store))
    journal.call(now, RESTORE)
    return engine, effects, journal


def offline_accounts(store: Store) -> list[int] | None:
    """The stored accounts a change through the database may load and write: on a shared
    server those no running service holds (None: every one, on SQLite)."""
    if not store.shared:
        return None
    ids = [a for a, _ in store.account_names()]
    held = set(store.leased(ids))
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
    return AdminAuth(
        store,
        now,
        max_failures=a.max_failures,
        window=a.failure_window,
        delay=a.failure_delay.total_seconds(),
    )
