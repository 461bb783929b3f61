"""Wiring: settings -> engine, rules, store. Every dependency can be overridden (tests pass
their own clock, store path or marks)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.config import Settings, load
from fsm_risk.core.effects import Effect
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.models import InstrumentBook, Mark

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


def admin_auth(settings: Settings, store: Store, now: Callable[[], datetime]) -> AdminAuth:
    a = settings.admin
    return AdminAuth(
        store,
        now,
        max_failures=a.max_failures,
        window=a.failure_window,
        delay=a.failure_delay.total_seconds(),
    )
