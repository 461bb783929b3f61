"""The store: restart restores every state and deadline; a missed reset is applied once;
the audit log and the fills journal are append-only."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from fsm_risk.adapters.store import StorageFailed, Store, restore_all
from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
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
    start_up_read,
    transitions,
)
from tests.postgres import BACKENDS, fresh_database, sqlite_or_postgresql

HELD_BY_ME = (
    rf"another fsm-risk service holds the lease for .+ \(pid {os.getpid()}, host .+, since \d{{4}}-"
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


def restart(store_path: str | Path, now: object) -> tuple[Store, Driver]:
    store = Store(store_path)
    d = Driver(engine(), now=now)  # type: ignore[arg-type]
    effects, _ = restore_all(store, d.engine, d.now)
    d.effects.extend(effects)
    commit(store, d, effects)
    return store, d


@pytest.fixture(params=BACKENDS)
def path(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """Where the store lives: a SQLite file, or a fresh database on a PostgreSQL server."""
    yield from sqlite_or_postgresql(request, tmp_path / "state.db")


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def lock_it(store: Store, d: Driver) -> None:
    run(store, d, account(), fill(ES, Side.BUY, 1, "6000", fees="2.50"))
    run(store, d, fill(ES, Side.SELL, 1, "5920", pnl="-1000", fees="2.50"), position(ES, 0, "0"))
    assert d.acct.state is State.LockedDaily


def test_restart_restores_every_state_hold_and_deadline_exactly(path: str | Path) -> None:
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


def test_a_lock_held_across_a_restart_still_closes_new_positions(path: str | Path) -> None:
    store = Store(path)
    d = Driver(engine())
    lock_it(store, d)
    store.close()
    store2, d2 = restart(path, T0 + timedelta(hours=1))
    out = run(store2, d2, position(MNQ, 2, "21000"))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert d2.acct.state is State.LockedDaily


def test_a_reset_missed_while_stopped_is_applied_once(path: str | Path) -> None:
    store = Store(path)
    d = Driver(engine())
    lock_it(store, d)
    assert d.acct.day.realized == -1005
    store.close()

    reset = d.engine.calendar.next_daily_reset(T0)
    later = reset + timedelta(hours=3)
    store2, d2 = restart(path, later)
    assert d2.acct.state is State.LockedDaily  # its end passed: kept until the trades are read
    commit(store2, d2, start_up_read(d2, account(str(d2.acct.balance))))
    assert d2.acct.state is State.Trading  # the daily lock ended at the reset: freed at the read
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


def test_several_missed_days_apply_only_the_latest_boundary(path: str | Path) -> None:
    store = Store(path)
    d = Driver(engine())
    lock_it(store, d)
    store.close()
    three_days = T0 + timedelta(days=3)
    store2, d2 = restart(path, three_days)
    assert d2.acct.day.start == d2.engine.calendar.last_daily_reset(three_days)
    assert d2.acct.state is State.LockedDaily  # kept until the trades are read
    commit(store2, d2, start_up_read(d2, account(str(d2.acct.balance))))
    assert d2.acct.state is State.Trading


def test_audit_log_and_fills_journal_are_append_only(path: str | Path) -> None:
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
    with (
        store.engine.begin() as conn,
        pytest.raises(DBAPIError, match="append-only"),
    ):
        conn.execute(text("UPDATE audit SET to_state = 'Trading'"))
    with (
        store.engine.begin() as conn,
        pytest.raises(DBAPIError, match="append-only"),
    ):
        conn.execute(text("DELETE FROM fill"))
    assert len(store.audit()) == 2 and len(store.fills(d.acct.account_id)) == 2


def test_the_database_runs_in_wal_mode(sqlite_path: Path) -> None:
    store = Store(sqlite_path)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_marks_are_stored_exactly(path: str | Path) -> None:
    store = Store(path)
    d = Driver(engine())
    run(store, d, account(), position(MNQ, 1, "21000"), quote(MNQ, "21000.25"))
    assert str(store.marks()[MNQ].last) == "21000.25"
    assert store.marks()[MNQ].at == T0


def test_a_second_service_is_refused_naming_who_holds_the_lease(path: str | Path) -> None:
    a, b = Store(path), Store(path)
    assert not b.service_running()
    a.acquire_service_lock()
    a.acquire_leases([7])
    assert b.service_running()
    with pytest.raises(FsmRiskError, match=HELD_BY_ME):
        b.acquire_service_lock()
        b.acquire_leases([7])
    a.release_service_lock()
    assert not b.service_running()
    b.acquire_service_lock()
    b.acquire_leases([7])  # released: the next service takes it
    assert a.service_running()
    b.close()
    a.close()


HOLDER = """
import sys
import threading
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from fsm_risk.adapters.store import Store
store = Store(sys.argv[1])
store.acquire_service_lock()
store.acquire_leases([7])
conn = store._lease_conn
print(conn.execute(text("SELECT pg_backend_pid()")).scalar() if conn is not None else 0)
sys.stdout.flush()
sys.stdin.read()
"""


def test_a_crashed_holders_lease_is_taken_over(path: str | Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        backend = int(holder.stdout.readline())  # type: ignore[union-attr]
        b = Store(path)
        with pytest.raises(FsmRiskError, match=rf"holds the lease .*\(pid {holder.pid}, host "):
            b.acquire_service_lock()
            b.acquire_leases([7])
    finally:
        holder.kill()  # a crash: no release, no cleanup
        holder.wait()
    if backend:  # the server ends the dead client's session (keepalives); here at once
        end_session(path, backend)
    b.acquire_service_lock()
    b.acquire_leases([7])
    assert b.service_running()
    b.close()


def end_session(url: str | Path, backend: int) -> None:
    """What the server does when a client vanishes: end its session (waiting up to 5 s)."""
    with Store(url).engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": backend})


def lease_backend(store: Store) -> int:
    return int(store._lease_connection().execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.fixture
def server() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_services_share_a_server_one_account_each(server: str) -> None:
    a, b, c = Store(server), Store(server), Store(server)
    for s in (a, b, c):
        s.acquire_service_lock()
    a.acquire_leases([1])
    b.acquire_leases([2])  # another account on the same server: fine
    with pytest.raises(FsmRiskError, match=r"lease for account 1 on postgresql.*\*\*\*@"):
        c.acquire_leases([3, 1])
    c.acquire_leases([3])  # the refused attempt kept none of its accounts
    assert "lease" in {t for t in inspect(a.engine).get_table_names()}
    for s in (a, b, c):
        s.close()


def test_a_lost_lease_connection_is_renewed_or_the_service_is_told(server: str) -> None:
    a, b = Store(server), Store(server)
    a.acquire_service_lock()
    a.acquire_leases([7])
    end_session(server, lease_backend(a))  # a server restart, a dropped connection
    a.renew_leases()  # taken again on a new connection
    with pytest.raises(FsmRiskError, match=HELD_BY_ME):
        b.acquire_leases([7])
    end_session(server, lease_backend(a))
    b.acquire_leases([7])  # another service took it meanwhile
    with pytest.raises(FsmRiskError, match="lease for account 7"):
        a.renew_leases()
    a.close()
    b.close()


def test_ids_beyond_32_bits_are_stored(server: str) -> None:
    store = Store(server)
    d = Driver(engine())
    big = 2**40 + 5
    run(store, d, account(), fill(ES, Side.BUY, 1, "6000", trade_id=big, order_id=big))
    assert [(f.trade_id, f.order_id) for f in store.fills(d.acct.account_id)] == [(big, big)]


def test_the_server_password_never_appears_in_messages(server: str) -> None:
    store = Store(server)
    password = make_url(server).password
    assert password and password not in store.where and "***" in store.where
    bad = make_url(server).set(database="no_such_database").render_as_string(hide_password=False)
    with pytest.raises(FsmRiskError, match="cannot be opened") as caught:
        Store(bad)
    assert password not in str(caught.value) and "\n" not in str(caught.value)
    assert 'database "no_such_database" does not exist' in str(caught.value)


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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restore reads the day's fills: the query filters by time in SQL on the (account,
    time) index, so four weeks of history are not loaded to return today's three."""
    from fsm_risk.adapters import store as store_module

    store = Store(tmp_path / "fsm.db")  # the query plan asked below is SQLite's
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
    assert "ix_fill_account_at_trade" in " ".join(str(row) for row in plan)
    # a time stored in another UTC offset is still compared as a time
    chicago = (T0 + timedelta(minutes=5)).astimezone(ZoneInfo("America/Chicago"))
    _fills(store, 1003, [chicago, T0 - timedelta(seconds=1)])
    assert [f.at for f in store.fills(1003, T0)] == [chicago]


