"""ruff (lint and format) over the tree and mypy --strict over the pure core and the rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_is_clean() -> None:
    r = run(str(BIN / "ruff"), "check", "fsm_risk", "tests", "bench")
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format_is_clean() -> None:
    r = run(str(BIN / "ruff"), "format", "--check", "fsm_risk", "tests", "bench")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_on_core_and_rules() -> None:
    r = run(str(BIN / "mypy"), "fsm_risk/core", "fsm_risk/rules")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_core_and_rules_import_no_io() -> None:
    banned = ("asyncio", "sqlmodel", "sqlalchemy", "project_x_py", "click", "aiohttp", "httpx")
    for path in [*ROOT.glob("fsm_risk/core/*.py"), *ROOT.glob("fsm_risk/rules/*.py")]:
        text = path.read_text(encoding="utf-8")
        for name in banned:
            assert f"import {name}" not in text and f"from {name}" not in text, (path, name)
        for clock in ("datetime.now(", "time.time(", "pendulum.now(", "date.today("):
            assert clock not in text, (path, clock)
