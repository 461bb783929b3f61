"""A commit the database refuses (here: SQLite's write lock held by another connection, as
another process would): rolled back, raised as `StorageFailed`, and kept whole; the next
commit that succeeds writes it merged with its own, in order; a bug is never taken for it."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fsm_risk.adapters import store as store_module
from fsm_risk.adapters.store import StorageFailed, Store, restore_all
from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.events import Side
from fsm_risk.core.models import Mark
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import ES, MNQ, T0, Driver, account, fill, make_engine, position


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setattr(store_module, "_BUSY_MS", 50)  # a lock is given up on at once
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def unit(d: Driver, *events: Any) -> tuple[Any, list[Any]]:
    out: list[Effect] = d.send(*events)
    return d.engine.take_changes(), [e.entry for e in out if isinstance(e, RecordTransition)]


def journal_row(n: int) -> dict[str, Any]:
    return {
        "at": (T0 + timedelta(seconds=n)).isoformat(),
        "account_id": 1001,
        "kind": "X",
        "data": str(n),
    }


class HeldLock:
    """Another connection holding the database's write lock."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


def test_a_refused_commit_is_kept_and_written_with_the_next_one_merged_in_order(
    store: Store, tmp_path: Path
) -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    store.commit(*unit(d, account()))
    held = HeldLock(tmp_path / "state.db")

    # the day's loss: fills, a round trip, the lock and its audit entries: refused
    changes, audit = unit(
        d,
        fill(ES, Side.BUY, 1, "6000", fees="2.50"),
        fill(ES, Side.SELL, 1, "5920", pnl="-1000", fees="2.50"),
        position(ES, 0, "0"),
    )
    assert d.acct.state is State.LockedDaily and audit and changes.fills and changes.trips
    first = {"CON.F.US.ES.Z26": Mark(None, None, None, T0)}
    with pytest.raises(StorageFailed, match=r"cannot be written: database is locked"):
        store.commit(changes, audit, first, [journal_row(1)], T0 - timedelta(days=9))
    assert store.pending is not None and store.pending.reason == "database is locked"
    # and again, with what came next (a position while locked: its close in flight)
    more, more_audit = unit(d, position(MNQ, 1, "21000"))
    with pytest.raises(StorageFailed):
        store.commit(more, more_audit, None, [journal_row(2)])
    held.release()

    # the next commit (nothing of its own but a journal row) writes everything, in order
    latest = {"CON.F.US.ES.Z26": Mark(None, None, None, T0 + timedelta(seconds=5))}
    store.commit(d.engine.take_changes(), [], latest, [journal_row(3)])
    assert store.pending is None
    assert [(e.trigger, e.to_state) for e in store.audit()] == [
        (e.trigger, e.to_state) for e in audit + more_audit
    ]
    assert [f.trade_id for f in store.fills(1001)] == [f.trade_id for _, f in changes.fills]
    assert [row[3] for row in store.journal()] == ["1", "2", "3"]
    assert store.marks()["CON.F.US.ES.Z26"].at == T0 + timedelta(seconds=5)  # the latest
    # the account's rows are its latest state: a restart finds it locked, MNQ flattening
    store.close()
    again = Store(tmp_path / "state.db")
    d2 = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    restore_all(again, d2.engine, T0)
    assert d2.acct.state is State.LockedDaily
    assert d2.acct.contracts[MNQ].state is State.Flattening
    assert [t.net for t in d2.acct.day.trips] == [t.net for _, t in changes.trips]
    again.close()


def test_after_a_refused_commit_the_connection_is_usable_and_waits_for_locks_again(
    store: Store, tmp_path: Path
) -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    held = HeldLock(tmp_path / "state.db")
    with pytest.raises(StorageFailed):
        store.commit(*unit(d, account()))
    assert store._writer is not None
    driver = store._writer.driver_connection
    assert driver is not None and not driver.in_transaction  # rolled back
    held.release()
    store.commit(*unit(d, position(MNQ, 1, "21000")))
    assert store.pending is None
    assert not driver.in_transaction
    (timeout,) = driver.execute("PRAGMA busy_timeout").fetchone()
    assert timeout == 50  # the store's own wait for a lock is back
    assert store.account(1001) is not None


def test_a_bug_in_a_write_is_raised_as_it_is_and_nothing_is_kept(
    store: Store, tmp_path: Path
) -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    other = sqlite3.connect(tmp_path / "state.db")
    other.execute("DROP TABLE fill")  # a statement the database cannot run: not storage
    other.commit()
    other.close()
    with pytest.raises(sqlite3.OperationalError, match="no such table: fill"):
        store.commit(*unit(d, account(), fill(ES, Side.BUY, 1, "6000"), position(ES, 1, "6000")))
    assert store.pending is None


def test_a_database_that_cannot_be_written_at_start_is_one_line_naming_it_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_BUSY_MS", 50)
    Store(tmp_path / "state.db").close()
    held = HeldLock(tmp_path / "state.db")
    # SQLite names a full disk "disk I/O error" when its shared memory cannot grow: the
    # free space says it
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage._replace(free=0))
    try:
        with pytest.raises(FsmRiskError) as raised:
            Store(tmp_path / "state.db")
    finally:
        held.release()
    message = str(raised.value)
    assert message == (
        f"database {tmp_path / 'state.db'}: cannot be opened: database is locked "
        "(its disk is full: 0 bytes free)"
    )
