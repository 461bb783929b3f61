"""Found by a review of 156f80b: when the service stopped while a URL's receiver held an attempt
(waited for up to `SEND_TIMEOUT`, 30 s, past the 5 s drain), the "fsm-risk stopped" notice queued
behind it, and the attempt in flight, ended without a word: neither sent, nor counted, nor logged.
The supervisor, told nothing, takes the silence for "still watched". What must hold: every notice
put is accounted for when the notifier stops (sent, or counted failed and logged with its URL's
place, never the URL); other URLs are not held back."""

from __future__ import annotations

import threading

from loguru import logger

from fsm_risk import config
from fsm_risk.notify import SENT, Notice, Notifier

STUCK = "json://127.0.0.1:9/stuck"
GOOD = "json://127.0.0.1:9/good"


class Sender:
    """Hangs every attempt at ``STUCK`` (until ``release``); sends the others at once."""

    def __init__(self) -> None:
        self.got: dict[str, list[str]] = {STUCK: [], GOOD: []}
        self.release = threading.Event()

    def send(self, url: str, notice: Notice) -> str:
        self.got[url].append(notice.title)
        if url == STUCK:
            self.release.wait(60)
        return SENT


async def test_every_notice_is_accounted_for_when_the_service_stops_behind_a_stuck_receiver() -> (
    None
):
    sender = Sender()
    n = Notifier(config.parse(f"[notify]\nurls = {STUCK}, {GOOD}\n"), send=sender.send)
    n._start_sending()
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR")
    try:
        n.put(Notice("lock", "Account 1001: LockedDaily", "locked", 1001, "failure"))
        await n.wait_for(lambda: sender.got[STUCK] != [] and sender.got[GOOD] != [], timeout=5)
        await n.stop(drain_seconds=0.5)
        assert sender.got[GOOD] == ["Account 1001: LockedDaily", "fsm-risk stopped"]
        # at the stuck URL: the lock (in flight) and the stopped notice (never tried)
        assert n.health.sent + n.health.failed + n.health.dropped == 2 + 2
        assert n.health.failed == 2
        told = [line for line in lines if "the service stopped" in line]
        assert any("not confirmed" in t and "URL 1 of 2" in t and "LockedDaily" in t for t in told)
        assert any("not sent" in t and "URL 1 of 2" in t and "fsm-risk stopped" in t for t in told)
        assert not any("127.0.0.1" in t for t in told)
    finally:
        logger.remove(sink)
        sender.release.set()
