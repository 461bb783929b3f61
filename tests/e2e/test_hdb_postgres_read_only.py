"""Found by a hunt (the database under a real machine): the PostgreSQL server turns read-only
under a running service (a failover whose endpoint answers from a standby for a while, or a
cloud server put read-only as its storage fills: ``default_transaction_read_only``). Every write
is refused with SQLSTATE 25006, which the store took for a bug: the event loop died before the
breach's close went (-$600 on a $500 limit never closed), and a restart was refused (a locked
account traded freely). A breach meanwhile must still be closed and the service must keep
enforcing from memory, as on any refused write; a restart enforces the stored lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from fsm_risk.core.states import State
from fsm_risk.paper import PaperGateway
from tests.e2e import service_harness
from tests.e2e.service_harness import Harness
from tests.postgres import fresh_database

DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"
MNQ = "CON.F.US.MNQ.Z26"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    with fresh_database() as url:
        base = service_harness.BASE.replace("database = var/state.db", f"database = {url}")
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


def read_only(url: str, on: bool, *, drop: bool) -> None:
    """The database answers read-only (or not); ``drop``: every session of it is ended (the
    failover's dropped connections: the service's come back to a read-only server)."""
    name = make_url(url).database
    admin = make_url(url).set(database="postgres", drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(
            f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}'
        )
        if drop:
            c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


async def test_a_breach_while_the_server_is_read_only_is_closed_and_enforcing_goes_on(
    h: Harness, server: str
) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    read_only(server, True, drop=True)
    await asyncio.sleep(3)  # the service's connections are made again: to a read-only server
    h.gateway.move_price("MNQ", -600)  # -$600 on a $500 daily loss limit
    await h.gw_until(lambda: h.position("MNQ") == 0, "the breach closed", timeout=15)
    await asyncio.sleep(3)
    assert h.task is not None and not h.task.done()
    assert h.acct.state is State.LockedDaily


def server_read_only(url: str, on: bool) -> None:
    """The whole server made read-only for every session, open ones included (a reload of
    ``default_transaction_read_only``: what an admin or a managed server does as its storage
    fills), no connection dropped."""
    admin = make_url(url).set(database="postgres", drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f"ALTER SYSTEM SET default_transaction_read_only = {'on' if on else 'off'}")
        c.execute("SELECT pg_reload_conf()")


async def test_a_breach_while_the_server_turns_read_only_in_place_is_closed(
    h: Harness, server: str
) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    server_read_only(server, True)
    try:
        await asyncio.sleep(1)  # the reload reaches every session
        h.gateway.move_price("MNQ", -600)  # -$600 on a $500 daily loss limit
        await h.gw_until(lambda: h.position("MNQ") == 0, "the breach closed", timeout=15)
        assert h.task is not None and not h.task.done()
        await h.until(lambda: h.acct.state is State.LockedDaily, "locked from memory")
    finally:
        server_read_only(server, False)
    await h.until(lambda: h.svc.store.pending is None, "saved once writable", timeout=15)
    assert ("Flattening", "LockedDaily") in [(a[1], a[2]) for a in h.audit()]


async def test_a_restart_while_the_server_is_read_only_enforces_the_stored_lock(
    h: Harness, server: str
) -> None:
    """The service restarted (a crash, a deploy) while the server answers read-only: as on a
    read-only SQLite file, it must start from the stored state and enforce the stored lock."""
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003 (saved)")
    await h.stop()
    server_read_only(server, True)
    try:
        await asyncio.sleep(1)
        await h.start()  # (it was refused: a locked trader's entry went unguarded)
        assert h.acct.state is State.LockedDaily
        h.trade("MNQ", "buy", 1)
        await h.gw_until(lambda: h.position("MNQ") == 0, "the locked account's entry closed")
    finally:
        server_read_only(server, False)
