"""An admin's `fsm-risk transition` made through the database (no service answers) while
`fsm-risk serve` starts: the secret's check waits on the failed tries before it (16 s after 5),
and the service comes back meanwhile (systemd's Restart=always). The change must be in force
in the service that runs, not only answered as done and audited: before, the service had
restored the state from before the change's commit, enforced without it (the trader traded
on) and wrote the row back over with its next commit. Now the command finds the service
started and sends the change to it. On SQLite and on PostgreSQL (where the account leased
meanwhile was refused as "unknown account")."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fsm_risk.paper import PaperGateway
from tests.e2e.test_serve_process import cli, procs, read_until, start

__all__ = ["procs"]  # the fixture, shared with the other process tests

ACCOUNT = 1001
WRONG = 5  # failed tries before the admin's: the check waits 16 s
SECRET = "correct horse battery staple"


def settings_text(gw: PaperGateway, db: str) -> str:
    reset = (datetime.now(UTC) + timedelta(hours=12)).astimezone(ZoneInfo("America/Chicago"))
    return (
        f"[general]\ndatabase = {db}\nlog_file = var/fsm.log\n"
        "[control]\nsocket = var/ctl.sock\n"
        f"[session]\ndaily_reset = {reset:%H:%M}\nweekly_reset = {reset:%a} {reset:%H:%M}\n"
        "[rule.daily_loss_limit]\nlimit = 500\n"
        "[web]\nport = 0\n"
        f"[broker]\napi_url = {gw.api_url}\nuser_hub_url = {gw.user_hub_url}\n"
        f"market_hub_url = {gw.market_hub_url}\n"
    )


async def spawn(home: Path, secret: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fsm_risk", *args, "--settings", str(home / "settings.ini"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1", "FSM_RISK_ADMIN_SECRET": secret},
    )  # fmt: skip


def query(db: str, sql: str) -> Any:
    from sqlalchemy import create_engine, text

    url = db if db.startswith("postgresql") else f"sqlite:///{db}"
    url = url.replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(text(sql)).fetchall()
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "var" / "state.db")
        return
    from tests.postgres import fresh_database

    with fresh_database() as url:
        yield url


async def test_an_offline_transition_while_serve_starts_is_in_force_in_that_service(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], database: str
) -> None:
    gw = paper_gateway
    home = tmp_path
    (home / "var").mkdir(exist_ok=True)
    (home / "settings.ini").write_text(settings_text(gw, database))
    (home / "secret").write_text(SECRET)
    user, key = gw.credentials()
    env = {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key}
    await cli(home, "admin", "set-secret", "--secret-file", str(home / "secret"))

    first = await start(home, env)  # the account is stored, then the service goes down
    procs.append(first)
    await read_until(first, "fsm-risk is enforcing")
    first.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(first.wait(), 30) == 0

    # someone (the trader) tries secrets while the service is down: WRONG wrong ones
    wrong = [await spawn(home, "not the secret at all", "transition", str(ACCOUNT),
                         "--to", "Trading", "--reason", "guess") for _ in range(WRONG)]  # fmt: skip
    procs.extend(wrong)
    deadline = time.monotonic() + 30
    while query(database, "SELECT count(*) FROM auth_failure")[0][0] < WRONG:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)

    # the admin locks the account for the week (through the database: no service answers)
    admin = await spawn(home, SECRET, "transition", str(ACCOUNT), "--to", "LockedWeekly",
                        "--reason", "blew the account, locked by the desk")  # fmt: skip
    procs.append(admin)
    await asyncio.sleep(2.5)  # the CLI has checked that no service runs; it waits on the secret
    # systemd (Restart=always) brings the service back meanwhile
    second = await start(home, env)
    procs.append(second)
    await read_until(second, "fsm-risk is enforcing")
    out, _ = await asyncio.wait_for(admin.communicate(), 60)

    status = await cli(home, "status")
    history = await cli(home, "history")

    mnq = gw.contract("MNQ").id
    gw.place_order(ACCOUNT, "MNQ", 0, 3)  # the trader trades on
    closed = True
    try:
        await gw.wait_for(lambda: gw.position(ACCOUNT, mnq) is None, 10, "closed")
    except Exception:
        closed = False
    row = query(database, f"SELECT state FROM account WHERE account_id = {ACCOUNT}")
    second.send_signal(signal.SIGTERM)
    await asyncio.wait_for(second.wait(), 30)

    out_text = out.decode()
    assert admin.returncode == 0, out_text
    assert "LockedWeekly" in out_text, out_text
    assert history.count("LockedWeekly") == 1, history  # audited once, by the service
    assert "LockedWeekly" in status, "the running service does not hold the admin's lock"
    assert closed, "the trader's entry under the admin's lock was not closed"
    assert row == [("LockedWeekly",)], row  # not written back over by the service
