"""`fsm-risk serve` at start, as a real process: what it refuses and how it stops."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_serve_process import procs, settings_text, start

__all__ = ["procs"]  # the fixture, shared with the other process tests

PAPER = {"PROJECT_X_USERNAME": "", "PROJECT_X_API_KEY": ""}  # no credentials: paper


async def output(proc: asyncio.subprocess.Process, timeout: float = 60) -> str:
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return out.decode()


@pytest.mark.parametrize("named", ["9999", "1001, 9999", "PAPER-1, NOPE"])
async def test_an_account_the_gateway_does_not_list_stops_serve_naming_it(
    tmp_path: Path, procs: list[Any], named: str
) -> None:
    text = settings_text(tmp_path, None).replace("[general]\n", f"[general]\naccounts = {named}\n")
    (tmp_path / "settings.ini").write_text(text)
    proc = await start(tmp_path, PAPER)
    procs.append(proc)
    out = await output(proc)
    assert proc.returncode == 2, out
    missing = named.split(", ")[-1]
    assert f"error: [general] accounts names {missing}, which the gateway does not list" in out
    assert "the gateway lists: 1001 (PAPER-1)" in out
    assert "fsm-risk is enforcing" not in out and "Traceback" not in out
