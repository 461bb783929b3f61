"""Found by a review of 746b49e: a refused start whose failure was already told, slow to be
refused (the gateway answering the login after more than 5 s, or after a few 503s), ends its
notices with "fsm-risk stopped" again. Each restart says "NOT ENFORCING: cannot log in ... It
keeps trying ... a notice follows once it enforces", then only "fsm-risk stopped: accounts are
no longer watched": never why nor what to fix, and that pair comes on every restart (the unit
restarts it every ~2 s, forever), though the start failure itself is told once per 6 h."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from fsm_risk import config
from fsm_risk.notify import SENT, Notice, Notifier
from fsm_risk.observe import LoggingIn, StartFailed

REFUSED = (
    "the gateway refused the login of 'trader': Invalid credentials (errorCode 3): check the "
    "username and the API key"
)
SLOW = "the login failed: the gateway answered with a server error (Server error: 503 - busy)"


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


async def test_a_refused_start_told_before_never_ends_on_it_keeps_trying_then_stopped() -> None:
    store, now = Store(), [datetime(2026, 12, 7, 15, 0, tzinfo=UTC)]

    async def failed_start(slow: bool) -> list[str]:
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
        if slow:  # past the 5 s bound: "cannot log in", it keeps trying
            n.observe(LoggingIn(SLOW))
            n._not_logged_in()
        n.observe(StartFailed(REFUSED))
        await n.stop()
        return [m.title for m in got]

    assert await failed_start(slow=False) == ["fsm-risk NOT ENFORCING: the start failed"]
    now[0] += timedelta(seconds=10)  # the service manager's restart, the gateway slow now
    titles = await failed_start(slow=True)
    assert titles[-1:] != ["fsm-risk stopped"], (
        f"told it keeps trying and a notice follows once enforcing, then only: {titles}"
    )
