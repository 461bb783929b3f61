"""One line per measured figure, for people and for bench/compare.py alike.

Every bench prints its figures through `figure`, as

    FIGURE | start-up, 1000 accounts, 4 weeks: ready | 1.93 | s | <= 2 | ok

(name, value, unit, goal, verdict), so that the goal stands beside the figure and
bench/compare.py can collect the same figure from runs of two trees.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable
from pathlib import Path

PREFIX = "FIGURE"
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


def verdict(value: float | None, goal: str) -> str:
    """'ok' or 'MISSED' for a goal such as '<= 2' or '>= 30000'; '' without a goal."""
    goal = goal.strip()
    if not goal:
        return ""
    if value is None:
        return "MISSED"
    op, _, bound = goal.partition(" ")
    check = _OPS.get(op)
    if check is None:
        raise ValueError(f"goal {goal!r}: write it as '<= N' or '>= N'")
    return "ok" if check(value, float(bound)) else "MISSED"


def figure(name: str, value: float | None, unit: str, goal: str = "") -> None:
    """Print one figure (None: not measured, e.g. a phase that timed out) beside its goal."""
    shown = "n/a" if value is None else f"{value:.6g}"
    print(f"{PREFIX} | {name} | {shown} | {unit} | {goal} | {verdict(value, goal)}", flush=True)


def parse(line: str) -> tuple[str, float | None, str, str] | None:
    """(name, value, unit, goal) of a figure line; None for any other line."""
    if not line.startswith(PREFIX + " | "):
        return None
    parts = [p.strip() for p in line.split(" | ")]
    if len(parts) < 5:
        return None
    _, name, shown, unit, goal = parts[:5]
    return name, None if shown == "n/a" else float(shown), unit, goal


def which_tree() -> str:
    """Where the measured package comes from (the venv that runs the bench decides)."""
    import fsm_risk

    return str(Path(fsm_risk.__file__).resolve().parent.parent)


def compile_tree() -> int:
    """Write the measured package's bytecode where it is missing or stale; returns how many
    modules needed it. An installed package has its bytecode (pip writes it at install, Python
    at a first start), so a service's start reads it; where the environment forbids writing it
    (``PYTHONDONTWRITEBYTECODE``, as on these machines, or a read-only tree), every start would
    otherwise compile each of fsm_risk's modules again: measured at 0.15-0.4 s of a start."""
    import compileall
    import importlib.util

    import fsm_risk

    package = Path(fsm_risk.__file__).resolve().parent
    stale = 0
    for source in package.rglob("*.py"):
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime:
            stale += 1
    if stale and not compileall.compile_dir(str(package), quiet=1):
        raise SystemExit(f"could not write the bytecode of {package}")
    return stale


def header(script: str) -> None:
    """The bench, interpreter and measured tree; the tree's bytecode written first (see
    `compile_tree`), so that the services it starts start as an installed one does."""
    stale = compile_tree()
    print(f"# {script}  python {sys.version.split()[0]}  fsm_risk from {which_tree()}  "
          f"(bytecode written first: {stale} module(s) needed it)", flush=True)  # fmt: skip
