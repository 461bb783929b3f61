"""`fsm-risk serve` as a real process: started as the README says, stopped by a signal, and
killed with SIGKILL in the middle of a lock. The paper gateway lives in the test process, so
it outlives the service (as a broker would); the service reaches it with credentials."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from fsm_risk.paper import PaperGateway

ACCOUNT = 1001


def settings_text(home: Path, gateway: PaperGateway | None) -> str:
    # the service runs on the real clock: put the daily reset half a day away from now so no
    # trading-day boundary can fall inside the test
    reset = (datetime.now(UTC) + timedelta(hours=12)).astimezone(ZoneInfo("America/Chicago"))
    broker = ""
    if gateway is not None:
        broker = (
            f"[broker]\napi_url = {gateway.api_url}\nuser_hub_url = {gateway.user_hub_url}\n"
            f"market_hub_url = {gateway.market_hub_url}\n"
        )
    return (
        "[general]\ndatabase = var/state.db\nlog_file = var/fsm.log\n"
        "[control]\nsocket = var/ctl.sock\n"
        f"[session]\ndaily_reset = {reset:%H:%M}\nweekly_reset = {reset:%a} {reset:%H:%M}\n"
        "[rule.daily_loss_limit]\nlimit = 500\n"
        "[paper]\nport = 0\nprice_mode = scripted\n[web]\nport = 0\n" + broker
    )


async def start(home: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fsm_risk", "serve", "--settings", str(home / "settings.ini"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **env},
    )  # fmt: skip
    return proc


async def read_until(proc: asyncio.subprocess.Process, text: str, timeout: float = 60) -> str:
    assert proc.stdout is not None
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"the service ended before '{text}':\n{''.join(seen)}")
            seen.append(line)
            if text in line:
                return "".join(seen)


async def cli(home: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fsm_risk", *args, "--settings", str(home / "settings.ini"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode()


@pytest.fixture
async def procs() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    running: list[asyncio.subprocess.Process] = []
    yield running
    for p in running:
        if p.returncode is None:
            p.kill()
            await p.wait()


async def test_serve_runs_the_paper_gateway_and_stops_cleanly_on_a_signal(
    tmp_path: Path, procs: list[Any]
) -> None:
    (tmp_path / "settings.ini").write_text(settings_text(tmp_path, None))
    env = {"PROJECT_X_USERNAME": "", "PROJECT_X_API_KEY": ""}  # no credentials: paper
    proc = await start(tmp_path, env)
    procs.append(proc)
    head = await read_until(proc, "fsm-risk is enforcing")
    assert "No broker credentials configured" in head and "PROJECTX_API_URL" in head
    assert "Try it:" in head
    tail = await read_until(proc, "Stop with Ctrl-C.")
    [url] = [line.split()[1] for line in tail.splitlines() if "dashboard:" in line]
    if "still being reconciled" in head:  # serving before its account was reconciled
        await read_until(proc, "Every account is reconciled")
    async with aiohttp.ClientSession() as s, s.get(f"{url}readyz") as r:
        assert r.status == 200 and (await r.json())["ready"] is True
    status = await cli(tmp_path, "status")
    assert "Account 1001" in status and "from the running service" in status
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    log = (tmp_path / "var" / "fsm.log").read_text()
    for marker in ("SERVICE_START", "GATEWAY_CONNECTED", "EVENT_LOOP_RUNNING", "SERVICE_STOP"):
        assert f"FSM:{marker}" in log
    assert "paper-api-key" not in log


async def test_killed_mid_lock_the_service_restarts_locked_and_still_enforces(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any]
) -> None:
    gw = paper_gateway
    (tmp_path / "settings.ini").write_text(settings_text(tmp_path, gw))
    user, key = gw.credentials()
    env = {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key}
    first = await start(tmp_path, env)
    procs.append(first)
    await read_until(first, "fsm-risk is enforcing")
    gw.place_order(ACCOUNT, "MNQ", 0, 2)
    await gw.wait_for(lambda: gw.quote_subscribers("MNQ") > 0, 30, "quotes watched")
    gw.move_price("MNQ", -600)  # 2 x -150 points = -$600: past the $500 limit
    await gw.wait_for(lambda: gw.position(ACCOUNT, gw.contract("MNQ").id) is None, 30, "flat")
    assert "LockedDaily" in await cli(tmp_path, "status")

    first.kill()  # SIGKILL: no shutdown code runs
    await first.wait()
    gw.place_order(ACCOUNT, "ES", 0, 1)  # traded while the service is dead
    es = gw.contract("ES").id
    assert gw.position(ACCOUNT, es) is not None

    second = await start(tmp_path, env)
    procs.append(second)
    await read_until(second, "fsm-risk is enforcing")
    await gw.wait_for(lambda: gw.position(ACCOUNT, es) is None, 30, "closed at start-up")
    status = await cli(tmp_path, "status")
    assert "LockedDaily" in status and "RULE-003" in status
    history = await cli(tmp_path, "history")
    assert "Flattening -> LockedDaily" in history
    second.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(second.wait(), 30) == 0
