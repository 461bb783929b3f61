"""Found by a crash hunt (subprocess, real clock): `serve` LockedDaily by a -600 day is killed
(SIGKILL) five seconds before the daily reset; in the new day, while it is dead, the trader
buys 2 MNQ and loses nothing. Restarted, the lock kept for the trades read closed that legal
position (POSITION_WHILE_LOCKED) before the read released the lock. Now the position is the
read's to judge: the lock ends there and the 2 MNQ stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fsm_risk.paper import PaperGateway
from tests.e2e.test_serve_process import cli, procs, read_until, start

__all__ = ["procs"]  # the fixture, shared with the other process tests

ACCOUNT = 1001


def settings(gw: PaperGateway, reset: datetime) -> str:
    weekly = reset + timedelta(days=3)
    return (
        "[general]\ndatabase = var/state.db\nlog_file = var/fsm.log\n"
        "[control]\nsocket = var/ctl.sock\n"
        f"[session]\ndaily_reset = {reset:%H:%M}\nweekly_reset = {weekly:%a} {weekly:%H:%M}\n"
        "[rule.daily_loss_limit]\nlimit = 500\n[web]\nport = 0\n"
        f"[broker]\napi_url = {gw.api_url}\nuser_hub_url = {gw.user_hub_url}\n"
        f"market_hub_url = {gw.market_hub_url}\n"
    )


async def until(at: datetime) -> None:
    await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))


async def test_killed_locked_over_the_daily_reset_a_new_days_position_stays(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any]
) -> None:
    gw = paper_gateway
    now = datetime.now(UTC)
    reset = (now + timedelta(seconds=90)).replace(second=0, microsecond=0)  # 30-90 s away
    (tmp_path / "settings.ini").write_text(
        settings(gw, reset.astimezone(ZoneInfo("America/Chicago")))
    )
    user, key = gw.credentials()
    env = {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key, "NO_COLOR": "1"}
    first = await start(tmp_path, env)
    procs.append(first)
    head = await read_until(first, "Stop with Ctrl-C.")
    if "still being reconciled" in head:
        await read_until(first, "Every account is reconciled")
    mnq = gw.contract("MNQ").id
    gw.place_order(ACCOUNT, "MNQ", 0, 2)
    await gw.wait_for(lambda: gw.quote_subscribers("MNQ") > 0, 30, "quotes watched")
    gw.move_price("MNQ", -600)
    await gw.wait_for(lambda: gw.position(ACCOUNT, mnq) is None, 30, "flattened")
    await asyncio.sleep(1)
    locked = await cli(tmp_path, "status")
    assert "LockedDaily" in locked.splitlines()[0], locked
    assert datetime.now(UTC) < reset - timedelta(seconds=6), "too slow to lock before the reset"
    await until(reset - timedelta(seconds=5))
    first.kill()  # SIGKILL: dead across the reset
    await first.wait()
    await until(reset + timedelta(seconds=3))
    gw.place_order(ACCOUNT, "MNQ", 0, 2)  # the new day's first trade, no loss
    await gw.wait_for(lambda: gw.position(ACCOUNT, mnq) is not None, 10, "bought")
    second = await start(tmp_path, env)
    procs.append(second)
    await read_until(second, "Every account is reconciled", 60)
    await asyncio.sleep(3)  # (a close would be sent at once)
    status = await cli(tmp_path, "status")
    history = await cli(tmp_path, "history")
    second.send_signal(2)
    await asyncio.wait_for(second.wait(), 30)
    held = gw.position(ACCOUNT, mnq)
    assert (held.size if held else 0, "POSITION_WHILE_LOCKED" in history) == (2, False), history
    assert "Trading" in status.splitlines()[0], status
    assert "LOCK_EXPIRED" in history, history
