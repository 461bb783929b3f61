"""Found by a review of 746b49e: a refused start restarted, each start refused only after more
than 5 s of a gateway in trouble (503s, or an answer that takes that long), ends on "fsm-risk
stopped" from the second start on: the start failure is told once per 6 h, and the "cannot log
in ... It keeps trying ... a notice follows once it enforces" said before it is followed by
"fsm-risk stopped: accounts are no longer watched", never why nor what to fix. That pair comes
on every restart (the unit restarts it every ~2 s, forever). The real `serve` process, the real
SDK against the paper gateway, apprise's ``json://`` to a loopback receiver."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fsm_risk.paper.gateway import PaperGateway
from tests.e2e.receiver import Receiver
from tests.e2e.test_serve_process import procs, settings_text, start

pytestmark = pytest.mark.e2e

__all__ = ["procs"]

LOGIN = "/api/Auth/loginKey"
KEY = "rvk-Zq81x"  # a key the gateway does not take (errorCode 3)


async def test_a_restarted_refusal_after_an_outage_never_ends_on_stopped(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], receiver: Receiver
) -> None:
    text = settings_text(tmp_path, paper_gateway) + f"[notify]\nurls = {receiver.url('all')}\n"
    (tmp_path / "settings.ini").write_text(text)
    user, _ = paper_gateway.credentials()
    heard: list[list[str]] = []
    for _ in range(2):  # the service manager restarting it
        paper_gateway.fail_rest(LOGIN, 503, seconds=12.0)
        before = len(receiver.delivered())
        proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": KEY})
        procs.append(proc)
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode != 0 and "refused the login" in out.decode(), out.decode()[-2000:]
        await asyncio.sleep(1.0)
        heard.append([m["title"] for m in receiver.delivered()[before:]])
    assert heard[0][-1] == "fsm-risk NOT ENFORCING: the start failed", heard
    assert heard[1][-1:] != ["fsm-risk stopped"], (
        f"the restart was told it keeps trying, then only 'fsm-risk stopped': {heard}"
    )
