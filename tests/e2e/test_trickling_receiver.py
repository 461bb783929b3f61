"""Found by a hunt of reloads and receivers: a notification receiver that answers a header
line a second (a stalling proxy, a slow server; each byte well inside apprise's 4 s read
timeout, so no socket timeout ever fires), `fsm-risk serve` as its own process, the real SDK
against the paper gateway. It held the lane's one worker for good: `serve` was still running
30 s after SIGTERM (the worker joined at exit; systemd's TimeoutStopSec is 30 s, so every
restart left the accounts unwatched 32 s), and the lock notice after it never reached the
receiver. What must hold: SIGTERM ends `serve` within seconds whatever a receiver does; the
close is not delayed; the lock notice is still tried, on a connection of its own."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import Any

from fsm_risk.paper import PaperGateway
from tests.e2e.test_serve_process import ACCOUNT, procs, read_until, settings_text, start

__all__ = ["procs"]  # the fixture, shared with the other process tests


class Trickler:
    """Takes every POST and answers it one header line a second, never ending."""

    def __init__(self) -> None:
        self.port = 0
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        await reader.read(65536)
        self.requests += 1
        try:
            writer.write(b"HTTP/1.1 200 OK\r\n")
            while True:
                await asyncio.sleep(1)
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass

    async def stop(self) -> None:
        for w in self._writers:
            w.close()
        if self._server is not None:
            self._server.close()


async def test_sigterm_stops_the_service_within_seconds_though_a_receiver_trickles(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any]
) -> None:
    trickler = Trickler()
    await trickler.start()
    try:
        gw = paper_gateway
        url = f"json://127.0.0.1:{trickler.port}/slow"
        (tmp_path / "settings.ini").write_text(
            settings_text(tmp_path, gw) + f"[notify]\nurls = {url}\n"
        )
        user, key = gw.credentials()
        env = {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key}
        proc = await start(tmp_path, env)
        procs.append(proc)
        await read_until(proc, "fsm-risk is enforcing")
        await gw.wait_for(lambda: trickler.requests > 0, 30, "the start notice sent")
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        exited: int | None = None
        with contextlib.suppress(TimeoutError):
            exited = await asyncio.wait_for(proc.wait(), 30)
        took = time.monotonic() - stopped
        assert exited == 0, f"serve still running {took:.0f} s after SIGTERM"
        assert took < 10  # the notices' drain (5 s) and the close of every connection
    finally:
        await trickler.stop()


async def test_a_trickling_receiver_delays_no_close_and_the_lock_notice_is_still_tried(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any]
) -> None:
    """The start notice hangs the trickling lane: the breach's close must not wait, and the
    lock notice must still be tried (a new connection: the receiver sees a second request)
    rather than queued for ever behind the first."""
    trickler = Trickler()
    await trickler.start()
    try:
        gw = paper_gateway
        url = f"json://127.0.0.1:{trickler.port}/slow"
        (tmp_path / "settings.ini").write_text(
            settings_text(tmp_path, gw) + f"[notify]\nurls = {url}\n"
        )
        user, key = gw.credentials()
        env = {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key}
        proc = await start(tmp_path, env)
        procs.append(proc)
        await read_until(proc, "fsm-risk is enforcing")
        await gw.wait_for(lambda: trickler.requests > 0, 30, "the start notice sent")
        gw.place_order(ACCOUNT, "MNQ", 0, 2)
        await gw.wait_for(lambda: gw.quote_subscribers("MNQ") > 0, 30, "quotes watched")
        breached = time.monotonic()
        gw.move_price("MNQ", -600)  # 2 x -150 points = -$600: past the $500 limit
        mnq = gw.contract("MNQ").id
        await gw.wait_for(lambda: gw.position(ACCOUNT, mnq) is None, 30, "flat")
        assert time.monotonic() - breached < 5
        # apprise's read timeout is 4 s, the notifier's own limit 30 s: within 45 s the lock
        # notice has had its own attempt
        waited = 0.0
        while trickler.requests < 2 and waited < 45:
            await asyncio.sleep(0.5)
            waited += 0.5
        assert trickler.requests >= 2, "the lock notice was never sent to the receiver"
    finally:
        await trickler.stop()
