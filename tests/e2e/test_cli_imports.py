"""A CLI that answers at once: `--help`, and `status`/`history` against a running service, load
no SDK, web framework, dataframe library, database layer or paper gateway. Checked on the
import graph (what the command leaves in ``sys.modules``), not on a clock."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from tests.e2e.service_harness import ACCOUNT, Harness

HEAVY = (
    "project_x_py",
    "pandas",
    "polars",
    "aiohttp",
    "sqlmodel",
    "sqlalchemy",
    "fsm_risk.paper.gateway",
    "fsm_risk.service",
    "fsm_risk.adapters.broker",
    "fsm_risk.adapters.store",
)

#: runs one CLI command in a fresh interpreter, then prints what it imported as JSON
PROBE = """
import json, sys
from fsm_risk.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    sys.stdout.flush()
    sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def run(*args: str) -> tuple[str, set[str]]:
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=60
    )
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES "))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, set(json.loads(line.removeprefix("MODULES ")))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY)


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["status", "--help"],
        ["history", "--help"],
        ["transition", "--help"],
        ["serve", "--help"],
        ["paper-gateway", "--help"],
    ],
)
def test_help_loads_nothing_heavy(command: list[str]) -> None:
    out, modules = run(*command)
    assert "Usage:" in out
    assert heavy(modules) == []


async def test_status_and_history_from_a_running_service_load_nothing_heavy(h: Harness) -> None:
    await h.start("[rule.daily_loss_limit]\nlimit = 500\n")
    settings = str(h.home / "settings.ini")
    for command in (["status"], ["status", "--json"], ["history"], ["history", "--json"]):
        out, modules = await asyncio.to_thread(run, *command, "--settings", settings)
        assert heavy(modules) == [], command
        if command == ["status"]:
            assert f"Account {ACCOUNT}" in out and "from the running service" in out
        if command == ["status", "--json"]:
            assert json.loads(out)["accounts"][0]["account_id"] == ACCOUNT