def test_a_start_fetches_no_row_of_the_hours_before_its_window(
    path: str | Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start reads the trade ids and the day's fills since the window's start. Times in UTC
    (what the service writes) are compared as text on the index, so the rows of the 14 hours
    before it (the previous session's, as many as the day's) are not fetched; a time stored in
    another offset is still read from 14 hours early and compared exactly."""
    from types import SimpleNamespace

    from fsm_risk.adapters import store as store_module

    store = Store(path)
    d = Driver(engine(), now=T0)
    run(store, d, account())
    start = d.acct.day.start
    assert start == d.acct.week.start  # Monday's session opens the week
    micro = timedelta(microseconds=1)
    before = [start - timedelta(hours=h) for h in (1, 5, 13)] + [start - micro]
    inside = [start, start + micro, start + timedelta(hours=2)]
    tokyo = (start - timedelta(seconds=1)).astimezone(ZoneInfo("Asia/Tokyo"))  # sorts after
    chicago = (start + timedelta(seconds=1)).astimezone(ZoneInfo("America/Chicago"))  # before
    _fills(store, 1001, [*before, *inside, tokyo, chicago])
    fetched: list[Any] = []
    real = store_module._histories

    class Counting:
        def __init__(self, cursor: Any) -> None:
            self.cursor = cursor

        def execute(self, *args: Any) -> Any:
            return self.cursor.execute(*args)

        def fetchall(self) -> Any:
            rows = self.cursor.fetchall()
            fetched.extend(rows)
            return rows

        def close(self) -> None:
            self.cursor.close()

    def spying(conn: Any, *args: Any, **kwargs: Any) -> Any:
        raw = SimpleNamespace(cursor=lambda: Counting(conn.connection.cursor()))
        return real(SimpleNamespace(connection=raw), *args, **kwargs)

    monkeypatch.setattr(store_module, "_histories", spying)
    [stored] = store.accounts()
    got = sorted(f.at for f in stored.history.fills)
    assert got == sorted([*inside, chicago])
    assert sorted(stored.history.seen.values()) == got
    # every row fetched is in the window, or in another offset (then compared exactly)
    times = [row[2] for row in fetched]  # trade ids and fills: (account, trade, time, ...)
    assert times and all(
        not t.endswith("+00:00") or datetime.fromisoformat(t) >= start for t in times
    ), sorted(times)
    assert len(times) == 2 * len([*inside, tokyo, chicago])  # the ids' read, the fills'


def test_retention_compacts_old_fills_keeps_two_trading_weeks_and_the_whole_audit(
    path: str | Path,
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
    with store.engine.begin() as conn, pytest.raises(DBAPIError):
        conn.execute(text("DELETE FROM fill"))  # append-only again after the compaction
    store.close()
    store, d = restart(path, T0 + timedelta(minutes=1))
    assert d.acct.state is State.LockedDaily


def test_retention_below_two_trading_weeks_is_refused(tmp_path: Path) -> None:
    from fsm_risk import config
    from fsm_risk.errors import SettingsError

    s = config.parse("[general]\nfill_retention_days = 35\n", "s.ini")
    assert s.general.fill_retention_days == 35
    with pytest.raises(SettingsError, match=r"fill_retention_days.*at least 14"):
        config.parse("[general]\nfill_retention_days = 7\n", "s.ini")


def test_a_restore_runs_without_cyclic_collections_and_leaves_the_collector_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restore builds many long-lived objects and next to no garbage: a collection in the
    middle of it would only walk them (a tenth of a second and more at 1,000 accounts)."""
    import gc

    store = Store(tmp_path / "state.db")
    d = Driver(engine())
    run(store, d, account(), position(MNQ, 1, "21000"))
    during: list[bool] = []
    fresh = engine()
    real = fresh.restore_account

    def restore_account(*args: Any, **kw: Any) -> list[Effect]:
        during.append(gc.isenabled())
        return real(*args, **kw)

    monkeypatch.setattr(fresh, "restore_account", restore_account)
    assert gc.isenabled()
    _, ids = restore_all(store, fresh, d.now)
    assert ids == [d.acct.account_id] and during == [False] and gc.isenabled()
    gc.disable()  # a caller's choice is kept
    try:
        restore_all(store, fresh, d.now)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_sqlite_commits_leave_the_disk_flush_to_a_thread_of_their_own(tmp_path: Path) -> None:
    """No disk flush inside a commit (a close waits for the commit): the log is written before
    the commit returns, so a crash of the process loses nothing, and the store's flusher puts
    it on the disk from its own thread; checkpoints run there too, never inside a commit."""
    store = Store(tmp_path / "state.db")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    assert store.flusher is not None
    engine = make_engine()
    d = Driver(engine)
    d.send(account("50000"))
    d.send(position(MNQ, 2, "21000"))
    audit = [e.entry for e in d.effects if isinstance(e, RecordTransition)]
    store.commit(engine.take_changes(), audit)
    assert store.flusher.wait(1, timeout=10), "the commit was never flushed"
    with sqlite3.connect(tmp_path / "state.db") as other:  # as a restarted process reads it
        assert other.execute("SELECT count(*) FROM account").fetchone() == (1,)
    store.close()
    assert store.flusher.checkpoints >= 1  # the log checkpointed into the database at the end


#: a write-ahead log holding its header and one frame (a 24-byte header and a 4 KiB page)
LOG_STARTED = 32 + 24 + 4096


def test_a_checkpoint_empties_the_log_so_commits_only_append_to_it(tmp_path: Path) -> None:
    """A log only restarted is written over from its start, frame by frame across the disk's
    blocks: every commit then rewrites part of a block written a checkpoint ago, which the
    kernel may have let go from memory (the write reads it back from the disk first, inside
    the commit a close waits for). Checkpointed, the log is emptied and started afresh by the
    flusher (whose first write flushes the new log's header, not the next commit's): the next
    commits append."""
    store = Store(tmp_path / "state.db")
    assert store.flusher is not None
    wal = tmp_path / "state.db-wal"
    engine = make_engine()
    d = Driver(engine)
    d.send(account("50000"))
    d.send(position(MNQ, 2, "21000"))
    audit = [e.entry for e in d.effects if isinstance(e, RecordTransition)]
    store.commit(engine.take_changes(), audit, flush=False)  # (no flusher thread: flushed here)
    assert wal.stat().st_size > 0
    store.flusher.checkpoint_every = 0  # due now
    store.flusher.flush()
    assert store.flusher.checkpoints == 1 and store.flusher.failures == 0
    assert wal.stat().st_size <= LOG_STARTED  # its header and one page: the new log started
    with sqlite3.connect(tmp_path / "state.db") as other:  # in the database itself
        assert other.execute("SELECT count(*) FROM account").fetchone() == (1,)
    d.send(position(MNQ, 3, "21000"))
    store.commit(engine.take_changes(), flush=False)
    assert wal.stat().st_size > 0  # appended to the emptied log
    store.close()


@pytest.mark.parametrize("then", ["removed", "replaced"])
def test_a_database_file_removed_or_replaced_is_alerted_and_nothing_made_at_its_path(
    tmp_path: Path, then: str
) -> None:
    """Nothing is committed to the file the store has open (kept for when it is back); the
    flusher sees (device, inode) at the path change, says so once as a CRITICAL alert, and
    opens nothing by the path (a checkpoint there used to create an empty database, 0644,
    with no locks and no log)."""
    from loguru import logger

    path = tmp_path / "state.db"
    store = Store(path)
    assert store.flusher is not None
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m), level="WARNING", format="{level} {message}")
    try:
        path.unlink()
        if then == "replaced":
            path.write_bytes(b"")
        engine = make_engine()
        d = Driver(engine)
        d.send(account("50000"))
        with pytest.raises(StorageFailed, match=f"was {then} while the service runs"):
            store.commit(engine.take_changes(), flush=False)  # not into the file gone
        assert store.pending is not None  # kept for when the file is back
        store.flusher.checkpoint_every = 0  # due now
        store.flusher.flush()
        store.flusher.flush()
        assert store.flusher.lost == then and store.flusher.checkpoints == 0
        alerts = [line for line in lines if f"the database file {path} was {then}" in line]
        assert len(alerts) == 1 and alerts[0].startswith("CRITICAL"), lines
        store.close()
    finally:
        logger.remove(sink)
    assert path.exists() == (then == "replaced")
    if then == "replaced":
        assert path.read_bytes() == b""  # not written over


