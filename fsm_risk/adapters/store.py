"""Persistence behind a repository: SQLModel tables on SQLite (WAL, the default) or on a
PostgreSQL server (``postgresql://...``, psycopg 3), mapped to the core's objects.

- ``account`` / ``contract``: each machine's state plus its persisted state as JSON (holds
  with their deadlines, the books' accumulators, positions, working orders, rule memory), so
  a restart restores every state and deadline exactly. Small: bounded by what is open, never
  by the history. A commit rewrites only the rows whose content moved. A contract has a row
  only while its model has something to keep (locked, flattening, a close of ours in flight):
  a contract traded and flat again has its row deleted.
- ``audit``: the append-only log of transitions (triggers refuse UPDATE and DELETE).
- ``fill``: the append-only fills journal (trader and enforcement fills, classified).
- ``round_trip`` / ``voided_trade``: append-only too, the round trips closed and the trades
  the gateway voided. With the fills they are an account's history: start-up rebuilds the
  day's fills and round trips and the trade ids a reconciliation can read again (since the
  earlier of the day's and the week's start) from them by indexed queries, so it costs what
  those periods hold, not what the database has kept.
- ``mark``: the latest quote per contract, for `status`.
- ``admin`` / ``auth_failure``: the admin credential (a salted scrypt hash, never the secret)
  and failed attempts, for rate limiting.
- ``journal``: every event the service handled, with the instant it was handled at (kind and
  a compact JSON of the event), written in the same transaction as the state it produced, so
  replay sees exactly what the engine saw; rows older than the retention are deleted.
- ``meta``: small key/values (e.g. where the running service's control channel listens).
- ``lease``: who holds each account (pid, host, since), for the refusal message.
- ``unit_of_work`` (PostgreSQL only): per store that writes, the number of its last unit of
  work committed, written in that unit's transaction: a commit whose COMMIT went unanswered
  (the connection lost after the server got it) is looked up there before its rows are
  written again, so they are never written twice (see `Store.commit`).

One service per account: on SQLite a lock on the database file itself (one service per file,
however it is named; see `Store.acquire_service_lock`); on PostgreSQL an advisory lock per
account held on a dedicated connection, so a crashed holder's lease ends with its session and
the next service takes over.

Money and times are stored as text (Decimal strings, ISO-8601 with offset): nothing is ever
rounded or stripped of its zone.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import os
import shutil
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Integer, bindparam, event, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import PoolProxiedConnection
from sqlmodel import Field, Session, SQLModel, col, create_engine, delete, select

from fsm_risk import private
from fsm_risk.adapters import shared as interned
from fsm_risk.adapters.account_locks import try_lock as _try_lock
from fsm_risk.adapters.account_locks import unlock as _unlock
from fsm_risk.core import codec
from fsm_risk.core.effects import AuditEntry, Effect
from fsm_risk.core.engine import Changes, RiskEngine
from fsm_risk.core.events import Side
from fsm_risk.core.models import AccountModel, FillRecord, History, Lock, Mark, Trip
from fsm_risk.core.restricted import Scope
from fsm_risk.core.seen import SeenTrades, micros
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import State
from fsm_risk.core.timers import ResetPrices, missed_resets
from fsm_risk.errors import AlreadyGuarded, FsmRiskError, StartedMeanwhile
from fsm_risk.schema import (
    AT_IN_USERINFO,
    at_in_userinfo,
    is_server_url,
    url_secrets,
    without_password,
)

#: the layout of the data: 1 kept every account's history inside its state document (moved
#: into the append-only tables when such a database is opened); 2 keeps it in rows of its own;
#: 3 is 2 whose state documents carry what an older fsm-risk would drop without a word (a
#: settlement's P&L in the day's and week's books, late fills, a waiver's end): a layout 2
#: opened here is marked 3 (nothing moves), and an fsm-risk of layout 2 refuses it rather than
#: lose them. Raise it whenever the stored state gains what older code cannot do without.
SCHEMA_VERSION = "3"

#: Linux keeps `flock` locks apart from the POSIX (fcntl) locks SQLite takes, so the service
#: lock can be on the database file itself; the BSDs and macOS mix the two (an exclusive
#: flock would block SQLite's own locks) and Windows' locks are mandatory: there, a lock file
_LOCK_THE_FILE = sys.platform.startswith("linux")


#: ids from the gateway may outgrow 32 bits; SQLite's INTEGER is 64-bit already (and an
#: INTEGER primary key stays the rowid there)
_ID = BigInteger().with_variant(Integer(), "sqlite")


class AccountRow(SQLModel, table=True):
    __tablename__ = "account"
    account_id: int = Field(primary_key=True, sa_type=_ID)
    name: str
    state: str
    updated_at: str
    snapshot: str


class ContractRow(SQLModel, table=True):
    __tablename__ = "contract"
    account_id: int = Field(primary_key=True, sa_type=_ID)
    contract_id: str = Field(primary_key=True)
    state: str
    snapshot: str


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: str = Field(index=True)
    account_id: int = Field(index=True, sa_type=_ID)
    contract_id: str | None
    from_state: str
    to_state: str
    trigger: str
    rule_id: str | None
    reason: str
    actor: str


class FillRow(SQLModel, table=True):
    __tablename__ = "fill"
    account_id: int = Field(primary_key=True, sa_type=_ID)
    trade_id: int = Field(primary_key=True, sa_type=_ID)
    at: str = Field(index=True)
    contract_id: str
    order_id: int = Field(sa_type=_ID)
    side: int
    size: int
    price: str
    pnl: str | None
    fees: str
    entry: int
    exit: int
    enforcement: bool


class TripRow(SQLModel, table=True):
    """A round trip closed (flat to flat, or the closing part of a reversal)."""

    __tablename__ = "round_trip"
    id: int | None = Field(default=None, primary_key=True)  # the order they closed in
    account_id: int = Field(sa_type=_ID)
    closed_at: str = Field(index=True)
    contract_id: str
    long: bool
    opened_at: str
    net: str
    size: int
    enforced: bool


class VoidRow(SQLModel, table=True):
    """A trade the gateway voided: never applied again, and out of the day's fills."""

    __tablename__ = "voided_trade"
    account_id: int = Field(primary_key=True, sa_type=_ID)
    trade_id: int = Field(primary_key=True, sa_type=_ID)
    at: str = Field(index=True)


class JournalRow(SQLModel, table=True):
    __tablename__ = "journal"
    id: int | None = Field(default=None, primary_key=True)
    at: str = Field(index=True)  # UTC ISO-8601: sorts as time
    account_id: int | None = Field(default=None, index=True, sa_type=_ID)  # None: quotes...
    kind: str
    data: str


class MarkRow(SQLModel, table=True):
    __tablename__ = "mark"
    contract_id: str = Field(primary_key=True)
    last: str | None
    bid: str | None
    ask: str | None
    at: str


class AdminRow(SQLModel, table=True):
    __tablename__ = "admin"
    id: int = Field(default=1, primary_key=True)
    salt: str
    hash: str
    params: str
    created_at: str


class AuthFailureRow(SQLModel, table=True):
    __tablename__ = "auth_failure"
    id: int | None = Field(default=None, primary_key=True)
    at: str = Field(index=True)
    who: str


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class LeaseRow(SQLModel, table=True):
    """Who holds an account's lease (the lock itself is the advisory lock or the lock file)."""

    __tablename__ = "lease"
    account_id: int = Field(primary_key=True, sa_type=_ID)
    pid: int
    host: str
    since: str


#: tables rows are only ever added to (the journal's expired rows are deleted, never changed)
_APPEND_ONLY = (
    ("audit", ("UPDATE", "DELETE")),
    ("fill", ("UPDATE", "DELETE")),
    ("round_trip", ("UPDATE", "DELETE")),
    ("voided_trade", ("UPDATE", "DELETE")),
    ("journal", ("UPDATE",)),
)
#: an account's fills since an instant by index; it holds the trade id too, so the trade ids
#: a start reads come from the index alone (it replaces the (account_id, at) one of layout 1)
_FILL_INDEX = "ix_fill_account_at_trade"
#: an account's history since an instant, by index
_HISTORY_INDEXES = (
    (_FILL_INDEX, "fill (account_id, at, trade_id)"),
    ("ix_round_trip_account_closed", "round_trip (account_id, closed_at)"),
    ("ix_voided_trade_account_at", "voided_trade (account_id, at)"),
)
#: the history tables retention compacts, by their time column
_HISTORY = (("fill", "at"), ("round_trip", "closed_at"), ("voided_trade", "at"))

#: the high 32 bits of every advisory lock key of ours ("FSMR"); the low 32 are the account's
_LEASE_SPACE = 0x46534D52
#: how long a SQLite statement waits for a lock another connection holds (milliseconds)
_BUSY_MS = 5000
#: how long a commit waits for it (it runs before every close: bounded as on PostgreSQL)
_WRITER_BUSY_MS = 500
#: PostgreSQL: the bounds on a commit, which runs before every close (see `_pg_connect`): a
#: lock another session holds (a table lock, a row another transaction has), and how long
#: that wait is once a commit has failed (not 0: in PostgreSQL 0 is no limit)
_PG_LOCK_MS = 500
_PG_LOCK_FAILED = "1ms"
#: a statement the server is slow to run (server-side: its statement_timeout)
_PG_STATEMENT_MS = 1000
#: what the commit sent and the server's host has not acknowledged, for this long: the network
#: or the host is gone (the kernel's TCP_USER_TIMEOUT, set by libpq's tcp_user_timeout)
_PG_SILENT_MS = 1000
#: a connection (seconds; libpq's and psycopg's least)
_PG_CONNECT_S = 2
#: while the commits fail, the writer's connection is made again on a thread of the store's,
#: one attempt at a time, at most this often (seconds): never on the caller's (the event loop)
_PG_RECONNECT_EVERY = 1.0
#: PostgreSQL: per store that writes, the number of its latest unit of work committed
_UNIT_TABLE = (
    "CREATE TABLE IF NOT EXISTS unit_of_work (writer TEXT PRIMARY KEY, seq BIGINT NOT NULL)"
)
#: PostgreSQL: the journal's expired rows deleted by the pruning thread, so many a
#: transaction (oldest first, by the index on ``at``: well within the statement timeout)
_PRUNE_BATCH = 10_000
_PRUNE_STATEMENT = (
    "DELETE FROM journal WHERE id IN (SELECT id FROM journal WHERE at < :t ORDER BY at LIMIT :n)"
)
#: libpq's keepalives on every connection: an idle one whose server vanished is noticed
_PG_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}
#: free space below which a failed write on SQLite is said to be for a full disk (bytes)
_LOW_DISK = 1 << 20
#: `Store.read_only` for a SQLite file opened on a full disk (read until there is room)
_FULL_DISK = "on a full disk"


class StorageFailed(FsmRiskError):
    """The storage refused a commit (see `storage_error`): nothing of it was written, and what
    it held is kept in `Store.pending` for the next commit."""

    def __init__(self, where: str, reason: str, gave_way: bool = False) -> None:
        #: refused for SQLite's write lock held elsewhere (the writer waits half a second)
        self.where, self.reason, self.gave_way = where, reason, gave_way
        super().__init__(f"database {where}: cannot be written: {reason}")


