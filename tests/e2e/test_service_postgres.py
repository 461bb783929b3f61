"""The live service on a PostgreSQL server: it enforces, commits and restores there as on
SQLite, and a second service for the same account is refused while the first holds it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from fsm_risk import cli, reload, runtime
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.store import Store
from fsm_risk.config import Settings
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.metrics import ready
from fsm_risk.paper import PaperGateway
from fsm_risk.paper.settings import _accounts
from tests.e2e import service_harness
from tests.e2e.service_harness import ACCOUNT, Harness, run_cli
from tests.postgres import Proxy, fresh_database

DAILY_LOSS = """
[rule.daily_loss_limit]
limit = 500
"""
MNQ = "CON.F.US.MNQ.Z26"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    with fresh_database() as url:
        base = service_harness.BASE.replace("database = var/state.db", f"database = {url}")
        assert base != service_harness.BASE
        monkeypatch.setattr(service_harness, "BASE", base)
        yield url


@pytest.fixture
async def h(server: str, tmp_path: Path, paper_gateway: PaperGateway) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path / "one", paper_gateway)
    harness.home.mkdir()
    try:
        yield harness
    finally:
        await harness.close()


async def test_the_service_enforces_and_restores_on_postgresql(
    h: Harness, tmp_path: Path, paper_gateway: PaperGateway
) -> None:
    await h.start(DAILY_LOSS)
    assert h.svc.store.shared and "***" in h.svc.store.where
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    assert h.position("MNQ") == 0

    # a second service for the same account (another machine, same server) is refused
    other = Harness(tmp_path / "two", paper_gateway)
    other.home.mkdir()
    try:
        with pytest.raises(FsmRiskError, match=rf"holds the lease for account {ACCOUNT} .*pid"):
            await other.start(DAILY_LOSS)
    finally:
        await other.close()

    await h.stop()  # released: the next start holds it and restores the lock from the server
    await h.start()
    assert h.acct.state is State.LockedDaily
    assert ("LockedDaily", "RULE-003") in [(a[2], a[4]) for a in h.audit()]
    h.trade("ES", "buy", 1)
    await h.gw_until(lambda: h.closes("ES") and h.position("ES") == 0, "closed on sight")


async def test_a_service_whose_lease_was_taken_over_stops(h: Harness, server: str) -> None:
    await h.start(DAILY_LOSS)
    assert h.task is not None
    store = h.svc.store
    backend = store._lease_connection().execute(text("SELECT pg_backend_pid()")).scalar_one()
    other = Store(server)
    other.acquire_service_lock()
    # its connection drops and, before it notices, another service takes the account
    with Store(server).engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": backend})
    other.acquire_leases([ACCOUNT])
    await asyncio.wait_for(asyncio.shield(h.task), 30)  # it stopped by itself
    assert any(f"holds the lease for account {ACCOUNT}" in line for line in h.logs)
    other.close()


# --- several services on one server, each for its own accounts -----------------------------

TWO = _accounts("1001: PAPER-1: 50000: true, 1002: PAPER-2: 50000: true")
SECRET = "correct horse battery"


def group_settings(h: Harness, accounts: str, rules: str) -> Settings:
    """Write ``h``'s settings for the account group ``accounts`` ([general] accounts)."""
    path = h.write_settings(rules)
    text = path.read_text().replace("[general]\n", f"[general]\naccounts = {accounts}\n", 1)
    path.write_text(text)
    return h.settings


def loss_limit(limit: int) -> str:
    return f"[rule.daily_loss_limit]\nlimit = {limit}\n"


def limit_in_force(h: Harness) -> int:
    [rule] = [r for r in h.svc.engine.rules if r.id == "RULE-003"]
    return int(rule.config.limit)


@pytest.fixture
async def two(
    server: str, tmp_path: Path, paper_gateway: PaperGateway
) -> AsyncIterator[tuple[Harness, Harness]]:
    one, other = Harness(tmp_path / "sp1", paper_gateway), Harness(tmp_path / "sp2", paper_gateway)
    one.home.mkdir()
    other.home.mkdir()
    try:
        yield one, other
    finally:
        await other.close()
        await one.close()


