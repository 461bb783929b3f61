"""What `fsm-risk replay` prints: a terminal table, JSON lines, a chart, an explanation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fsm_risk.errors import FsmRiskError
from fsm_risk.replay import Report


def _local(t: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
    return "-" if t is None else t.astimezone(tz).strftime(fmt)


def _signed(v: Any) -> str:
    return f"{v:+,.2f}"


def table(runs: Sequence[tuple[str, Report]], tz: ZoneInfo, header: str) -> str:
    """One section per settings file (firings, blocked trades, days), then, with several
    settings files, the days side by side."""
    out = [header]
    for label, rep in runs:
        out.append("")
        out.append(f"== {label}: {len(rep.firings)} firing(s), {len(rep.blocked)} blocked trade(s)")
        if rep.firings:
            out.append("firings:")
            for f in rep.firings:
                lock = f.lock or "no lock"
                until = f" until {_local(f.until, tz)}" if f.until else ""
                scope = f" {f.contract_id}" if f.contract_id else ""
                out.append(
                    f"  {_local(f.at, tz)}  {f.rule_id:<9} {f.action:<8}{scope} "
                    f"{lock}{until}  ({f.reason})"
                )
        if rep.blocked:
            out.append("trades that would have been blocked:")
            for b in rep.blocked:
                side = "buy" if b.side == 0 else "sell"
                out.append(
                    f"  {_local(b.at, tz)}  {side} {b.size} {b.contract_id} @ {b.price} "
                    f"(trade {b.trade_id}, {b.state})"
                )
        out.append(
            f"  {'day':<10} {'actual P&L':>12} {'replayed':>12} {'difference':>12}  "
            f"{'blocked':>7} {'closes':>6}  rules fired"
        )
        for d in rep.days.values():
            out.append(
                f"  {d.day.isoformat():<10} {_signed(d.actual):>12} {_signed(d.replayed):>12} "
                f"{_signed(d.replayed - d.actual):>12}  {d.blocked:>7} {d.closes:>6}  "
                f"{', '.join(d.rules) or '-'}"
            )
        out.append(
            f"  {'total':<10} {_signed(rep.actual):>12} {_signed(rep.replayed):>12} "
            f"{_signed(rep.replayed - rep.actual):>12}"
        )
    if len(runs) > 1:
        out.append("")
        out.append("== side by side (P&L per day)")
        labels = [label for label, _ in runs]
        out.append(f"  {'day':<10} {'actual':>12} " + " ".join(f"{x[-24:]:>24}" for x in labels))
        first = runs[0][1]
        for day, d in first.days.items():
            cells = []
            for _, rep in runs:
                other = rep.days.get(day)
                v = other.replayed if other is not None else None
                n = len(other.rules) if other is not None else 0
                cells.append(f"{'-' if v is None else _signed(v):>16} ({n} rules)")
            out.append(f"  {day.isoformat():<10} {_signed(d.actual):>12} " + " ".join(cells))
    return "\n".join(out) + "\n"


def json_lines(runs: Sequence[tuple[str, Report]]) -> str:
    """Each firing, each blocked trade, then one summary per day (per settings file)."""
    lines = []
    for label, rep in runs:
        for f in rep.firings:
            lines.append({**f.as_json(), "settings": label})
        for b in rep.blocked:
            lines.append(
                {
                    "type": "blocked",
                    "account": rep.account_id,
                    "at": b.at.isoformat(),
                    "contract": b.contract_id,
                    "side": "buy" if b.side == 0 else "sell",
                    "size": b.size,
                    "price": str(b.price),
                    "trade": b.trade_id,
                    "state": b.state,
                    "settings": label,
                }
            )
        for d in rep.days.values():
            lines.append({**d.as_json(rep.account_id), "settings": label})
    return "".join(json.dumps(x) + "\n" for x in lines)


def explanation(rep: Report, tz: ZoneInfo, asked: datetime) -> str:
    ex = rep.explanation
    if ex is None:
        return f"no transition of account {rep.account_id} to explain near {_local(asked, tz)}\n"
    out = [
        f"transition nearest {_local(asked, tz, '%H:%M')} of account {rep.account_id}, at "
        f"{_local(ex.at, tz)}:",
        f"  {ex.transition}",
        "events that led to it:",
    ]
    out.extend(f"  {_local(at, tz, '%H:%M:%S')}  {text}" for at, text in ex.events)
    out.append("rule values then:")
    out.extend(f"  {rid:<9} {value:>12} of {limit} {unit}" for rid, value, limit, unit in ex.values)
    return "\n".join(out) + "\n"


def chart(runs: Sequence[tuple[str, Report]], path: Path, tz: ZoneInfo, title: str) -> None:
    """A PNG: equity change with and without enforcement, lock periods shaded, the daily
    limits drawn from each day's start."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5), dpi=100)
    try:
        label0, first = runs[0]
        times = [t for _, rep in runs for t, _, _ in rep.curve]
        if not times:
            times = [d for d, _ in first.day_starts] or [datetime.now().astimezone()]
        lo, hi = min(times), max(times)
        if hi == lo:
            hi = lo + timedelta(minutes=1)
        if first.curve:
            xs = [t.astimezone(tz) for t, _, _ in first.curve]
            ax.plot(
                xs,
                [float(a) for _, a, _ in first.curve],
                label="actual",
                color="tab:gray",
                linewidth=3,
                alpha=0.6,
            )
        styles = ["tab:blue", "tab:orange", "tab:green"]
        for i, (label, rep) in enumerate(runs):
            if rep.curve:
                xs = [t.astimezone(tz) for t, _, _ in rep.curve]
                ax.plot(
                    xs,
                    [float(r) for _, _, r in rep.curve],
                    label=f"with enforcement ({label})",
                    color=styles[i % len(styles)],
                    linestyle="-" if i == 0 else "--",
                )
        for k, (start, stop, kind) in enumerate(first.locks):
            left, right = max(start, lo), min(stop or hi, hi)
            if right <= left:
                continue
            ax.axvspan(
                left.astimezone(tz),
                right.astimezone(tz),
                color="tab:red",
                alpha=0.15,
                label=f"locked ({label0})" if k == 0 else None,
            )
            ax.annotate(
                kind,
                (left.astimezone(tz), 0.02),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                rotation=90,
            )
        starts = first.day_starts
        days = list(first.days.values())
        drawn: set[str] = set()
        for i, (start, equity) in enumerate(starts):
            stop = starts[i + 1][0] if i + 1 < len(starts) else hi
            left, right = max(start, lo), min(stop, hi)
            if i >= len(days) or right <= left:
                continue
            for rule_id, limit in days[i].limits.items():
                ax.hlines(
                    float(equity + limit),
                    left.astimezone(tz),
                    right.astimezone(tz),
                    colors="tab:red" if limit < 0 else "tab:green",
                    linestyles="dotted",
                    label=f"{rule_id} limit" if rule_id not in drawn else None,
                )
                drawn.add(rule_id)
        margin = (hi - lo) * 0.02
        ax.set_xlim((lo - margin).astimezone(tz), (hi + margin).astimezone(tz))
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(title)
        ax.set_ylabel("P&L since start ($)")
        ax.legend(loc="best", fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        try:
            fig.savefig(path, format="png")
        except OSError as exc:
            raise FsmRiskError(f"--chart {path}: cannot write it ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
