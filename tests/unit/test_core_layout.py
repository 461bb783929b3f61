"""The core reads in one sitting: no module over about 400 lines, each opening with its job."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "fsm_risk" / "core"
MODULES = sorted(p for p in CORE.glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_core_module_is_at_most_about_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 410, f"{path.name}: {lines} lines"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_core_module_opens_with_its_job_in_one_sentence(path: Path) -> None:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc, f"{path.name}: no docstring"
    first = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    assert first.endswith((".", ":")), f"{path.name}: {first!r}"
