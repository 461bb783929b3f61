"""Found by a review of 746b49e: a second service refused because another one already monitors
its accounts is told as "fsm-risk NOT ENFORCING: the start failed ... Nothing is enforced until
that is fixed" to the same [notify] urls, while the first service enforces those accounts. A
person reading it (a second settings file, a second group, started by hand or by a unit) is
told the accounts are unguarded when they are not, and may stop or "fix" the guard that runs.
The real `serve` processes, the real SDK against the paper gateway, apprise's ``json://`` to a
loopback receiver."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fsm_risk.paper.gateway import PaperGateway
from tests.e2e.receiver import Receiver
from tests.e2e.test_serve_process import procs, read_until, settings_text, start

pytestmark = pytest.mark.e2e

__all__ = ["procs"]


async def test_a_second_service_refused_by_the_running_one_is_not_told_as_unenforced(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], receiver: Receiver
) -> None:
    user, key = paper_gateway.credentials()
    env = {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key}
    homes = [tmp_path / "one", tmp_path / "two"]
    for home in homes:
        home.mkdir()
        text = settings_text(home, paper_gateway) + f"[notify]\nurls = {receiver.url('all')}\n"
        (home / "settings.ini").write_text(text)
    first = await start(homes[0], env)
    procs.append(first)
    await read_until(first, "fsm-risk is enforcing", 90)
    second = await start(homes[1], env)
    procs.append(second)
    out, _ = await asyncio.wait_for(second.communicate(), 90)
    await asyncio.sleep(1.0)
    assert second.returncode != 0, out.decode()[-2000:]
    assert first.returncode is None  # the first enforces all along
    told = [m["title"] + ": " + m["message"] for m in receiver.delivered()]
    assert not any("Nothing is enforced" in t for t in told), (
        f"told nothing is enforced while the first service enforces: {told}; "
        f"the second said: {out.decode()[-400:]}"
    )
