"""The start's login told to the notification targets: nothing is enforced before it goes through.

Found by a review: the notifier started only after the login, so a start-time outage (the
gateway answering 500s for minutes) was told to nobody. The sender here is a fake."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from fsm_risk import config, notify
from fsm_risk.notify import SENT, Notice, Notifier
from fsm_risk.observe import LoggingIn, StartFailed

FAILED = "the login failed: the gateway answered with a server error (Server error: 500 - oops)"


class Sent:
    def __init__(self, outcome: str = SENT) -> None:
        self.got: list[Notice] = []
        self.lock = threading.Lock()
        self.outcome = outcome

    def __call__(self, url: str, notice: Notice) -> str:
        with self.lock:
            self.got.append(notice)
        return self.outcome

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


async def test_only_account_targets_hear_the_login_outage() -> None:
    """Found by a review of 2cbe6b1: a trader who set only ``[notify.1001]`` heard nothing of a
    login outage at start (its section was resolved only after the login). Before the login the
    accounts' own URLs hear the service's notices, and no account's; once started, they are
    the resolved account targets (one each, not two)."""
    sent, svc = Sent(), service()
    n = notifier(sent, svc, notify_text="[notify.1001]\nurls = json://127.0.0.1:9/y\n")
    n.observe(LoggingIn())
    n.observe(LoggingIn(FAILED))
    assert n._login_timer is not None
    n._not_logged_in()
    assert taken(n).title == "fsm-risk NOT ENFORCING: cannot log in"
    account = Notice("lock", "Account 1002: LockedDaily", "x", 1002)
    assert not any(t.wants(account) for t in n.targets)
    svc.engine.accounts = {1001: SimpleNamespace(name="PAPER-1")}
    svc.closed, svc.store = (lambda keys: False), Store()
    await n.start(svc)
    assert [(t.name, t.accounts) for t in n.targets] == [("account 1001", frozenset({1001}))]
    await n.stop()


class Store:
    """The database's meta rows."""

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}

    def meta(self, key: str) -> str | None:
        return self.rows.get(key)

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.rows.pop(key, None)
        else:
            self.rows[key] = value


REFUSED = (
    "the gateway refused the login of 'trader': Invalid credentials (errorCode 3): check the "
    "username and the API key"
)


async def test_a_start_failure_is_the_last_word_told_once_per_six_hours() -> None:
    """Found by a review of 2cbe6b1: a refused login ended the start with nothing told (or
    "it keeps trying", then "fsm-risk stopped"). The start's failure is told as it stops, with
    why; once a URL took it (or left it unanswered: it may have it), a restart within
    `TOLD_AGAIN` failing the same way (but for its seconds) tells nothing, one later does, and
    so does the same failure after a start that went through."""
    store, now = Store(), [datetime(2026, 12, 7, 12, 0, tzinfo=UTC)]

    async def failed_start(why: str, outcome: str = SENT) -> list[str]:
        sent, svc = Sent(outcome), service()
        svc.store, svc.wall = store, SimpleNamespace(now=lambda: now[0])
        n = notifier(sent, svc)
        n.observe(LoggingIn())
        n.observe(StartFailed(why))
        await n.stop()
        return sent.titles()

    failed = "fsm-risk NOT ENFORCING: the start failed"
    assert await failed_start(REFUSED, REFUSED) == [failed]  # no URL took it: not told
    assert store.rows == {}
    assert await failed_start(REFUSED) == [failed]
    now[0] += timedelta(hours=5, minutes=59)
    assert await failed_start(REFUSED) == []  # (a service manager restarting it)
    clock = "this machine's clock is 312 s (5 min) ahead of the gateway's"
    assert await failed_start(clock) == [failed]
    assert await failed_start(clock.replace("312", "318")) == []
    now[0] += timedelta(minutes=1)
    assert await failed_start(REFUSED) == [failed]  # six hours on: told again
    sent, svc = Sent(), service()
    svc.store, svc.closed = store, lambda keys: False
    svc.engine.accounts = {1001: SimpleNamespace(name="PAPER-1")}
    good = notifier(sent, svc)
    await good.start(svc)  # a start that went through
    await good.stop()
    assert store.rows == {}
    assert await failed_start(REFUSED) == [failed]


async def test_the_start_failure_notice_says_why_and_replaces_stopped() -> None:
    """Found by a review of 2cbe6b1: after "it keeps trying", a refusal was followed only by
    "fsm-risk stopped". Its notice says why and what to fix, cut like the login's."""
    sent, svc = Sent(), service()
    n = notifier(sent, svc)
    n.observe(LoggingIn())
    n.observe(LoggingIn(FAILED))
    n._not_logged_in()
    n.observe(StartFailed(REFUSED))
    await n.stop()
    assert sent.titles() == [
        "fsm-risk NOT ENFORCING: cannot log in",
        "fsm-risk NOT ENFORCING: the start failed",
    ]
    body = sent.got[1].body
    assert f"fsm-risk stopped without enforcing anything: {REFUSED}." in body, body
    m = notifier(Sent(), service())
    m.observe(StartFailed("the login failed: " + "x" * 5000))
    assert m._failed_notice() is not None and "x" * 300 not in m._failed_notice().body  # type: ignore[union-attr]


async def test_the_hubs_refused_after_the_login_are_named() -> None:
    """Found by a review of 2cbe6b1: the hubs refused after a good login (a SignalR deploy)
    were told to nobody. The notice names the hubs and their failure, not the login's."""
    sent, svc = Sent(), service()
    n = notifier(sent, svc)
    n.observe(LoggingIn())
    n.observe(LoggingIn(FAILED))  # a 500, then the login goes through
    n.observe(LoggingIn(step="hubs"))
    n._not_logged_in()
    told = taken(n)
    assert told.title == "fsm-risk NOT ENFORCING: cannot open the feeds"
    assert "(the gateway has not answered it yet)" in told.body and FAILED not in told.body
    n._told = None
    hubs = "the hubs' opening failed: the user and market hubs did not open"
    n.observe(LoggingIn(hubs, step="hubs"))
    n._not_logged_in()
    assert f"it cannot open the gateway's feeds ({hubs})" in taken(n).body
    n.observe(LoggingIn(done=True, step="hubs"))
    assert n._login_timer is not None and n._login_timer.cancelled()
    await n.stop()