class FileLost(Exception):
    """The database file at the store's path is no longer the one it opened."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"the database file was {what} while the service runs; nothing is written until "
            "it is back (a restart now would start without the state, locks and audit it held)"
        )


#: SQLite's primary result codes that say the storage refused, not the statement
_SQLITE_STORAGE = {
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CORRUPT,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_NOTADB,
}


def storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the storage cannot take a write now (a full disk, a read-only or
    vanished file, a lock held elsewhere, a server down or unreachable), not that the write
    itself was wrong (a syntax error, a constraint: those are bugs and stay raised)."""
    import psycopg
    from sqlalchemy import exc as sa

    seen: set[int] = set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        if isinstance(found, sqlite3.DatabaseError):
            code = getattr(found, "sqlite_errorcode", None)
            if code is None:  # no code to tell by: an operational one is the storage's
                return isinstance(found, sqlite3.OperationalError)
            return code & 0xFF in _SQLITE_STORAGE
        if isinstance(found, psycopg.OperationalError):
            return True  # connection refused or lost, server shut down, disk full
        if isinstance(found, psycopg.errors.ReadOnlySqlTransaction):
            return True  # a server answering read-only (a standby, a failover, a full disk's)
        if isinstance(found, sa.DBAPIError) and found.connection_invalidated:
            return True
        if isinstance(found, sa.TimeoutError | sa.DisconnectionError):
            return True  # no connection from the pool in time; a connection gone
        orig = getattr(found, "orig", None)
        found = orig if isinstance(orig, BaseException) else found.__cause__
    return False


def describe_storage_error(exc: BaseException) -> str:
    """The driver's own words for a storage error, on one line, no password."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if isinstance(orig, BaseException) else exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@dataclass
class InDoubt:
    """A try of `Unsaved` rows whose COMMIT the server never answered: its number in the
    store's ``unit_of_work`` row, and how many of each list of rows it held."""

    seq: int
    fills: int
    trips: int
    voids: int
    audit: int
    journal: int


@dataclass
class Unsaved:
    """What commits the storage refused held, in the order they were made: merged into the
    next commit (`merged`), which writes it all in one transaction or keeps it all again.

    The accounts are the engine's live models, so the rows written are their state at that
    commit (the latest wins); the rest is appended in order: fills, round trips and voided
    trades, the contracts let go, audit entries and journal rows; the latest marks win."""

    accounts: dict[int, AccountModel]
    fills: list[tuple[int, FillRecord]]
    trips: list[tuple[int, Trip]]
    voids: list[tuple[int, int, datetime]]
    dropped: list[tuple[int, str]]
    audit: list[AuditEntry]
    marks: dict[str, Mark]
    journal: list[dict[str, Any]]
    journal_before: datetime | None
    reason: str  # why the last try failed, in the driver's words

    #: journal rows dropped, the oldest first, past `PENDING_JOURNAL` (see `absorb`)
    journal_dropped: int = 0
    #: PostgreSQL: the last try of these rows, whose COMMIT went unanswered (the server may
    #: have written them), and how much of each list it held (the first rows: see `settle`)
    doubt: InDoubt | None = None
    #: meta rows to set with these (`Changes.meta`; the latest value wins)
    meta: dict[str, str] = field(default_factory=dict)

    def absorb(
        self,
        changes: Changes,
        entries: list[AuditEntry],
        marks: dict[str, Mark] | None,
        journal: Sequence[dict[str, Any]],
        journal_before: datetime | None,
    ) -> None:
        """A new unit of work joins this one, in place: a commit refused again costs what it
        brings, never what waits (a copy of all of it at every commit held the event loop
        longer the longer the database was gone: 8 ms at 300,000 journal rows). The journal
        keeps its latest `PENDING_JOURNAL` rows (every quote is one: an outage of hours would
        otherwise take the memory); what is dropped is counted."""
        for acct in changes.accounts:
            self.accounts[acct.account_id] = acct
        self.fills.extend(changes.fills)
        self.trips.extend(changes.trips)
        self.voids.extend(changes.voids)
        self.dropped.extend(d for d in changes.dropped if d not in self.dropped)
        self.meta.update(changes.meta)
        self.audit.extend(entries)
        self.marks.update(marks or {})
        self.journal.extend(journal)
        excess = len(self.journal) - PENDING_JOURNAL
        if excess > PENDING_JOURNAL // 10:  # (trimmed now and then: each trim moves it all)
            del self.journal[:excess]
            self.journal_dropped += excess
            if self.doubt is not None:
                self.doubt.journal = max(0, self.doubt.journal - excess)
        if journal_before is not None:
            was = self.journal_before
            self.journal_before = journal_before if was is None else max(was, journal_before)

    def settle(self) -> None:
        """The try in doubt was committed after all: its appended rows are written, only
        what joined since waits (the state rows, marks and deletions are written again:
        upserts and deletes, the same whatever the number of times)."""
        d, self.doubt = self.doubt, None
        if d is not None:
            del self.fills[: d.fills], self.trips[: d.trips], self.voids[: d.voids]
            del self.audit[: d.audit], self.journal[: d.journal]

    def unit(
        self,
    ) -> tuple[Changes, list[AuditEntry], dict[str, Mark], list[dict[str, Any]], datetime | None]:
        """All of it as one unit of work (its own lists: a write that fails keeps them)."""
        changes = Changes(
            list(self.accounts.values()),
            self.fills,
            self.trips,
            self.voids,
            self.dropped,
            self.meta,
        )
        return changes, self.audit, self.marks, self.journal, self.journal_before

    @property
    def size(self) -> int:
        """Rows of history waiting (audit entries, fills, round trips, journal rows)."""
        return len(self.audit) + len(self.fills) + len(self.trips) + len(self.journal)


#: the most journal rows kept while the database refuses writes (`Unsaved.absorb`)
PENDING_JOURNAL = 200_000

#: the ``meta`` key naming who holds a SQLite database's service lock (pid, host, since)
_HOLDER_KEY = "service.holder"


@dataclass(frozen=True)
class StoredAccount:
    """An account as stored: its persisted state, its contracts' and its history."""

    snapshot: dict[str, Any]
    contracts: list[dict[str, Any]]
    history: History = field(default_factory=History)

    @property
    def account_id(self) -> int:
        return int(self.snapshot["account_id"])

    @property
    def state(self) -> State:
        return State(self.snapshot["state"])


