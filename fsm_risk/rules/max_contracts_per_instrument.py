"""RULE-002 max_contracts_per_instrument: each symbol root's size may not exceed its limit.

Contract months of one root aggregate (MNQ Z26 and MNQ H27 count together). A root missing
from ``limits`` follows ``unknown``: ``default`` applies ``default_limit``, ``allow`` leaves it
unlimited, ``block`` closes any position in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, OrderUpdate, PositionUpdate, Tick
from fsm_risk.core.models import Position, root_of
from fsm_risk.core.reasons import Reason
from fsm_risk.rules import exits
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import (
    AccountView,
    Action,
    Outcome,
    Rule,
    Scope,
    Usage,
    Verdict,
    reduce_largest,
    used,
)
from fsm_risk.schema import Field


@dataclass(frozen=True)
class Config:
    default_limit: int
    limits: dict[str, int]
    unknown: str  # default | allow | block

    def limit_for(self, root: str) -> int | None:
        """The root's limit; None means unlimited."""
        if root in self.limits:
            return self.limits[root]
        if self.unknown == "allow":
            return None
        if self.unknown == "block":
            return 0
        return self.default_limit


def _limit_for(values: Mapping[str, Any], root: str) -> int | None:
    """The limit ``values`` (the rule's parsed settings) give ``root`` (None: unlimited)."""
    return Config(values["default_limit"], values["limits"], values["unknown"]).limit_for(root)


class MaxContractsPerInstrument(Rule):
    id = "RULE-002"
    name = "max_contracts_per_instrument"
    fires_when = "one symbol root's size > its limit (per-root map, default, unknown-root policy)"
    default_action = (
        "reduce that root to its limit, the month the trader's own market exit is leaving "
        "first, then the largest (a tie: the nearer month), and resize the trader's orders on "
        "the closing side that the "
        "reduce leaves larger than what remains; no lock"
    )
    tighter = {
        "limits": strict.PerRoot(_limit_for),
        "default_limit": strict.lower,
        "unknown": strict.ranked("allow", "default", "block"),
    }
    fields = (
        Field(
            "limits",
            schema.mapping(schema.root_key("limits"), schema.integer(minimum=1)),
            "",
            "per-root limits, e.g. 'MNQ: 5, NQ: 1' (months of one root add up)",
            roots=True,
        ),
        Field("default_limit", schema.integer(minimum=1), "3", "limit for roots not listed"),
        Field(
            "unknown",
            schema.choice("default", "allow", "block"),
            "default",
            "roots not listed: default = default_limit, allow = unlimited, block = close",
        ),
    )
    # (orders and ticks: the trader's market exits count as done while young, see `exits`)
    reacts_to = frozenset({PositionUpdate, OrderUpdate, Tick})
    deadline_kinds = frozenset({OrderUpdate, Tick})
    holds_at_thaw = False  # a size over the limit is a breach, judged at once after a freeze
    stateful = True

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(values["default_limit"], dict(values["limits"]), values["unknown"])

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        return Outcome(Action.REDUCE, scope=Scope.CONTRACT)

    config: Config

    def observe(self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime) -> bool:
        return exits.observe(memo, view, event, now)

    def next_deadline(self, view: AccountView, now: datetime) -> datetime | None:
        return exits.deadline(view.rule_state.get(self.id), now)

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        verdicts: list[Verdict] = []
        gross = view.root_sizes()
        memo = view.rule_state.get(self.id)

        def kept(p: Position) -> int:
            return exits.left(view, p, now, memo)

        def rank(p: Position) -> int:
            # the month he is leaving first: a root's months trade and halt together, so
            # cutting another month gains nothing in a halt and costs him his roll otherwise
            return 0 if exits.exiting(view, p, memo) else 1

        # a reduce already on its way counts at its target, a young exit of his as filled
        left: dict[str, int] = {}
        for c, p in view.positions.items():
            r = root_of(c)
            left[r] = left.get(r, 0) + kept(p)
        for root, size in sorted(left.items()):
            limit = self.config.limit_for(root)
            if limit is None or size <= limit:
                continue
            reason = (
                Reason.UNKNOWN_ROOT_BLOCKED if limit == 0 else (Reason.MAX_CONTRACTS_PER_INSTRUMENT)
            )
            detail = f"{root}: {size} contracts > limit {limit}"
            if gross[root] != size:
                detail = (
                    f"{root}: {gross[root]} contracts, {size} once the closes on their way "
                    f"fill > limit {limit}"
                )
            months = [p for c, p in view.positions.items() if root_of(c) == root]
            verdicts += reduce_largest(
                self.id, reason, view, months, size - limit, detail, kept, rank
            )
        return verdicts

    def usage(self, view: AccountView, now: datetime) -> Usage | None:
        worst: Usage | None = None
        for root, size in view.root_sizes().items():
            limit = self.config.limit_for(root)
            if limit is None:
                continue
            u = Usage(
                Decimal(size),
                Decimal(limit),
                "contracts",
                used(size, limit) if limit else Decimal(1) + Decimal(size),
                root,
            )
            if worst is None or u.fraction > worst.fraction:
                worst = u
        return worst
