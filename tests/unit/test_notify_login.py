"""The start's login told to the notification targets: nothing is enforced before it goes through.

Found by a review: the notifier started only after the login, so a start-time outage (the
gateway answering 500s for minutes) was told to nobody. The sender here is a fake."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from fsm_risk import config, notify
from fsm_risk.notify import SENT, Notice, Notifier
from fsm_risk.observe import LoggingIn

FAILED = "the login failed: the gateway answered with a server error (Server error: 500 - oops)"


class Sent:
    def __init__(self) -> None:
        self.got: list[Notice] = []
        self.lock = threading.Lock()

    def __call__(self, url: str, notice: Notice) -> str:
        with self.lock:
            self.got.append(notice)
        return SENT

    def titles(self) -> list[str]:
        with self.lock:
            return [n.title for n in self.got]


def service() -> Any:
    clock = SimpleNamespace(now=lambda: datetime.now(UTC))
    return SimpleNamespace(
        clock=clock,
        wall=clock,
        ready=asyncio.Event(),
        account_ids=[1001],
        engine=SimpleNamespace(rules=[1], accounts={}),
        unconfirmed_closes=dict,
        unconfirmed_cancels=dict,
        verdict=lambda: (True, {}),
    )


def taken(n: Notifier) -> Notice:
    """The notice the notifier's queue holds (taken before its task hands it on)."""
    notice = n.queue.get_nowait()
    n.queue.task_done()
    return notice


def notifier(sent: Sent, svc: Any, notify_text: str = "urls = json://127.0.0.1:9/x\n") -> Notifier:
    return Notifier(config.parse(f"[notify]\n{notify_text}"), service=svc, send=sent)


async def test_a_login_outage_is_told_once_then_enforcing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "SLOW_START", 0.05)
    sent, svc = Sent(), service()
    n = notifier(sent, svc)
    n.observe(LoggingIn())
    n.observe(LoggingIn(FAILED))
    await n.wait_for(lambda: sent.got, timeout=5)
    [told] = sent.got
    assert told.title == "fsm-risk NOT ENFORCING: cannot log in" and told.level == "failure"
    assert f"it cannot log in to the gateway ({FAILED})" in told.body
    for _ in range(3):  # the outage goes on: its tries fail again, told once
        n.observe(LoggingIn(FAILED))
    assert n.queued == 0
    n.observe(LoggingIn(done=True))
    n._started = time.monotonic()  # (as `start` does, once the service serves)
    svc.ready.set()
    n._readiness()
    await n.wait_for(lambda: len(sent.got) == 2, timeout=5)
    assert sent.titles() == ["fsm-risk NOT ENFORCING: cannot log in", "fsm-risk enforcing"]
    await n.stop()


async def test_a_login_through_within_the_bound_tells_nothing_of_it() -> None:
    sent, svc = Sent(), service()
    n = notifier(sent, svc)
    n.observe(LoggingIn())
    n.observe(LoggingIn(FAILED))  # one 500, then the login goes through
    n.observe(LoggingIn(done=True))
    assert n._login_timer is not None and n._login_timer.cancelled()
    n._not_logged_in()  # (had the timer fired all the same)
    assert n.queued == 0 and n._task is None
    n._started = time.monotonic()
    svc.ready.set()
    n._readiness()
    assert taken(n).title == "fsm-risk started"


async def test_a_login_never_answered_is_told_and_a_long_reason_is_cut() -> None:
    sent, svc = Sent(), service()
    n = notifier(sent, svc)
    n.observe(LoggingIn())
    n._not_logged_in()  # the timer's call: no try has failed yet (the gateway hangs)
    told = taken(n)
    assert "(the gateway has not answered it yet)" in told.body
    m = notifier(sent, service())
    m.observe(LoggingIn("the login failed: " + "x" * 5000))  # a proxy's whole error page
    m._not_logged_in()
    body = taken(m).body
    assert f"({'the login failed: ' + 'x' * 200}" in body and "x" * 300 not in body
    await n.stop()
    await m.stop()


async def test_stopped_while_logging_in_nothing_is_told_later() -> None:
    sent, svc = Sent(), service()
    n = notifier(sent, svc)
    n.observe(LoggingIn())
    await n.stop()  # a SIGTERM within the bound: the timer goes with it
    assert n._login_timer is not None and n._login_timer.cancelled()
    assert n._task is None and sent.got == []


async def test_only_account_targets_nothing_is_told_before_the_login() -> None:
    """[notify.ACCOUNT] targets are resolved against the gateway's account list."""
    sent, svc = Sent(), service()
    n = notifier(sent, svc, notify_text="[notify.1001]\nurls = json://127.0.0.1:9/y\n")
    n.observe(LoggingIn())
    assert n._login_timer is None and n._task is None
