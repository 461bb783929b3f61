"""Before and after in one run: the same bench on two trees, interleaved, side by side.

    .venv/bin/python bench/compare.py --before ../before -- scale.py startup --quick
    .venv/bin/python bench/compare.py --before OLD --reps 5 -- engine.py --paths

Runs the bench (a file of this bench/ folder, with its arguments after ``--``) as a
subprocess with each tree's interpreter (the one in the tree's virtual environment, or the
one given with --python-before or --python-after), alternating: before, after, before,
after ... (``--reps`` pairs), so that whatever else the machine does falls on both alike.
Both sides run THIS folder's bench file: the measurement is the same code, the measured
package is whichever the interpreter imports (its venv's fsm_risk, the tree's editable
install); each run prints where its fsm_risk came from. Every run's output is kept in --out
(a fresh folder by default). Then, for each figure the bench printed (bench/figures.py), the
median and the spread (min-max) of each side, the ratio and the goal's verdict on the after
side's median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import parse, verdict

HERE = Path(__file__).resolve().parent

SIDES = ("before", "after")
#: runs the bench with the measured tree's package imported first, from inside that tree, so a
#: bench that puts another folder on sys.path still measures this side's package
BOOT = (
    "import os, runpy, sys; import fsm_risk; "
    "print('# compare: fsm_risk from', os.path.dirname(fsm_risk.__file__), flush=True); "
    "sys.argv = sys.argv[1:]; sys.path.insert(0, os.path.dirname(sys.argv[0])); "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def interpreter(tree: Path, given: str | None) -> Path:
    python = Path(given) if given else tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"compare: no interpreter at {python} (give --python-before/-after)")
    return python


def run_once(python: Path, tree: Path, bench: list[str], cache: Path, out: Path) -> int:
    """One run of the bench with this interpreter, from inside ``tree``; output to ``out``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["FSM_BENCH_CACHE"] = str(cache)
    script = HERE / bench[0]
    with out.open("w") as f:
        proc = subprocess.run(
            [str(python), "-c", BOOT, str(script), *bench[1:]],
            cwd=tree, env=env, stdout=f, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    return proc.returncode


def measured(out: Path) -> Path | None:
    """The package a run measured, as it said."""
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("# compare: fsm_risk from "):
            return Path(line.removeprefix("# compare: fsm_risk from ")).resolve()
    return None


def collect(outputs: dict[str, list[Path]]) -> tuple[list[str], dict[tuple[str, str], list[float]],
                                                     dict[str, tuple[str, str]]]:  # fmt: skip
    """Figures in the order first printed, their values by (side, name), unit and goal."""
    names: list[str] = []
    values: dict[tuple[str, str], list[float]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for side, files in outputs.items():
        for path in files:
            for line in path.read_text(errors="replace").splitlines():
                got = parse(line)
                if got is None:
                    continue
                name, value, unit, goal = got
                if name not in meta:
                    names.append(name)
                    meta[name] = (unit, goal)
                if value is not None:
                    values.setdefault((side, name), []).append(value)
    return names, values, meta


def number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def cell(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    med = number(statistics.median(xs))
    return f"{med} ({number(min(xs))}-{number(max(xs))})" if len(xs) > 1 else med


def table(outputs: dict[str, list[Path]]) -> list[str]:
    names, values, meta = collect(outputs)
    rows = [("figure", "unit", "before: median (min-max)", "after: median (min-max)",
             "after/before", "goal", "after")]  # fmt: skip
    for name in names:
        unit, goal = meta[name]
        b, a = values.get(("before", name), []), values.get(("after", name), [])
        ratio = (
            f"{statistics.median(a) / statistics.median(b):.2f}x"
            if a and b and statistics.median(b) != 0
            else "-"
        )
        after = verdict(statistics.median(a) if a else None, goal) if goal else ""
        rows.append((name, unit, f"{cell(b)} n={len(b)}", f"{cell(a)} n={len(a)}", ratio,
                     goal, after))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--before", required=True, help="the old checkout (with its .venv)")
    p.add_argument("--after", default=str(HERE.parent), help="the new checkout (default: this)")
    p.add_argument("--python-before", help="the old side's interpreter")
    p.add_argument("--python-after", help="the new side's interpreter")
    p.add_argument("--reps", type=int, default=3, help="pairs of runs (default 3)")
    p.add_argument("--out", help="folder for every run's output (default: a new temporary one)")
    p.add_argument("bench", nargs=argparse.REMAINDER, help="-- BENCH.py [ARGS...]")
    a = p.parse_args()
    bench = a.bench[1:] if a.bench[:1] == ["--"] else a.bench
    if not bench:
        p.error("name the bench after --, e.g. -- scale.py startup --quick")
    if not (HERE / bench[0]).is_file():
        choices = ", ".join(sorted(f.name for f in HERE.glob("*.py") if f.name != "compare.py"))
        p.error(f"no bench {bench[0]!r} in {HERE}; choose one of {choices}")
    if a.reps < 1:
        p.error("--reps must be 1 or more")
    trees = {"before": Path(a.before).resolve(), "after": Path(a.after).resolve()}
    pythons = {
        "before": interpreter(trees["before"], a.python_before),
        "after": interpreter(trees["after"], a.python_after),
    }
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="fsm-compare-"))
    out.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, list[Path]] = {s: [] for s in SIDES}
    print(f"# bench/compare.py: {' '.join(bench)}, {a.reps} interleaved pair(s); outputs in {out}")
    for side in SIDES:
        print(f"# {side}: {trees[side]}  ({pythons[side]})")
    for rep in range(1, a.reps + 1):
        for side in SIDES:
            path = out / f"{side}-{rep}.txt"
            began = time.monotonic()
            code = run_once(pythons[side], trees[side], bench, out / f"cache-{side}", path)
            took = time.monotonic() - began
            status = "" if code == 0 else f"  EXIT {code}: see {path}"
            package = measured(path)
            if package is None or not package.is_relative_to(trees[side]):
                status += f"  WARNING: measured {package}, not the {side} tree's package"
            print(f"# run {rep} {side}: {took:.0f} s{status}", file=sys.stderr, flush=True)
            outputs[side].append(path)
    print()
    for line in table(outputs):
        print(line)


if __name__ == "__main__":
    main()
