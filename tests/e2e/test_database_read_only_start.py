"""Found by a review: a restart on a SQLite file that may be read but not written, where the
stored LockedDaily must be enforced all the same (a new entry closed, status saying
LockedDaily and NOT SAVED):
(tcp) the control channel over loopback TCP, which stores its port in ``meta`` at start;
(retention) ``fill_retention_days = 14`` and a fill 40 days old (a service that ran for
weeks unstopped compacted nothing meanwhile: compaction is at start only), which the start's
compaction deletes;
(ro_mount) the database on a read-only mount (a bind mount remounted ``ro``): no
shared-memory file can be created beside it. The first two made read-only by `chattr +i`
(skipped only without chattr); the third skipped only where mounting is not permitted."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fsm_risk.paper import PaperGateway
from tests.e2e.test_database_not_writable import (
    ACCOUNT,
    immutable,
    settings_text,
    stored_state,
)
from tests.e2e.test_serve_process import cli, procs, read_until, start

__all__ = ["immutable", "procs"]


def _settings(gw: PaperGateway, case: str) -> str:
    text = settings_text(gw)
    if case == "tcp":
        text = text.replace(
            "[control]\nsocket = var/ctl.sock\n",
            "[control]\ntransport = tcp\ntoken_file = var/ctl.token\n",
        )
    if case == "retention":
        text = text.replace("[general]\n", "[general]\nfill_retention_days = 14\n")
    return text


@pytest.mark.parametrize("case", ["tcp", "retention", "ro_mount"])
async def test_read_only_restart_still_enforces_the_stored_lock(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], immutable: list[Path], case: str
) -> None:
    gw, home = paper_gateway, tmp_path
    (home / "var").mkdir()
    (home / "settings.ini").write_text(_settings(gw, case))
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

    if case == "retention":
        old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
        con = sqlite3.connect(db)
        with con:
            con.execute(
                "INSERT INTO fill (account_id, trade_id, at, contract_id, order_id, side, size,"
                " price, pnl, fees, entry, exit, enforcement) VALUES"
                " (?, 999999, ?, ?, 1, 0, 1, '20000', NULL, '0.37', 1, 0, 0)",
                (ACCOUNT, old, mnq),
            )
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()

    with contextlib.ExitStack() as undo:
        if case == "ro_mount":
            ro = home / "ro"
            ro.mkdir()
            if subprocess.run(["mount", "--bind", str(db.parent), str(ro)]).returncode:
                pytest.skip("mounting is not permitted here")
            undo.callback(subprocess.run, ["umount", str(ro)], check=False)
            subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
            assert (ro / "state.db").is_file()
            (home / "settings.ini").write_text(
                _settings(gw, case).replace("database = var/state.db", f"database = {ro}/state.db")
            )
        else:
            subprocess.run(["chattr", "+i", str(db)], check=True)
            immutable.append(db)
        second = await start(home, env)
        procs.append(second)
        await read_until(second, "fsm-risk is enforcing", timeout=60)

        gw.place_order(ACCOUNT, "MNQ", 0, 4)  # the trader buys again under the stored lock
        await gw.wait_for(lambda: gw.position(ACCOUNT, mnq) is None, 30, "the new entry closed")
        status = await cli(home, "status")
        assert "LockedDaily" in status, status
        if case != "tcp":  # (over TCP the command line finds the port in the database only)
            assert "NOT SAVED" in status, status
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 40) == 0
