"""A test that hangs fails on its own, with where it hung, and the run goes on: the suite's
per-test timeout (pyproject's ``timeout``) reaches a coroutine spinning on the event loop
without ever yielding, the way ``Wire.ready`` once held a CI run to its limit."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SPINNING = """
import asyncio


async def test_spins_without_yielding():
    done = asyncio.get_running_loop().create_future()
    while not done.done():  # nothing sets it: the loop never runs again
        pass


def test_after_the_hang_still_runs():
    assert True
"""


def test_the_shipped_timeout_is_on() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    ini = text.split("[tool.pytest.ini_options]", 1)[1].split("\n[", 1)[0]
    assert "\ntimeout = " in ini, "pyproject's pytest options carry no per-test timeout"
    seconds = int(ini.split("\ntimeout = ", 1)[1].split()[0])
    assert 60 <= seconds <= 600, seconds


def test_a_spinning_test_fails_with_its_stack_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "test_spin.py").write_text(SPINNING)
    began = time.monotonic()
    run = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
            "-o", "timeout=3", str(tmp_path / "test_spin.py"),
        ],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    took = time.monotonic() - began
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert "Timeout" in out and "test_spins_without_yielding" in out, out
    assert "while not done.done()" in out, out  # where it hung
    assert took < 60, took
