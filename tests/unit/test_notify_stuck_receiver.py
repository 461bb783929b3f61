"""Found by a hunt of reloads and receivers: a receiver that answers a header line a second
(no socket timeout ever fires) held the lane's one worker thread for good. Every later notice
to that URL, the flatten and the lock included, waited behind it, was never sent and was logged
"it may have arrived"; and the process could not exit after SIGTERM (its worker was joined at
exit: 30 s and more on every restart, with no account watched). What must hold: an attempt past
`SEND_TIMEOUT` is given up and the lane's next attempt has a thread of its own; a notice that
is not tried is logged as not sent; a stuck send never holds the exit; a command's send has the
same deadline. The sender here is a fake (one attempt at one URL, run on its thread)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fsm_risk import config, notify
from fsm_risk.notify import SENT, Notice, Notifier, send_now

STUCK = "json://127.0.0.1:9/stuck"


class Stuck:
    """Hangs the first ``hangs`` attempts (until ``release``), answers the others at once."""

    def __init__(self, hangs: int) -> None:
        self.hangs = hangs
        self.got: list[str] = []
        self.release = threading.Event()

    def send(self, url: str, notice: Notice) -> str:
        self.got.append(notice.title)
        if len(self.got) <= self.hangs:
            self.release.wait(30)
        return SENT


def lock(account: int) -> Notice:
    return Notice("lock", f"Account {account}: LockedDaily", "locked", account, "failure")


def started(sender: Stuck, extra: str = "") -> Notifier:
    n = Notifier(config.parse(f"[notify]\nurls = {STUCK}\n{extra}"), send=sender.send)
    n._start_sending()
    return n


async def test_a_send_stuck_past_the_deadline_does_not_hold_the_next_notice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notify, "SEND_TIMEOUT", 0.3)
    sender = Stuck(hangs=1)
    n = started(sender)
    try:
        n.put(Notice("service", "fsm-risk started", "enforcing", level="success"))
        n.put(lock(1001))
        await n.wait_for(lambda: n.health.sent == 1, timeout=5)
        assert sender.got == ["fsm-risk started", "Account 1001: LockedDaily"]
        assert (n.health.sent, n.health.failed) == (1, 1)  # the first: not confirmed
        assert n.health.last_error == "no answer in time; not sent again (it may have arrived)"
        assert n.queued == 0
    finally:
        sender.release.set()
        await n.stop(drain_seconds=1)


async def test_a_notice_not_tried_while_the_receiver_holds_earlier_ones_is_logged_not_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notify, "SEND_TIMEOUT", 0.2)
    sender = Stuck(hangs=10)
    n = started(sender, "retries = 0\n")
    try:
        for account in (1001, 1002, 1003, 1004):
            n.put(lock(account))
        await n.wait_for(lambda: n.health.failed == 4, timeout=5)
        # three tried (each given up on after the deadline), the fourth not: never sent
        assert sender.got == [f"Account {a}: LockedDaily" for a in (1001, 1002, 1003)]
        assert n.health.last_error == "the receiver still holds 3 earlier notices"
        assert n.health.sent == 0
    finally:
        sender.release.set()
        await n.stop(drain_seconds=1)


def test_a_command_sending_to_a_stuck_receiver_ends_after_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "SEND_TIMEOUT", 0.3)
    sender = Stuck(hangs=1)
    path = tmp_path / "settings.ini"
    path.write_text(f"[notify]\nurls = {STUCK}\nevents = admin\n")
    began = time.monotonic()
    try:
        sent, failed = send_now(config.load(path), Notice("admin", "t", "b"), send=sender.send)
    finally:
        sender.release.set()
    assert time.monotonic() - began < 5
    assert (sent, failed) == ([], ["all accounts"])


#: a process sending through apprise to a loopback receiver that takes the request and answers
#: a header line every half second, never ending (so no socket timeout fires)
TRICKLED = """
import asyncio, socket, threading, time
from fsm_risk import config, notify

def trickle(server):
    while True:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\\r\\n")
        def drip(conn=conn):
            while True:
                time.sleep(0.5)
                conn.sendall(b"X-Slow: 1\\r\\n")
        threading.Thread(target=drip, daemon=True).start()

server = socket.create_server(("127.0.0.1", 0))
threading.Thread(target=trickle, args=(server,), daemon=True).start()
url = f"json://127.0.0.1:{server.getsockname()[1]}/slow"
notify.SEND_TIMEOUT = 1.0

async def main():
    n = notify.Notifier(config.parse(f"[notify]\\nurls = {url}\\n"))
    n._start_sending()
    n.put(notify.Notice("lock", "t", "b", 1001, "failure"))
    await n.wait_for(lambda: n.health.failed == 1, timeout=10)
    await n.stop(drain_seconds=0.5)
    print(n.health.last_error, flush=True)

asyncio.run(main())
"""


def test_a_process_exits_at_once_though_a_receiver_trickles_its_answer(tmp_path: Path) -> None:
    script = tmp_path / "trickled.py"
    script.write_text(TRICKLED)
    began = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired as held:
        out = held.stdout.decode() if isinstance(held.stdout, bytes) else held.stdout or ""
        pytest.fail(f"still running 30 s after its start, its notifier stopped: {out!r}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "no answer in time; not sent again (it may have arrived)\n"
    assert time.monotonic() - began < 20
