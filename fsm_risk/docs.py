"""Documentation derived from the code: the README's state and rule tables and the settings
template. ``python -m fsm_risk.docs`` refreshes the README blocks; tests fail on drift."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

from fsm_risk import config
from fsm_risk.core.states import STATE_MEANING
from fsm_risk.rules import ALL_RULES
from fsm_risk.schema import Field

#: the shipped file: the limits a 50K-style prop account enforces are on; the discipline
#: and per-position rules are documented but off until a trader opts in
ENABLED_BY_DEFAULT = {
    "max_contracts",
    "max_contracts_per_instrument",
    "daily_loss_limit",
    "trailing_drawdown",
    "trading_hours",
    "weekly_loss_limit",
    "trading_permission",
}
SETTINGS_DEFAULTS = {
    f"rule.{r.name}": {"enabled": "true" if r.name in ENABLED_BY_DEFAULT else "false"}
    for r in ALL_RULES
}


def state_table() -> str:
    lines = ["| state | meaning for the account | meaning for one contract |", "|---|---|---|"]
    for s, (acct, contract) in STATE_MEANING.items():
        lines.append(f"| `{s.value}` | {acct} | {contract or '—'} |")
    return "\n".join(lines)


def rules_table() -> str:
    lines = [
        "| id | name | fires when | default action | settings keys |",
        "|---|---|---|---|---|",
    ]
    for r in ALL_RULES:
        keys = ", ".join(f"`{f.key}`" for f in (config.ENABLED, *r.fields))
        lines.append(f"| {r.id} | `{r.name}` | {r.fires_when} | {r.default_action} | {keys} |")
    return "\n".join(lines)


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, 93)]


def _section(name: str, fields: tuple[Field, ...], title: str, values: dict[str, str]) -> str:
    out = [f"# --- [{name}] " + "-" * max(3, 88 - len(name)), *_comment(title), f"[{name}]"]
    for f in fields:
        out.extend(_comment(f.doc))
        out.append(f"{f.key} = {values.get(f.key, f.default or '')}".rstrip())
    return "\n".join(out)


SECTION_TITLES = {
    "general": "Where state and logs live, and which accounts to watch.",
    "session": "Trading day and week boundaries (IANA time zone; correct across DST changes).",
    "market": "How open positions are valued, and when a quote is too old to act on.",
    "enforcement": "How closes and cancels are retried, and what a failure locks.",
    "broker": "The gateway fsm-risk watches. With no credentials it runs the paper gateway.",
    "control": "The running service's local control channel (transition, status).",
    "notify": "Notifications (apprise): locks, early warnings, failures, feed and service.",
    "web": "The live read-only dashboard, Prometheus /metrics, /healthz and /readyz.",
    "journal": "What the service saw, for `fsm-risk replay` (what-if and after-the-fact).",
    "admin": "The admin secret: its rate limiting, its trust anchor, and admin overrides.",
}


def settings_template() -> str:
    parts = []
    for name, fields in config.SECTIONS.items():
        parts.append(_section(name, fields, SECTION_TITLES[name], {}))
    for r in ALL_RULES:
        name = config.RULE_PREFIX + r.name
        parts.append(
            _section(
                name,
                (config.ENABLED, *r.fields),
                f"{r.id}: fires when {r.fires_when}. Action: {r.default_action}.",
                SETTINGS_DEFAULTS.get(name, {}),
            )
        )
    return "\n\n".join(parts) + "\n"


BLOCKS = {"states": state_table, "rules": rules_table}


def refresh(text: str) -> str:
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"README has no <!-- {name}:start --> ... <!-- {name}:end --> block")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(refresh(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"refreshed {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
