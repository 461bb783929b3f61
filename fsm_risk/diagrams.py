"""Draw `diagrams/` from the transition tables in `core/states.py` (the one source).

Each machine gets an overview meant for a team review: the main path (a rule fires ->
``Flattening`` -> broker confirms flat -> a lock -> the lock ends -> ``Trading``) drawn bold with
words instead of code names, the side paths thin, and admin force drawn once ("any state -> any
state"). Every declared transition, internal ones and guards included, is listed in words in
``diagrams/README.md``, with a legend of which rule leads to which action and lock (taken from
each rule's `outcome` under its configured settings; the committed files use the defaults).

- ``<machine>.mmd``: Mermaid (a flowchart); ``diagrams/README.md`` embeds it.
- ``<machine>.dot`` and, where Graphviz ``dot`` is installed, ``<machine>.svg`` and
  ``<machine>.png`` rendered from that DOT. The DOT carries the SHA-256 of its own body as a
  graph comment; Graphviz copies it into the SVG, and the PNG gets it as a text chunk, so a test
  can tell a stale image without Graphviz. Where ``dot`` is missing, committed images are kept.

`account_files` draws one account's machine with its current state and one trading day's path
from the audit log highlighted, for the review after an incident.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from fsm_risk import schema
from fsm_risk.core.effects import AuditEntry
from fsm_risk.core.ruleswap import SETTINGS
from fsm_risk.core.states import (
    ACCOUNT_EDGES,
    ACCOUNT_STATES,
    CONTRACT_EDGES,
    CONTRACT_STATES,
    GUARD_WORDS,
    LOCK_ENDS,
    LOCK_KINDS,
    STATE_MEANING,
    TRIGGER_WORDS,
    Edge,
    State,
    Trigger,
)
from fsm_risk.core.verdicts import FIRED
from fsm_risk.rules.base import Rule

MACHINES: dict[str, tuple[str, tuple[State, ...], tuple[Edge, ...]]] = {
    "account": ("Account machine", ACCOUNT_STATES, ACCOUNT_EDGES),
    "contract": ("Contract machine", CONTRACT_STATES, CONTRACT_EDGES),
}
SOURCE = "fsm_risk/core/states.py"
ANY_FROM, ANY_TO = "any_from", "any_to"
ADMIN_WORDS = "admin force: any state to any state (authenticated, audited)"


# -- the legend: which rule leads where ---------------------------------------------------------


@dataclass(frozen=True)
class LegendRow:
    rule_id: str
    name: str
    enabled: bool
    action: str
    scope: str
    lock: State
    ends: str


#: what ends a rule's lock when the rule names nothing else
_RULE_LOCK_ENDS = {
    State.Cooldown: "timer",
    State.LockedDaily: "daily reset",
    State.LockedWeekly: "weekly reset",
}


def _defaults(rule: type[Rule]) -> Any:
    values, problems = schema.parse_section("<defaults>", rule.name, rule.fields, {})
    schema.raise_if(problems)
    return rule.configure(values)


def legend(rules: Iterable[tuple[type[Rule], bool, Any]]) -> list[LegendRow]:
    """One row per (rule, enabled, config) from the rule's outcome under that config (its
    defaults when the config is None)."""
    rows = []
    for rule, enabled, config in rules:
        o = rule.outcome(config if config is not None else _defaults(rule))
        ends = o.ends or _RULE_LOCK_ENDS.get(o.lock, "")
        rows.append(
            LegendRow(rule.id, rule.name, enabled, o.action.value, o.scope.value, o.lock, ends)
        )
    return rows


def default_legend() -> list[LegendRow]:
    from fsm_risk.rules import ALL_RULES

    return legend((r, True, None) for r in ALL_RULES)


def settings_legend(settings: Any) -> list[LegendRow]:
    """The legend under a `config.Settings` (rules switched off are listed as off)."""
    return legend((r.rule, r.enabled, r.config) for r in settings.rules)


def _machine_of(row: LegendRow) -> str:
    return "contract" if row.scope == "contract" else "account"


# -- what is drawn --------------------------------------------------------------------------------


@dataclass
class Arrow:
    src: str
    dst: str
    words: list[str]
    main: bool = False
    admin: bool = False
    steps: list[str] = field(default_factory=list)  # the day's path through this arrow

    @property
    def label(self) -> str:
        words = " / ".join(self.words)
        if self.steps:
            words += " | " + ", ".join(self.steps) if words else ", ".join(self.steps)
        return words


def _words(e: Edge, src: State) -> str:
    """One declared (non-internal, non-force) transition in a reviewer's words."""
    assert e.dest is not None
    if e.trigger is Trigger.release:
        text = f"lock ends ({LOCK_ENDS[src]})"
        return text if e.dest is State.Trading else f"{text}, a {e.dest.value} hold remains"
    if e.trigger is Trigger.flat_confirmed:
        return TRIGGER_WORDS[e.trigger] + (
            ", no lock held" if e.dest is State.Trading else ", the strongest hold applies"
        )
    if e.trigger is Trigger.lock and src is not State.Trading:
        return "a stronger lock rule fires (no flatten)"
    if e.guard == "escalates_or_exposed":
        return "a rule fires (flatten): stronger lock, or still exposed"
    return TRIGGER_WORDS[e.trigger]