class Store:
    """The repository. One per process; SQLite serializes writers, PostgreSQL is shared."""

    def __init__(self, path: str | Path) -> None:
        self._file_fd: int | None = None  # the SQLite database file, open for this store's life
        #: why the SQLite file could not be opened for writing (it is there and readable: a
        #: backup restored as another user, an immutable file, a read-only mount); the store
        #: reads it and every commit is refused and kept (`pending`), as on a full disk,
        #: until the file is writable again (`_writable_again`). None: writable
        self.read_only: str | None = None
        #: True on a PostgreSQL server (several services, one per account); False on SQLite
        self.shared = isinstance(path, str) and is_server_url(path)
        if self.shared:
            if at_in_userinfo(str(path)):
                raise FsmRiskError(f"database {without_password(str(path))}: {AT_IN_USERINFO}")
            url = make_url(str(path)).set(drivername="postgresql+psycopg")
            from fsm_risk import logs

            if url.password:
                logs.register_secret(str(url.password))
            for secret in url_secrets(str(path)):  # (a libpq ``?password=`` too)
                logs.register_secret(secret)
            #: where the data lives, for messages (a server URL without its password)
            self.where = without_password(str(path))
            self.path = Path(self.where)  # no file: kept for callers that print it
            # the pool's connections (reads, the leases, the CLI): a silent network or host
            # fails them within seconds, a ping (pool_pre_ping) included
            self.engine: Engine = create_engine(
                url,
                pool_pre_ping=True,
                connect_args={"connect_timeout": 10, "tcp_user_timeout": 10_000, **_PG_KEEPALIVES},
            )
            from sqlalchemy.dialects.postgresql import insert as pg_insert  # on a server only

            self._insert: Any = pg_insert
        else:
            self.path = Path(path)
            self.where = str(self.path)
            if str(path) != ":memory:":
                try:
                    # owner-only before SQLite opens it: its journal files take its mode
                    self.read_only = _private_or_read_only(self.path)
                    # the file this store opened: a lock on it covers every name it has
                    # (symlink, hard link, relative path), and the flusher notices when the
                    # path comes to name another file (see `Flusher.moved`)
                    self._file_fd = os.open(self.path, os.O_RDONLY)
                except OSError as exc:
                    doing = "read" if self.path.is_file() else "created"
                    raise FsmRiskError(
                        f"database {self.where}: cannot be {doing}: {exc.strerror}"
                    ) from None
            file_url = "sqlite://" if str(path) == ":memory:" else f"sqlite:///{self.path}"
            self.engine = create_engine(file_url, connect_args={"check_same_thread": False})
            event.listen(self.engine, "connect", _pragmas)
            if self._file_fd is not None:
                event.listen(
                    self.engine, "do_connect", _open_existing(self.path, lambda: self.read_only)
                )
            self._insert = sqlite_insert
        #: makes SQLite commits survive a power cut, off the caller's thread (see `Flusher`)
        self.flusher: Flusher | None = (
            Flusher(self.path, identity=_identity(os.fstat(self._file_fd)))
            if not self.shared and self._file_fd is not None
            else None
        )
        try:
            try:
                self._open()
            except Exception as exc:
                if not (_no_room(exc) and self._full_disk_unlogged()):
                    raise
                # a full disk, and no write-ahead log: the file is read as it is (immutable:
                # SQLite cannot create the shared-memory file a WAL database is read through),
                # its stored locks enforced; every commit is refused and kept until there is room
                self.read_only = _FULL_DISK
                self.engine.dispose()
                self._open()
        except Exception as exc:
            self.engine.dispose()
            self._close_file()
            reason = describe_storage_error(exc) + self._disk_note()
            raise FsmRiskError(f"database {self.where}: cannot be opened: {reason}") from None
        self._lock_fd: int | None = None  # the lock file's (where the file itself is not locked)
        self._locked = False  # this store holds the service lock
        self._writer: PoolProxiedConnection | None = None  # what `commit` writes with (SQLite)
        #: what `commit` writes with on PostgreSQL: a connection of its own, bounded (see
        #: `_pg_connect`), made again on a thread while the commits fail (`_pg_reconnect`)
        self._pg_writer: Any = None
        self._pg_reconnecting: threading.Thread | None = None
        self._pg_tried = 0.0  # when the last connection attempt on that thread ended
        self._pg_refused: str | None = None  # why it failed (None: none failed)
        #: this store's row in ``unit_of_work`` and the number of its latest try (see
        #: `_pg_unit_of_work`); the number of a try whose COMMIT went unanswered
        self._unit_writer = uuid.uuid4().hex
        self._unit_seq = 0
        self._unit_unanswered: int | None = None
        self._unit_settled = False  # the latest try found the one in doubt committed
        #: PostgreSQL: the journal's prune, on a thread (`_prune`): the latest cut-off asked
        #: for and not begun, the thread, and set while none is under way
        self._prune_guard = threading.Lock()
        self._prune_before: datetime | None = None
        self._pruning: threading.Thread | None = None
        self._pruned = threading.Event()
        self._pruned.set()
        self._closing = threading.Event()
        self._lease_guard = threading.Lock()  # the lease connection: renewed off the loop
        self._lease_conn: Connection | None = None
        self._leased: list[int] = []
        self._lease_pid = 0  # the lease connection's server process (0: none)
        self._hot = _hot_statements(self.shared)
        #: the state rows as last written by this store, by (account, contract or None): a
        #: commit skips a row whose content did not move (each account has one writer)
        self._written: dict[tuple[int, str | None], str] = {}
        #: what commits the storage refused held, written with the next that succeeds (None:
        #: everything committed is written)
        self.pending: Unsaved | None = None

    def _open(self) -> None:
        with self.engine.begin() as conn:
            if self.shared and _server_read_only(conn):  # (a standby, a failover)
                self.read_only = "answered read-only by the server"
            if self.read_only is not None:  # read as it is, or not at all
                _readable_as_is(conn)
            else:
                self._create_schema(conn)

    def _full_disk_unlogged(self) -> bool:
        """SQLite: the file's disk is full and no write-ahead log waits beside it."""
        if self.shared or self._file_fd is None or self.read_only is not None:
            return False
        return _unlogged(self.path) and _full(self.path)

    def _create_schema(self, conn: Connection) -> None:
        if self.shared:  # services starting together create the schema one at a time
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lease_key(0)})
        SQLModel.metadata.create_all(conn)
        _append_only(conn, shared=self.shared)
        for name, on in _HISTORY_INDEXES:
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {on}"))
        conn.execute(text("DROP INDEX IF EXISTS ix_fill_account_at"))  # covered above
        if self.shared:  # (added to a database of any layout as it opens)
            conn.execute(text(_UNIT_TABLE))
        self._upgrade(conn)

    def _upgrade(self, conn: Connection) -> None:
        """Bring a database of an older layout to this one, in the transaction that opens it;
        refuse one of a newer layout (written by a newer fsm-risk) rather than misread it."""
        found = conn.execute(text("SELECT value FROM meta WHERE key = 'schema'")).scalar()
        if found is None:  # no marker: a fresh database, or one from before the marker
            found = "1" if conn.execute(text("SELECT 1 FROM account LIMIT 1")).first() else None
        if found == "1":
            _history_out_of_state(conn, self._insert)
        elif found is not None and found not in ("2", SCHEMA_VERSION):
            raise FsmRiskError(
                f"its data layout is version {found}, newer than this fsm-risk reads "
                f"(version {SCHEMA_VERSION}): run the fsm-risk that wrote it, or a newer one"
            )
        conn.execute(self._upsert(MetaRow, ["key"]), {"key": "schema", "value": SCHEMA_VERSION})

    def close(self) -> None:
        self._closing.set()  # a reconnection under way closes what it made
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._pg_writer is not None and self.pending is None:  # (its row: nothing in doubt)
            with contextlib.suppress(Exception):
                self._pg_writer.execute(
                    "DELETE FROM unit_of_work WHERE writer = %s", (self._unit_writer,)
                )
        self._drop_pg_writer()
        pruning = self._pruning
        if pruning is not None:  # (it stops after its statement, itself bounded)
            pruning.join(timeout=_PG_STATEMENT_MS / 1000 + 1)
        if self.flusher is not None:
            self.flusher.stop()  # the last commits on the disk before the files are let go
        self.release_service_lock()  # after this store's last write: then the next may start
        self.engine.dispose()
        self._close_file()

    def _close_file(self) -> None:
        """Closed only once SQLite's connections are: closing any descriptor of a file drops
        every POSIX lock the process holds on it, SQLite's included."""
        fd, self._file_fd = self._file_fd, None
        if fd is not None:
            os.close(fd)

    def file_lost(self) -> str | None:
        """What became of the SQLite file at the path since the store opened it ("removed",
        "replaced"; one ``stat``), None while it is there. Nothing is written then (`commit`
        refuses, keeping it for when the file is back): the file the store has open is no
        longer what a restart reads, and its write-ahead log, named after the path, would be
        read as a restored copy's (a backup put back while the service ran was corrupted)."""
        return None if self.flusher is None else self.flusher.moved()

    def flush_soon(self) -> None:
        """Have what was committed flushed to the disk soon (see `Flusher`)."""
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self.flusher is not None:
            self.flusher.request()

    def sync(self) -> None:
        """Put every commit made so far on the disk now, not within the flusher's second: for
        what a person is answered about (an admin's transition, a trader's self-lock), which
        must survive a power cut once answered. A server database is durable at commit."""
        if self.flusher is not None:
            self.flusher.fsync()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine) as s:
            yield s
        self._flush_soon()  # whatever the session committed

    # -- the unit of work -----------------------------------------------------------------------

    def commit(
        self,
        changes: Changes,
        audit: Iterable[AuditEntry] = (),
        marks: dict[str, Mark] | None = None,
        journal: Sequence[dict[str, Any]] = (),
        journal_before: datetime | None = None,
        *,
        flush: bool = True,
        attempt: bool = True,
    ) -> None:
        """Persist one unit of work atomically: the state rows that moved, new fills, round
        trips and voided trades, audit entries, the journal rows of the events handled (and the
        journal's expired rows deleted). Its cost follows what changed, never the history.
        ``flush=False``: the caller asks for the disk flush itself (`flush_soon`), once what
        the commit allowed is done (waking the flusher's thread takes the CPU for a moment).

        A write the storage refuses (`storage_error`: a full disk, a lock held elsewhere, a
        server gone) is rolled back and raises `StorageFailed`; what it held is kept
        (`pending`) and written with the next commit that succeeds, merged with what that
        one brings (`Unsaved`). The caller goes on without it: the state lives on in memory.
        ``attempt`` false: while an earlier commit's rows wait, this one joins them and is not
        tried (the service's commits after its requests; a timer tries every few seconds)."""
        entries = list(audit)
        if changes.marks:  # (prices read at a reset: a mark given here is newer, and wins)
            marks = {**changes.marks, **(marks or {})}
        if self.shared and journal_before is not None:  # (off the caller's thread: `_prune`)
            self._prune_soon(journal_before)
            journal_before = None
        if self.pending is not None:  # an earlier commit failed: its rows go first
            self.pending.absorb(changes, entries, marks, journal, journal_before)
            if not attempt:  # (kept: written by the next commit that tries)
                raise StorageFailed(self.where, self.pending.reason)
            changes, entries, marks, journal, journal_before = self.pending.unit()
        lost = self.file_lost()
        if lost is not None:  # (its write-ahead log, by name, would be another file's)
            reason = self._failed(FileLost(lost), changes, entries, marks, journal, journal_before)
            raise StorageFailed(self.where, reason)
        if not changes and not entries and not marks and not journal and not journal_before:
            return
        accounts, contracts = [], []
        written: dict[tuple[int, str | None], str] = {}
        # contract models let go: their rows are deleted (those this store wrote or read back;
        # there is no other row of an account, it has one writer)
        gone = [k for k in changes.dropped if k in self._written]
        for acct in changes.accounts:
            a, cs = _account_rows(acct)
            if self._written.get((acct.account_id, None)) != a["snapshot"]:
                accounts.append(a)
                written[acct.account_id, None] = a["snapshot"]
            for c in cs:
                key = (acct.account_id, c["contract_id"])
                # (a row deleted in this transaction is written again if its model is back)
                if self._written.get(key) != c["snapshot"] or (gone and key in gone):
                    contracts.append(c)
                    written[key] = c["snapshot"]
        sql = self._hot
        self._unit_unanswered = None
        try:
            with self._unit_of_work() as cur:  # one transaction; upserts, no read-before-write
                if self.pending is not None and self._unit_settled:
                    # (the try in doubt was written after all: only what joined it since)
                    changes, entries, marks, journal, journal_before = self.pending.unit()
                run = cur.executemany
                # the rows of every unit of work go to the driver as they are (no statement
                # building per commit): this runs before every close the service sends
                if accounts:
                    run(sql["account"], accounts)
                if gone:
                    run(
                        sql["drop_contract"], [{"account_id": a, "contract_id": c} for a, c in gone]
                    )
                if contracts:
                    run(sql["contract"], contracts)
                if changes.fills:
                    run(sql["fill"], [_fill_row(i, r) for i, r in changes.fills])
                if changes.trips:
                    run(sql["round_trip"], [_trip_row(i, t) for i, t in changes.trips])
                if changes.voids:
                    run(
                        sql["voided_trade"],
                        [
                            {"account_id": a, "trade_id": t, "at": at.isoformat()}
                            for a, t, at in changes.voids
                        ],
                    )
                if changes.meta:
                    run(sql["meta"], [{"key": k, "value": v} for k, v in changes.meta.items()])
                if entries:  # (no ORM object per entry: this runs before the close too)
                    run(sql["audit"], [_audit_params(e) for e in entries])
                if marks:
                    run(sql["mark"], [_mark_params(c, m) for c, m in marks.items()])
                if journal:
                    run(sql["journal"], list(journal))
                if journal_before is not None:  # (SQLite: on a server see `_prune`)
                    cur.execute(sql["journal_expired"], {"t": journal_instant(journal_before)})
        except Exception as exc:
            if not storage_error(exc):
                raise
            reason = self._failed(exc, changes, entries, marks, journal, journal_before)
            if self.pending is not None and self._unit_unanswered is not None:
                self.pending.doubt = InDoubt(
                    self._unit_unanswered,
                    len(changes.fills),
                    len(changes.trips),
                    len(changes.voids),
                    len(entries),
                    len(journal),
                )
            code = getattr(exc, "sqlite_errorcode", None)  # (None: not SQLite's own)
            held = code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            raise StorageFailed(self.where, reason, gave_way=held) from exc
        if self.pending is not None:  # written at last, with everything held since
            if self.pending.journal_dropped:
                from loguru import logger

                from fsm_risk import logs

                logger.warning(
                    "{} the journal's oldest {} row(s) of the outage were not kept (at most {} "
                    "wait in memory): a replay of that time from the journal is incomplete",
                    logs.ALERT,
                    self.pending.journal_dropped,
                    PENDING_JOURNAL,
                )
            self.pending = None
            self._wait_for_lock(min(_BUSY_MS, _WRITER_BUSY_MS))
        if self.shared:
            self.read_only = None  # (a server that answered read-only at the start is written)
        for k in gone:
            self._written.pop(k, None)
        self._written.update(written)  # only once committed
        if flush:
            self._flush_soon()

    @contextmanager
    def _unit_of_work(self) -> Iterator[Any]:
        """A transaction for `commit`, as a cursor of the driver's (the hot statements run
        over rows with its ``executemany``), straight on a connection kept for it (no pool
        check-out and reset, no statement wrapping: this runs before every close). On a server
        see `_pg_unit_of_work`."""
        if self.shared:
            with self._pg_unit_of_work() as pg:
                yield pg
            return
        self._writable_again()
        if self._writer is None:
            self._writer = self.engine.raw_connection()  # with the pragmas of every connection
            self._wait_for_lock(0 if self.pending is not None else min(_BUSY_MS, _WRITER_BUSY_MS))
        driver = self._writer.driver_connection
        assert driver is not None
        cur = driver.cursor()
        try:
            if not driver.in_transaction:
                cur.execute("BEGIN")
            yield cur
            driver.commit()  # (a COMMIT refused, a full disk or a lock: rolled back below)
        except BaseException:
            try:
                driver.rollback()
            except Exception:  # the connection is in doubt: a new one for the next commit
                self._drop_writer()
            raise
        finally:
            with contextlib.suppress(Exception):
                cur.close()

    def _prune_soon(self, before: datetime) -> None:
        """PostgreSQL: have the journal's rows older than ``before`` deleted on a thread of
        the store's (`_prune`), never in a commit (a unit of work is bounded, and an hour
        of quotes is millions of rows)."""
        with self._prune_guard:
            was = self._prune_before
            self._prune_before = before if was is None else max(was, before)
            running = self._pruning
            if running is None or not running.is_alive():
                self._pruned.clear()
                thread = threading.Thread(target=self._prune, name="fsm-risk-prune", daemon=True)
                self._pruning = thread
                thread.start()

    def _prune(self) -> None:
        """The pruning thread: on a connection of the pool, `_PRUNE_BATCH` rows a transaction
        (each bounded like a commit's statements: a lock another session holds, a server slow
        to run it) until none is left; one that fails leaves the rest for the next prune."""
        from loguru import logger

        from fsm_risk import logs

        while True:
            with self._prune_guard:
                before, self._prune_before = self._prune_before, None
                if before is None or self._closing.is_set():
                    self._pruning = None
                    self._pruned.set()
                    return
            t = journal_instant(before)
            try:
                with self.engine.connect() as conn:
                    while not self._closing.is_set():
                        with conn.begin():
                            conn.execute(text(f"SET LOCAL lock_timeout = {_PG_LOCK_MS}"))
                            conn.execute(text(f"SET LOCAL statement_timeout = {_PG_STATEMENT_MS}"))
                            deleted = conn.execute(
                                text(_PRUNE_STATEMENT), {"t": t, "n": _PRUNE_BATCH}
                            ).rowcount
                        if deleted < _PRUNE_BATCH:
                            break
            except Exception as exc:
                logger.warning(
                    "{} the journal's rows before {} are not all deleted ({}): the rest is "
                    "left for the next hourly prune",
                    logs.ALERT,
                    t,
                    describe_storage_error(exc),
                )

    def wait_for_prune(self, timeout: float) -> bool:
        """Whether the journal's prune asked for is done (or given up) within ``timeout``
        seconds (PostgreSQL: see `_prune`; at once on SQLite, where a commit prunes)."""
        return self._pruned.wait(timeout)

    @contextmanager
    def _pg_unit_of_work(self) -> Iterator[Any]:
        """`_unit_of_work` on PostgreSQL: a transaction on the writer's connection (a cursor).
        Once a commit has failed, a lock held elsewhere is not waited for again (the first
        that succeeds waits as before: the setting is the transaction's own).

        Each try numbers itself in this store's ``unit_of_work`` row, in its transaction
        (with the BEGIN: no round trip of its own). A try whose COMMIT goes unanswered (the
        connection lost after the server may have committed it) is in doubt
        (`Unsaved.doubt`); the next try reads the row first, waiting for the lock the one in
        doubt may still hold (the server has not ended it: the try fails, the doubt stays):
        the number there says whether it was committed (`_unit_settled`: its rows are not
        written again) or never will be (all of it is written)."""
        conn = self._pg_writer_ready()
        cur = conn.cursor()
        self._unit_seq += 1
        seq, self._unit_settled = self._unit_seq, False
        begin = "BEGIN"
        if self.pending is not None:
            begin += f"; SET LOCAL lock_timeout = '{_PG_LOCK_FAILED}'"
        number = f"UPDATE unit_of_work SET seq = {seq} WHERE writer = '{self._unit_writer}'"
        doubt = self.pending.doubt if self.pending is not None else None
        try:
            if doubt is None:
                cur.execute(f"{begin}; {number}")  # (one query: the simple protocol)
            else:
                cur.execute(begin)
                row = cur.execute(
                    "SELECT seq FROM unit_of_work WHERE writer = %s FOR UPDATE",
                    (self._unit_writer,),
                ).fetchone()
                assert self.pending is not None
                if row is not None and row[0] >= doubt.seq:
                    self.pending.settle()
                    self._unit_settled = True
                else:
                    self.pending.doubt = None  # never committed: it is all written
                cur.execute(number)
            yield cur
            try:
                conn.commit()
            except BaseException:
                self._unit_unanswered = seq  # (the server may have committed it)
                raise
        except BaseException:
            try:
                conn.rollback()
            except Exception:
                self._drop_pg_writer()
            if conn.broken or conn.closed:  # lost: made again for the next commit
                self._drop_pg_writer()
            raise
        finally:
            with contextlib.suppress(Exception):
                cur.close()

    def _pg_connect(self) -> Any:
        """A connection for `commit` on PostgreSQL, every wait of it bounded: the server's own
        lock_timeout and statement_timeout for its session, libpq's connect_timeout, TCP
        keepalives and tcp_user_timeout for a network or host that stops answering. (A server
        process stopped whose kernel still acknowledges what is sent is not bounded by any.)"""
        import psycopg

        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        conn = psycopg.connect(
            *cargs,
            **cparams,
            connect_timeout=_PG_CONNECT_S,
            tcp_user_timeout=_PG_SILENT_MS,
            application_name="fsm-risk",
            autocommit=True,
            **_PG_KEEPALIVES,
        )
        try:
            conn.execute(f"SET lock_timeout = {_PG_LOCK_MS}")
            conn.execute(f"SET statement_timeout = {_PG_STATEMENT_MS}")
            # this store's row, committed before any unit numbers itself in it (a row the
            # unit in doubt inserted would be unseen by the next until the server ends it)
            conn.execute(
                "INSERT INTO unit_of_work (writer, seq) VALUES (%s, %s) "
                "ON CONFLICT (writer) DO NOTHING",
                (self._unit_writer, 0),
            )
            # (autocommit kept: `_pg_unit_of_work` begins each transaction itself)
        except BaseException:
            conn.close()
            raise
        return conn

    def _pg_writer_ready(self) -> Any:
        """The writer's connection. Made here when no commit has failed (the first one);
        once one has, never on the caller's thread (a server that does not answer would stand
        it still for the whole connect timeout at every commit): a thread makes it, at most
        every `_PG_RECONNECT_EVERY`, and the commits fail at once meanwhile."""
        import psycopg

        conn = self._pg_writer
        if conn is not None and not conn.closed:
            return conn
        if self.pending is None and self._pg_refused is None:
            self._pg_writer = self._pg_connect()
            return self._pg_writer
        self._pg_reconnect()
        raise psycopg.OperationalError(
            self._pg_refused or (self.pending.reason if self.pending else "reconnecting")
        )

    def _pg_reconnect(self) -> None:
        """Have a thread make the writer's connection (unless one is at it): it tries until
        it has one, every `_PG_RECONNECT_EVERY` seconds, so a server back is written to at
        the next commit."""
        running = self._pg_reconnecting
        if running is None or not running.is_alive():
            thread = threading.Thread(target=self._pg_connect_soon, name="fsm-risk-db", daemon=True)
            self._pg_reconnecting = thread
            thread.start()

    def _pg_connect_soon(self) -> None:
        while not self._closing.wait(
            max(0.0, self._pg_tried + _PG_RECONNECT_EVERY - time.monotonic())
        ):
            try:
                conn = self._pg_connect()
            except Exception as exc:
                self._pg_refused = describe_storage_error(exc)
                continue
            finally:
                self._pg_tried = time.monotonic()
            if self._closing.is_set():
                conn.close()
                return
            self._pg_refused = None
            self._pg_writer = conn
            return

    def _drop_pg_writer(self) -> None:
        conn, self._pg_writer = self._pg_writer, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.invalidate()

    def _failed(
        self,
        exc: BaseException,
        changes: Changes,
        entries: list[AuditEntry],
        marks: dict[str, Mark] | None,
        journal: Sequence[dict[str, Any]],
        journal_before: datetime | None,
    ) -> str:
        """A commit the storage refused: what it held waits for the next one (returns why)."""
        reason = describe_storage_error(exc) + self._disk_note()
        if self.pending is not None:  # (what it held is the pending's own: `absorb`)
            self.pending.reason = reason
            self._wait_for_lock(0)
            return reason
        self.pending = Unsaved(
            {a.account_id: a for a in changes.accounts},
            list(changes.fills),
            list(changes.trips),
            list(changes.voids),
            list(dict.fromkeys(changes.dropped)),
            entries,
            dict(marks or {}),
            list(journal),
            journal_before,
            reason,
            meta=dict(changes.meta),
        )
        # a lock held elsewhere: the next tries do not wait for it (the service's loop would
        # stand still the whole busy timeout at each), the first that succeeds restores it
        self._wait_for_lock(0)
        return self.pending.reason

    def _writable_again(self) -> None:
        """A file opened read-only (`read_only`) that can be written now: SQLite's connections
        made read-only are let go, so the next commit writes what waits on a new one."""
        try:
            if self.read_only is None or _not_writable(self.path) is not None:
                return
            if self.read_only == _FULL_DISK and _full(self.path):
                return
        except OSError:  # (a file removed: `file_lost` says so)
            return
        self.read_only = None
        self._drop_writer()
        self.engine.dispose()

    def _disk_note(self) -> str:
        """What a failed write may not say itself (SQLite reports a full disk as "disk I/O
        error" when its shared-memory file cannot grow): how little room the file's disk has."""
        if self.shared or str(self.path) == ":memory:":
            return ""
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return ""
        if self.read_only is not None:
            return f"; the file is {self.read_only}"
        return f" (its disk is full: {free} bytes free)" if free < _LOW_DISK else ""

    def _wait_for_lock(self, ms: int) -> None:
        """How long a commit on SQLite waits for a lock held by another connection."""
        if self._writer is not None and self._writer.driver_connection is not None:
            with contextlib.suppress(Exception):
                self._writer.driver_connection.execute(f"PRAGMA busy_timeout={int(ms)}")

    def _upsert(self, table: type[SQLModel], keys: list[str]) -> Any:
        """INSERT ... ON CONFLICT (keys) DO UPDATE SET every other column (executemany-able)."""
        stmt = self._insert(table)
        columns = [c.name for c in table.__table__.columns if c.name not in keys]  # type: ignore[attr-defined]
        return stmt.on_conflict_do_update(
            index_elements=keys, set_={c: getattr(stmt.excluded, c) for c in columns}
        )

    def save_marks(self, marks: dict[str, Mark]) -> None:
        if marks:
            self.commit(Changes([], []), (), marks)

    # -- reads --------------------------------------------------------------------------------

    def machines(self, only: Iterable[int]) -> dict[int, list[Scope]]:
        """The stored accounts of ``only`` as their machines' states and holds (see
        `restricted.restriction`), without their history: what an account left out of
        ``[general] accounts`` is still held under, read before it is restored."""
        wanted = sorted(set(only))
        if not wanted:
            return {}
        args = {"ids": wanted}
        found: dict[int, list[Scope]] = {}
        with self.engine.connect() as conn:
            sql = "SELECT account_id, snapshot FROM account WHERE account_id IN :ids"
            for a, snap in conn.execute(_in(sql), args):
                found[int(a)] = [(None, *_holds(json.loads(snap)))]
            sql = "SELECT account_id, snapshot FROM contract WHERE account_id IN :ids"
            for a, snap in conn.execute(_in(sql), args):
                row = json.loads(snap)
                if int(a) in found:
                    found[int(a)].append((row["contract_id"], *_holds(row)))
        return found

    def accounts(self, only: Iterable[int] | None = None) -> list[StoredAccount]:
        """Every stored account (or those in ``only``): its state rows, and its history from
        the append-only rows by indexed queries: the day's fills and round trips, the trade
        ids since the reconciliation's window opens (none older: after a start no read in
        flight can list them). Accounts sharing a day and a week are read together."""
        wanted = None if only is None else sorted(set(only))
        ids = "" if wanted is None else " WHERE account_id IN :ids"
        args: dict[str, Any] = {} if wanted is None else {"ids": wanted}
        with self.engine.connect() as conn:
            rows = conn.execute(
                _in(f"SELECT account_id, snapshot FROM account{ids} ORDER BY account_id"), args
            ).all()
            # what the rows hold is what they were written with: a commit after the restore
            # sends again only the rows it moved (see `commit`)
            written = self._written
            by_account: dict[int, list[dict[str, Any]]] = {}
            for a, snap in conn.execute(
                _in(f"SELECT account_id, snapshot FROM contract{ids}"), args
            ):
                contract = json.loads(snap)
                by_account.setdefault(int(a), []).append(contract)
                written[int(a), contract["contract_id"]] = snap
            states = {}
            for a, snap in rows:
                states[int(a)] = json.loads(snap)
                written[int(a), None] = snap
            periods: dict[tuple[str, str], list[int]] = {}
            for a, snap in states.items():
                periods.setdefault((snap["day"]["start"], snap["week"]["start"]), []).append(a)
            histories: dict[int, History] = {}
            for (day, week), members in periods.items():
                histories.update(
                    _histories(
                        conn,
                        members,
                        datetime.fromisoformat(day),
                        # the trade ids a reconciliation can read again: those since its
                        # window opens (the earlier of the day's and the week's start)
                        min(datetime.fromisoformat(day), datetime.fromisoformat(week)),
                        shared=self.shared,
                    )
                )
        return [
            StoredAccount(snap, by_account.get(a, []), histories[a]) for a, snap in states.items()
        ]

    def account(self, account_id: int) -> StoredAccount | None:
        found = self.accounts([account_id])
        return found[0] if found else None

    def audit(self, account_id: int | None = None, limit: int | None = None) -> list[AuditEntry]:
        with Session(self.engine) as s:
            q = select(AuditRow)
            if account_id is not None:
                q = q.where(AuditRow.account_id == account_id)
            q = q.order_by(AuditRow.id.desc())  # type: ignore[union-attr]
            if limit is not None:
                q = q.limit(limit)
            rows = list(reversed(s.exec(q).all()))
        return [_audit_entry(r) for r in rows]

    def audit_span(self, account_id: int | None, limit: int) -> tuple[int, int] | None:
        """The ids bounding what `audit` (``account_id``, ``limit``) returns, for reading it a
        page at a time (`audit_page`): the id just before its first entry and its last
        entry's id (None: no entry). The log is append-only, so the pages read what `audit`
        read at this moment, whatever is appended meanwhile. Two indexed reads of ids only."""
        with Session(self.engine) as s:
            q = select(AuditRow.id)
            if account_id is not None:
                q = q.where(AuditRow.account_id == account_id)
            last = s.exec(q.order_by(col(AuditRow.id).desc()).limit(1)).first()
            if last is None:
                return None
            q = q.where(col(AuditRow.id) <= last).order_by(col(AuditRow.id).desc())
            first = s.exec(q.offset(max(limit, 1) - 1).limit(1)).first()
        return (first - 1 if first is not None else -1), last

    def audit_page(
        self, account_id: int | None, after: int, upto: int, size: int
    ) -> tuple[list[AuditEntry], int]:
        """Up to ``size`` audit entries (of one account, or all) with ids after ``after`` and
        at most ``upto``, oldest first, and the id of the last one read (``after``: none)."""
        c = AuditRow.__table__.c  # type: ignore[attr-defined]
        q = select(*c).where(c.id > after, c.id <= upto)
        if account_id is not None:
            q = q.where(c.account_id == account_id)
        with self.engine.connect() as conn:  # rows, not ORM objects: a third of the time
            rows = conn.execute(q.order_by(c.id).limit(size)).all()
        return [_audit_entry(r) for r in rows], (rows[-1].id if rows else after)

    def audit_since(
        self, since: datetime, account_ids: Iterable[int], limit: int
    ) -> dict[int, list[AuditEntry]]:
        """Per account, its audit entries at or after ``since`` among its last ``limit`` ones,
        oldest first: what `audit` (then that filter) gives one account, for a whole book in
        one indexed read (a read per account took a third of a second at 1,000)."""
        wanted = set(account_ids)
        by_account: dict[int, list[AuditRow]] = {a: [] for a in wanted}
        with Session(self.engine) as s:
            q = select(AuditRow).where(AuditRow.at >= _iso_floor(since))
            for r in s.exec(q.order_by(AuditRow.id)).all():  # type: ignore[arg-type]
                if r.account_id in wanted:
                    by_account[r.account_id].append(r)
        out = {}
        for a, rows in by_account.items():
            entries = [_audit_entry(r) for r in rows[-limit:]]
            out[a] = [e for e in entries if e.at >= since]
        return out

    def fills(self, account_id: int, since: datetime | None = None) -> list[FillRecord]:
        """An account's fills at or after ``since`` (all of them: None), oldest first. The
        index on (account, time) narrows the read to about the rows returned."""
        with Session(self.engine) as s:
            q = select(FillRow).where(FillRow.account_id == account_id)
            if since is not None:
                q = q.where(FillRow.at >= _iso_floor(since))
            rows = s.exec(q).all()
        out = [_fill_record(r) for r in rows]
        if since is not None:
            out = [f for f in out if f.at >= since]  # exact, whatever offset a time was stored in
        return sorted(out, key=lambda f: (f.at, f.trade_id))

    def compact_fills(self, before: datetime) -> int:
        """Delete the history older than ``before``: fills, round trips and voided trades (the
        audit log is never touched); return how many fills. These logs are append-only to
        everything else: their guard is lifted only inside this one transaction."""
        cutoff = _iso_floor(before)  # a bound below ``before`` in any offset: then exactly
        dropped = 0
        self._writable_again()
        if self.read_only is not None:  # (left for a start on a writable file)
            return 0
        with self.engine.begin() as conn:
            for table, column in _HISTORY:
                key = "id" if table == "round_trip" else "account_id, trade_id"
                rows = conn.execute(
                    text(f"SELECT {key}, {column} FROM {table} WHERE {column} < :c"), {"c": cutoff}
                ).all()
                old = [r[:-1] for r in rows if datetime.fromisoformat(r[-1]) < before]
                if not old:
                    continue
                if table == "fill":
                    dropped = len(old)
                if self.shared:
                    conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
                else:
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
                if table == "round_trip":
                    conn.execute(
                        text("DELETE FROM round_trip WHERE id = :i"), [{"i": i} for (i,) in old]
                    )
                else:
                    conn.execute(
                        text(f"DELETE FROM {table} WHERE account_id = :a AND trade_id = :t"),
                        [{"a": a, "t": t} for a, t in old],
                    )
                if self.shared:
                    conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only"))
            if not self.shared:
                _append_only(conn, shared=False)
        self._flush_soon()
        return dropped

    def journal(
        self,
        account_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        contracts: Iterable[str] | None = None,
    ) -> list[tuple[str, int | None, str, str]]:
        """``(at, account_id, kind, data)`` in the order handled; with ``account_id``, that
        account's rows and the rows of no account (quotes, ticks, instruments), the quotes and
        instruments only of ``contracts`` when given."""
        p = "%s" if self.shared else "?"  # the driver's placeholder (psycopg, sqlite3)
        sql = "SELECT at, account_id, kind, data FROM journal WHERE 1=1"
        args: list[Any] = []
        if since is not None:
            sql += f" AND at >= {p}"
            args.append(journal_instant(since))
        if until is not None:
            sql += f" AND at < {p}"
            args.append(journal_instant(until))
        if account_id is not None:
            shared = "account_id IS NULL"
            if contracts is not None:
                # a quote's or an instrument's first field is its contract id (a missing one's too)
                wanted = sorted(contracts)
                marks = ",".join([p] * len(wanted))
                find = "strpos" if self.shared else "instr"
                shared += (
                    " AND (kind NOT IN ('Quote', 'InstrumentInfo', 'InstrumentMissing') OR "
                    f"substr(data, 3, {find}(substr(data, 3), '\"') - 1) IN ({marks}))"
                )
                args_shared = wanted
            else:
                args_shared = []
            sql += f" AND (account_id = {p} OR ({shared}))"
            args.extend([account_id, *args_shared])
        raw = self.engine.raw_connection()  # a plain cursor: replay reads months of rows
        try:
            cur = raw.cursor()
            cur.execute(sql + " ORDER BY id", args)
            rows: list[tuple[str, int | None, str, str]] = cur.fetchall()
            cur.close()
        finally:
            raw.close()
        return rows

    def journal_contracts(self, account_id: int) -> set[str]:
        """The contracts in an account's own journal rows (orders, fills, positions)."""
        if self.shared:
            second, third, p = "data::json ->> 1", "data::json ->> 2", "%s"
        else:
            second, third, p = "json_extract(data, '$[1]')", "json_extract(data, '$[2]')", "?"
        sql = (
            f"SELECT DISTINCT CASE kind WHEN 'PositionUpdate' THEN {second} "
            f"ELSE {third} END FROM journal WHERE account_id = {p} "
            "AND kind IN ('OrderUpdate', 'PositionUpdate', 'Fill')"
        )
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(sql, (account_id,))
            found = {str(r[0]) for r in cur.fetchall() if r[0] is not None}
            cur.close()
        finally:
            raw.close()
        return found

    def account_names(self) -> list[tuple[int, str]]:
        """The stored accounts' ids and names (no state read)."""
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT account_id, name FROM account ORDER BY account_id"))
            return [(int(a), str(n or "")) for a, n in rows]

    def account_states(self) -> list[tuple[int, State]]:
        """The stored accounts' ids and states (no snapshot read)."""
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT account_id, state FROM account ORDER BY account_id"))
            return [(int(a), State(s)) for a, s in rows]

    def journal_accounts(self) -> list[tuple[int, str]]:
        """The accounts the journal saw start, with their names."""
        sql = "SELECT account_id, data FROM journal WHERE kind = 'Start' ORDER BY id"
        found: dict[int, str] = {}
        with self.engine.connect() as conn:
            for acc, data in conn.execute(text(sql)):
                found[int(acc)] = json.loads(data)[1]
        return sorted(found.items())

    def marks(self) -> dict[str, Mark]:
        with Session(self.engine) as s:
            rows = s.exec(select(MarkRow)).all()
        return {
            r.contract_id: Mark(_d(r.last), _d(r.bid), _d(r.ask), datetime.fromisoformat(r.at))
            for r in rows
        }

    # -- admin credential and failures -------------------------------------------------------

    def admin(self) -> AdminRow | None:
        with Session(self.engine) as s:
            return s.get(AdminRow, 1)

    def set_admin(self, salt: str, digest: str, params: str, at: datetime) -> None:
        with Session(self.engine) as s:
            s.merge(
                AdminRow(id=1, salt=salt, hash=digest, params=params, created_at=at.isoformat())
            )
            s.commit()

    def clear_admin(self) -> None:
        """Delete the database's admin secret (its hash): the settings anchor it instead."""
        with Session(self.engine) as s:
            row = s.get(AdminRow, 1)
            if row is not None:
                s.delete(row)
                s.commit()

    def record_auth_failure(self, who: str, at: datetime) -> None:
        with Session(self.engine) as s:
            s.add(AuthFailureRow(at=at.isoformat(), who=who))
            s.commit()

    def auth_failures_since(self, since: datetime) -> list[datetime]:
        with Session(self.engine) as s:
            rows = s.exec(select(AuthFailureRow)).all()
        times = [datetime.fromisoformat(r.at) for r in rows]
        return sorted(t for t in times if t >= since)

    # -- meta ---------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with Session(self.engine) as s:
            row = s.get(MetaRow, key)
            return row.value if row else None

    def meta_keys(self, prefix: str) -> list[str]:
        """The meta keys beginning with ``prefix``, sorted."""
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT key FROM meta ORDER BY key"))
            return [str(k) for (k,) in rows if str(k).startswith(prefix)]

    def set_meta(self, key: str, value: str | None) -> None:
        with Session(self.engine) as s:
            row = s.get(MetaRow, key)
            if value is None:
                if row is not None:
                    s.delete(row)
            else:
                s.merge(MetaRow(key=key, value=value))
            s.commit()

    # -- the lease: one running service per account -------------------------------------------

    @property
    def _lock_path(self) -> Path:
        """The lock file where the database file itself is not locked: beside the file the
        path resolves to (a symlink or a relative path names the same lock file)."""
        real = Path(os.path.realpath(self.path))
        return real.with_name(real.name + ".lock")

    def acquire_service_lock(self) -> None:
        """Held by `fsm-risk serve` for its lifetime; refused if another service holds it.

        SQLite: one service per database file, however it is named. On Linux the lock is an
        `flock` on the database file itself, through the descriptor this store opened with the
        file and keeps until `close` (after SQLite's connections: closing any descriptor of
        the file would drop the process's POSIX locks on it, SQLite's own). A lock on the file
        (its inode) is the same lock through a symlink, a hard link or a relative path, and
        nothing beside the database can be deleted to lift it. Linux keeps flock and SQLite's
        fcntl locks apart (not over NFS, where SQLite's WAL does not work anyway). On macOS,
        the BSDs and Windows, where the two kinds mix, the lock is on a lock file beside the
        resolved path (`_lock_path`), taken again when it was deleted or replaced while this
        store waited for it; a hard link elsewhere is not covered there.
        Who holds it (pid, host, since) is kept in the database's ``meta``, for the refusal.

        PostgreSQL: opens the dedicated lease connection; `acquire_leases` then leases each
        account once the gateway has listed them."""
        if self.shared:
            self._lease_connection()
            return
        if self._locked:
            return
        if not self._take_lock():
            raise FsmRiskError(
                f"another fsm-risk service holds the lease for {self.where} "
                f"({_describe(self._holder())})"
            )
        self._locked = True
        with contextlib.suppress(Exception):  # only for a later refusal's message
            self.set_meta(_HOLDER_KEY, json.dumps(_me()))

    def _take_lock(self) -> bool:
        if _LOCK_THE_FILE:
            assert self._file_fd is not None
            return _try_lock(self._file_fd)
        while True:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            if not _try_lock(fd):
                os.close(fd)
                return False
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self._lock_path))
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd = fd
                return True
            _unlock(fd)  # deleted or replaced while we waited: lock the file there now
            os.close(fd)

    def _holder(self) -> dict[str, Any] | None:
        try:
            found = json.loads(self.meta(_HOLDER_KEY) or "null")
        except Exception:
            return None
        return found if isinstance(found, dict) else None

    def acquire_leases(self, account_ids: Iterable[int]) -> None:
        """Lease every account to this service, or none: refused when another service holds
        one (PostgreSQL). On SQLite the service lock already covers every account."""
        if not self.shared:
            return
        conn = self._lease_connection()
        taken: list[int] = []
        for account_id in sorted(set(account_ids) - set(self._leased)):
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": _lease_key(account_id)}
            ).scalar()
            if not got:
                for t in taken:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lease_key(t)})
                raise AlreadyGuarded(self.lease_refusal(account_id))
            taken.append(account_id)
        if taken:
            me = _me()
            try:  # who holds them, for a refusal's message (the advisory locks are the lease)
                with self.engine.begin() as c:
                    c.execute(
                        self._upsert(LeaseRow, ["account_id"]),
                        [me | {"account_id": a} for a in taken],
                    )
            except Exception as exc:
                if not storage_error(exc):  # (a server answering read-only: leased all the same)
                    raise
        self._leased.extend(taken)

    def renew_leases(self) -> None:
        """Check that the lease connection still holds every lease; when it died (a server
        restart, a dropped connection), take the leases again on a new one. Raises when
        another service took an account meanwhile."""
        with self._lease_guard:  # (run on a thread: never beside `release_service_lock`)
            self._renew_leases()

    def _renew_leases(self) -> None:
        if not self.shared or not self._leased:
            return
        keys = {_lease_key(a) & 0xFFFFFFFF for a in self._leased}
        try:
            rows = self._lease_connection().execute(
                text(
                    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND classid = :space AND objsubid = 1"
                ),
                {"space": _LEASE_SPACE},
            )
            if keys <= {int(r[0]) for r in rows}:
                return
        except Exception:  # the connection is gone: so are its leases
            pass
        self._drop_lease_connection()
        ids, self._leased = self._leased, []
        try:
            self.acquire_leases(ids)
        except FsmRiskError:
            raise  # another service holds one now
        except Exception:
            self._leased = ids  # the server is unreachable: try again next time
            raise

    def release_service_lock(self) -> None:
        with self._lease_guard:  # after a renewal under way: none runs after this
            self._release_service_lock()

    def _release_service_lock(self) -> None:
        if self._lease_conn is not None:
            with contextlib.suppress(Exception):
                if self._leased:
                    with self.engine.begin() as c:
                        c.execute(
                            delete(LeaseRow).where(col(LeaseRow.account_id).in_(self._leased))
                        )
            self._drop_lease_connection()
            self._leased = []
        if self._locked and _LOCK_THE_FILE and self._file_fd is not None:
            _unlock(self._file_fd)  # the descriptor stays open until `close`
        if self._lock_fd is not None:
            _unlock(self._lock_fd)
            os.close(self._lock_fd)
            self._lock_fd = None
        self._locked = False

    @contextmanager
    def held_for_change(self, busy: str, accounts: Iterable[int] = ()) -> Iterator[None]:
        """A change made through the database while no service runs: on SQLite the service
        lock is held from here to its commit, so a `serve` starting meanwhile is refused (its
        supervisor starts it again) rather than restoring the state from before the change
        and enforcing without it (the change answered as done and audited, then written over
        by the service's next commit). Raises `StartedMeanwhile` (``busy``), nothing read,
        when a service holds it already. On a server the same with the leases of
        ``accounts`` (those no service held when they were read): a service leasing one
        meanwhile is refused until the commit."""
        if self.shared:
            try:
                self.acquire_leases(accounts)
            except FsmRiskError:
                raise StartedMeanwhile(busy) from None
            try:
                yield
            finally:
                self.release_service_lock()
            return
        if self._locked:
            yield
            return
        if not self._take_lock():
            raise StartedMeanwhile(busy)
        self._locked = True
        try:
            yield
        finally:
            self._release_service_lock()

    def service_running(self, accounts: Iterable[int] | None = None) -> bool:
        """True when a live process holds the service lock on this database (on PostgreSQL:
        when a service holds the lease of one of ``accounts``; None: of any account)."""
        if self.shared:
            return bool(self.leased(accounts))
        if self._locked:
            return True
        if _LOCK_THE_FILE:
            if self._file_fd is None:
                return False
            if not _try_lock(self._file_fd):
                return True
            _unlock(self._file_fd)  # never closed here (see `acquire_service_lock`)
            return False
        if not self._lock_path.exists():
            return False
        fd = os.open(self._lock_path, os.O_RDWR)
        try:
            if not _try_lock(fd):
                return True
            _unlock(fd)
            return False
        finally:
            os.close(fd)

    def leased(self, accounts: Iterable[int] | None = None, *, others: bool = False) -> list[int]:
        """PostgreSQL: the accounts (of ``accounts``; None: any) a live service holds the
        lease of, sorted (``others``: not this store's own). SQLite has no leases: none."""
        if not self.shared:
            return []
        with self.engine.connect() as conn:
            held = {
                int(r[0])
                for r in conn.execute(
                    text(
                        "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' "
                        "AND granted AND classid = :space AND objsubid = 1 AND objid <> 0 "
                        "AND database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database()) "  # (a lock is per database)
                        "AND pid <> :mine"  # (this store's own: a change's, `held_for_change`)
                    ),
                    {"space": _LEASE_SPACE, "mine": self._lease_pid if others else -1},
                )
            }
        if accounts is None:
            return sorted(held)
        return sorted({a for a in accounts if _lease_key(a) & 0xFFFFFFFF in held})

    def lease_refusal(self, account_id: int) -> str:
        """Why a service cannot have ``account_id``: who holds its lease."""
        with Session(self.engine) as s:
            row = s.get(LeaseRow, account_id)
        holder = row.model_dump() if row else None
        return (
            f"another fsm-risk service holds the lease for account {account_id} "
            f"on {self.where} ({_describe(holder)})"
        )

    def _lease_connection(self) -> Connection:
        """The dedicated connection holding this service's advisory locks (they end with it)."""
        if self._lease_conn is None:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            # a holder whose host vanished is noticed within about a minute
            conn.execute(text("SET tcp_keepalives_idle = 30"))
            conn.execute(text("SET tcp_keepalives_interval = 10"))
            conn.execute(text("SET tcp_keepalives_count = 3"))
            conn.execute(text("SET application_name = 'fsm-risk lease'"))
            self._lease_pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar() or 0)
            self._lease_conn = conn
        return self._lease_conn

    def _drop_lease_connection(self) -> None:
        conn, self._lease_conn = self._lease_conn, None
        self._lease_pid = 0
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.execute(text("SELECT pg_advisory_unlock_all()"))
            with contextlib.suppress(Exception):
                conn.invalidate()  # never back to the pool: a pooled session would keep locks
            with contextlib.suppress(Exception):
                conn.close()


