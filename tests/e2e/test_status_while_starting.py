"""`fsm-risk status` while `serve` runs but cannot reach the gateway yet (a network outage at
start: its login retried): the service holds the database, and status said "no fsm-risk
service is running" for the whole outage; a supervisor was told to start one."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from tests.e2e.test_serve_process import cli, procs, settings_text, start

__all__ = ["procs"]


def unanswered_port() -> int:
    """A loopback port nothing listens on (the gateway unreachable)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_status_says_a_service_is_starting_not_that_none_runs(
    tmp_path: Path, procs: list[Any]
) -> None:
    port = unanswered_port()
    text = settings_text(tmp_path, None) + (
        f"[broker]\napi_url = http://127.0.0.1:{port}/api\n"
        f"user_hub_url = http://127.0.0.1:{port}/hubs/user\n"
        f"market_hub_url = http://127.0.0.1:{port}/hubs/market\n"
    )
    (tmp_path / "settings.ini").write_text(text)
    proc = await start(tmp_path, {"PROJECT_X_USERNAME": "trader", "PROJECT_X_API_KEY": "k" * 20})
    procs.append(proc)
    deadline = asyncio.get_running_loop().time() + 30
    out = ""
    while asyncio.get_running_loop().time() < deadline:
        out = await cli(tmp_path, "status")
        if "holds the database" in out:
            break
        await asyncio.sleep(0.5)  # until the service has taken the database
    assert "NOT ENFORCING: a service holds the database but does not answer yet." in out, out
    assert "no fsm-risk service is running" not in out
    assert proc.returncode is None  # still trying to log in
