"""Persistence behind a repository: SQLModel tables on SQLite (WAL), mapped to the core's
objects.

- ``account`` / ``contract``: each machine's state plus a JSON snapshot of the model (holds
  with their deadlines, books, positions, working orders, rule memory), so a restart restores
  every state and deadline exactly.
- ``audit``: the append-only log of transitions (SQLite triggers refuse UPDATE and DELETE).
- ``fill``: the append-only fills journal (trader and enforcement fills, classified).
- ``mark``: the latest quote per contract, for `status`.
- ``admin`` / ``auth_failure``: the admin credential (a salted scrypt hash, never the secret)
  and failed attempts, for rate limiting.
- ``journal``: every event the service handled, with the instant it was handled at (kind and
  a compact JSON of the event), written in the same transaction as the state it produced, so
  replay sees exactly what the engine saw; rows older than the retention are deleted.
- ``meta``: small key/values (e.g. where the running service's control channel listens).

Money and times are stored as text (Decimal strings, ISO-8601 with offset): nothing is ever
rounded or stripped of its zone.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from fsm_risk.core.effects import AuditEntry, Effect
from fsm_risk.core.engine import Changes, RiskEngine
from fsm_risk.core.models import AccountModel, FillRecord, Mark
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError

SCHEMA_VERSION = "1"

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        """Take the exclusive lock on the file's first byte without waiting."""
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        """Take the exclusive lock on the file without waiting."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class AccountRow(SQLModel, table=True):
    __tablename__ = "account"
    account_id: int = Field(primary_key=True)
    name: str
    state: str
    updated_at: str
    snapshot: str


class ContractRow(SQLModel, table=True):
    __tablename__ = "contract"
    account_id: int = Field(primary_key=True)
    contract_id: str = Field(primary_key=True)
    state: str
    snapshot: str


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: str = Field(index=True)
    account_id: int = Field(index=True)
    contract_id: str | None
    from_state: str
    to_state: str
    trigger: str
    rule_id: str | None
    reason: str
    actor: str


class FillRow(SQLModel, table=True):
    __tablename__ = "fill"
    account_id: int = Field(primary_key=True)
    trade_id: int = Field(primary_key=True)
    at: str = Field(index=True)
    contract_id: str
    order_id: int
    side: int
    size: int
    price: str
    pnl: str | None
    fees: str
    entry: int
    exit: int
    enforcement: bool


class JournalRow(SQLModel, table=True):
    __tablename__ = "journal"
    id: int | None = Field(default=None, primary_key=True)
    at: str = Field(index=True)  # UTC ISO-8601: sorts as time
    account_id: int | None = Field(default=None, index=True)  # None: quotes, ticks, contracts
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


#: tables rows are only ever added to (the journal's expired rows are deleted, never changed)
_APPEND_ONLY = (
    ("audit", ("UPDATE", "DELETE")),
    ("fill", ("UPDATE", "DELETE")),
    ("journal", ("UPDATE",)),
)


@dataclass(frozen=True)
class StoredAccount:
    snapshot: dict[str, Any]
    contracts: list[dict[str, Any]]

    @property
    def account_id(self) -> int:
        return int(self.snapshot["account_id"])

    @property
    def state(self) -> State:
        return State(self.snapshot["state"])


class Store:
    """The repository. One per process; SQLite serializes writers."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        url = "sqlite://" if str(path) == ":memory:" else f"sqlite:///{self.path}"
        self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(self.engine, "connect", _pragmas)
        try:
            SQLModel.metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                for table, ops in _APPEND_ONLY:
                    for op in ops:
                        conn.execute(
                            text(
                                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} "
                                f"BEFORE {op} ON {table} BEGIN "
                                f"SELECT RAISE(ABORT, 'the {table} log is append-only'); END"
                            )
                        )
                conn.execute(
                    text("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', :v)"),
                    {"v": SCHEMA_VERSION},
                )
        except Exception as exc:
            raise FsmRiskError(f"database {self.path}: cannot be opened: {exc}") from None
        self._lock_fd: int | None = None

    def close(self) -> None:
        self.release_service_lock()
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine) as s:
            yield s

    # -- the unit of work -----------------------------------------------------------------------

    def commit(
        self,
        changes: Changes,
        audit: Iterable[AuditEntry] = (),
        marks: dict[str, Mark] | None = None,
        journal: Sequence[dict[str, Any]] = (),
        journal_before: datetime | None = None,
    ) -> None:
        """Persist one unit of work atomically: states, snapshots, new fills, audit entries,
        the journal rows of the events handled (and the journal's expired rows deleted)."""
        entries = list(audit)
        if not changes and not entries and not marks and not journal and not journal_before:
            return
        accounts, contracts = [], []
        for acct in changes.accounts:
            a, cs = _account_rows(acct)
            accounts.append(a)
            contracts.extend(cs)
        with self.engine.begin() as conn:  # one transaction; upserts, no read-before-write
            if accounts:
                conn.execute(_upsert(AccountRow, ["account_id"]), accounts)
            if contracts:
                conn.execute(_upsert(ContractRow, ["account_id", "contract_id"]), contracts)
            if changes.fills:
                rows = [_fill_row(i, r).model_dump() for i, r in changes.fills]
                conn.execute(sqlite_insert(FillRow).on_conflict_do_nothing(), rows)
            if entries:
                conn.execute(
                    sqlite_insert(AuditRow),
                    [_audit_row(e).model_dump(exclude={"id"}) for e in entries],
                )
            if marks:
                conn.execute(
                    _upsert(MarkRow, ["contract_id"]),
                    [_mark_row(c, m).model_dump() for c, m in marks.items()],
                )
            if journal:
                conn.execute(sqlite_insert(JournalRow), list(journal))
            if journal_before is not None:
                conn.execute(
                    text("DELETE FROM journal WHERE at < :t"),
                    {"t": journal_instant(journal_before)},
                )

    def save_marks(self, marks: dict[str, Mark]) -> None:
        if marks:
            self.commit(Changes([], []), (), marks)

    # -- reads --------------------------------------------------------------------------------

    def accounts(self) -> list[StoredAccount]:
        with Session(self.engine) as s:
            rows = s.exec(select(AccountRow).order_by(col(AccountRow.account_id))).all()
            contracts = s.exec(select(ContractRow)).all()
        by_account: dict[int, list[dict[str, Any]]] = {}
        for c in contracts:
            by_account.setdefault(c.account_id, []).append(json.loads(c.snapshot))
        out = []
        for r in rows:
            snap = json.loads(r.snapshot)
            # the day's journal lives in the append-only fill table, not in the snapshot
            start = datetime.fromisoformat(snap["day"]["start"])
            snap["day"]["fills"] = [f.to_dict() for f in self.fills(r.account_id, start)]
            out.append(StoredAccount(snap, by_account.get(r.account_id, [])))
        return out

    def account(self, account_id: int) -> StoredAccount | None:
        return next((a for a in self.accounts() if a.account_id == account_id), None)

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

    def fills(self, account_id: int, since: datetime | None = None) -> list[FillRecord]:
        with Session(self.engine) as s:
            q = select(FillRow).where(FillRow.account_id == account_id)
            rows = s.exec(q).all()
        out = [_fill_record(r) for r in rows]
        if since is not None:
            out = [f for f in out if f.at >= since]
        return sorted(out, key=lambda f: (f.at, f.trade_id))

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
        sql = "SELECT at, account_id, kind, data FROM journal WHERE 1=1"
        args: list[Any] = []
        if since is not None:
            sql += " AND at >= ?"
            args.append(journal_instant(since))
        if until is not None:
            sql += " AND at < ?"
            args.append(journal_instant(until))
        if account_id is not None:
            shared = "account_id IS NULL"
            if contracts is not None:
                # a quote's or an instrument's first field is its contract id
                wanted = sorted(contracts)
                marks = ",".join("?" * len(wanted))
                shared += (
                    " AND (kind NOT IN ('Quote', 'InstrumentInfo') OR "
                    f"substr(data, 3, instr(substr(data, 3), '\"') - 1) IN ({marks}))"
                )
                args_shared = wanted
            else:
                args_shared = []
            sql += f" AND (account_id = ? OR ({shared}))"
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
        sql = (
            "SELECT DISTINCT CASE kind WHEN 'PositionUpdate' THEN json_extract(data, '$[1]') "
            "ELSE json_extract(data, '$[2]') END FROM journal WHERE account_id = ? "
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

    def set_meta(self, key: str, value: str | None) -> None:
        with Session(self.engine) as s:
            row = s.get(MetaRow, key)
            if value is None:
                if row is not None:
                    s.delete(row)
            else:
                s.merge(MetaRow(key=key, value=value))
            s.commit()

    # -- the service lock: one running service per database ------------------------------------

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def acquire_service_lock(self) -> None:
        """Held by `fsm-risk serve` for its lifetime; refused if another service holds it."""
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            raise FsmRiskError(f"another fsm-risk service is already running on {self.path}")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def release_service_lock(self) -> None:
        if self._lock_fd is not None:
            _unlock(self._lock_fd)
            os.close(self._lock_fd)
            self._lock_fd = None

    def service_running(self) -> bool:
        """True when a live process holds the service lock on this database."""
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


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")  # a committed lock survives a power cut
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _account_rows(acct: AccountModel) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    snap = acct.to_dict()
    snap["day"]["fills"] = []  # kept in the fill table (see accounts())
    account = {
        "account_id": acct.account_id,
        "name": acct.name,
        "state": acct.state.value,
        "updated_at": acct.last_event_at.isoformat() if acct.last_event_at else "",
        "snapshot": json.dumps(snap, sort_keys=True),
    }
    contracts = [
        {
            "account_id": acct.account_id,
            "contract_id": cm.contract_id,
            "state": cm.state.value,
            "snapshot": json.dumps(cm.to_dict(), sort_keys=True),
        }
        for cm in acct.contracts.values()
    ]
    return account, contracts


def _upsert(table: type[SQLModel], keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET every other column (executemany-able)."""
    stmt = sqlite_insert(table)
    columns = [c.name for c in table.__table__.columns if c.name not in keys]  # type: ignore[attr-defined]
    return stmt.on_conflict_do_update(
        index_elements=keys, set_={c: getattr(stmt.excluded, c) for c in columns}
    )


def _audit_row(e: AuditEntry) -> AuditRow:
    return AuditRow(
        at=e.at.isoformat(),
        account_id=e.account_id,
        contract_id=e.contract_id,
        from_state=e.from_state.value,
        to_state=e.to_state.value,
        trigger=e.trigger,
        rule_id=e.rule_id,
        reason=e.reason,
        actor=e.actor,
    )


def _audit_entry(r: AuditRow) -> AuditEntry:
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


def _fill_row(account_id: int, f: FillRecord) -> FillRow:
    return FillRow(
        account_id=account_id,
        trade_id=f.trade_id,
        at=f.at.isoformat(),
        contract_id=f.contract_id,
        order_id=f.order_id,
        side=int(f.side),
        size=f.size,
        price=str(f.price),
        pnl=None if f.pnl is None else str(f.pnl),
        fees=str(f.fees),
        entry=f.entry,
        exit=f.exit,
        enforcement=f.enforcement,
    )


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
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _d(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


def restore_all(store: Store, engine: RiskEngine, now: datetime) -> tuple[list[Effect], list[int]]:
    """Load every stored account into ``engine`` (which then catches up with time)."""
    effects: list[Effect] = []
    ids = []
    for stored in store.accounts():
        effects.extend(engine.restore_account(stored.snapshot, stored.contracts, now))
        ids.append(stored.account_id)
    return effects, ids