def _lease_key(account_id: int) -> int:
    """A signed 64-bit advisory lock key: our space, then the account's low 32 bits."""
    return (_LEASE_SPACE << 32) | (account_id & 0xFFFFFFFF)


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": _utcnow().isoformat()}


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "holder unknown"
    return f"pid {holder.get('pid')}, host {holder.get('host')}, since {holder.get('since')}"


def _identity(st: os.stat_result) -> tuple[int, int]:
    """A file's identity, whatever names it (device, inode)."""
    return (st.st_dev, st.st_ino)


def _append_only(conn: Connection, *, shared: bool) -> None:
    """Triggers that refuse changing (and, for the logs, deleting) rows; on PostgreSQL a log
    also refuses TRUNCATE."""
    if shared:
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION fsm_risk_append_only() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'the % log is append-only', TG_TABLE_NAME; END $$"
            )
        )
    for table, ops in _APPEND_ONLY:
        if shared:
            conn.execute(
                text(
                    f"CREATE OR REPLACE TRIGGER {table}_append_only "
                    f"BEFORE {' OR '.join(ops)} ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION fsm_risk_append_only()"
                )
            )
            if "DELETE" in ops:
                conn.execute(
                    text(
                        f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON "
                        f"{table} FOR EACH STATEMENT EXECUTE FUNCTION fsm_risk_append_only()"
                    )
                )
            continue
        for op in ops:
            conn.execute(
                text(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} "
                    f"BEFORE {op} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, 'the {table} log is append-only'); END"
                )
            )


