"""What commits the database refused hold, merged with the next unit of work (`Unsaved`), and
which errors count as the storage refusing (`storage_error`) rather than a bug."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from fsm_risk.adapters.store import Unsaved, storage_error
from fsm_risk.core.effects import AuditEntry
from fsm_risk.core.engine import Changes
from fsm_risk.core.events import Side
from fsm_risk.core.models import AccountModel, FillRecord, Mark, Trip
from fsm_risk.core.states import State
from tests.factories import ES, MNQ, T0


def acct(account_id: int) -> AccountModel:
    """A stand-in for the engine's live model (a merge reads its id only)."""
    model: Any = SimpleNamespace(account_id=account_id)
    return model


def a_fill(trade_id: int) -> FillRecord:
    return FillRecord(
        trade_id, T0, ES, 1, Side.BUY, 1, Decimal(6000), None, Decimal(0), 0, 0, False
    )


def a_trip(net: int) -> Trip:
    return Trip(ES, True, T0, T0, Decimal(net), 1, False)


def entry(trigger: str) -> AuditEntry:
    return AuditEntry(T0, 1, None, State.Trading, State.Flattening, trigger, None, "r", "system")


def mark(seconds: int) -> Mark:
    return Mark(Decimal(1), None, None, T0 + timedelta(seconds=seconds))


def row(n: int) -> dict[str, Any]:
    return {"at": str(n), "account_id": 1, "kind": "X", "data": str(n)}


def test_a_unit_joining_keeps_the_latest_account_and_mark_and_appends_the_history() -> None:
    one, two, one_later = acct(1), acct(2), acct(1)
    kept = Unsaved(
        {1: one, 2: two},
        [(1, a_fill(10))],
        [(1, a_trip(-5))],
        [(1, 99, T0)],
        [(1, MNQ)],
        [entry("first")],
        {ES: mark(1), MNQ: mark(1)},
        [row(1)],
        T0,
        "database or disk is full",
    )
    kept.absorb(
        Changes([one_later], [(1, a_fill(11))], [(1, a_trip(7))], [], [(1, MNQ), (2, ES)]),
        [entry("second")],
        {ES: mark(2)},
        [row(2)],
        T0 + timedelta(hours=1),
    )
    changes, audit, marks, journal, before = kept.unit()
    assert [a.account_id for a in changes.accounts] == [1, 2]
    assert changes.accounts[0] is one_later  # the latest state of the account is written
    assert [f.trade_id for _, f in changes.fills] == [10, 11]
    assert [t.net for _, t in changes.trips] == [-5, 7]
    assert changes.voids == [(1, 99, T0)]
    assert changes.dropped == [(1, MNQ), (2, ES)]  # each once, in order
    assert [e.trigger for e in audit] == ["first", "second"]
    assert marks == {ES: mark(2), MNQ: mark(1)}
    assert journal == [row(1), row(2)]
    assert before == T0 + timedelta(hours=1)
    assert kept.size == 8  # history rows waiting: 2 audit entries, 2 fills, 2 trips, 2 rows


def test_a_unit_with_nothing_new_is_what_was_kept() -> None:
    kept = Unsaved({}, [], [], [], [], [entry("x")], {}, [], None, "database is locked")
    kept.absorb(Changes([], []), [], None, (), None)
    changes, audit, marks, journal, before = kept.unit()
    assert not changes and [e.trigger for e in audit] == ["x"]
    assert marks == {} and journal == [] and before is None


def test_the_journal_kept_in_memory_is_bounded_and_what_goes_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fsm_risk.adapters import store

    monkeypatch.setattr(store, "PENDING_JOURNAL", 100)
    kept = Unsaved({}, [], [], [], [], [], {}, [], None, "database is locked")
    for n in range(1000):
        kept.absorb(Changes([], []), [], None, [row(n)], None)
    assert 100 <= len(kept.journal) <= 110
    assert kept.journal[-1] == row(999)  # the latest kept
    assert kept.journal_dropped + len(kept.journal) == 1000


def _sqlite_error(sql: str, *, lock: bool = False) -> sqlite3.Error:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute(sql)
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("no error")


@pytest.mark.parametrize(
    ("exc", "storage"),
    [
        (sqlite3.OperationalError("database or disk is full"), True),  # no code: the driver's
        (sqlite3.OperationalError("database is locked"), True),
        (_sqlite_error("SELEC 1"), False),  # a syntax error
        (_sqlite_error("SELECT * FROM missing"), False),  # no such table
        (_sqlite_error("INSERT INTO t VALUES (1)"), False),  # a constraint
        (psycopg.OperationalError("connection failed: Connection refused"), True),
        (psycopg.errors.DiskFull("could not extend file"), True),
        (psycopg.ProgrammingError("syntax error"), False),
        (OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error")), True),
        (OperationalError("INSERT", {}, psycopg.OperationalError("server closed")), True),
        (ProgrammingError("INSERT", {}, psycopg.ProgrammingError("syntax")), False),
        (IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE")), False),
        (ValueError("a bug"), False),
    ],
)
def test_the_storage_refusing_is_told_from_a_bug(exc: BaseException, storage: bool) -> None:
    assert storage_error(exc) is storage


def test_an_error_code_says_which_sqlite_errors_are_the_storages() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    readonly.sqlite_errorcode = sqlite3.SQLITE_READONLY_DBMOVED  # type: ignore[attr-defined]
    assert storage_error(full) and storage_error(busy) and storage_error(readonly)


def test_meta_rows_are_kept_with_the_unit_and_written_in_its_transaction(tmp_path: Any) -> None:
    """A unit's meta rows (the lost-state check pending for an account stored with no state)
    are held with its rows when the storage refuses them, the latest value winning, and
    written by the same commit as the rest."""
    from fsm_risk.adapters.store import Store

    kept = Unsaved({}, [], [], [], [], [], {}, [], None, "database is locked")
    kept.absorb(Changes([], [], meta={"lost_pending:1": "a", "x": "1"}), [], None, (), None)
    kept.absorb(Changes([], [], meta={"x": "2"}), [], None, (), None)
    changes, *_ = kept.unit()
    assert changes and changes.meta == {"lost_pending:1": "a", "x": "2"}
    store = Store(tmp_path / "s.db")
    try:
        store.commit(Changes([], [], meta={"lost_pending:7": "then"}))
        store.commit(Changes([], [], meta={"lost_pending:7": "now"}))
        assert store.meta_keys("lost_pending:") == ["lost_pending:7"]
        assert store.meta("lost_pending:7") == "now"
    finally:
        store.close()