def _main(src: State, dst: State) -> bool:
    return (
        (src is State.Trading and dst is State.Flattening)
        or src is State.Flattening
        or (src in LOCK_KINDS and dst is State.Trading)
    )


def arrows(name: str) -> list[Arrow]:
    """The overview's arrows: one per (from, to) pair of the table, admin force once."""
    _, _, edges = MACHINES[name]
    by_pair: dict[tuple[State, State], Arrow] = {}
    for e in edges:
        if e.dest is None or e.trigger is Trigger.force:
            continue
        for src in e.source:
            a = by_pair.setdefault(
                (src, e.dest), Arrow(src.value, e.dest.value, [], _main(src, e.dest))
            )
            w = _words(e, src)
            if w not in a.words:
                a.words.append(w)
    out = sorted(by_pair.values(), key=lambda a: (not a.main, _order(a.src), _order(a.dst)))
    if any(e.trigger is Trigger.force for e in edges):
        out.append(Arrow(ANY_FROM, ANY_TO, [ADMIN_WORDS], admin=True))
    return out


def _order(state: str) -> int:
    return [s.value for s in ACCOUNT_STATES].index(state)


def _node_text(state: State, name: str, rows: Sequence[LegendRow]) -> str:
    ids = [
        r.rule_id
        for r in rows
        if r.enabled or not any(x.enabled for x in rows)
        if _machine_of(r) == name and r.lock is state
    ]
    return (
        f"{state.value}<br/>set by {', '.join(ids)}"
        if ids and state in LOCK_KINDS
        else (state.value)
    )


# -- Mermaid --------------------------------------------------------------------------------------


def _mm(text: str) -> str:
    return text.replace('"', "'")


def _drawing(
    name: str, rows: Sequence[LegendRow] | None, draw: list[Arrow] | None
) -> tuple[str, tuple[State, ...], Sequence[LegendRow], list[Arrow]]:
    """A machine's heading and states, with the legend and arrows to draw (by default: every
    rule with its default settings, and the machine's own arrows)."""
    heading, states, _ = MACHINES[name]
    rows = default_legend() if rows is None else rows
    draw = arrows(name) if draw is None else draw
    return heading, states, rows, draw


