"""A commit on a PostgreSQL server is bounded whatever the server does: it runs before every
close, on the service's event loop. A lock another session holds (a table's, a row's) is
waited for half a second once, then not again until a commit succeeds; a statement the
server is slow to run is cancelled after a second; a connection lost is made again on a
thread while the commits fail at once, even when connecting hangs. What the refused commits
held is written, once, when the server takes it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from fsm_risk.adapters.store import StorageFailed, Store
from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import ES, MNQ, Driver, account, fill, make_engine, position
from tests.postgres import Proxy, fresh_database

#: a commit the server refuses returns within this (the lock or statement bound, and slack)
BOUND = 2.0
#: a commit once one has failed: not another wait (a round trip or two)
AT_ONCE = 0.3


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as found:
        yield found


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def unit(d: Driver, *events: Any) -> tuple[Any, list[Any]]:
    out = d.send(*events)
    return d.engine.take_changes(), [e.entry for e in out if isinstance(e, RecordTransition)]


class Other:
    """Another session of the server (a person at psql), letting go after ``release_after``
    seconds at the latest, so that a store that waits for it shows the wait (never hangs)."""

    def __init__(self, url: str, release_after: float = 8.0) -> None:
        self.conn = psycopg.connect(libpq(url))
        self._timer = threading.Timer(release_after, self.release)
        self._timer.start()
        self._released = False
        self._guard = threading.Lock()

    def release(self) -> None:
        with self._guard:
            if not self._released:
                self._released = True
                self.conn.rollback()
                self.conn.close()
        self._timer.cancel()


def held(store: Store) -> int:
    """The MNQ position's size as stored."""
    stored = store.account(1001)
    assert stored is not None
    return {p["contract_id"]: p["size"] for p in stored.snapshot["positions"]}.get(MNQ, 0)


def timed(store: Store, d: Driver, *events: Any) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        store.commit(*unit(d, *events))
    except StorageFailed as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


@pytest.mark.parametrize(
    "hold",
    [
        "LOCK TABLE account IN ACCESS EXCLUSIVE MODE",
        "LOCK TABLE account, contract, audit, fill, round_trip, journal, mark, meta "
        "IN ACCESS EXCLUSIVE MODE",
        "SELECT account_id FROM account FOR UPDATE",  # a transaction left open at psql
    ],
    ids=["account-table", "every-table", "row"],
)
def test_a_lock_held_elsewhere_fails_the_commit_within_a_second_and_is_not_waited_for_again(
    url: str, hold: str
) -> None:
    store = Store(url)
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    store.commit(*unit(d, account()))
    other = Other(url)
    try:
        other.conn.execute(hold)
        took, failed = timed(store, d, position(MNQ, 1, "21000"))
        assert isinstance(failed, StorageFailed), f"committed after {took:.2f} s"
        assert took < BOUND
        assert "lock timeout" in failed.reason and store.pending is not None
        for n in (2, 3):  # every commit after it: no wait
            took, failed = timed(store, d, position(MNQ, n, "21000"))
            assert isinstance(failed, StorageFailed) and took < AT_ONCE, took
    finally:
        other.release()
    took, failed = timed(store, d, position(MNQ, 4, "21000"))  # the lock let go: all written
    assert failed is None and store.pending is None
    assert held(store) == 4
    # the wait is back once a commit succeeded: a lock now is waited for again, boundedly
    again = Other(url)
    try:
        again.conn.execute("LOCK TABLE account IN ACCESS EXCLUSIVE MODE")
        took, failed = timed(store, d, position(MNQ, 5, "21000"))
        assert isinstance(failed, StorageFailed) and 0.3 < took < BOUND
    finally:
        again.release()
    store.close()


