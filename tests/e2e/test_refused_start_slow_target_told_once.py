"""Found by a review of 746b49e: a refused start restarted over and over tells a target
that takes the notice but answers slowly (past the 5 s drain) on every restart.

The start failure is marked told only once a URL's answer comes back within the drain; a
webhook or mail relay that takes the notice and answers after 5 s never does, so the mark is
never written. The installed unit restarts the service forever (``Restart=always``,
``RestartSec=2``, ``StartLimitIntervalSec=0``): the same "the start failed" notice reaches that
target every ~10 s, day and night, instead of once per 6 h. The real `serve` process, the real
SDK against the paper gateway, apprise's ``json://`` to a loopback receiver whose ``hang`` path
reads the whole notice and answers only when the test ends."""

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

KEY = "rvk-Zq81x"  # a key the gateway does not take (errorCode 3)


async def test_a_refused_start_restarted_is_told_once_to_a_target_that_answers_slowly(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], receiver: Receiver
) -> None:
    text = settings_text(tmp_path, paper_gateway)
    text += f"[notify]\nurls = {receiver.url('hang')}\n"
    (tmp_path / "settings.ini").write_text(text)
    user, _ = paper_gateway.credentials()
    for _ in range(3):  # the service manager restarting the refused start
        proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": KEY})
        procs.append(proc)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode != 0 and "refused the login" in out.decode(), out.decode()[-2000:]
        await asyncio.sleep(0.5)
    assert receiver.hanging == 1, (
        f"the same refused start reached the slow target {receiver.hanging} times in 3 restarts "
        "(told once per 6 h expected; the unit restarts it forever every ~2 s)"
    )
