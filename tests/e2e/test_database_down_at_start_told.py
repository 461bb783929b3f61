"""Found by a review of 746b49e: a start that gives up because its PostgreSQL server is down
tells nobody. The start's failure notice covers a refused login, no active account, a clock
refusal; a database that cannot be reached at the start (the server restarting, a password
rotated) ends `serve` the same way, nothing enforced, and the [notify] urls hear nothing; the
installed unit restarts it every ~2 s, forever, in silence. The real `serve` process, the real
SDK against the paper gateway, apprise's ``json://`` to a loopback receiver."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from fsm_risk.paper.gateway import PaperGateway
from tests.e2e.receiver import Receiver
from tests.e2e.test_serve_process import procs, settings_text, start

pytestmark = pytest.mark.e2e

__all__ = ["procs"]

PASSWORD = "pg-Hq27vBs"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_start_given_up_on_a_database_down_is_told(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], receiver: Receiver
) -> None:
    database = f"postgresql://fsm:{PASSWORD}@127.0.0.1:{closed_port()}/fsm"
    text = settings_text(tmp_path, paper_gateway).replace("var/state.db", database)
    text += f"[notify]\nurls = {receiver.url('all')}\n"
    (tmp_path / "settings.ini").write_text(text)
    user, key = paper_gateway.credentials()
    proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key})
    procs.append(proc)
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    await asyncio.sleep(1.0)
    assert proc.returncode != 0, out.decode()[-2000:]
    titles = [m["title"] for m in receiver.delivered()]
    assert titles == ["fsm-risk NOT ENFORCING: the start failed"], (
        f"serve gave up on its database (nothing enforced) and the targets heard: {titles}; "
        f"serve said: {out.decode()[-600:]}"
    )
    assert PASSWORD not in out.decode()
    assert all(PASSWORD not in m["message"] for m in receiver.delivered())
