"""RULE-001 max_contracts: the account's open contracts may not exceed a limit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, OrderUpdate, PositionUpdate, Tick
from fsm_risk.core.models import Position
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
    limit: int
    count: str  # gross | net
    action: str  # reduce | flatten


class MaxContracts(Rule):
    id = "RULE-001"
    name = "max_contracts"
    fires_when = "open contracts across the account (gross, or net) > limit"
    default_action = (
        "reduce the excess, largest position first (a market exit of the trader's under 3 s "
        "old counts as filled; one stuck longer leaves its position cut last), and resize the "
        "trader's orders on the closing side that the reduce leaves larger than what remains "
        "(or flatten all); no lock"
    )
    tighter = {
        "limit": strict.lower,
        "count": strict.ranked("net", "gross"),
        "action": strict.ranked("reduce", "flatten"),
    }
    fields = (
        Field("limit", schema.integer(minimum=1), "5", "most contracts open at once"),
        Field(
            "count",
            schema.choice("gross", "net"),
            "gross",
            "gross: every contract counts; net: longs and shorts offset each other",
        ),
        Field(
            "action",
            schema.choice("reduce", "flatten"),
            "reduce",
            "reduce: close the excess, largest position first; flatten: close everything",
        ),
    )
    # (orders and ticks: the trader's market exits count as done while young, see `exits`)
    reacts_to = frozenset({PositionUpdate, OrderUpdate, Tick})
    deadline_kinds = frozenset({OrderUpdate, Tick})
    holds_at_thaw = False  # a size over the limit is a breach, judged at once after a freeze
    stateful = True

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(values["limit"], values["count"], values["action"])

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        if config.action == "flatten":
            return Outcome(Action.FLATTEN)
        return Outcome(Action.REDUCE, scope=Scope.CONTRACT)

    config: Config

    def _open(self, view: AccountView, size: Callable[[Position], int]) -> int:
        if self.config.count == "net":
            return abs(sum(size(p) if p.long else -size(p) for p in view.positions.values()))
        return sum(size(p) for p in view.positions.values())

    def observe(self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime) -> bool:
        return exits.observe(memo, view, event, now)

    def next_deadline(self, view: AccountView, now: datetime) -> datetime | None:
        return exits.deadline(view.rule_state.get(self.id), now)

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        memo = view.rule_state.get(self.id)

        def left(p: Position) -> int:
            return exits.left(view, p, now, memo)

        # a reduce already on its way counts at its target, a young exit of his as filled
        total = self._open(view, left)
        limit = self.config.limit
        if total <= limit:
            return ()
        gross = self._open(view, _size)
        detail = f"{total} contracts open > limit {limit} ({self.config.count})"
        if gross != total:
            detail = (
                f"{gross} contracts open, {total} once the closes on their way fill "
                f"> limit {limit} ({self.config.count})"
            )
        if self.config.action == "flatten":
            return (Verdict(self.id, Reason.MAX_CONTRACTS, Action.FLATTEN, detail=detail),)
        positions = list(view.positions.values())
        if self.config.count == "net":
            longs = sum(left(p) if p.long else -left(p) for p in positions) > 0
            positions = [p for p in positions if p.long == longs]

        def rank(p: Position) -> int:  # (one whose close waits behind his stuck exit: last)
            return int(exits.waiting(view, p, now, memo))

        return reduce_largest(
            self.id, Reason.MAX_CONTRACTS, view, positions, total - limit, detail, left, rank
        )

    def usage(self, view: AccountView, now: datetime) -> Usage:
        total = self._open(view, _size)  # what is open now, as the gateway says
        limit = self.config.limit
        return Usage(Decimal(total), Decimal(limit), "contracts", used(total, limit))


def _size(p: Position) -> int:
    return p.size
