"""A login outage at the start is told to the notification targets: nothing is enforced.

Found by a review: `serve` waits out a gateway in trouble at its login (retrying, systemd told),
but the notifier started only after the login: during a start-time outage (the gateway answering
500s for minutes) no notice said the accounts were not guarded. The real `serve` process, the
real SDK against the paper gateway, apprise's ``json://`` to a loopback receiver."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from fsm_risk.paper import rest as paper_rest
from fsm_risk.paper.gateway import PaperGateway
from tests.e2e.receiver import Receiver
from tests.e2e.test_serve_process import procs, settings_text, start

pytestmark = pytest.mark.e2e

__all__ = ["procs"]

LOGIN = "/api/Auth/loginKey"
OUTAGE = 12.0  # the login answers 500 this long: the tries at 0, 0.5, 1.5, 3.5, 7.5 s fail
TOLD = "fsm-risk NOT ENFORCING: cannot log in"


async def test_a_login_outage_at_start_is_told_once_then_enforcing(
    tmp_path: Path,
    paper_gateway: PaperGateway,
    procs: list[Any],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gw = paper_gateway
    user, key = gw.credentials()
    # the gateway's 500 page echoes the API key (a proxy's debug page): no notice may carry it
    monkeypatch.setattr(paper_rest, "responses", {500: f'{{"echo": {{"apiKey": "{key}"}}}}'})
    text = settings_text(tmp_path, gw) + f"[notify]\nurls = {receiver.url('all')}\n"
    (tmp_path / "settings.ini").write_text(text)
    gw.fail_rest(LOGIN, 500, seconds=OUTAGE)
    ends = time.monotonic() + OUTAGE
    proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key})
    procs.append(proc)
    with contextlib.suppress(TimeoutError):  # told while the gateway still answers 500
        await receiver.wait_for(lambda: receiver.titled(TOLD), TOLD, ends - time.monotonic())
    during = [m["title"] for m in receiver.delivered()]
    assert during == [TOLD], f"told during {OUTAGE:.0f} s of a login outage: {during}"
    assert time.monotonic() < ends
    [notice] = receiver.titled(TOLD)
    body = notice["message"]
    assert "cannot log in to the gateway" in body and "500" in body, body
    assert key not in body and key not in notice["title"], body
    await receiver.wait_for(lambda: receiver.titled("fsm-risk enforcing"), "enforcing", 90)
    await asyncio.sleep(1.5)  # (a second start notice would come with the first)
    titles = [m["title"] for m in receiver.delivered()]
    assert titles == [TOLD, "fsm-risk enforcing"], titles
    assert "fsm-risk is enforcing" in receiver.titled("fsm-risk enforcing")[0]["message"]