def test_a_checkpoint_waits_for_no_reader_and_no_commit(tmp_path: Path) -> None:
    """A reader of an older snapshot (the dashboard's, another process's) keeps the log: the
    checkpoint gives way at once rather than holding the write lock while it waits (a close's
    commit would wait behind it), flushes the log instead, and empties it a round later."""
    store = Store(tmp_path / "state.db")
    assert store.flusher is not None
    engine = make_engine()
    d = Driver(engine)
    d.send(account("50000"))
    store.commit(engine.take_changes(), flush=False)  # (no flusher thread: flushed here)
    reader = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM account").fetchone() == (1,)
    d.send(position(MNQ, 2, "21000"))
    store.commit(engine.take_changes(), flush=False)  # past the reader's snapshot
    store.flusher.checkpoint_every = 0
    began = time.monotonic()
    store.flusher.flush()
    assert time.monotonic() - began < 1.0
    assert store.flusher.checkpoints == 0 and store.flusher.failures == 0
    assert store.flusher.rounds == 1
    d.send(position(MNQ, 1, "21000"))
    store.commit(engine.take_changes(), flush=False)  # the writer was never held
    reader.execute("COMMIT")
    reader.close()
    store.flusher.flush()
    assert store.flusher.checkpoints == 1
    assert (tmp_path / "state.db-wal").stat().st_size <= LOG_STARTED
    store.close()


