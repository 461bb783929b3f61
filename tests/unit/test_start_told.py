"""A failed start told once per 6 h: to a slow target, before its service runs, by a key that
keeps what the failure is. The senders here are fakes."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fsm_risk import config, notify, start_told
from fsm_risk.notify import REFUSED, SENT, TIMED_OUT, Notice, Notifier
from fsm_risk.observe import LoggingIn, StartFailed

REFUSED_LOGIN = (
    "the gateway refused the login of 'trader': Invalid credentials (errorCode 3): check the "
    "username and the API key"
)
DATABASE = (
    "database postgresql://fsm:***@127.0.0.1:5432/fsm: cannot be opened: connection to "
    "server at 127.0.0.1, port 5432 failed: Connection refused"
)


class Store:
    def __init__(self) -> None:
        self.rows: dict[str, str] = {}

    def meta(self, key: str) -> str | None:
        return self.rows.get(key)

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.rows.pop(key, None)
        else:
            self.rows[key] = value


def service(store: Store, now: list[datetime]) -> Any:
    clock = SimpleNamespace(now=lambda: now[0])
    return SimpleNamespace(
        clock=clock, wall=clock, ready=asyncio.Event(), account_ids=[1001], store=store,
        engine=SimpleNamespace(rules=[1], accounts={}),
    )  # fmt: skip


async def failed_start(
    store: Store, now: list[datetime], send: Any, why: str = REFUSED_LOGIN, **kw: Any
) -> Notifier:
    n = Notifier(
        config.parse("[notify]\nurls = json://127.0.0.1:9/x\n"),
        service=service(store, now),
        send=send,
    )
    n.observe(LoggingIn())
    n.observe(StartFailed(why, **kw))
    await n.stop(drain_seconds=0.3)
    return n


async def test_a_failure_notice_unanswered_in_time_counts_as_told() -> None:
    """Found by a review of 746b49e: a target that takes the notice but answers past the
    drain was told the failed start on every restart (~400 an hour under the unit). An attempt
    with no answer in time may have arrived: the failure is marked told, as when sent; one
    refused by every URL is not."""
    store, now = Store(), [datetime(2026, 12, 7, 15, 0, tzinfo=UTC)]
    got: list[str] = []

    def answering(outcome: str) -> Any:
        def send(url: str, notice: Notice) -> str:
            got.append(notice.title)
            return outcome

        return send

    await failed_start(store, now, answering(TIMED_OUT))
    assert got == ["fsm-risk NOT ENFORCING: the start failed"]
    now[0] += timedelta(seconds=9)
    await failed_start(store, now, answering(TIMED_OUT))
    assert len(got) == 1, f"told again 9 s later: {got}"
    other = Store()
    await failed_start(other, now, answering(REFUSED))
    assert other.rows == {}  # no URL took it: the next start tells it


async def test_a_failure_notice_still_being_sent_as_the_drain_ends_counts_as_told() -> None:
    """Found by a review of 746b49e: an attempt cut by the stop's drain (the receiver read the
    notice and has not answered) left the failure unmarked, so every restart sent it again. It
    may have arrived: marked told."""
    store, now = Store(), [datetime(2026, 12, 7, 15, 0, tzinfo=UTC)]
    release, got = threading.Event(), []

    def hanging(url: str, notice: Notice) -> str:
        got.append(notice.title)
        release.wait(10)
        return SENT

    try:
        await failed_start(store, now, hanging)
        now[0] += timedelta(seconds=9)
        await failed_start(store, now, hanging)
    finally:
        release.set()
    assert got == ["fsm-risk NOT ENFORCING: the start failed"]


async def test_cannot_log_in_is_held_back_while_a_failed_start_counts_as_told() -> None:
    """Found by a review of 746b49e: restarts refused after 5 s of a gateway in trouble each
    told "cannot log in ... It keeps trying", then a bare "fsm-risk stopped". A failed start
    told, nothing enforced since: neither is told again; the told failure is never followed
    by "stopped"."""
    store, now = Store(), [datetime(2026, 12, 7, 15, 0, tzinfo=UTC)]
    sent: list[str] = []

    def send(url: str, notice: Notice) -> str:
        sent.append(notice.title)
        return SENT

    async def slow_refusal() -> None:
        n = Notifier(
            config.parse("[notify]\nurls = json://127.0.0.1:9/x\n"),
            service=service(store, now),
            send=send,
        )
        n.observe(LoggingIn())
        n.observe(LoggingIn("the login failed: 503"))
        n._not_logged_in()
        n.observe(StartFailed(REFUSED_LOGIN))
        await n.stop()

    await slow_refusal()
    assert sent == [
        "fsm-risk NOT ENFORCING: cannot log in",
        "fsm-risk NOT ENFORCING: the start failed",
    ]
    now[0] += timedelta(seconds=20)
    await slow_refusal()
    assert sent[2:] == []


async def test_a_second_service_refused_is_told_already_guarded_not_unenforced() -> None:
    """Found by a review of 746b49e: a service refused because another one monitors its
    account was told "NOT ENFORCING ... Nothing is enforced" while the other enforced. It is
    told as already guarded, and by whom."""
    got: list[Notice] = []

    def send(url: str, notice: Notice) -> str:
        got.append(notice)
        return SENT

    why = (
        "another fsm-risk service on this machine monitors account 1001 of var/fsm-risk.db "
        "(pid 4242, database var/fsm-risk.db, since 2026-12-07T14:59:58+00:00): two services "
        "would both enforce on it"
    )
    await failed_start(Store(), [datetime(2026, 12, 7, 15, 0, tzinfo=UTC)], send, why, guarded=True)
    [told] = got
    assert told.title == "fsm-risk not started: already guarded" and told.level == "warning"
    assert "pid 4242" in told.body and "goes on enforcing" in told.body
    assert "Nothing is enforced" not in told.body and "NOT ENFORCING" not in told.title


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("account 10001 is not listed", "account 1003 is not listed", False),
        ("refused (errorCode 2)", "refused (errorCode 5)", False),
        ("clock is 312 s (5 min) ahead", "clock is 318 s (5 min) ahead", True),
        ("clock is 7300 s (2 h 1 min) ahead", "clock is 7400 s (2 h 3 min) ahead", True),
        (
            "held by pid 4242, since 2026-12-07T14:59:58.1+00:00",
            "held by pid 4250, since 2026-12-07T15:03:01.9+00:00",
            True,
        ),
        (DATABASE, DATABASE.replace("5432", "5433"), False),
    ],
)
def test_the_told_key_blanks_only_what_varies(one: str, other: str, same: bool) -> None:
    """Found by a review of 746b49e: every digit run was blanked, so a second typo'd account
    id or another errorCode was taken for the failure told and not told for 6 h. Only
    seconds, spans, pids and times are blanked."""
    assert (start_told.told_key(one) == start_told.told_key(other)) is same


def test_a_start_given_up_before_the_service_runs_is_told_once(tmp_path: Path) -> None:
    """Found by a review of 746b49e: a start that gave up on its database (PostgreSQL down)
    told nobody, restarted every 2 s in silence. It is told from the command's path, once per
    6 h, its mark in a file beside the log (an unanswered attempt counts: it may have it; a
    refusal by every URL does not); a start that went through forgets it."""
    text = f"[general]\nlog_file = {tmp_path}/fsm-risk.log\n[notify]\nurls = json://127.0.0.1:9/x\n"
    settings = config.parse(text)
    got: list[str] = []
    now = [datetime(2026, 12, 7, 15, 0, tzinfo=UTC)]

    def answering(outcome: str) -> Any:
        def send(url: str, notice: Notice) -> str:
            got.append(notice.title)
            return outcome

        return send

    def tell(outcome: str) -> bool:
        return notify.tell_start_failed(
            settings, DATABASE, now=lambda: now[0], send=answering(outcome)
        )

    assert tell(REFUSED) and not (tmp_path / "fsm-risk.start-told.json").exists()
    got.clear()
    assert tell(SENT) and got == ["fsm-risk NOT ENFORCING: the start failed"]
    now[0] += timedelta(hours=5, minutes=59)
    assert not tell(SENT) and len(got) == 1
    now[0] += timedelta(minutes=1)
    assert tell(SENT) and len(got) == 2  # six hours on: told again
    start_told.forget(settings)
    assert tell(SENT) and len(got) == 3


def test_a_start_given_up_before_the_service_runs_unanswered_counts_as_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a review of 746b49e: an attempt left unanswered may have arrived; told again at
    every restart it floods the slow target."""
    monkeypatch.setattr(notify, "SEND_TIMEOUT", 0.2)
    text = f"[general]\nlog_file = {tmp_path}/fsm-risk.log\n[notify]\nurls = json://127.0.0.1:9/x\n"
    settings = config.parse(text)
    release, got = threading.Event(), []

    def hanging(url: str, notice: Notice) -> str:
        got.append(notice.title)
        release.wait(5)
        return SENT

    try:
        assert notify.tell_start_failed(settings, DATABASE, send=hanging)
        assert not notify.tell_start_failed(settings, DATABASE, send=hanging)
    finally:
        release.set()
    assert got == ["fsm-risk NOT ENFORCING: the start failed"]
