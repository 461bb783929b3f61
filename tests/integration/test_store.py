"""The store: restart restores every state and deadline; a missed reset is applied once;
the audit log and the fills journal are append-only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ES,
    MNQ,
    T0,
    Driver,
    account,
    closes,
    fill,
    make_engine,
    position,
    quote,
    transitions,
)


def engine() -> RiskEngine:
    return make_engine({DailyLossLimit: {"limit": "1000"}})


def commit(store: Store, d: Driver, effects: list[Effect]) -> None:
    audit = [e.entry for e in effects if isinstance(e, RecordTransition)]
    store.commit(d.engine.take_changes(), audit, d.engine.marks)


def run(store: Store, d: Driver, *events: object) -> list[Effect]:
    out = d.send(*events)  # type: ignore[arg-type]
    commit(store, d, out)
    return out


def restart(store_path: Path, now: object) -> tuple[Store, Driver]:
    store = Store(store_path)
    d = Driver(engine(), now=now)  # type: ignore[arg-type]
    effects, _ = restore_all(store, d.engine, d.now)
    d.effects.extend(effects)
    commit(store, d, effects)
    return store, d


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def lock_it(store: Store, d: Driver) -> None:
    run(store, d, account(), fill(ES, Side.BUY, 1, "6000", fees="2.50"))
    run(store, d, fill(ES, Side.SELL, 1, "5920", pnl="-1000", fees="2.50"), position(ES, 0, "0"))
    assert d.acct.state is State.LockedDaily


def test_restart_restores_every_state_hold_and_deadline_exactly(path: Path) -> None:
    store = Store(path)
    d = Driver(engine())
    lock_it(store, d)
    run(store, d, position(MNQ, 1, "21000"))  # appears while locked: close in flight
    assert d.acct.contracts[MNQ].state is State.Flattening
    before = d.acct.to_dict()
    before_contracts = {c: m.to_dict() for c, m in d.acct.contracts.items()}
    deadline = d.engine.next_deadline()
    store.close()

    _store, d2 = restart(path, T0)
    assert d2.acct.to_dict() == before
    assert {c: m.to_dict() for c, m in d2.acct.contracts.items()} == before_contracts
    assert d2.engine.next_deadline() == deadline
    assert d2.acct.state is State.LockedDaily
    assert d2.acct.contracts[MNQ].state is State.Flattening


def test_a_lock_held_across_a_restart_still_closes_new_positions(path: Path) -> None:
    store = Store(path)
    d = Driver(engine())
    lock_it(store, d)
    store.close()
    store2, d2 = restart(path, T0 + timedelta(hours=1))
    out = run(store2, d2, position(MNQ, 2, "21000"))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert d2.acct.state is State.LockedDaily


def test_a_reset_missed_while_stopped_is_applied_once(path: Path) -> None:
    store = Store(path)
    d = Driver(engine())
    lock_it(store, d)
    assert d.acct.day.realized == -1005
    store.close()

    reset = d.engine.calendar.next_daily_reset(T0)
    later = reset + timedelta(hours=3)
    store2, d2 = restart(path, later)
    assert d2.acct.state is State.Trading  # the daily lock ended at the reset
    assert d2.acct.day.start == reset and d2.acct.day.realized == 0
    assert d2.acct.week.realized == -1005  # the week goes on
    releases = [t for t in transitions(d2.effects) if t[3] == "release"]
    assert releases == [(None, "LockedDaily", "Trading", "release")]
    # trade after the restart, then restart again: no second reset wipes the new day
    run(store2, d2, fill(MNQ, Side.BUY, 1, "21000", fees="0.74", at=later))
    store2.close()
    store3, d3 = restart(path, later + timedelta(minutes=5))
    assert d3.acct.day.realized == d2.acct.day.realized != 0
    assert [t for t in transitions(d3.effects) if t[3] == "release"] == []
    audit = store3.audit(d3.acct.account_id)
    assert [(e.from_state.value, e.to_state.value) for e in audit].count(
        ("LockedDaily", "Trading")
    ) == 1


def test_several_missed_days_apply_only_the_latest_boundary(path: Path) -> None:
    store = Store(path)
    d = Driver(engine())
    lock_it(store, d)
    store.close()
    three_days = T0 + timedelta(days=3)
    _store, d2 = restart(path, three_days)
    assert d2.acct.day.start == d2.engine.calendar.last_daily_reset(three_days)
    assert d2.acct.state is State.Trading


def test_audit_log_and_fills_journal_are_append_only(path: Path) -> None:
    store = Store(path)
    d = Driver(engine())
    lock_it(store, d)
    entries = store.audit(d.acct.account_id)
    assert [(e.from_state, e.to_state) for e in entries] == [
        (State.Trading, State.Flattening),
        (State.Flattening, State.LockedDaily),
    ]
    assert entries[0].rule_id == "RULE-003" and "DAILY_LOSS_LIMIT" in entries[0].reason
    assert len(store.fills(d.acct.account_id)) == 2
    with store.engine.begin() as conn, pytest.raises((IntegrityError, OperationalError)):
        conn.execute(text("UPDATE audit SET to_state = 'Trading'"))
    with store.engine.begin() as conn, pytest.raises((IntegrityError, OperationalError)):
        conn.execute(text("DELETE FROM fill"))
    assert len(store.audit()) == 2 and len(store.fills(d.acct.account_id)) == 2


def test_the_database_runs_in_wal_mode(path: Path) -> None:
    store = Store(path)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_marks_are_stored_exactly(path: Path) -> None:
    store = Store(path)
    d = Driver(engine())
    run(store, d, account(), position(MNQ, 1, "21000"), quote(MNQ, "21000.25"))
    assert str(store.marks()[MNQ].last) == "21000.25"
    assert store.marks()[MNQ].at == T0


def test_only_one_service_may_hold_a_database(path: Path) -> None:
    a, b = Store(path), Store(path)
    assert not b.service_running()
    a.acquire_service_lock()
    assert b.service_running()
    with pytest.raises(Exception, match="already running"):
        b.acquire_service_lock()
    a.release_service_lock()
    assert not b.service_running()