def mermaid(
    name: str,
    rows: Sequence[LegendRow] | None = None,
    draw: list[Arrow] | None = None,
    current: State | None = None,
    title: str | None = None,
) -> str:
    heading, states, rows, draw = _drawing(name, rows, draw)
    lines = [
        "---",
        f"title: {title or f'{heading} (generated from {SOURCE})'}",
        "---",
        "flowchart LR",
        "  start(( )) --> Trading",
    ]
    for s in states:
        lines.append(f'  {s.value}(["{_node_text(s, name, rows)}"])')
    if any(a.admin for a in draw):
        lines.append(f'  {ANY_FROM}(["any state"])')
        lines.append(f'  {ANY_TO}(["any state"])')
    styles = []
    for i, a in enumerate(draw, start=1):  # link 0 is the start arrow
        arrow = "==>" if a.main else ("-.->" if a.admin else "-->")
        lines.append(f'  {a.src} {arrow}|"{_mm(a.label)}"| {a.dst}')
        if a.steps:
            styles.append(f"  linkStyle {i} stroke:#d00000,stroke-width:4px,color:#d00000")
    lines += [
        "  classDef lock fill:#fde8e8,stroke:#b71c1c",
        "  classDef flat fill:#fff4e0,stroke:#e65100",
        "  classDef free fill:#e8f5e9,stroke:#1b5e20",
        "  classDef admin fill:#f5f5f5,stroke:#9e9e9e,stroke-dasharray:4",
        "  classDef current stroke:#d00000,stroke-width:4px",
        "  class Trading free",
        "  class Flattening flat",
        f"  class {','.join(s.value for s in states if s in LOCK_KINDS)} lock",
    ]
    if any(a.admin for a in draw):
        lines.append(f"  class {ANY_FROM},{ANY_TO} admin")
    if current is not None:
        lines.append(f"  class {current.value} current")
    return "\n".join(lines + styles) + "\n"


# -- DOT ------------------------------------------------------------------------------------------


def dot_source(
    name: str,
    rows: Sequence[LegendRow] | None = None,
    draw: list[Arrow] | None = None,
    current: State | None = None,
    title: str | None = None,
) -> str:
    heading, states, rows, draw = _drawing(name, rows, draw)
    fill = {State.Trading: "#e8f5e9", State.Flattening: "#fff4e0"}
    lines = [
        "  rankdir=LR;",
        f'  label="{title or f"{heading} (generated from {SOURCE})"}"; labelloc=t;',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  start [shape=point, label=""];',
        '  start -> "Trading";',
    ]
    for s in states:
        text = _node_text(s, name, rows).replace("<br/>", "\\n")
        extra = ", color=red, penwidth=4" if s is current else ""
        lines.append(
            f'  "{s.value}" [label="{text}", fillcolor="{fill.get(s, "#fde8e8")}"{extra}];'
        )
    if any(a.admin for a in draw):
        for n in (ANY_FROM, ANY_TO):
            lines.append(f'  "{n}" [label="any state", style="rounded,dashed", color=gray55];')
    for a in draw:
        attrs = [f'label="{a.label}"']
        if a.main:
            attrs.append("penwidth=2.5")
        if a.admin:
            attrs.append("style=dashed, color=gray45, fontcolor=gray35")
        elif not a.main:  # side paths: thin
            attrs.append("color=gray40, fontcolor=gray30")
        if a.steps:
            attrs.append("color=red, fontcolor=red, penwidth=4")
        lines.append(f'  "{a.src}" -> "{a.dst}" [{", ".join(attrs)}];')
    body = "\n".join(lines)
    digest = hashlib.sha256(body.encode()).hexdigest()
    return f'digraph {name} {{\n  comment="sha256:{digest}";\n{body}\n}}\n'


def dot_digest(source: str) -> str:
    for line in source.splitlines():
        if "comment=" in line:
            return line.split('"')[1]
    raise ValueError("no digest in the DOT source")


def png_with_text(png: bytes, key: str, text: str) -> bytes:
    """The PNG with a tEXt chunk (key, text) right after its header chunk."""
    data = key.encode("latin-1") + b"\0" + text.encode("latin-1")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + data) & 0xFFFFFFFF)
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, length, type, IHDR data, crc
    return png[:ihdr_end] + chunk + png[ihdr_end:]


# -- README ---------------------------------------------------------------------------------------


def _guard(e: Edge) -> str:
    if e.guard is None:
        return "always"
    return GUARD_WORDS[e.guard]


