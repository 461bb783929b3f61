"""RULE-017 symbol_block: no order and no position in a blocked symbol root.

Roots are matched with shell wildcards, case-insensitively (``CL, M*`` blocks crude oil and
every micro). An order in a blocked root is cancelled on sight and a position closed; that
contract's machine then stays ``LockedDaily`` for as long as the block is configured (a hold
with no deadline, which daily resets do not end), so anything that appears in it later is
removed by the engine's lock-on-sight sweep.

The rule remembers which contracts it locked (its memory, stored with the account). When a
root is no longer blocked (the settings changed and the service restarted), the first event
or the start-up catch-up releases those contracts.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, OrderUpdate, PositionUpdate, Tick
from fsm_risk.core.instruments import root_named
from fsm_risk.core.models import root_of
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import (
    AccountView,
    Action,
    Outcome,
    Rule,
    RuleContext,
    Scope,
    Usage,
    Verdict,
)
from fsm_risk.schema import Field


def root_pattern(text: str) -> str:
    """A symbol root, wildcards allowed (* any run, ? one character, [..] a set). Patterns
    match roots (a contract id's product code is read as its root: ``CLE`` is ``CL``), so a
    code given as such is taken for its root."""
    pattern = text.strip().upper()
    meant = schema.contract_root(pattern)
    if meant is not None:
        raise ValueError(
            f"'{text.strip()}' looks like a contract; blocked roots take the root: {meant}"
        )
    if not re.fullmatch(r"[A-Z0-9*?\[\]!]{1,12}", pattern):
        raise ValueError(f"must be a symbol root such as CL or M* (wildcards * ?), got '{text}'")
    return pattern if re.search(r"[*?\[]", pattern) else root_named(pattern)


@dataclass(frozen=True)
class Config:
    roots: tuple[str, ...]


class SymbolBlock(Rule):
    id = "RULE-017"
    name = "symbol_block"
    fires_when = "an order or position in a blocked symbol root (wildcards allowed)"
    default_action = "cancel the order / close the position; that contract stays LockedDaily"
    tighter = {"roots": strict.patterns_cover}
    fields = (
        Field(
            "roots",
            schema.str_list(root_pattern),
            "",
            "symbol roots you may not trade, comma-separated; wildcards allowed "
            "('CL, M*' blocks crude oil and every micro)",
            roots=True,
        ),
    )
    reacts_to = frozenset({PositionUpdate, OrderUpdate, Tick})
    stateful = True

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(tuple(dict.fromkeys(values["roots"])))

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        return Outcome(
            Action.CLOSE, State.LockedDaily, Scope.CONTRACT, ends="the root is unblocked"
        )

    config: Config

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        either = "|".join(fnmatch.translate(r) for r in config.roots)
        self._match = re.compile(either).match if either else None

    def blocked(self, root: str) -> bool:
        """Whether a symbol root (upper case) matches a blocked pattern."""
        return self._match is not None and self._match(root) is not None

    def _blocked(self, contract_id: str) -> bool:
        return self.blocked(root_of(contract_id))

    def _exposed(self, view: AccountView) -> list[str]:
        """The contracts with a position or a trader's working order in a blocked root."""
        if self._match is None:
            return []
        own = view.own_orders
        found = set(view.positions)
        found.update(o.contract_id for i, o in view.orders.items() if i not in own)
        return sorted(c for c in found if self._blocked(c))

    def observe(self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime) -> bool:
        held: list[str] = memo.get("held", [])
        if not held and self._match is None and not memo.get("release"):
            return False  # nothing blocked, nothing to release
        keep = [c for c in held if self._blocked(c)]
        release = [c for c in held if not self._blocked(c)]
        new = [c for c in self._exposed(view) if c not in keep]
        changed = bool(release or new or memo.get("release"))
        if changed:
            memo["held"] = sorted(keep + new)
            memo["release"] = release  # released by this evaluation, then forgotten
        return changed

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        release = view.rule_state.get(self.id, {}).get("release", ())
        if self._match is None and not release:
            return ()  # nothing blocked, nothing to release
        verdicts = [
            Verdict(
                self.id,
                Reason.SYMBOL_UNBLOCKED,
                Action.RELEASE,
                Scope.CONTRACT,
                contract_id=cid,
                detail=f"{root_of(cid)} is no longer blocked",
            )
            for cid in release
        ]
        patterns = ", ".join(self.config.roots)
        verdicts.extend(
            Verdict(
                self.id,
                Reason.SYMBOL_BLOCKED,
                Action.CLOSE,
                Scope.CONTRACT,
                lock=State.LockedDaily,
                until=None,
                contract_id=cid,
                detail=f"{root_of(cid)} is blocked ({patterns})",
            )
            for cid in self._exposed(view)
        )
        return verdicts

    def usage(self, view: AccountView, now: datetime) -> Usage:
        held = view.rule_state.get(self.id, {}).get("held", [])
        exposed = self._exposed(view)
        detail = f"blocked: {', '.join(self.config.roots) or 'nothing'}"
        if exposed:
            detail += f"; in a blocked root now: {', '.join(exposed)}"
        return Usage(
            Decimal(len(held)), Decimal(0), "contracts", Decimal(1 if exposed else 0), detail
        )