@pytest.mark.paper(accounts=TWO)
async def test_a_second_service_for_other_accounts_starts_and_one_for_the_same_is_refused(
    two: tuple[Harness, Harness], tmp_path: Path, paper_gateway: PaperGateway
) -> None:
    """Reported: with sp1 (accounts = 1001) running, `serve` with the other settings file
    (accounts = 1002, the same server) said "another fsm-risk service is already running"."""
    sp1, sp2 = two
    group_settings(sp1, "1001", loss_limit(1000))
    await sp1.start()
    sp2_settings = group_settings(sp2, "1002", loss_limit(3000))
    runtime._refuse_a_second_service(sp2_settings)  # serve's check before it binds anything
    await sp2.start()
    assert sp1.svc.account_ids == [1001] and sp2.svc.account_ids == [1002]

    # a third service for 1001 is refused before it binds anything, naming the holder
    third = Harness(tmp_path / "sp3", paper_gateway)
    third.home.mkdir()
    try:
        same = group_settings(third, "1001", loss_limit(1000))
        with pytest.raises(FsmRiskError, match=r"holds the lease for account 1001 .*pid"):
            runtime._refuse_a_second_service(same)
    finally:
        await third.close()


@pytest.mark.paper(accounts=TWO)
async def test_each_group_is_compared_with_its_own_settings_in_force(
    two: tuple[Harness, Harness],
) -> None:
    """Reported: sp2 (1002, daily loss 3000) started after sp1 (1001, daily loss 1000) logged
    SETTINGS_LOOSENED 1000 -> 3000 and enforced 1000 on 1002 until the reset; sp1's restart
    then wiped the loosening sp2 held."""
    sp1, sp2 = two
    group_settings(sp1, "1001", loss_limit(1000))
    await sp1.start()
    group_settings(sp2, "1002", loss_limit(3000))
    await sp2.start()
    assert limit_in_force(sp2) == 3000 and sp2.svc.pending is None
    assert not any("SETTINGS_LOOSENED" in line for line in sp2.logs)
    assert limit_in_force(sp1) == 1000

    # sp2 loosens (held for its reset); sp1 restarts with its own file: neither touches the other
    group_settings(sp2, "1002", loss_limit(4000))
    assert "looser from the daily reset" in await sp2.svc.reload("admin:ops")
    await sp1.stop()
    await sp1.start()
    assert limit_in_force(sp1) == 1000 and sp1.svc.pending is None
    keeper = reload.Keeper(sp2.svc.store, sp2.svc.group)
    pending = keeper.pending()
    assert pending is not None and pending.rules["daily_loss_limit"]["limit"] == "4000"
    await sp2.stop()
    await sp2.start()
    assert limit_in_force(sp2) == 3000 and sp2.svc.pending is not None