def transitions_table(name: str) -> list[str]:
    _, _, edges = MACHINES[name]
    out = ["| from | trigger | when | to | meaning |", "|---|---|---|---|---|"]
    for e in edges:
        src = ", ".join(s.value for s in e.source)
        if e.trigger is Trigger.force and len(e.source) == len(MACHINES[name][1]):
            src = "any state"
        dst = e.dest.value if e.dest is not None else "(stays: internal)"
        out.append(
            f"| {src} | {TRIGGER_WORDS[e.trigger]} (`{e.trigger.value}`) | {_guard(e)} "
            f"| {dst} | {e.doc} |"
        )
    return out


def legend_table(rows: Sequence[LegendRow]) -> list[str]:
    out = [
        "| rule | name | action when it fires | scope | lock after | the lock ends by |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lock = r.lock.value if r.lock is not State.Trading else "none"
        name = f"`{r.name}`" + ("" if r.enabled else " (off)")
        out.append(f"| {r.rule_id} | {name} | {r.action} | {r.scope} | {lock} | {r.ends or '-'} |")
    return out


def readme() -> str:
    rows = default_legend()
    parts = [
        "# State diagrams",
        "",
        f"Generated by `fsm-risk diagram` from `{SOURCE}`; do not edit by hand (a test fails",
        "when these files no longer match the code, and a real Mermaid parser checks them).",
        "`fsm-risk diagram --account N [--day DATE]` draws one account's machine with its current",
        "state and that day's path from the audit log highlighted.",
        "",
        "How to read them: bold arrows are the main path (a rule fires, the broker confirms",
        "flat, the lock ends); thin arrows are the side paths; the dashed arrow is admin force,",
        "drawn once because it goes from any state to any state. A lock node lists the rules",
        "that lead to it. The strongest hold always decides the lock",
        "(LockedWeekly > LockedDaily > Cooldown > Trading).",
        "",
        "| state | account | contract |",
        "|---|---|---|",
    ]
    for s, (acct, contract) in STATE_MEANING.items():
        parts.append(f"| `{s.value}` | {acct} | {contract or '-'} |")
    parts += [
        "",
        "## Legend: which rule leads where",
        "",
        "From each rule's outcome under the default settings (`fsm-risk diagram --account N`",
        "uses the settings in force).",
        "",
        *legend_table(rows),
    ]
    for name, (title, _, _) in MACHINES.items():
        parts += ["", f"## {title}", "", "```mermaid", mermaid(name, rows).rstrip(), "```"]
        parts += ["", f"Every transition of the {name} machine, in words:", ""]
        parts += transitions_table(name)
    return "\n".join(parts) + "\n"


def expected_files() -> dict[str, str]:
    files = {"README.md": readme()}
    rows = default_legend()
    for name in MACHINES:
        files[f"{name}.mmd"] = mermaid(name, rows)
        files[f"{name}.dot"] = dot_source(name, rows)
    return files


# -- writing --------------------------------------------------------------------------------------


def _render(out: Path, stem: str, dot_text: str, report: list[str]) -> None:
    """SVG and PNG from the DOT file ``stem`` + ``.dot`` in ``out``; keeps existing images when
    Graphviz is missing."""
    dot = shutil.which("dot")
    for ext in ("svg", "png"):
        image = out / f"{stem}.{ext}"
        if dot is None:
            if image.exists():
                report.append(
                    f"kept {image}: Graphviz 'dot' is not installed, so it was not redrawn"
                    " (install graphviz and rerun if the machine changed)"
                )
            else:
                report.append(f"skipped {image}: Graphviz 'dot' not installed")
            continue
        r = subprocess.run(
            [dot, f"-T{ext}", str(out / f"{stem}.dot")], capture_output=True, check=True, timeout=60
        )
        data = r.stdout
        if ext == "png":
            data = png_with_text(data, "fsm-risk-source", dot_digest(dot_text))
        image.write_bytes(data)
        report.append(f"wrote {image}")


def write(out: Path) -> list[str]:
    """Write every diagram into ``out``; returns what was written (and what was not)."""
    out.mkdir(parents=True, exist_ok=True)
    report = []
    files = expected_files()
    for filename, content in files.items():
        (out / filename).write_text(content, encoding="utf-8")
        report.append(f"wrote {out / filename}")
    for name in MACHINES:
        _render(out, name, files[f"{name}.dot"], report)
    return report


# -- one account's day ----------------------------------------------------------------------------


def day_path(name: str, entries: Sequence[AuditEntry]) -> list[Arrow]:
    """The overview's arrows with the day's audit rows (in order) marked on them; a step
    the overview does not draw (an internal transition, an admin force, a settings change
    recorded in a state that stays) gets its own arrow, one per move and trigger."""
    draw = arrows(name)
    by_pair = {(a.src, a.dst): a for a in draw if not a.admin}
    own: dict[tuple[str, str, str], Arrow] = {}
    for n, e in enumerate(entries, start=1):
        step = f"{n}. {e.at:%H:%M:%S} {e.rule_id or e.actor}"
        src, dst = e.from_state.value, e.to_state.value
        drawn = e.trigger not in (Trigger.force.value, SETTINGS, FIRED)
        a = by_pair.get((src, dst)) if drawn else None
        if a is None:
            a = own.get((src, dst, e.trigger))
        if a is None:
            words = _step_words(e.trigger, same=src == dst)
            a = Arrow(src, dst, [words], admin=e.trigger == Trigger.force.value)
            draw.append(a)
            own[(src, dst, e.trigger)] = a
        a.steps.append(step)
    return draw


def _step_words(trigger: str, *, same: bool) -> str:
    """An audit row's trigger in words: one of the machine's, or a row that only records
    something (a settings change: the state stays) or that this version does not know."""
    if trigger == SETTINGS:
        return "settings changed (audit only: state kept)"
    if trigger == FIRED:
        return "a rule fired while flattening (audit only: state kept)"
    known = {t.value: words for t, words in TRIGGER_WORDS.items()}
    if trigger not in known:
        return f"{trigger} (state kept)" if same else trigger
    if same and trigger != Trigger.force.value:
        return known[trigger] + " (internal: hold recorded)"
    return known[trigger]


def account_files(
    account_id: int,
    day: date,
    current: State,
    entries: Sequence[AuditEntry],
    rows: Sequence[LegendRow],
) -> dict[str, str]:
    """The Mermaid, DOT and Markdown of one account's machine on one trading day: its
    current state ringed, the day's account-level transitions numbered and drawn red, every
    entry of the day (contract ones too) listed in the Markdown."""
    stem = f"account-{account_id}-{day.isoformat()}"
    own = [e for e in entries if e.contract_id is None]
    draw = day_path("account", own)
    title = f"Account {account_id} on {day.isoformat()} (now {current.value})"
    mmd = mermaid("account", rows, draw, current, title)
    md = [
        f"# {title}",
        "",
        f"Generated by `fsm-risk diagram --account {account_id} --day {day.isoformat()}`."
        " Red arrows: the day's transitions, numbered in order; ringed: the current state.",
        "",
        "```mermaid",
        mmd.rstrip(),
        "```",
        "",
        "| # | at (UTC) | scope | from | to | trigger | rule | actor | reason |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    n = 0
    for e in entries:
        scope = "account"
        if e.contract_id is None:
            n += 1
            num = str(n)
        else:
            scope, num = f"contract {e.contract_id}", "-"
        md.append(
            f"| {num} | {e.at:%Y-%m-%d %H:%M:%S} | {scope} | {e.from_state.value} "
            f"| {e.to_state.value} | {e.trigger} | {e.rule_id or '-'} | {e.actor} "
            f"| {e.reason.replace('|', '/')} |"
        )
    if not entries:
        md.append("| - | - | - | - | - | no transition recorded that day | - | - | - |")
    md += ["", *legend_table(rows)]
    return {
        f"{stem}.mmd": mmd,
        f"{stem}.dot": dot_source("account", rows, draw, current, title),
        f"{stem}.md": "\n".join(md) + "\n",
    }


def write_account(out: Path, files: dict[str, str]) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    report = []
    for filename, content in files.items():
        (out / filename).write_text(content, encoding="utf-8")
        report.append(f"wrote {out / filename}")
    for filename, content in files.items():
        if filename.endswith(".dot"):
            _render(out, filename.removesuffix(".dot"), content, report)
    return report
