"""Each URL is sent to by a lane of its own: a receiver that hangs, refuses or answers late
holds back only its own notices.

Reported: with four `json://` targets (one hung, one answering after 20 s, one resetting, one
healthy) notices went one at a time to each URL in turn; the healthy one got "fsm-risk
started" 54 s late and, after 3 minutes of trading, 2 of 98 notices (24 accounts' daily-loss
locks queued behind flattening notices for over an hour); the slow one got each notice four
times. The sender here is a fake (one attempt at one URL, run in the URL's thread)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import pytest

from fsm_risk import config, notify
from fsm_risk.notify import REFUSED, SENT, TIMED_OUT, Notice, Notifier

HUNG, SLOW, OK = "json://127.0.0.1:9/hung", "json://127.0.0.1:9/slow", "json://127.0.0.1:9/ok"


class Receivers:
    """What each URL got, in order; ``answer`` says how each URL answers an attempt."""

    def __init__(self) -> None:
        self.got: dict[str, list[str]] = {}
        self.release = threading.Event()  # the hung URL answers once it is set
        self.answer: dict[str, Callable[[Notice], str]] = {}
        self.lock = threading.Lock()

    def send(self, url: str, notice: Notice) -> str:
        with self.lock:
            self.got.setdefault(url, []).append(notice.title)
        if url == HUNG:
            self.release.wait(10)
            return SENT
        return self.answer.get(url, lambda _: SENT)(notice)

    def titles(self, url: str) -> list[str]:
        with self.lock:
            return list(self.got.get(url, []))


@pytest.fixture
async def receivers() -> AsyncIterator[Receivers]:
    r = Receivers()
    yield r
    r.release.set()  # (the hung URL's thread ends)


def started(r: Receivers, urls: str, extra: str = "") -> Notifier:
    settings = config.parse(f"[notify]\nurls = {urls}\n{extra}")
    n = Notifier(settings, send=r.send, backoff=0.01)
    n._start_sending()
    return n


def lock(account: int) -> Notice:
    return Notice("lock", f"Account {account}: LockedDaily", "locked", account, "failure")


async def test_a_hung_url_does_not_delay_the_lock_notices_of_the_others(
    receivers: Receivers,
) -> None:
    n = started(receivers, f"{HUNG}, {OK}")
    n.put(Notice("service", "fsm-risk started", "enforcing", level="success"))
    for account in (1001, 1002, 1003):
        n.put(lock(account))
    await n.wait_for(lambda: n.health.sent == 4, timeout=5)
    assert receivers.titles(OK) == [
        "fsm-risk started",
        "Account 1001: LockedDaily",
        "Account 1002: LockedDaily",
        "Account 1003: LockedDaily",
    ]
    assert receivers.titles(HUNG) == ["fsm-risk started"]  # still held
    assert n.queued == 4  # the hung URL's: one being sent, three waiting
    assert (n.health.sent, n.health.failed) == (4, 0)
    receivers.release.set()
    await n.wait_for(lambda: n.health.sent == 8, timeout=5)
    assert receivers.titles(HUNG) == receivers.titles(OK)  # in order, once each
    assert n.queued == 0
    await n.stop(drain_seconds=1)


async def test_a_refused_url_is_retried_without_holding_the_others(
    receivers: Receivers,
) -> None:
    bad = "json://127.0.0.1:9/bad"
    receivers.answer[bad] = lambda _: REFUSED
    n = started(receivers, f"{bad}, {OK}", "retries = 3\n")
    n.backoff = 60.0  # its first re-send is a minute away
    n.put(lock(1001))
    n.put(lock(1002))
    await n.wait_for(lambda: len(receivers.titles(OK)) == 2, timeout=5)
    assert receivers.titles(bad) == ["Account 1001: LockedDaily"]  # waiting to try again
    n.backoff = 0.01
    await n.stop(drain_seconds=0.2)


async def test_notices_to_a_url_that_refuses_once_each_go_in_their_order(
    receivers: Receivers,
) -> None:
    flaky, tried = "json://127.0.0.1:9/flaky", set[str]()

    def once_refused(notice: Notice) -> str:
        if notice.title in tried:
            return SENT
        tried.add(notice.title)
        return REFUSED

    receivers.answer[flaky] = once_refused
    n = started(receivers, flaky)
    for account in (1001, 1002, 1003):
        n.put(lock(account))
    await n.wait_for(lambda: n.health.sent == 3, timeout=5)
    assert receivers.titles(flaky) == [
        f"Account {a}: LockedDaily" for a in (1001, 1001, 1002, 1002, 1003, 1003)
    ]
    assert (n.health.retried, n.health.failed) == (3, 0)
    await n.stop(drain_seconds=1)


async def test_an_attempt_not_answered_in_time_is_not_sent_again(receivers: Receivers) -> None:
    """It may have arrived: the receiver answering after 20 s got each notice four times."""
    receivers.answer[SLOW] = lambda _: TIMED_OUT
    n = started(receivers, f"{SLOW}, {OK}", "retries = 3\n")
    n.put(lock(1001))
    await n.wait_for(lambda: n.health.failed == 1 and n.health.sent == 1, timeout=5)
    assert receivers.titles(SLOW) == ["Account 1001: LockedDaily"]
    assert n.health.retried == 0
    assert n.health.last_error == "no answer in time; not sent again (it may have arrived)"
    await n.stop(drain_seconds=1)


async def test_a_url_failing_for_long_keeps_only_its_latest_notices(
    receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "LANE_SIZE", 3)
    n = started(receivers, f"{HUNG}, {OK}")
    for sent, account in enumerate(range(1001, 1007), 1):  # the working URL keeps up
        n.put(lock(account))
        await n.wait_for(lambda sent=sent: n.health.sent == sent, timeout=5)
    assert n.health.dropped == 2  # the hung URL's 1002 and 1003: its oldest waiting
    assert n.queued == 4  # 1001 being sent, 1004 to 1006 waiting
    receivers.release.set()
    await n.wait_for(lambda: n.queued == 0, timeout=5)
    assert receivers.titles(HUNG) == [f"Account {a}: LockedDaily" for a in (1001, 1004, 1005, 1006)]
    await n.stop(drain_seconds=1)


async def test_the_stop_notice_reaches_a_working_url_while_another_hangs(
    receivers: Receivers,
) -> None:
    n = started(receivers, f"{HUNG}, {OK}")
    n.put(lock(1001))
    await n.wait_for(lambda: receivers.titles(OK), timeout=5)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await n.stop(drain_seconds=0.5)
    assert loop.time() - began < 2  # bounded by the drain, whatever the hung URL does
    assert receivers.titles(OK) == ["Account 1001: LockedDaily", "fsm-risk stopped"]
    assert receivers.titles(HUNG) == ["Account 1001: LockedDaily"]