#: what an open for writing of a file that is there fails with when it may not be written
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def _not_writable(path: Path) -> str | None:
    """Why the SQLite file at ``path`` or one of its journal files there cannot be opened
    for writing (never created here: a missing database file raises); None: they can."""
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        try:
            os.close(os.open(path.with_name(name), os.O_WRONLY | os.O_APPEND))
        except FileNotFoundError:
            if name == path.name:
                raise
        except OSError as exc:
            if exc.errno in _NOT_WRITABLE:
                return f"not writable: {exc.strerror}"
            raise
    return None


def _private_or_read_only(path: Path) -> str | None:
    """The SQLite file and its journal files made owner-only (the file created if missing);
    why it cannot be written when it is there but may not be written (see `Store.read_only`),
    else None. A missing file that cannot be created raises."""
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        file = path.with_name(name)
        if name != path.name and not file.exists():
            continue
        try:
            private.private_file(file)
        except OSError as exc:
            if exc.errno not in _NOT_WRITABLE or not path.is_file():
                raise
            return f"not writable: {exc.strerror}"
    return None


def _server_read_only(conn: Connection) -> bool:
    """Whether the PostgreSQL server answers read-only (a standby, a failover under way, a
    server made read-only as its storage fills): its data is read as it is, or not at all."""
    return conn.execute(text("SHOW transaction_read_only")).scalar() == "on"