def test_the_refused_commits_are_written_once_when_the_lock_is_let_go(url: str) -> None:
    store = Store(url)
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    store.commit(*unit(d, account()))
    other = Other(url)
    try:
        other.conn.execute("LOCK TABLE audit, fill, round_trip IN ACCESS EXCLUSIVE MODE")
        took, failed = timed(
            store,
            d,
            fill(ES, Side.BUY, 1, "6000", fees="2.50"),
            fill(ES, Side.SELL, 1, "5920", pnl="-1000", fees="2.50"),
            position(ES, 0, "0"),
        )
        assert isinstance(failed, StorageFailed) and took < BOUND
        assert d.acct.state is State.LockedDaily
        took, failed = timed(store, d, position(MNQ, 1, "21000"))
        assert isinstance(failed, StorageFailed) and took < AT_ONCE
    finally:
        other.release()
    store.commit(*unit(d))
    assert store.pending is None
    assert len(store.fills(1001)) == 2  # each once
    assert [e.to_state for e in store.audit(1001) if e.contract_id is None][-1:] == [
        State.LockedDaily
    ]
    assert len([e for e in store.audit(1001) if e.to_state is State.LockedDaily]) == 1
    store.close()


def test_a_statement_the_server_is_slow_to_run_is_cancelled_within_a_second(url: str) -> None:
    store = Store(url)
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    store.commit(*unit(d, account()))
    with psycopg.connect(libpq(url), autocommit=True) as admin:  # the server stalls each write
        admin.execute(
            "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(8); RETURN NEW; END $$"
        )
        admin.execute(
            "CREATE TRIGGER slow BEFORE INSERT ON account FOR EACH ROW EXECUTE FUNCTION slow()"
        )
        took, failed = timed(store, d, position(MNQ, 1, "21000"))
        assert isinstance(failed, StorageFailed) and took < BOUND
        assert "statement timeout" in failed.reason
        admin.execute("DROP TRIGGER slow ON account")
    store.commit(*unit(d))
    assert store.pending is None and store.account(1001) is not None
    store.close()


def test_a_journal_prune_the_server_is_slow_to_run_is_left_and_the_commit_never_waits(
    url: str,
) -> None:
    store = Store(url)
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    row = {"at": "2026-01-01T00:00:00+00:00", "account_id": 1001, "kind": "X", "data": "1"}
    store.commit(*unit(d, account()), journal=[row])
    with psycopg.connect(libpq(url), autocommit=True) as admin:
        admin.execute(
            "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(8); RETURN OLD; END $$"
        )
        admin.execute(
            "CREATE TRIGGER slow BEFORE DELETE ON journal FOR EACH ROW EXECUTE FUNCTION slow()"
        )
        started = time.monotonic()
        changes, audit = unit(d, position(MNQ, 1, "21000"))
        store.commit(changes, audit, journal_before=datetime(2027, 1, 1, tzinfo=UTC))
        assert time.monotonic() - started < AT_ONCE  # the prune is on a thread of its own
        assert store.pending is None
        assert held(store) == 1  # the commit is written
        assert store.wait_for_prune(BOUND)  # the prune gave up within its bound
        admin.execute("DROP TRIGGER slow ON journal")
    assert [r[3] for r in store.journal()] == ["1"]  # left for the next prune
    store.close()


def test_a_server_that_stops_answering_connects_fails_the_commits_at_once(url: str) -> None:
    """The writer's connection lost and every new connection hanging (its connect timeout
    is 2 s): the commits fail at once, not once per connect timeout, and the first after
    the server answers again (the connection made on the store's thread) writes it all."""
    proxy = Proxy(url)
    store = Store(proxy.url)
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    store.commit(*unit(d, account()))
    proxy.cut()
    took, failed = timed(store, d, position(MNQ, 1, "21000"))
    assert isinstance(failed, StorageFailed) and took < BOUND
    slowest = 0.0
    deadline = time.monotonic() + 5  # two connect timeouts and more
    n = 2
    while time.monotonic() < deadline:
        took, failed = timed(store, d, position(MNQ, n, "21000"))
        assert isinstance(failed, StorageFailed)
        slowest, n = max(slowest, took), n + 1
        time.sleep(0.05)
    assert slowest < AT_ONCE, slowest
    assert "timeout" in (store.pending.reason if store.pending else "")  # the connects' own
    proxy.silent = False  # answering again: within the reconnection's second, all written
    deadline = time.monotonic() + 10
    while store.pending is not None and time.monotonic() < deadline:
        took, failed = timed(store, d)
        assert took < AT_ONCE
        time.sleep(0.1)
    assert store.pending is None
    assert held(store) == n - 1  # the latest
    store.close()
    proxy.close()
