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


def header(script: str) -> None:
    print(f"# {script}  python {sys.version.split()[0]}  fsm_risk from {which_tree()}", flush=True)