@pytest.mark.paper(accounts=TWO)
async def test_a_lock_for_an_account_no_service_holds_goes_through_the_database(
    two: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reported: with sp1 (1001) running, `lock` and `transition` for 1002 (no service of its
    own) were refused because "the service is running"."""
    sp1, sp2 = two
    group_settings(sp1, "1001", loss_limit(1000))
    await sp1.start()
    group_settings(sp2, "1002", loss_limit(3000))
    await sp2.start()
    await sp2.stop()  # 1002 is stored, and no service holds it now
    AdminAuth(sp1.svc.store, sp1.clock.now, delay=0).set_secret(SECRET)
    # on the stopped service's clock, moments later (one past a reset since its stop is
    # refused: the day it would begin is the service's to begin)
    monkeypatch.setattr(cli, "_now", sp2.clock.now)
    settings = str(sp2.home / "settings.ini")
    result = CliRunner().invoke(cli.main, ["lock", "--for", "1h", "--settings", settings])
    code, out = result.exit_code, result.output
    assert code == 0 and "account 1002: locked by trader:" in out, out
    code, out = await run_cli(
        sp2.home, "transition", "1002", "--to", "LockedDaily", "--reason", "x", secret=SECRET
    )
    assert code == 0 and "LockedDaily" in out, out
    # an account the running service holds is its alone: refused, naming the holder
    for args in (("lock", "1001", "--for", "1h"), ("transition", "1001", "--to", "LockedDaily")):
        code, out = await run_cli(sp2.home, *args, "--reason", "x", secret=SECRET)
        assert code == 2 and "holds the lease for account 1001" in out and "pid" in out, out
        assert "Traceback" not in out
    # no account named, this file's service running but its channel gone: refused, not
    # another account locked in its place
    (sp1.home / "var" / "ctl.sock").unlink()
    code, out = await run_cli(sp1.home, "lock", "--for", "1h")
    assert code == 2 and "control channel is missing" in out, out
    assert sp1.acct.state is State.Trading
    await sp2.start()
    assert sp2.svc.engine.accounts[1002].state is State.LockedDaily


# --- a server that holds a commit up: the closes do not wait for it ---------------------------

LIMITS = "[rule.max_contracts]\nlimit = 5\n[rule.max_contracts_per_instrument]\nlimits = MNQ: 3\n"
BREACH = (MNQ, "Trading", "Flattening", "breach", "RULE-001,RULE-002")
EVERY_TABLE = "account, contract, audit, fill, round_trip, journal, mark, meta"


class HeldTables:
    """Another session (a person at psql) holding every table of the service in ACCESS
    EXCLUSIVE mode, let go after ``at_most`` seconds whatever happens (a service that waits
    for it shows the wait, never hangs the test)."""

    def __init__(self, url: str, at_most: float = 12.0) -> None:
        self.conn = psycopg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self.conn.execute(f"LOCK TABLE {EVERY_TABLE} IN ACCESS EXCLUSIVE MODE")
        self._guard = threading.Lock()
        self._timer = threading.Timer(at_most, self.release)
        self._timer.start()

    def release(self) -> None:
        with self._guard:
            if not self.conn.closed:
                self.conn.rollback()
                self.conn.close()
        self._timer.cancel()


async def test_a_breach_is_closed_within_a_second_while_another_session_locks_the_tables(
    h: Harness, server: str
) -> None:
    """Reported: with every table locked from psql for 20 s, a fill over the contract limit
    was closed 19.05 s later (the commit before the close waited for the lock on the event
    loop), status did not answer meanwhile, and no STATE_NOT_SAVED was said."""
    await h.start(LIMITS)
    loop = asyncio.get_running_loop()
    held = HeldTables(server)
    try:
        started = loop.time()
        h.trade("MNQ", "buy", 7)
        await h.gw_until(lambda: h.position("MNQ") == 3, "closed despite the lock", timeout=5)
        assert loop.time() - started < 2
        await h.until(lambda: h.svc.store.pending is not None, "not saved")
        [line] = [m for m in h.logs if "STATE_NOT_SAVED" in m]
        assert "CRITICAL" in line and "lock timeout" in line
        assert ready(h.svc)[1]["state_saved"] is False
        assert h.svc.status()["storage"]["saved"] is False
        code, out = await run_cli(h.home, "status")  # answered meanwhile
        assert code == 0 and "STATE NOT SAVED since" in out and "lock timeout" in out
        await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce confirmed")
        # the next breach: closed at once too (the lock is not waited for again)
        started = loop.time()
        h.trade("MNQ", "buy", 2)
        await h.gw_until(lambda: h.position("MNQ") == 3, "the next excess closed", timeout=5)
        assert loop.time() - started < 1
    finally:
        held.release()
    await h.until(lambda: h.svc.store.pending is None, "the state saved again", timeout=10)
    assert any("STATE_SAVED_AGAIN" in m for m in h.logs)
    breaches = [a for a in h.audit() if a[3] == "breach"]  # each once, in order
    assert breaches == [BREACH, (MNQ, "Trading", "Flattening", "breach", "RULE-002")]
    assert [c.size for c in h.closes("MNQ")] == [4, 2]


async def test_a_server_gone_silent_holds_up_no_close_and_is_written_once_back(
    server: str, tmp_path: Path, paper_gateway: PaperGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reported: serve's connections ended and the server then unreachable (connects hang)
    for 60 s: a breach was closed 60.3 s later. Now every connection of the service is cut
    and new ones are never answered: the breach is closed at once, the event loop never
    stands still for a connect (the commits' nor the lease check's, every 5 s), and once the
    server answers again everything held is written, once."""
    proxy = Proxy(server)
    base = service_harness.BASE.replace(server, proxy.url)
    monkeypatch.setattr(service_harness, "BASE", base)
    h = Harness(tmp_path / "silent", paper_gateway)
    h.home.mkdir()
    try:
        await h.start(LIMITS)
        loop = asyncio.get_running_loop()
        proxy.cut()
        started = loop.time()
        h.trade("MNQ", "buy", 7)
        await h.gw_until(lambda: h.position("MNQ") == 3, "closed while cut off", timeout=5)
        assert loop.time() - started < 2
        await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce confirmed")
        # the loop stays free for 7 s: a lease check (every 5 s) and reconnections happen
        stood, last = 0.0, loop.time()
        while loop.time() - started < 8:
            await asyncio.sleep(0.05)
            stood, last = max(stood, loop.time() - last - 0.05), loop.time()
        assert stood < 0.5, f"the event loop stood still {stood:.2f} s"
        started = loop.time()
        h.trade("MNQ", "buy", 2)
        await h.gw_until(lambda: h.position("MNQ") == 3, "the next excess closed", timeout=5)
        assert loop.time() - started < 1
        assert [m for m in h.logs if "STATE_NOT_SAVED" in m]
        proxy.silent = False  # answering again
        await h.until(lambda: h.svc.store.pending is None, "the state saved again", timeout=15)
        breaches = [a for a in h.audit() if a[3] == "breach"]
        assert breaches == [BREACH, (MNQ, "Trading", "Flattening", "breach", "RULE-002")]
        assert [c.size for c in h.closes("MNQ")] == [4, 2]
    finally:
        proxy.silent = False
        await h.close()
        proxy.close()


@pytest.mark.paper(accounts=TWO)
async def test_a_locked_account_left_out_of_the_group_stays_monitored_unless_another_holds_it(
    two: tuple[Harness, Harness],
) -> None:
    """The trader locked on 1002 names only 1001 and restarts: the service keeps 1002 (no
    other service holds it), leased and enforced; with a service of 1002's own running, that
    one enforces it and the restarted one leaves it alone."""
    sp1, sp2 = two
    group_settings(sp1, "1001, 1002", loss_limit(500))
    await sp1.start()
    engine = sp1.svc.engine.accounts
    sp1.gateway.place_order(1002, "MNQ", 0, 2)
    await sp1.until(lambda: MNQ in engine[1002].positions, "the position reached the service")
    sp1.gateway.move_price("MNQ", -600)
    await sp1.until(lambda: engine[1002].state is State.LockedDaily, "1002 locked")
    await sp1.stop()
    group_settings(sp1, "1001", loss_limit(500))
    sp1.logs.clear()
    await sp1.start()
    assert sp1.svc.account_ids == [1001, 1002]
    assert sp1.svc.store.leased([1002]) == [1002]
    assert sp1.svc.engine.accounts[1002].state is State.LockedDaily
    kept = "still monitored although [general] accounts leaves it out"
    assert [
        line
        for line in sp1.logs
        if "account 1002 (PAPER-2) is LockedDaily" in line and kept in line
    ]
    sp1.gateway.place_order(1002, "MNQ", 0, 1)
    mnq = sp1.gateway.contract("MNQ").id
    await sp1.gw_until(lambda: sp1.gateway.position(1002, mnq) is None, "1002's position closed")

    # 1002's own service runs: a restart of 1001's leaves 1002 to it
    await sp1.stop()
    group_settings(sp2, "1002", loss_limit(500))
    await sp2.start()
    assert sp2.svc.engine.accounts[1002].state is State.LockedDaily
    sp1.logs.clear()
    await sp1.start()
    assert sp1.svc.account_ids == [1001] and sp2.svc.account_ids == [1002]
    assert not [line for line in sp1.logs if kept in line]