def test_a_reader_starts_no_flusher_thread(tmp_path: Path) -> None:
    Store(tmp_path / "state.db").close()
    store = Store(tmp_path / "state.db")
    assert store.accounts() == []
    assert store.flusher is not None and store.flusher.rounds == 0
    assert not store.flusher.running
    store.close()


def test_a_books_audit_since_an_instant_is_one_read_and_matches_each_accounts_own(
    path: str | Path,
) -> None:
    """What the dashboard shows at start (each account's transitions of the day, among its
    last ``limit``): one read for the whole book, the same entries as a read per account."""
    from sqlalchemy import event

    from fsm_risk.core.effects import AuditEntry

    store = Store(path)
    day = T0.replace(hour=0, minute=0, second=0, microsecond=0)
    entries = []
    for k in range(40):  # yesterday and today, for three accounts; the fourth has none
        at = day + timedelta(hours=k - 20)
        for a in (1, 2, 3):
            if a == 3 and k % 2:
                continue
            state = State.Trading if k % 2 else State.Flattening
            entries.append(AuditEntry(at, a, None, state, state, "t", None, f"{a}/{k}", "me"))
    store.commit(make_engine({}).take_changes(), entries)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, sql: str, *rest: Any) -> None:
        statements.append(sql)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        found = store.audit_since(day, [1, 2, 3, 4], limit=15)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    for a in (1, 2, 3, 4):
        own = [e for e in store.audit(a, limit=15) if e.at >= day]
        assert found[a] == own
    assert [e.reason for e in found[1]] == [f"1/{k}" for k in range(25, 40)]  # the last 15
    assert [e.reason for e in found[3]] == [f"3/{k}" for k in range(20, 40, 2)]
    assert found[4] == []


