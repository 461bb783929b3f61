"""The live service on a PostgreSQL server: it enforces, commits and restores there as on
SQLite, and a second service for the same account is refused while the first holds it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from fsm_risk.adapters.store import Store
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.paper import PaperGateway
from tests.e2e import service_harness
from tests.e2e.service_harness import ACCOUNT, Harness
from tests.postgres import fresh_database

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
