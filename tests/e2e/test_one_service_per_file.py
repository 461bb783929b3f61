"""One `fsm-risk serve` per SQLite database file, as real processes: a second service is
refused however it names the file (a symlink, a hard link, the lock file deleted), never
takes the first one's control socket away, and a database deleted under a running service
is alerted, not silently recreated empty."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.test_serve_process import cli, procs, read_until, settings_text, start

__all__ = ["procs"]  # the fixture, shared with the other process tests

PAPER = {"PROJECT_X_USERNAME": "", "PROJECT_X_API_KEY": ""}  # no credentials: paper


def home(root: Path, name: str, database: str = "var/state.db") -> Path:
    where = root / name
    where.mkdir()
    text = settings_text(where, None).replace("database = var/state.db", f"database = {database}")
    (where / "settings.ini").write_text(text)
    return where


async def first_service(root: Path, procs: list[Any]) -> tuple[Path, asyncio.subprocess.Process]:
    first = home(root, "a")
    proc = await start(first, PAPER)
    procs.append(proc)
    await read_until(proc, "fsm-risk is enforcing")
    return first, proc


async def refused_or_enforcing(proc: asyncio.subprocess.Process, timeout: float = 60) -> str:
    """What a second service said until it ended, or until it enforced (both running)."""
    assert proc.stdout is not None
    seen = []
    async with asyncio.timeout(timeout):
        while line := (await proc.stdout.readline()).decode():
            seen.append(line)
            if "fsm-risk is enforcing" in line:
                break
    return "".join(seen)


async def second_is_refused(root: Path, procs: list[Any], database: str) -> None:
    second = home(root, "b", database)
    proc = await start(second, PAPER)
    procs.append(proc)
    out = await refused_or_enforcing(proc)
    assert "fsm-risk is enforcing" not in out, f"two services on one database file:\n{out}"
    assert await asyncio.wait_for(proc.wait(), 10) == 2, out
    assert out.strip() == f"error: another fsm-risk service is already running on {database}"


async def test_a_second_service_naming_the_database_through_a_symlink_is_refused(
    tmp_path: Path, procs: list[Any]
) -> None:
    first, _ = await first_service(tmp_path, procs)
    (tmp_path / "alt").mkdir()
    link = tmp_path / "alt" / "state.db"
    link.symlink_to(first / "var" / "state.db")
    await second_is_refused(tmp_path, procs, str(link))


async def test_a_second_service_naming_the_database_through_a_hard_link_is_refused(
    tmp_path: Path, procs: list[Any]
) -> None:
    first, _ = await first_service(tmp_path, procs)
    (tmp_path / "alt").mkdir()
    link = tmp_path / "alt" / "state.db"
    os.link(first / "var" / "state.db", link)
    await second_is_refused(tmp_path, procs, str(link))


async def test_a_deleted_lock_file_lets_no_second_service_in_nor_takes_the_socket(
    tmp_path: Path, procs: list[Any]
) -> None:
    first, proc = await first_service(tmp_path, procs)
    database = first / "var" / "state.db"
    for stale in first.glob("var/*.lock"):  # it looks like a stale pid file
        stale.unlink()
    second = await start(first, PAPER)  # the same settings, the same socket
    procs.append(second)
    out = await refused_or_enforcing(second)
    if second.returncode is None:  # it got in: stop it as the tester did
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)
    assert out.strip() == f"error: another fsm-risk service is already running on {database}"
    assert (first / "var" / "ctl.sock").exists()
    status = await cli(first, "status")
    assert "from the running service" in status and "NOT ENFORCING" not in status, status
    assert proc.returncode is None


async def test_the_database_deleted_under_a_running_service_is_alerted_not_recreated(
    tmp_path: Path, procs: list[Any]
) -> None:
    first, proc = await first_service(tmp_path, procs)
    database = first / "var" / "state.db"
    database.unlink()
    connector = aiohttp.UnixConnector(path=str(first / "var" / "ctl.sock"))
    async with aiohttp.ClientSession(connector=connector) as s:
        body = {"who": "trader", "reason": "", "for": "2h"}
        async with s.post("http://fsm-risk/lock", json=body) as r:  # a commit
            assert r.status == 200, await r.text()
        await read_until(proc, f"the database file {database} was removed", timeout=20)
        async with s.get("http://fsm-risk/status") as r:  # still serving
            assert r.status == 200
        body["for"] = "3h"
        async with s.post("http://fsm-risk/lock", json=body) as r:  # and another commit
            assert r.status == 200, await r.text()
    assert proc.returncode is None and not database.exists()
    log = (first / "var" / "fsm.log").read_text()
    assert "CRITICAL" in log and f"the database file {database} was removed" in log
    # the commands still find the running service (not the empty database they open), which
    # says its state is not saved (not enforcing as it should, as /readyz says)
    status = await cli(first, "status")
    assert "from the running service" in status, status
    assert "no fsm-risk service is running" not in status, status
    assert "STATE NOT SAVED since " in status, status
    second = await start(first, PAPER)
    procs.append(second)
    out = await refused_or_enforcing(second)
    assert out.strip() == f"error: another fsm-risk service is already running on {database}"
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_a_stopping_service_leaves_a_control_socket_it_did_not_make(tmp_path: Path) -> None:
    from fsm_risk.adapters.control import ControlServer

    path = tmp_path / "ctl.sock"
    ours = ControlServer(object(), path)  # type: ignore[arg-type]
    await ours.start()
    path.unlink()  # another service's socket at the path now
    theirs = socket.socket(socket.AF_UNIX)
    try:
        theirs.bind(str(path))
        await ours.stop()
        assert path.exists()
    finally:
        theirs.close()
