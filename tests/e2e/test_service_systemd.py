"""The service manager's protocol from the real service: READY=1 once it serves (each account
enforces as soon as its own reconciliation is done; STATUS= says how many do), WATCHDOG=1 at
under half the watchdog period from the event loop, STOPPING=1 on shutdown; read from a local
datagram socket standing in for systemd."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fsm_risk.core.events import Tick
from tests.e2e.service_harness import Harness

MNQ = "CON.F.US.MNQ.Z26"
WATCHDOG_SEC = 3.0


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """systemd's side: a datagram socket, and the variables a Type=notify unit starts with."""
    with tempfile.TemporaryDirectory(dir="/tmp") as d:  # a short path: sun_path is 108 bytes
        path = str(Path(d) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.setblocking(False)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", str(int(WATCHDOG_SEC * 1_000_000)))
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
        try:
            yield sock
        finally:
            sock.close()


async def receive(sock: socket.socket, timeout: float = 30) -> tuple[float, str]:
    loop = asyncio.get_running_loop()
    data = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)
    return loop.time(), data.decode()


async def receive_not_status(sock: socket.socket, timeout: float = 30) -> tuple[float, str]:
    """The next message that is not a STATUS= update."""
    while (found := await receive(sock, timeout))[1].startswith("STATUS="):
        pass
    return found


async def test_ready_after_reconciliation_then_watchdog_pets_then_stopping(
    h: Harness, manager: socket.socket
) -> None:
    h.trade("MNQ", "buy", 1)  # open before the service starts: found by reconciliation
    start = asyncio.create_task(h.start())
    _, first = await receive(manager)
    assert first.splitlines()[0] == "READY=1"
    statuses = first.splitlines()[1:]
    await start  # (the harness waits for every account's reconciliation)
    assert h.svc.ready.is_set() and MNQ in h.acct.positions

    assert h.svc.notifier.watchdog_interval is not None
    assert h.svc.notifier.watchdog_interval < WATCHDOG_SEC / 2
    pets = []
    while len(pets) < 4:
        at, message = await receive(manager)
        if message.startswith("STATUS="):
            statuses.append(message)
            continue
        assert message == "WATCHDOG=1"
        pets.append(at)
    # "enforcing 0 of 1 account(s), reconciling the rest" when READY came first
    assert statuses[-1] == "STATUS=enforcing 1 account(s)", statuses
    gaps = [b - a for a, b in itertools.pairwise(pets)]
    assert max(gaps) < WATCHDOG_SEC / 2, gaps

    stop = asyncio.create_task(h.stop())
    while (message := (await receive(manager))[1]) == "WATCHDOG=1":
        pass
    assert message == "STOPPING=1"
    await stop


async def test_events_stuck_behind_a_dead_consumer_stop_the_pets(
    h: Harness, manager: socket.socket
) -> None:
    """A loop that runs but no longer handles events is as bad as a hung one: systemd must
    restart it, so the pets stop."""
    await h.start()
    assert (await receive(manager))[1].startswith("READY=1")
    assert (await receive_not_status(manager))[1] == "WATCHDOG=1"
    consumer = next(t for t in h.svc._tasks if t.get_name() == "consumer")
    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer
    h.svc.submit(Tick())  # waits in the queue forever
    every = h.svc.notifier.watchdog_interval
    assert every is not None
    late = 0
    with contextlib.suppress(TimeoutError):
        while late <= 1:  # at most one pet already on its way; then silence for 2.5 intervals
            await receive_not_status(manager, timeout=every * 2.5)
            late += 1
    assert late <= 1
