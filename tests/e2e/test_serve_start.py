"""`fsm-risk serve` at start, as a real process: what it refuses and how it stops."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.test_serve_process import cli, procs, read_until, settings_text, start

__all__ = ["procs"]  # the fixture, shared with the other process tests

PAPER = {"PROJECT_X_USERNAME": "", "PROJECT_X_API_KEY": ""}  # no credentials: paper


async def output(proc: asyncio.subprocess.Process, timeout: float = 60) -> str:
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return out.decode()


@pytest.mark.parametrize("named", ["9999", "1001, 9999", "PAPER-1, NOPE"])
async def test_an_account_the_gateway_does_not_list_stops_serve_naming_it(
    tmp_path: Path, procs: list[Any], named: str
) -> None:
    text = settings_text(tmp_path, None).replace("[general]\n", f"[general]\naccounts = {named}\n")
    (tmp_path / "settings.ini").write_text(text)
    proc = await start(tmp_path, PAPER)
    procs.append(proc)
    out = await output(proc)
    assert proc.returncode == 2, out
    missing = named.split(", ")[-1]
    assert f"error: [general] accounts names {missing}, which the gateway does not list" in out
    assert "the gateway lists: 1001 (PAPER-1)" in out
    assert "fsm-risk is enforcing" not in out and "Traceback" not in out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def with_port(home: Path, port: int, extra: str = "") -> None:
    text = settings_text(home, None).replace("port = 0", f"port = {port}") + extra
    (home / "settings.ini").write_text(text)


async def spawn(home: Path, *args: str) -> asyncio.subprocess.Process:
    """`fsm-risk serve` as a person starts it: SIGINT as a terminal delivers it."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fsm_risk", "serve", *args, "--settings", str(home / "settings.ini"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **PAPER},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


async def test_serve_twice_says_another_service_is_running(
    tmp_path: Path, procs: list[Any]
) -> None:
    with_port(tmp_path, free_port())
    first = await spawn(tmp_path)
    procs.append(first)
    await read_until(first, "fsm-risk is enforcing")
    second = await spawn(tmp_path)
    procs.append(second)
    out = await output(second)
    assert second.returncode == 2, out
    assert out.strip() == (
        f"error: another fsm-risk service is already running on {tmp_path / 'var' / 'state.db'}"
    )


async def test_a_port_held_by_another_program_is_one_clear_line(
    tmp_path: Path, procs: list[Any]
) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with_port(tmp_path, port)
        proc = await spawn(tmp_path)
        procs.append(proc)
        out = await output(proc)
    assert proc.returncode == 2, out
    assert f"error: cannot start the paper gateway on 127.0.0.1:{port}" in out
    assert "Errno" not in out and "Traceback" not in out


@pytest.mark.parametrize(
    "moment", ["No broker credentials", "Trading hours:", "fsm-risk is enforcing"]
)
async def test_ctrl_c_at_any_moment_exits_cleanly(
    tmp_path: Path, procs: list[Any], moment: str
) -> None:
    with_port(tmp_path, 0)
    proc = await spawn(tmp_path)
    procs.append(proc)
    seen = await read_until(proc, moment)
    proc.send_signal(signal.SIGINT)
    out = seen + await output(proc)
    assert proc.returncode in (0, 130), out
    assert "Traceback" not in out and "error" not in out.lower(), out


async def test_sighup_while_starting_is_ignored_and_the_stop_is_clean(
    tmp_path: Path, procs: list[Any]
) -> None:
    with_port(tmp_path, 0)
    proc = await spawn(tmp_path)
    procs.append(proc)
    seen = await read_until(proc, "No broker credentials")
    proc.send_signal(signal.SIGHUP)  # once it runs, SIGHUP reloads; before, nothing to reload
    seen += await read_until(proc, "fsm-risk is enforcing")
    proc.send_signal(signal.SIGINT)
    out = seen + await output(proc)
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    log = (tmp_path / "var" / "fsm.log").read_text()
    assert "SIGHUP before the service is ready: ignored" in log and "FSM:SERVICE_STOP" in log


def closed_now() -> str:
    """A trading window that opened 22 h ago and closed an hour ago: closed for 2 h more, on
    any day of the week. With no lead before the exchange's close, a window opening on Friday
    just before CME's 16:00 Chicago close trades until it (with the default 7 min, one opening
    from 15:53 stops before it opens, and the next opening is a day later). Written in UTC: a
    Chicago wall time 2 h ahead may be skipped or repeated by a clock change that night."""
    now = datetime.now(UTC)
    start, end = now + timedelta(hours=2), now - timedelta(hours=1)
    return (
        "[rule.trading_hours]\ntimezone = UTC\nwindows = Mon-Sun "
        f"{start:%H:%M}-{end:%H:%M}\nflat_by =\nexchange_calendar = none\n"
        "early_close_lead_minutes = 0\n"
    )