def test_a_commit_refused_again_costs_what_it_brings_not_what_waits(tmp_path: Path) -> None:
    """With the database file gone for hours, each refused commit (one before every close)
    joined what waited by copying all of it: 8 ms at 300,000 journal rows, growing."""
    import os
    import time

    from fsm_risk.core.engine import Changes

    row = {"at": "2026-12-04T15:00:00+00:00", "account_id": 1001, "kind": "Quote", "data": "[]"}
    store = Store(tmp_path / "state.db")
    try:
        os.remove(tmp_path / "state.db")

        def refused() -> float:
            started = time.perf_counter()
            with pytest.raises(StorageFailed):
                store.commit(Changes([], []), journal=[dict(row) for _ in range(10)], flush=False)
            return time.perf_counter() - started

        refused()
        assert store.pending is not None
        waiting = store.pending.journal
        waiting.extend(dict(row) for _ in range(150_000))
        assert min(refused() for _ in range(5)) < 0.005
        assert store.pending.journal is waiting  # joined in place, never copied
        assert len(waiting) == 150_060  # all of it still kept
    finally:
        store.close()


def test_an_accounts_stored_machines_say_the_restriction_its_restore_would(
    path: str | Path,
) -> None:
    """What a service reads of an account it does not restore (one `[general] accounts`
    leaves out, on a shared server) says the restriction the restore would hold: the lock
    until its reset, then the close still in flight."""
    from fsm_risk.core.restricted import Restriction, restriction, scopes

    store = Store(path)
    d = Driver(engine())
    lock_it(store, d)
    run(store, d, position(MNQ, 1, "21000"))  # appears while locked: close in flight
    [hold] = d.acct.holds.values()
    assert hold.until is not None
    store.close()
    found = []
    for now in (T0 + timedelta(hours=1), hold.until):
        store2, d2 = restart(path, now)
        stored = store2.machines([d2.acct.account_id, 4242])  # (4242: never stored)
        assert list(stored) == [d2.acct.account_id]
        found.append(restriction(stored[d2.acct.account_id], now))
        assert found[-1] == restriction(scopes(d2.acct), now)
        store2.close()
    assert found == [
        Restriction(State.LockedDaily, hold.until),
        Restriction(State.Flattening, None, MNQ),  # the account's lock ended at the reset
    ]
