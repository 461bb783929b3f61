"""ruff (lint and format) over the tree, mypy --strict over the pure core and the rules, the
import contracts (import-linter), no clock reads in the core, no import cycles, and docstrings
that point only at files in the repository."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_import_contracts_hold() -> None:
    """import-linter (contracts in pyproject.toml): the core and the rules import nothing from
    the shell (adapters, service, paper, cli, runtime, ...) and no asyncio, database, SDK,
    HTTP, click, logging or ``time``."""
    r = run(str(BIN / "lint-imports"), "--no-cache")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_a_broken_import_contract_fails(tmp_path: Path) -> None:
    """The contracts really look at the code: a copy of the package where the core imports
    ``time`` (which a text search for ``time.time(`` would let through) breaks them."""
    shutil.copytree(ROOT / "fsm_risk", tmp_path / "fsm_risk", ignore=_PYCACHE)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    pnl = tmp_path / "fsm_risk" / "core" / "pnl.py"
    pnl.write_text(pnl.read_text(encoding="utf-8") + "\nimport time as _t\n", encoding="utf-8")
    r = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert r.returncode != 0, r.stdout
    assert "fsm_risk.core.pnl -> time" in r.stdout


_PYCACHE = shutil.ignore_patterns("__pycache__")

#: calls that read the clock (the core and the rules are given the time, never read it)
CLOCK_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("pendulum", "now"),
    ("pendulum", "today"),
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
}


def clock_reads(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if (name, node.attr) in CLOCK_READS:
                found.append(f"{name}.{node.attr} (line {node.lineno})")
        if isinstance(node, ast.ImportFrom) and node.module in ("time", "pendulum"):
            for alias in node.names:
                if (node.module, alias.name) in CLOCK_READS:
                    found.append(f"from {node.module} import {alias.name} (line {node.lineno})")
    return found


def test_the_core_and_rules_never_read_the_clock() -> None:
    for path in [*ROOT.glob("fsm_risk/core/*.py"), *ROOT.glob("fsm_risk/rules/*.py")]:
        assert clock_reads(path.read_text(encoding="utf-8")) == [], path


def test_the_clock_read_check_sees_through_spacing_and_aliases() -> None:
    assert clock_reads("from datetime import datetime\nx = datetime . now()\n")
    assert clock_reads("import datetime as dt\nx = dt.datetime.now\n")
    assert clock_reads("from time import monotonic\n")
    assert clock_reads("def f(now): return now\n") == []


def _cycles(*, type_checking: bool) -> set[tuple[str, str]]:
    import grimp

    graph = grimp.build_graph("fsm_risk", exclude_type_checking_imports=not type_checking)
    found = set()
    for a in graph.modules:
        if a.startswith("fsm_risk.paper"):
            continue  # the paper gateway's own modules are not covered yet
        for b in graph.find_modules_directly_imported_by(a):
            if graph.chain_exists(importer=b, imported=a):
                found.add((min(a, b), max(a, b)))
    return found


def test_no_import_cycles_outside_the_paper_gateway() -> None:
    assert _cycles(type_checking=False) == set()


@pytest.mark.parametrize(
    ("upper", "lower"),
    [("fsm_risk.config", "fsm_risk.rules"), ("fsm_risk.service", "fsm_risk.adapters.control")],
)
def test_loader_and_rules_service_and_control_import_one_way(upper: str, lower: str) -> None:
    """Not even for type checking does the lower module reach back up."""
    import grimp

    graph = grimp.build_graph("fsm_risk", exclude_type_checking_imports=False)
    assert not graph.chain_exists(importer=lower, imported=upper, as_packages=True)


#: what looks like a file or folder in a docstring
_PATHLIKE = re.compile(
    r"(?<![\w/.])((?:[\w.-]+/)*[\w.-]+\.(?:py|md|ini|toml|json|mmd|dot|svg|png|sh)"
    r"|(?:[\w.-]+/)+)(?![\w/])"
)


def test_docstrings_point_only_at_files_in_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    known = set(tracked)
    for f in tracked:
        known |= {Path(f).name, *(str(p) + "/" for p in Path(f).parents), Path(f).parent.name + "/"}
    missing = []
    for f in tracked:
        if not f.endswith(".py"):
            continue
        tree = ast.parse((ROOT / f).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(
                node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            ):
                continue
            doc = ast.get_docstring(node) or ""
            for m in _PATHLIKE.finditer(doc):
                name = m.group(1)
                if name in known or (ROOT / f).parent.joinpath(name).exists():
                    continue
                missing.append(f"{f}:{getattr(node, 'lineno', 1)} {name}")
    assert missing == []