def closed_until(text: str, written: datetime, now: datetime) -> str:
    """The banner's words (a regex) for the window `closed_now()` wrote as ``text`` at
    ``written``, shown at some instant up to ``now``: it opens at the minute written in
    ``text``, the first such after ``written`` (never a fresh ``now + 2 h``: written at
    Chicago 21:59:30 it opens at 23:59 the same day, though ``now + 2 h`` read after 22:00 is
    the next day). An opening on another day than the day shown (in the account's zone, here
    Chicago) names its weekday; shown across a midnight, either. (1 h 58 min when the start
    crossed a minute after the window was written.)"""
    found = re.search(r"Mon-Sun (\d\d):(\d\d)-", text)
    assert found is not None, text
    opens = written.astimezone(UTC).replace(
        hour=int(found[1]), minute=int(found[2]), second=0, microsecond=0
    )
    if opens <= written:
        opens += timedelta(days=1)
    zone = ZoneInfo("America/Chicago")
    there = opens.astimezone(zone)
    days = {
        "" if there.date() == t.astimezone(zone).date() else f"{there:%a} " for t in (written, now)
    }
    return rf"CLOSED until (?:{'|'.join(sorted(days))}){there:%H:%M} \w+ \(in 1 h 5[89] min\)"


async def test_serve_says_at_start_that_trading_hours_are_closed_and_when_they_open(
    tmp_path: Path, procs: list[Any]
) -> None:
    written = datetime.now(UTC)
    text = closed_now()
    with_port(tmp_path, 0, text)
    proc = await spawn(tmp_path)
    procs.append(proc)
    head = await read_until(proc, "fsm-risk is enforcing")
    [line] = [ln for ln in head.splitlines() if ln.startswith("Trading hours:")]
    until = closed_until(text, written, datetime.now(UTC))
    assert re.fullmatch(
        rf"Trading hours: {until}\. "
        r"Until then any position is closed and the account locked; to try the demo now, "
        r"run `fsm-risk serve --demo` "
        r"\(paper gateway, hours off\)\.",
        line,
    ), line


def demo_order(head: str) -> tuple[str, str]:
    """The URL and body of the order the demo's banner suggests (buy 8 MNQ)."""
    try_it = head.split("Try it:", 1)[1]
    [order, _] = [ln.strip() for ln in try_it.splitlines() if ln.strip().startswith("curl ")]
    words = shlex.split(order.partition("#")[0])
    return words[words.index("-X") + 2], words[words.index("-d") + 1]


async def test_the_demo_started_again_counts_the_new_runs_fills(
    tmp_path: Path, procs: list[Any]
) -> None:
    """The demo's paper gateway starts afresh on every run while the service keeps its state.
    The second run's trades must not be taken for the first's: they were numbered alike, and
    the service dropped them as already counted (the day's realized P&L stood still, so a
    loss limit could not see them)."""
    limits = "[rule.max_contracts]\nlimit = 5\n[rule.max_contracts_per_instrument]\n"
    with_port(tmp_path, 0, closed_now() + limits)
    realized = [Decimal(0)]
    for _ in range(2):
        proc = await spawn(tmp_path, "--demo")
        procs.append(proc)
        url, body = demo_order(await read_until(proc, "fsm-risk is enforcing"))
        async with httpx.AsyncClient() as client:
            assert (await client.post(url, content=body)).status_code == 200  # 8: reduced to 3
        # confirmed only once every fill of the reduce was applied: its loss is counted
        await read_until(proc, "FSM:ENFORCEMENT_CONFIRMED")
        status = json.loads(await cli(tmp_path, "status", "--json"))
        day = Decimal(status["accounts"][0]["day"]["realized"])
        assert day < realized[-1], status  # the reduce's loss (the spread and fees)
        realized.append(day)
        proc.send_signal(signal.SIGINT)
        assert await proc.wait() == 0
    first, both = realized[1] - realized[0], realized[2] - realized[0]
    assert first < 0 and both == 2 * first  # the same trades, the same loss: counted twice


async def test_the_demo_runs_at_any_hour(tmp_path: Path, procs: list[Any]) -> None:
    limits = "[rule.max_contracts]\nlimit = 5\n[rule.max_contracts_per_instrument]\n"
    with_port(tmp_path, 0, closed_now() + limits)
    proc = await spawn(tmp_path, "--demo")
    procs.append(proc)
    head = await read_until(proc, "fsm-risk is enforcing")
    assert "Demo (--demo): trading hours are NOT enforced" in head
    url, body = demo_order(head)
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, content=body)).status_code == 200
        positions = url.rsplit("/", 1)[0] + "/positions"
        # the service confirms the reduce from the gateway's position update, sent after the
        # gateway's own record of the position changed
        await read_until(proc, "FSM:ENFORCEMENT_CONFIRMED")
        assert [p["size"] for p in (await client.get(positions)).json()] == [3]


async def test_a_reload_of_the_demo_keeps_its_trading_hours_off(
    tmp_path: Path, procs: list[Any]
) -> None:
    """Reported: a reload under --demo read the file as is, turned the trading hours back on
    (the market being closed, the demo account was locked) while the banner said they were
    off, and a later --demo start kept them on."""
    with_port(tmp_path, 0, closed_now())
    proc = await spawn(tmp_path, "--demo")
    procs.append(proc)
    await read_until(proc, "fsm-risk is enforcing")
    proc.send_signal(signal.SIGHUP)
    line = await read_until(proc, "settings reloaded by")
    assert "trading_hours" not in line, line
    proc.send_signal(signal.SIGINT)
    assert await proc.wait() == 0
    again = await spawn(tmp_path, "--demo")
    procs.append(again)
    head = await read_until(again, "fsm-risk is enforcing")
    assert "Demo (--demo): trading hours are NOT enforced" in head, head