def _readable_as_is(conn: Connection) -> None:
    """A database read without writing (`Store.read_only`): refused unless it is of this
    layout, which needs no change to be read."""
    found = conn.execute(text("SELECT value FROM meta WHERE key = 'schema'")).scalar()
    if found != SCHEMA_VERSION:
        raise FsmRiskError(
            f"its data layout (version {found}) must be brought to version {SCHEMA_VERSION}, "
            "which writes it"
        )


def _no_room(exc: BaseException) -> bool:
    """Whether SQLite refused for want of room (a full disk: "disk I/O error" when its
    shared-memory file cannot be made), not for a lock another connection holds."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL)


def _full(path: Path) -> bool:
    """Whether the disk of the SQLite file at ``path`` has no room left (`_LOW_DISK`)."""
    return shutil.disk_usage(path.parent).free < _LOW_DISK


def _unlogged(path: Path) -> bool:
    """No write-ahead log with anything in it beside the SQLite file at ``path`` (an open
    that failed leaves an empty one)."""
    try:
        return os.stat(path.with_name(path.name + "-wal")).st_size == 0
    except FileNotFoundError:
        return True


def _existing(path: Path, read_only: str | None = None) -> str:
    """The URI opening the database at ``path`` only if it is there (mode=rw): a connection
    made after the file was removed must fail, not create an empty database in its place.
    A file that may not be written in a folder where nothing may be created (a read-only
    mount), with no write-ahead log beside it: opened immutable, since SQLite cannot create
    the shared-memory file a WAL database is otherwise read through (nothing can change it)."""
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=rw"
    wal = path.with_name(path.name + "-wal")
    if (
        read_only is not None
        and (not wal.exists() or (read_only == _FULL_DISK and _unlogged(path)))
        and (not os.access(path.parent, os.W_OK) or _full(path))
    ):
        uri = uri.replace("?mode=rw", "?mode=ro&immutable=1")
    return uri


def _open_existing(path: Path, read_only: Callable[[], str | None]) -> Callable[..., None]:
    """A ``do_connect`` hook: every connection of the engine opens `_existing` (the store
    created the file before the engine's first connection)."""

    def do_connect(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        cargs[:] = [_existing(path, read_only())]
        cparams["uri"] = True

    return do_connect


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL, not FULL: in WAL mode a commit is written to the log before it returns (so it
    # survives a crash of this process: a close is known before it is sent) and the database
    # stays consistent whatever happens; what NORMAL leaves out is the disk flush per commit
    # (4-10 ms that every close used to wait for). The `Flusher` does that flush on its own
    # thread once the commits pause, so a power cut can lose at most the last second.
    # That fails closed: enforcement is held back after every start until the gateway's own
    # positions and working orders are read, so a close lost that way is read back as what it
    # did at the gateway, never resent blindly, and every fill is read again from the gateway.
    cur.execute("PRAGMA synchronous=NORMAL")
    # checkpoints (copying the log into the database, two more flushes) run on the Flusher's
    # thread too, never inside a commit that a close waits for
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
    cur.close()


class Flusher:
    """Flushes the SQLite write-ahead log to the disk on a thread of its own, once the commits
    have paused for ``quiet`` seconds (at the latest ``most`` seconds after the first commit
    not yet flushed), and checkpoints the log into the database at most every
    ``checkpoint_every`` seconds.

    Commits stay atomic and survive a crash of the process without it; this adds survival of
    a power cut for all but the last ``most`` seconds. A flush waits for a pause because a
    commit that writes while the disk flushes the same file waits for the flush; checkpoints
    are rarer because each flushes the database and a new log's header too, and empties the
    log (`checkpoint`).

    Each round first checks that the path still names the database file the store opened
    (``identity``: device and inode, one ``stat``). When it was removed or replaced, the
    commits still go to the file the service has open, but nothing at the path holds them:
    a CRITICAL alert says so (once), and the round neither checkpoints nor opens anything by
    the path (which would create an empty database there, with none of the locks and the
    audit log). The service keeps enforcing."""

    def __init__(
        self,
        path: Path,
        identity: tuple[int, int] | None = None,
        quiet: float = 0.05,
        most: float = 1.0,
        checkpoint_every: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path, self.checkpoint_every = path, checkpoint_every
        self.identity = identity
        self.lost: str | None = None  # what happened to the file at the path, when it moved
        self.quiet, self.most, self._monotonic = quiet, most, monotonic
        self.wal = path.with_name(path.name + "-wal")
        self.rounds = 0  # flush rounds done (each covers every commit made before it began)
        self.checkpoints = 0
        self.failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()  # also the thread's timer while it waits for a pause
        self._done = threading.Condition()
        self._last = 0.0
        self._checkpointed = monotonic()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """A commit was made: flush it soon (started by the first commit: a reader never
        needs the thread)."""
        self._last = self._monotonic()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fsm-risk-flush", daemon=True)
            self._thread.start()
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def wait(self, rounds: int, timeout: float) -> bool:
        """Block until ``rounds`` flush rounds are done (for callers that must know)."""
        with self._done:
            return self._done.wait_for(lambda: self.rounds >= rounds, timeout)

    def stop(self) -> None:
        """Flush what is left and end the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout=10)
            self._stop.clear()
            self._wake.clear()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            first = self._monotonic()
            while not self._stop.is_set():
                now = self._monotonic()
                pause = min(self._last + self.quiet, first + self.most) - now
                if pause <= 0:
                    break
                self._stop.wait(pause)
            self._wake.clear()  # a commit after this line sets it again: one more round
            self.flush()
            if self._stop.is_set():
                return

    def fsync(self) -> None:
        """Flush the log to the disk (any thread; no log: nothing written since the last
        checkpoint closed it)."""
        with contextlib.suppress(FileNotFoundError):
            fd = os.open(self.wal, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def checkpoint(self) -> bool:
        """Copy the log into the database and empty the log (True), waiting for no one: when
        a commit or a reader of an older snapshot is in the way, the copy goes as far as it
        can and the log stays for a later round (False).

        Emptied, not only restarted: a restarted log is written over from its start, and its
        frames (a page and a 24-byte header) straddle the disk's blocks, so every commit
        rewrites part of a block last written a checkpoint ago. Once the kernel has let that
        block go from memory, the write reads it back from the disk first, inside the commit
        a close waits for (1 to 7 ms, on about one commit in ten, in the reaction benchmark
        on a virtual machine). An emptied log is only ever appended to.

        The copy and the database's flush run first without the write lock (PASSIVE); the
        emptying takes the lock only for the truncation (a commit arriving then waits that
        long, once a checkpoint). The new log's first write, whose header is flushed to the
        disk with it, is made here too (a write of nothing: the header's unused version
        number set to itself), not left to the next commit."""
        with contextlib.closing(
            sqlite3.connect(_existing(self.path), timeout=0, isolation_level=None, uri=True)
        ) as conn:
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # flushes the log first
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError as exc:
                if _gave_way(exc):
                    return False
                raise
            if busy:
                return False
            try:
                (version,) = conn.execute("PRAGMA user_version").fetchone()
                conn.execute(f"PRAGMA user_version = {int(version)}")
            except sqlite3.OperationalError as exc:
                if not _gave_way(exc):  # (a commit came first: it writes the header itself)
                    raise
        return True

    def moved(self) -> str | None:
        """What became of the database file at the path ("removed", "replaced"), or None
        while the path names the file the store opened."""
        if self.identity is None:
            return None
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return "removed"
        return None if _identity(found) == self.identity else "replaced"

    def _check_file(self) -> bool:
        """Whether the path still names the database file; alerts once when it stops."""
        from loguru import logger

        from fsm_risk import logs

        lost, was = self.moved(), self.lost
        self.lost = lost
        if lost is not None and was is None:
            logger.critical(
                "{} the database file {} was {} while the service runs: its state, locks and "
                "audit log are not being saved there (the service keeps enforcing from the "
                "file it has open; stop it and restore the database before restarting)",
                logs.ALERT,
                self.path,
                lost,
            )
        elif lost is None and was is not None:
            logger.warning("{} the database file {} is back", logs.ALERT, self.path)
        return lost is None

    def flush(self) -> None:
        try:
            now = self._monotonic()
            due = now - self._checkpointed >= self.checkpoint_every or self._stop.is_set()
            if not self._check_file():
                self.fsync()  # the log, if it is still the one in use; nothing made by path
            elif due and self.checkpoint():
                self._checkpointed = now
                self.checkpoints += 1
            else:
                self.fsync()  # not due, or the checkpoint gave way: flush the log as it is
        except Exception as exc:  # the thread must outlive any one failure
            self.failures += 1
            from loguru import logger

            from fsm_risk import logs

            logger.error("{} the database log could not be flushed to disk: {!r}", logs.ALERT, exc)
        with self._done:
            self.rounds += 1
            self._done.notify_all()


def _gave_way(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused for a lock held elsewhere (with no wait asked for)."""
    return exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _account_rows(acct: AccountModel) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The state rows of an account and its contracts (never its history)."""
    account = {
        "account_id": acct.account_id,
        "name": acct.name,
        "state": acct.state.value,
        "updated_at": acct.last_event_at.isoformat() if acct.last_event_at else "",
        "snapshot": codec.compact(acct.persisted(), sort_keys=True),
    }
    contracts = [
        {
            "account_id": acct.account_id,
            "contract_id": cm.contract_id,
            "state": cm.state.value,
            "snapshot": codec.compact(cm.to_dict(), sort_keys=True),
        }
        for cm in acct.contracts.values()
    ]
    return account, contracts


def _hot_statements(shared: bool) -> dict[str, str]:
    """The statements every commit runs, in the driver's own terms (psycopg's ``%(name)s``,
    sqlite3's ``:name``): insert, or upsert on the key, or skip a row already there."""

    def insert(table: str, columns: str, key: str = "", update: bool = False) -> str:
        names = columns.split()
        marks = ", ".join(f"%({c})s" if shared else f":{c}" for c in names)
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
        if key and update:
            keys = key.split()
            sets = ", ".join(f"{c} = excluded.{c}" for c in names if c not in keys)
            sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
        elif key:
            sql += f" ON CONFLICT ({', '.join(key.split())}) DO NOTHING"
        return sql

    fill = _FILL_COLUMNS.replace(",", "")
    return {
        "account": insert(
            "account", "account_id name state updated_at snapshot", "account_id", update=True
        ),
        "contract": insert(
            "contract",
            "account_id contract_id state snapshot",
            "account_id contract_id",
            update=True,
        ),
        "drop_contract": (
            "DELETE FROM contract WHERE account_id = "
            + (
                "%(account_id)s AND contract_id = %(contract_id)s"
                if shared
                else ":account_id AND contract_id = :contract_id"
            )
        ),
        "fill": insert("fill", fill, "account_id trade_id"),
        "round_trip": insert(
            "round_trip", "account_id closed_at contract_id long opened_at net size enforced"
        ),
        "voided_trade": insert("voided_trade", "account_id trade_id at", "account_id trade_id"),
        "journal": insert("journal", "at account_id kind data"),
        "journal_expired": f"DELETE FROM journal WHERE at < {'%(t)s' if shared else ':t'}",
        "mark": insert("mark", "contract_id last bid ask at", "contract_id", update=True),
        "meta": insert("meta", "key value", "key", update=True),
        "audit": insert(
            "audit", "at account_id contract_id from_state to_state trigger rule_id reason actor"
        ),
    }


def _in(sql: str) -> Any:
    """A statement whose ``:ids`` (if any) takes a list."""
    stmt = text(sql)
    return stmt.bindparams(bindparam("ids", expanding=True)) if ":ids" in sql else stmt


#: accounts per history query (well under every driver's limit on parameters)
_CHUNK = 500


def _histories(
    conn: Connection, accounts: list[int], day: datetime, horizon: datetime, *, shared: bool
) -> dict[int, History]:
    """The history of accounts sharing a trading day and week, by the (account, time)
    indexes: the day's fills (voided ones out) and round trips, and the trade ids since
    ``horizon``. Times are compared exactly after the read (see `_after`). A plain cursor:
    the trade ids are the most rows a start reads."""
    out = {a: History() for a in accounts}
    p = "%s" if shared else "?"  # the driver's placeholder (psycopg, sqlite3)
    parse = datetime.fromisoformat
    bound, epoch, micro = (
        micros(horizon),
        datetime(1970, 1, 1, tzinfo=UTC),
        timedelta(microseconds=1),
    )
    cur = conn.connection.cursor()
    try:
        for i in range(0, len(accounts), _CHUNK):
            chunk = accounts[i : i + _CHUNK]
            among = f"account_id IN ({','.join([p] * len(chunk))})"

            def rows(sql: str, since: datetime, chunk: list[int] = chunk) -> list[Any]:
                cur.execute(sql, (*chunk, *_since(since)))
                found: list[Any] = cur.fetchall()
                return found

            voided: set[tuple[int, int]] = set()
            seen: dict[int, dict[int, int]] = {a: {} for a in chunk}  # built at once below
            sql = (
                f"SELECT account_id, trade_id, at FROM voided_trade WHERE {among} AND "
                f"{_after('at', p)}"
            )
            for a, t, at in rows(sql, horizon):
                voided.add((a, t))
                when = parse(at)
                if when >= horizon:
                    seen[a][t] = micros(when)
            sql = f"SELECT account_id, trade_id, at FROM fill WHERE {among} AND {_after('at', p)}"
            for a, t, at in rows(sql, horizon):  # the most rows: a week of trades
                when = (parse(at) - epoch) // micro  # `micros`, inline
                if when >= bound:
                    seen[a][t] = when
            for a, kept in seen.items():
                out[a].seen = SeenTrades.of(kept)
            sql = f"SELECT {_FILL_COLUMNS} FROM fill WHERE {among} AND {_after('at', p)}"
            for r in rows(sql, day):
                # before building the record: a time in another offset is read from 14 h early
                when = parse(r[2])
                if when >= day and (r[0], r[1]) not in voided:
                    out[r[0]].fills.append(_fill_from(r, when))
            sql = (
                "SELECT account_id, contract_id, long, opened_at, closed_at, net, size, "
                f"enforced FROM round_trip WHERE {among} AND {_after('closed_at', p)} ORDER BY id"
            )
            for a, c, long, opened, closed_at, net, size, enforced in rows(sql, day):
                closed = parse(closed_at)
                if closed >= day:
                    out[a].trips.append(
                        Trip(
                            interned.name(c),
                            bool(long),
                            parse(opened),
                            closed,
                            interned.number(net),
                            size,
                            bool(enforced),
                        )
                    )
    finally:
        cur.close()
    for h in out.values():
        h.fills.sort(key=lambda f: (f.at, f.trade_id))
    return out


_FILL_COLUMNS = (
    "account_id, trade_id, at, contract_id, order_id, side, size, price, pnl, fees, entry, "
    "exit, enforcement"
)


_SIDES = {int(side): side for side in Side}


def _fill_from(r: Any, at: datetime) -> FillRecord:
    """A fill from a row of ``_FILL_COLUMNS`` (its time ``at`` already read)."""
    return FillRecord(
        r[1],
        at,
        interned.name(r[3]),
        r[4],
        _SIDES[r[5]],
        r[6],
        interned.number(r[7]),
        None if r[8] is None else interned.number(r[8]),
        interned.number(r[9]),
        r[10],
        r[11],
        bool(r[12]),
    )


def _trip_row(account_id: int, t: Trip) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "closed_at": t.closed_at.isoformat() if t.closed_at else "",
        "contract_id": t.contract_id,
        "long": t.long,
        "opened_at": t.opened_at.isoformat(),
        "net": str(t.net),
        "size": t.size,
        "enforced": t.enforced,
    }


def _history_out_of_state(conn: Connection, insert: Any) -> None:
    """Layout 1 to 2: each account's history moves out of its state document into the
    append-only rows (the day's round trips; the trade ids seen without a fill row, voided
    ones, as voided trades so they are never applied), and the document keeps its state.
    Nothing else changes: holds, locks and deadlines stay as they were."""
    for account_id, raw in conn.execute(text("SELECT account_id, snapshot FROM account")).all():
        snap = json.loads(raw)
        filled = {
            int(t)
            for (t,) in conn.execute(
                text("SELECT trade_id FROM fill WHERE account_id = :a"), {"a": account_id}
            )
        }
        seen = snap.pop("seen_trades", {})
        if not isinstance(seen, dict):  # stored as ids only
            seen = {str(i): snap["day"]["start"] for i in seen}
        voids = [
            {"account_id": account_id, "trade_id": int(i), "at": at}
            for i, at in seen.items()
            if int(i) not in filled
        ]
        if voids:
            conn.execute(insert(VoidRow).on_conflict_do_nothing(), voids)
        trips = [Trip.from_dict(t) for t in snap["day"].get("trips", ())]
        if trips:
            conn.execute(insert(TripRow), [_trip_row(account_id, t) for t in trips])
        for book in ("day", "week"):
            snap[book].pop("fills", None)
            snap[book].pop("trips", None)
        conn.execute(
            text("UPDATE account SET snapshot = :s WHERE account_id = :a"),
            {"s": json.dumps(snap, sort_keys=True), "a": account_id},
        )


def _audit_params(e: AuditEntry) -> dict[str, Any]:
    return {
        "at": e.at.isoformat(),
        "account_id": e.account_id,
        "contract_id": e.contract_id,
        "from_state": e.from_state.value,
        "to_state": e.to_state.value,
        "trigger": e.trigger,
        "rule_id": e.rule_id,
        "reason": e.reason,
        "actor": e.actor,
    }


def _audit_entry(r: Any) -> AuditEntry:
    """An audit row (an `AuditRow`, or a row of its columns) as the core's entry."""
    return AuditEntry(
        datetime.fromisoformat(r.at),
        r.account_id,
        r.contract_id,
        State(r.from_state),
        State(r.to_state),
        r.trigger,
        r.rule_id,
        r.reason,
        r.actor,
    )


def fill_cutoff(calendar: SessionCalendar, now: datetime, days: int) -> datetime | None:
    """The instant before which fills may be compacted (None: keep them all): ``days`` ago,
    but never after the start of the previous trading week (the weekly books, the trade ids
    seen this week and the last, and every rule's window lie after it)."""
    if days <= 0:
        return None
    this_week = calendar.last_weekly_reset(now)
    last_week = calendar.last_weekly_reset(this_week - timedelta(microseconds=1))
    return min(now - timedelta(days=days), last_week)


#: how `datetime.isoformat` ends a time in UTC: such texts sort as their instants
_UTC_SUFFIX = "+00:00"


def _after(column: str, p: str) -> str:
    """The condition of `_since`'s three parameters (``p``: the driver's placeholder): a
    time in UTC at or after the instant, by the text's order (what every time written by
    this version is); one in another offset at or after the floor, compared exactly after
    the read. The range stays the index's (column >= floor); the rest is tested on the
    index's entry, so the rows of the 14 hours before the instant are not read."""
    return f"{column} >= {p} AND ({column} >= {p} OR {column} NOT LIKE {p})"


def _since(t: datetime) -> tuple[str, str, str]:
    """The parameters of `_after` for the instant ``t``."""
    return _iso_floor(t), t.astimezone(UTC).isoformat(), "%" + _UTC_SUFFIX


def _iso_floor(t: datetime) -> str:
    """A text bound at or below ``t`` in every stored form: times are stored as ISO text,
    which sorts as time only within one UTC offset, so the bound is taken 14 hours (the
    widest offset) early, in UTC, and the caller compares exactly after the read."""
    return (t.astimezone(UTC) - timedelta(hours=14)).isoformat()


def _fill_row(account_id: int, f: FillRecord) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "trade_id": f.trade_id,
        "at": f.at.isoformat(),
        "contract_id": f.contract_id,
        "order_id": f.order_id,
        "side": int(f.side),
        "size": f.size,
        "price": str(f.price),
        "pnl": None if f.pnl is None else str(f.pnl),
        "fees": str(f.fees),
        "entry": f.entry,
        "exit": f.exit,
        "enforcement": f.enforcement,
    }


def _fill_record(r: FillRow) -> FillRecord:
    return FillRecord.from_dict(
        {
            "trade_id": r.trade_id,
            "at": r.at,
            "contract_id": r.contract_id,
            "order_id": r.order_id,
            "side": r.side,
            "size": r.size,
            "price": r.price,
            "pnl": r.pnl,
            "fees": r.fees,
            "entry": r.entry,
            "exit": r.exit,
            "enforcement": r.enforcement,
        }
    )


def _mark_params(contract_id: str, m: Mark) -> dict[str, Any]:
    return _mark_row(contract_id, m).model_dump()


def _mark_row(contract_id: str, m: Mark) -> MarkRow:
    return MarkRow(
        contract_id=contract_id,
        last=None if m.last is None else str(m.last),
        bid=None if m.bid is None else str(m.bid),
        ask=None if m.ask is None else str(m.ask),
        at=m.at.isoformat(),
    )


def journal_instant(at: datetime) -> str:
    """An instant as the journal stores it: UTC, fixed width, so text order is time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _holds(row: dict[str, Any]) -> tuple[State, dict[str, Lock]]:
    """A stored machine's state and holds."""
    return State(row["state"]), {k: Lock.from_dict(v) for k, v in row["holds"].items()}


def _d(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


def restore_all(
    store: Store,
    engine: RiskEngine,
    now: datetime,
    only: Iterable[int] | None = None,
    *,
    later: list[StoredAccount] | None = None,
    stored: Iterable[StoredAccount] | None = None,
    at_reset: ResetPrices | None = None,
) -> tuple[list[Effect], list[int]]:
    """Load every stored account (or those in ``only``, or those ``stored`` already read) into
    ``engine`` (which then catches up with time, a missed reset valued ``at_reset``). With
    ``later``: an account holding positions across a reset missed while stopped is put there
    instead (see `missed_resets`): the caller reads the prices at that reset, then restores
    it (``stored``, ``at_reset``)."""
    effects: list[Effect] = []
    ids = []
    # a restore builds many long-lived objects and next to no garbage: the cyclic collections
    # it would trigger only walk them (a tenth of a second or more at 1,000 accounts)
    collecting = gc.isenabled()
    gc.disable()
    try:
        for account in store.accounts(only) if stored is None else stored:
            if later is not None and missed_resets(engine.calendar, account.snapshot, now):
                later.append(account)
                continue
            effects.extend(
                engine.restore_account(
                    account.snapshot, account.contracts, now, account.history, at_reset
                )
            )
            ids.append(account.account_id)
    finally:
        if collecting:
            gc.enable()
    return effects, ids
