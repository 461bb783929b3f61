"""A restart of `fsm-risk serve` while its SQLite file may be read but not written (a backup
put back as another user, `chattr +i`, a read-only mount): the service starts on the stored
state and enforces it, saying that nothing is being saved, as with a full disk; once the
file is writable again what waited is written. Made immutable with `chattr +i`, since the
tests run as root and root writes whatever the mode bits say: skipped only where there is
no `chattr` command."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fsm_risk.adapters.store import Store
from fsm_risk.paper import PaperGateway
from tests.e2e.test_serve_process import cli, procs, read_until, start

__all__ = ["procs"]  # the fixture, shared with the other process tests

ACCOUNT = 1001


def settings_text(gw: PaperGateway) -> str:
    reset = (datetime.now(UTC) + timedelta(hours=12)).astimezone(ZoneInfo("America/Chicago"))
    return (
        "[general]\ndatabase = var/state.db\nlog_file = var/fsm.log\n"
        "[control]\nsocket = var/ctl.sock\n"
        f"[session]\ndaily_reset = {reset:%H:%M}\nweekly_reset = {reset:%a} {reset:%H:%M}\n"
        "[rule.daily_loss_limit]\nlimit = 500\n"
        "[web]\nport = 0\n"
        f"[broker]\napi_url = {gw.api_url}\nuser_hub_url = {gw.user_hub_url}\n"
        f"market_hub_url = {gw.market_hub_url}\n"
    )


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Files made immutable by the test (`chattr +i`), made mutable again afterwards."""
    if shutil.which("chattr") is None:
        pytest.skip("no chattr command: the file cannot be made unwritable for root")
    made: list[Path] = []
    yield made
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def stored_state(db: Path) -> str:
    store = Store(db)
    try:
        [account] = [a for a in store.accounts() if a.account_id == ACCOUNT]
        return account.state.value
    finally:
        store.close()


def log_texts(home: Path) -> list[str]:
    return [json.loads(raw)["text"] for raw in (home / "var" / "fsm.log").read_text().splitlines()]


async def test_a_restart_on_an_unwritable_database_enforces_the_stored_lock_and_says_unsaved(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], immutable: list[Path]
) -> None:
    gw, home = paper_gateway, tmp_path
    (home / "var").mkdir()
    (home / "settings.ini").write_text(settings_text(gw))
    db = home / "var" / "state.db"
    user, key = gw.credentials()
    env = {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key}
    mnq = gw.contract("MNQ").id

    first = await start(home, env)
    procs.append(first)
    await read_until(first, "fsm-risk is enforcing")
    gw.place_order(ACCOUNT, "MNQ", 0, 2)
    await gw.wait_for(lambda: gw.quote_subscribers("MNQ") > 0, 30, "quotes watched")
    gw.move_price("MNQ", -600)  # a $2,400 loss past the $500 daily limit: RULE-003
    await gw.wait_for(lambda: gw.position(ACCOUNT, mnq) is None, 30, "the breach closed")
    await asyncio.sleep(1)
    first.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(first.wait(), 40) == 0
    assert stored_state(db) == "LockedDaily"

    subprocess.run(["chattr", "+i", str(db)], check=True)
    immutable.append(db)
    second = await start(home, env)
    procs.append(second)
    started = await read_until(second, "fsm-risk is enforcing", timeout=60)
    assert "cannot be created" not in started, started  # (said before the fix)

    gw.place_order(ACCOUNT, "MNQ", 0, 4)  # the trader buys again under the stored lock
    await gw.wait_for(lambda: gw.position(ACCOUNT, mnq) is None, 30, "the new entry closed")
    status = await cli(home, "status")
    assert "LockedDaily" in status, status
    assert "NOT SAVED" in status, status
    texts = log_texts(home)
    assert any("NOT being saved" in t and "not writable" in t for t in texts), [
        t[:200] for t in texts if "ERROR" in t or "CRITICAL" in t
    ]

    subprocess.run(["chattr", "-i", str(db)], check=True)  # writable again: saved
    deadline = time.monotonic() + 30
    while "NOT SAVED" in (status := await cli(home, "status")):
        assert time.monotonic() < deadline, status
        await asyncio.sleep(1)
    assert "LockedDaily" in status, status
    second.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(second.wait(), 40) == 0
    assert stored_state(db) == "LockedDaily"
