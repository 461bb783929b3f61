"""Found by a review of 156f80b: each attempt runs on a thread of its own, given up after
`SEND_TIMEOUT`, and the lane's next notice goes on a fresh thread. The given-up thread kept
running apprise, which re-sent the notice as often as the URL's ``retry=`` said: behind a receiver
holding requests while its backend is down, the lock arrived after the later all-clear (the
supervisor's last word "locked" while the account trades), and a notice that got no answer in
time was sent again 4 times with ``retry=3``. What must hold: apprise never sends a notice again
itself, so a notice given up on never arrives after a later one to the same URL, and one not
answered in time is sent once. The real apprise sends here, to a loopback receiver."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fsm_risk import config, notify
from fsm_risk.notify import Notice, Notifier

LOCK = "Account 1001: LockedDaily"
CLEAR = "Account 1001: trading again"


class Receiver(ThreadingHTTPServer):
    """Holds every request unanswered (its backend down) until the all-clear arrives; from then
    on answers each at once. ``delivered``: the titles answered, in order; ``received``: every
    request's title, answered or not."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.delivered: list[str] = []
        self.received: list[str] = []
        self.up = threading.Event()


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        title = json.loads(body).get("title", "")
        self.server.received.append(title)
        if title == CLEAR:
            self.server.up.set()
        if not self.server.up.is_set():
            self.server.up.wait(10)
            self.close_connection = True
            return  # held, then dropped: never reached the backend
        self.server.delivered.append(title)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


async def test_a_notice_given_up_on_never_arrives_after_a_later_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notify, "SEND_TIMEOUT", 1.5)
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"json://127.0.0.1:{receiver.server_address[1]}/hook?rto=0.3&retry=10"
    n = Notifier(config.parse(f"[notify]\nurls = {url}\nretries = 0\n"))
    n._start_sending()
    try:
        n.put(Notice("lock", LOCK, "locked until Mon 17:00", 1001, "failure"))
        n.put(Notice("lock", CLEAR, "trading again", 1001, "success"))
        await n.wait_for(lambda: n.health.sent + n.health.failed == 2, timeout=20)
        time.sleep(1.5)  # the given-up thread's next apprise try, had it one
        assert [t for t in receiver.delivered if t in (LOCK, CLEAR)] in ([CLEAR], [LOCK, CLEAR])
    finally:
        receiver.up.set()
        await n.stop(drain_seconds=1)
        receiver.shutdown()
        receiver.server_close()


async def test_a_notice_not_answered_in_time_is_not_sent_again() -> None:
    receiver = Receiver()  # down all along: every request held, none answered
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"json://127.0.0.1:{receiver.server_address[1]}/hook?rto=0.3&retry=3"
    n = Notifier(config.parse(f"[notify]\nurls = {url}\nretries = 0\n"))
    n._start_sending()
    try:
        n.put(Notice("lock", LOCK, "locked until Mon 17:00", 1001, "failure"))
        await n.wait_for(lambda: n.health.failed == 1, timeout=20)
        assert n.health.last_error == "no answer in time; not sent again (it may have arrived)"
        assert receiver.received == [LOCK]
    finally:
        receiver.up.set()
        await n.stop(drain_seconds=1)
        receiver.shutdown()
        receiver.server_close()
