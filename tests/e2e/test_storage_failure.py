"""The database refusing writes while the service runs: it fails closed, enforcing from
memory. A breach during the outage is still closed at the gateway, the outage is alerted once
(log and notification), a self-lock is answered as applied but not saved, and once the
database takes writes again everything the outage held is written (the history shows it).

Two ways to refuse: a full disk (a stand-in for the store's SQLite connection that refuses
every write as SQLite does on a full disk, on the real transaction, which the store rolls
back), and the real thing for a lock: another connection holding SQLite's write lock."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from fsm_risk.adapters.store import Store
from fsm_risk.core.states import State
from fsm_risk.metrics import ready
from tests.e2e.receiver import Receiver
from tests.e2e.service_harness import ACCOUNT, Harness, run_cli

MNQ = "CON.F.US.MNQ.Z26"
LIMITS = "[rule.max_contracts]\nlimit = 5\n[rule.max_contracts_per_instrument]\nlimits = MNQ: 3\n"
BREACH = (MNQ, "Trading", "Flattening", "breach", "RULE-001,RULE-002")
CONFIRMED = (MNQ, "Flattening", "Trading", "flat_confirmed", "RULE-001,RULE-002")


class FullDisk:
    """The disk under the database is full while `full` is set: every write of the store's
    commits fails as SQLite fails it ("database or disk is full"), inside the transaction the
    store began on its real connection."""

    def __init__(self, store: Store) -> None:
        assert store._writer is not None, "the service commits at start"
        self.full = False
        self.refused = 0
        store._writer = _Connection(store._writer, self)  # type: ignore[assignment]


class _Connection:
    def __init__(self, real: Any, disk: FullDisk) -> None:
        self._real, self._disk = real, disk

    @property
    def driver_connection(self) -> Any:
        return _Driver(self._real.driver_connection, self._disk)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _Driver:
    def __init__(self, real: sqlite3.Connection, disk: FullDisk) -> None:
        self._real, self._disk = real, disk

    def cursor(self) -> Any:
        return _Cursor(self._real.cursor(), self._disk)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _Cursor:
    def __init__(self, real: sqlite3.Cursor, disk: FullDisk) -> None:
        self._real, self._disk = real, disk

    def executemany(self, sql: str, rows: Any) -> Any:
        if self._disk.full:
            self._disk.refused += 1
            raise sqlite3.OperationalError("database or disk is full")
        return self._real.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.fixture
def h(receiver: Receiver, h: Harness) -> Harness:
    """The service (conftest's ``h``) set up after the receiver, so it stops first: its stop
    notice reaches the receiver."""
    return h


def not_saved_lines(h: Harness) -> list[str]:
    return [m for m in h.logs if "STATE_NOT_SAVED" in m]


async def test_a_full_disk_leaves_the_breach_closed_alerts_once_and_saves_it_all_once_back(
    h: Harness, receiver: Receiver
) -> None:
    await h.start(LIMITS + f"[notify]\nurls = {receiver.url('all')}\nevents = service\n")
    disk = FullDisk(h.svc.store)
    disk.full = True

    h.trade("MNQ", "buy", 8)  # over both limits: reduced to MNQ's 3
    await h.gw_until(lambda: h.position("MNQ") == 3, "the excess closed at the gateway")
    [close] = h.closes("MNQ")
    assert close.size == 5
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce confirmed")
    assert disk.refused >= 1  # the breach's commit (the ones after it join what waits)
    assert h.task is not None and not h.task.done()  # still running, still enforcing
    assert not any("event loop failed" in m for m in h.logs)

    [line] = not_saved_lines(h)  # once per outage, not once per commit
    assert "CRITICAL" in line and "database or disk is full" in line and "NOT" in line
    assert str(h.svc.store.where) in line
    await receiver.wait_for(lambda: receiver.titled("state NOT saved"), "the outage notice")
    # nothing of it is in the database yet
    assert BREACH not in h.audit()
    # and status, /readyz and the metrics say so (they said nothing: feed healthy, ready)
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "STATE NOT SAVED since" in out and "database or disk is full" in out
    assert ready(h.svc)[1]["state_saved"] is False
    assert h.svc.status()["storage"]["saved"] is False

    # a self-lock now is applied, and the answer says it is not saved
    code, out = await run_cli(h.home, "lock", str(ACCOUNT), "--for", "30m")
    assert code == 0, out
    assert "NOT SAVED" in out and "would not survive a restart" in out
    assert "database or disk is full" in out
    assert h.acct.state is State.Cooldown
    h.trade("MNQ", "buy", 1)  # locked: closed although nothing is saved
    await h.gw_until(lambda: h.position("MNQ") == 0, "flattened by the self-lock")
    assert len(not_saved_lines(h)) == 1

    disk.full = False  # space again: the retry timer writes it all, nothing new needed
    await h.until(lambda: h.svc.store.pending is None, "the state saved again", timeout=10)
    assert ready(h.svc)[1]["state_saved"] is True
    await receiver.wait_for(lambda: receiver.titled("state saved again"), "the back notice")
    assert len(receiver.titled("state NOT saved")) == 1
    audit = h.audit()
    assert audit.index(BREACH) < audit.index(CONFIRMED)
    assert any(a[0] is None and a[2] == "Cooldown" for a in audit)  # the self-lock
    trades = {f.trade_id for f in h.svc.store.fills(ACCOUNT)}
    assert len(trades) >= 4  # the 8 bought, the 5 closed, the 1 bought, the 4 closed

    await h.stop()  # what a restart reads back
    code, out = await run_cli(h.home, "history", str(ACCOUNT))
    assert code == 0, out
    assert "RULE-001,RULE-002" in out and "Cooldown" in out
    await h.start()
    assert h.acct.state is State.Cooldown


async def test_a_write_lock_held_elsewhere_leaves_the_breach_closed_and_is_saved_once_freed(
    h: Harness,
) -> None:
    await h.start(LIMITS)
    other = sqlite3.connect(h.home / "var" / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        h.trade("MNQ", "buy", 7)
        await h.gw_until(lambda: h.position("MNQ") == 3, "closed despite the lock", timeout=20)
        await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce confirmed")
        # (said once the lock outlasts two of the 3 s retries: a brief one is no outage)
        await h.until(lambda: not_saved_lines(h), "alerted: the lock outlasts the retries", 15)
        [line] = not_saved_lines(h)
        assert "database is locked" in line
        assert h.task is not None and not h.task.done()
        # later tries wait for no lock: the loop does not stand still 5 s at each
        loop = asyncio.get_running_loop()
        started = loop.time()
        h.gateway.move_price("MNQ", 4)  # quotes: units of work, each trying again
        await h.until(lambda: h.acct.positions[MNQ].upnl > 0, "the quote handled")
        assert loop.time() - started < 2
    finally:
        other.rollback()
        other.close()
    await h.until(lambda: h.svc.store.pending is None, "the state saved again", timeout=10)
    assert any("STATE_SAVED_AGAIN" in m for m in h.logs)
    audit = h.audit()
    assert BREACH in audit and CONFIRMED in audit
    h.trade("MNQ", "buy", 3)  # the connection works as before: the next breach is committed
    await h.gw_until(lambda: h.position("MNQ") == 3, "the next excess closed")
    await h.until(lambda: h.audit().count(BREACH) == 2, "the next breach saved at once")
    assert len(not_saved_lines(h)) == 1


async def test_a_database_file_moved_away_is_not_saved_into_and_is_saved_once_back(
    h: Harness,
) -> None:
    """The file at the path moved away (removed, or replaced by a backup put back) while the
    service runs: nothing is written to the file it has open (a restart would not read it, and
    its write-ahead log, named after the path, would be read as the new file's: a backup put
    back so was corrupted), the surfaces say the state is not saved (they said ready, saved),
    a breach is still closed, and all of it is written once the file is back."""
    await h.start(LIMITS)
    path = h.home / "var" / "state.db"
    aside = path.with_name("aside.db")
    path.rename(aside)
    h.trade("MNQ", "buy", 7)
    await h.gw_until(lambda: h.position("MNQ") == 3, "closed with the file away")
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce confirmed")
    await h.until(lambda: bool(not_saved_lines(h)), "the state said not saved")
    [line] = not_saved_lines(h)
    assert "CRITICAL" in line and "was removed while the service runs" in line
    assert ready(h.svc)[1]["state_saved"] is False
    assert h.svc.status()["storage"]["saved"] is False
    assert h.svc.store.pending is not None
    aside.rename(path)
    await h.until(lambda: h.svc.store.pending is None, "the state saved again", timeout=10)
    assert ready(h.svc)[1]["state_saved"] is True
    audit = h.audit()
    assert BREACH in audit and CONFIRMED in audit
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_a_database_file_removed_with_nothing_to_write_is_said_not_saved(
    h: Harness,
) -> None:
    """With nothing to commit (a quiet account), the file gone is said all the same (the
    retry timer looks), and said saved again once it is back."""
    await h.start(LIMITS)
    path = h.home / "var" / "state.db"
    aside = path.with_name("aside.db")
    path.rename(aside)
    await h.until(lambda: bool(not_saved_lines(h)), "the file gone said", timeout=10)
    assert ready(h.svc)[1]["state_saved"] is False
    aside.rename(path)
    await h.until(lambda: ready(h.svc)[1]["state_saved"], "saved again", timeout=10)
    assert any("STATE_SAVED_AGAIN" in m for m in h.logs)


async def test_a_self_lock_reaches_the_service_while_another_process_holds_the_database(
    h: Harness,
) -> None:
    """`fsm-risk lock` finds the running service by its socket, not by opening the database
    (which another process's lock, or a server down, keeps shut): it is applied in the
    service, answered as not saved, instead of refused after the database's busy wait."""
    await h.start(LIMITS)
    other = sqlite3.connect(h.home / "var" / "state.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        code, out = await run_cli(h.home, "lock", str(ACCOUNT), "--for", "30m")
        assert code == 0, out
        assert h.acct.state is State.Cooldown
    finally:
        other.rollback()
        other.close()
