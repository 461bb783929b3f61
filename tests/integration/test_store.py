"""The store: restart restores every state and deadline; a missed reset is applied once;
the audit log and the fills journal are append-only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

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


def _fills(store: Store, account_id: int, times: list[object]) -> None:
    from fsm_risk.core.engine import Changes
    from fsm_risk.core.models import FillRecord

    records = [
        (
            account_id,
            FillRecord(900 + i, at, ES, 1, Side.BUY, 1, D("6000"), None, D("0"), 1, 0, False),
        )  # type: ignore[arg-type]
        for i, at in enumerate(times)
    ]
    store.commit(Changes([], records))


def test_fills_since_are_read_by_index_not_by_loading_the_history(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restore reads the day's fills: the query filters by time in SQL on the (account,
    time) index, so four weeks of history are not loaded to return today's three."""
    from fsm_risk.adapters import store as store_module

    store = Store(path)
    history = [T0 - timedelta(days=28) + timedelta(minutes=10 * i) for i in range(500)]
    today = [T0 + timedelta(minutes=i) for i in range(3)]
    _fills(store, 1001, history + today)
    _fills(store, 1002, today)
    decoded = 0
    original = store_module._fill_record

    def counting(row: object) -> object:
        nonlocal decoded
        decoded += 1
        return original(row)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "_fill_record", counting)
    got = store.fills(1001, T0)
    assert [f.at for f in got] == today
    assert decoded == 3  # only the rows returned were read
    with store.engine.connect() as conn:
        plan = conn.execute(
            text("EXPLAIN QUERY PLAN SELECT * FROM fill WHERE account_id = 1001 AND at >= 'x'")
        ).all()
    assert "ix_fill_account_at" in " ".join(str(row) for row in plan)
    # a time stored in another UTC offset is still compared as a time
    chicago = (T0 + timedelta(minutes=5)).astimezone(ZoneInfo("America/Chicago"))
    _fills(store, 1003, [chicago, T0 - timedelta(seconds=1)])
    assert [f.at for f in store.fills(1003, T0)] == [chicago]


def test_retention_compacts_old_fills_keeps_two_trading_weeks_and_the_whole_audit(
    path: Path,
) -> None:
    from fsm_risk.adapters.store import fill_cutoff
    from fsm_risk.core.sessions import SessionCalendar

    store = Store(path)
    d = Driver(engine())
    lock_it(store, d)  # two fills and two audit entries at T0 (Monday 09:00 Chicago)
    old = [T0 - timedelta(days=60), T0 - timedelta(days=40)]
    recent = [T0 - timedelta(days=8)]  # the previous trading week: always kept
    _fills(store, d.acct.account_id, old + recent)
    cal = SessionCalendar()
    assert fill_cutoff(cal, T0, 0) is None  # 0: keep every fill
    cutoff = fill_cutoff(cal, T0, 14)
    assert cutoff == T0 - timedelta(days=14)
    assert cutoff <= cal.last_weekly_reset(cal.last_weekly_reset(T0) - timedelta(seconds=1))
    assert fill_cutoff(cal, T0, 30) == T0 - timedelta(days=30)
    assert cutoff is not None and store.compact_fills(cutoff) == 2
    assert [f.at for f in store.fills(d.acct.account_id)][:1] == recent
    assert len(store.fills(d.acct.account_id)) == 3
    assert len(store.audit()) == 2  # the audit log is whole
    with store.engine.begin() as conn, pytest.raises((IntegrityError, OperationalError)):
        conn.execute(text("DELETE FROM fill"))  # append-only again after the compaction
    store.close()
    store, d = restart(path, T0 + timedelta(minutes=1))
    assert d.acct.state is State.LockedDaily


def test_retention_below_two_trading_weeks_is_refused(tmp_path: Path) -> None:
    from fsm_risk import config
    from fsm_risk.errors import SettingsError

    assert (
        config.parse("[general]\nfill_retention_days = 35\n", "s.ini").get(
            "general", "fill_retention_days"
        )
        == 35
    )
    with pytest.raises(SettingsError, match=r"fill_retention_days.*at least 14"):
        config.parse("[general]\nfill_retention_days = 7\n", "s.ini")
