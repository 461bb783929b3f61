"""Found by a review of 746b49e: a start failure is told once per 6 h by its words with every
digit run made ``#``, so two failures that differ only in their numbers count as one, though
those numbers are what the failure is (which account the settings name, which errorCode the
gateway refused the login with). A person told at 09:00 that ``[general] accounts`` names 10001
fixes it to 1001, 1003 (a second typo): every restart until 15:00 is refused, nothing enforced,
and told nothing; the new refusal is never heard (only "not notified again" in the log)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from fsm_risk import config
from fsm_risk.adapters import login
from fsm_risk.notify import SENT, Notice, Notifier
from fsm_risk.observe import LoggingIn, StartFailed
from fsm_risk.service import _unlisted

LISTED = [
    SimpleNamespace(account_id=1001, name="PAPER-1"),
    SimpleNamespace(account_id=1002, name="PAPER-2"),
]


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


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (_unlisted(["10001"], LISTED, []), _unlisted(["1001", "1003"], LISTED, [])),
        (
            login.refusal("trader", 200, 2, ""),
            login.refusal("trader", 200, 5, ""),
        ),
    ],
    ids=["another-account-named", "another-errorCode"],
)
async def test_a_start_failure_differing_in_what_its_numbers_name_is_told(
    first: str | None, then: str | None
) -> None:
    assert first is not None and then is not None and first != then
    store, now = Store(), [datetime(2026, 12, 7, 15, 0, tzinfo=UTC)]

    async def failed_start(why: str) -> list[str]:
        got: list[Notice] = []

        def send(url: str, notice: Notice) -> str:
            got.append(notice)
            return SENT

        clock = SimpleNamespace(now=lambda: now[0])
        svc: Any = SimpleNamespace(
            clock=clock, wall=clock, ready=asyncio.Event(), account_ids=[1001], store=store,
            engine=SimpleNamespace(rules=[1], accounts={}),
        )  # fmt: skip
        n = Notifier(
            config.parse("[notify]\nurls = json://127.0.0.1:9/x\n"), service=svc, send=send
        )
        n.observe(LoggingIn())
        n.observe(StartFailed(why))
        await n.stop()
        return [m.body for m in got]

    assert len(await failed_start(first)) == 1
    now[0] += timedelta(minutes=20)  # the person fixed what was told, and restarted it
    bodies = await failed_start(then)
    assert len(bodies) == 1 and then in bodies[0], (
        f"a new start failure, {then!r}, was not told (taken for {first!r}, told 20 min before)"
    )
