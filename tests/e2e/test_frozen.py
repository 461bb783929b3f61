"""`serve` frozen (SIGSTOP ... SIGCONT, as a machine's sleep or a paused VM) while the world
goes on: a breach made while frozen is closed at the wake; a deadline passed while frozen waits
for what was buffered (RULE-016's stop placed within the grace); a daily reset passed while
frozen carries the open P&L at the reset, not at the last quote before the freeze."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fsm_risk.paper import PaperGateway
from tests.e2e.test_serve_process import cli, procs

__all__ = ["procs"]

ACCOUNT = 1001


def settings(gw: PaperGateway, extra: str = "", reset: datetime | None = None) -> str:
    reset = reset or datetime.now(UTC) + timedelta(hours=12)
    r = reset.astimezone(ZoneInfo("America/Chicago"))
    weekly = r + timedelta(days=3)
    return (
        "[general]\ndatabase = var/state.db\nlog_file = var/fsm.log\n"
        "[control]\nsocket = var/ctl.sock\n"
        f"[session]\ndaily_reset = {r:%H:%M}\nweekly_reset = {weekly:%a} {weekly:%H:%M}\n"
        "[rule.daily_loss_limit]\nlimit = 500\n[web]\nport = 0\n"
        f"[broker]\napi_url = {gw.api_url}\nuser_hub_url = {gw.user_hub_url}\n"
        f"market_hub_url = {gw.market_hub_url}\n" + extra
    )


class Serve:
    def __init__(self, home: Path, gw: PaperGateway) -> None:
        self.home, self.gw = home, gw
        self.lines: list[tuple[float, str]] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        user, key = self.gw.credentials()
        env = {**os.environ, "PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key,
               "NO_COLOR": "1"}  # fmt: skip
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fsm_risk", "serve", "--settings",
            str(self.home / "settings.ini"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
        )  # fmt: skip
        self._drain = asyncio.create_task(self._read())
        await self.wait_line("Stop with Ctrl-C.")
        if self.seen("still being reconciled"):
            await self.wait_line("Every account is reconciled")

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append((time.monotonic(), line.decode()))

    def seen(self, text: str) -> bool:
        return any(text in line for _, line in self.lines)

    async def wait_line(self, text: str, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while not self.seen(text):
                if self.proc is not None and self.proc.returncode is not None:
                    raise AssertionError("".join(line for _, line in self.lines))
                await asyncio.sleep(0.1)

    def stop_(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def cont(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def log(self) -> str:
        return (self.home / "var" / "fsm.log").read_text()

    async def end(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(self.proc.wait(), 30)
        if self._drain is not None:
            await self._drain


@pytest.fixture
async def serve(tmp_path: Path, paper_gateway: PaperGateway) -> Any:
    s = Serve(tmp_path, paper_gateway)
    yield s
    if s.proc is not None and s.proc.returncode is None:
        s.proc.send_signal(signal.SIGCONT)
        s.proc.kill()
        await s.proc.wait()


async def flat_after(gw: PaperGateway, contract: str, timeout: float) -> float | None:
    t0 = time.monotonic()
    try:
        await gw.wait_for(lambda: gw.position(ACCOUNT, contract) is None, timeout, "flat")
    except TimeoutError:
        return None
    return time.monotonic() - t0


async def test_breach_while_frozen_is_closed_at_the_wake(
    tmp_path: Path, paper_gateway: PaperGateway, serve: Serve
) -> None:
    """Long 2 MNQ; frozen 5 s; the price falls 150 points 1 s in (-$600, the limit $500):
    flat within a second of SIGCONT (a P&L breach is no deadline: it waits for no read)."""
    gw = paper_gateway
    (tmp_path / "settings.ini").write_text(settings(gw))
    await serve.start()
    mnq = gw.contract("MNQ").id
    gw.place_order(ACCOUNT, "MNQ", 0, 2)
    await gw.wait_for(lambda: gw.quote_subscribers("MNQ") > 0, 30, "quotes watched")
    await asyncio.sleep(2)
    serve.stop_()
    await asyncio.sleep(1)
    gw.move_price("MNQ", -600)
    await asyncio.sleep(4)
    serve.cont()
    took = await flat_after(gw, mnq, 30)
    await serve.end()
    assert took is not None and took < 1, f"flat {took} s after the wake"
    assert "was frozen" in serve.log()


async def test_stop_placed_within_grace_while_frozen(
    tmp_path: Path, paper_gateway: PaperGateway, serve: Serve
) -> None:
    """RULE-016 grace 10 s: the trader buys 2 MNQ and, within the grace, places his stop;
    the machine was asleep then (12 s) and wakes past the grace: his position and stop stay."""
    freeze = 12
    gw = paper_gateway
    (tmp_path / "settings.ini").write_text(
        settings(gw, "[rule.stop_loss_required]\ngrace_seconds = 10\n")
    )
    await serve.start()
    mnq = gw.contract("MNQ").id
    gw.place_order(ACCOUNT, "MNQ", 0, 2)
    price = gw.position(ACCOUNT, mnq).average_price
    await asyncio.sleep(2)  # the service has seen the position
    serve.stop_()
    await asyncio.sleep(1)
    gw.place_order(ACCOUNT, "MNQ", 1, 2, type=4, stop_price=price - 20)  # protective stop
    await asyncio.sleep(freeze - 1)
    serve.cont()
    await asyncio.sleep(6)
    held = gw.position(ACCOUNT, mnq)
    working = gw.orders(ACCOUNT, working=True)
    await serve.end()
    assert held is not None and held.size == 2, "a position with its stop was closed"
    assert [o.type for o in working] == [4], "his stop was cancelled"


async def until(at: datetime) -> None:
    await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))


@pytest.mark.parametrize(
    ("mode", "before", "expect"),
    [
        ("nodrop", 600, "LockedDaily"),  # the feeds kept: the quotes buffered while frozen
        ("drop", -600, "Trading"),  # the feeds closed by the server while frozen
    ],
)
async def test_frozen_across_the_daily_reset_holding(
    tmp_path: Path,
    paper_gateway: PaperGateway,
    serve: Serve,
    mode: str,
    before: int,
    expect: str,
) -> None:
    """Long 2 MNQ held across the daily reset; asleep from 25 s before it to 15 s after.
    ``before`` = 600: the market rose 150 points before the reset (the old day's gain) and fell
    back after it: the new day is at -$600, past its $500 limit (must be flat, LockedDaily).
    ``before`` = -600: it fell 150 points before the reset (the old day's loss) and stayed:
    the new day is at $0 (the old day's breach, had the service been awake, flattened and
    locked only until the reset): must be Trading in the new day."""
    gw = paper_gateway
    now = datetime.now(UTC)
    reset = (now + timedelta(seconds=120)).replace(second=0, microsecond=0)
    (tmp_path / "settings.ini").write_text(settings(gw, reset=reset))
    await serve.start()
    mnq = gw.contract("MNQ").id
    gw.place_order(ACCOUNT, "MNQ", 0, 2)
    await gw.wait_for(lambda: gw.quote_subscribers("MNQ") > 0, 30, "quotes watched")
    assert datetime.now(UTC) < reset - timedelta(seconds=26)
    await until(reset - timedelta(seconds=25))
    serve.stop_()
    if mode == "drop":
        await gw.drop_websockets()
    await until(reset - timedelta(seconds=15))
    gw.move_price("MNQ", before)
    if before > 0:
        await until(reset + timedelta(seconds=5))
        gw.move_price("MNQ", -before)  # -$600 in the new day
    await until(reset + timedelta(seconds=15))
    serve.cont()
    await asyncio.sleep(10)
    status = await cli(tmp_path, "status")
    held = gw.position(ACCOUNT, mnq)
    await serve.end()
    assert expect in status.splitlines()[0]
    if expect == "LockedDaily":
        assert held is None, "the new day's -$600 was not enforced"
    else:
        assert held is not None and held.size == 2, "closed on the old day's loss"
