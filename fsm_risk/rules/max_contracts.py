"""RULE-001 max_contracts: the account's open contracts may not exceed a limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, PositionUpdate
from fsm_risk.core.reasons import Reason
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import AccountView, Action, Outcome, Rule, Scope, Usage, Verdict, used
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
    default_action = "reduce the excess, largest position first (or flatten all); no lock"
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
    reacts_to = frozenset({PositionUpdate})

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(values["limit"], values["count"], values["action"])

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        if config.action == "flatten":
            return Outcome(Action.FLATTEN)
        return Outcome(Action.REDUCE, scope=Scope.CONTRACT)

    config: Config

    def _open(self, view: AccountView) -> int:
        if self.config.count == "net":
            return abs(sum(p.signed for p in view.positions.values()))
        return view.gross_size()

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        total = self._open(view)
        limit = self.config.limit
        if total <= limit:
            return ()
        detail = f"{total} contracts open > limit {limit} ({self.config.count})"
        if self.config.action == "flatten":
            return (Verdict(self.id, Reason.MAX_CONTRACTS, Action.FLATTEN, detail=detail),)
        excess = total - limit
        positions = list(view.positions.values())
        if self.config.count == "net":
            longs = sum(p.signed for p in positions) > 0
            positions = [p for p in positions if p.long == longs]
        # largest first; ties by contract id so the outcome is deterministic
        positions.sort(key=lambda p: (-p.size, p.contract_id))
        verdicts = []
        for p in positions:
            if excess <= 0:
                break
            cut = min(excess, p.size)
            excess -= cut
            verdicts.append(
                Verdict(
                    self.id,
                    Reason.MAX_CONTRACTS,
                    Action.REDUCE,
                    Scope.CONTRACT,
                    contract_id=p.contract_id,
                    target_size=p.size - cut,
                    detail=f"{detail}: reduce {p.contract_id} {p.size} -> {p.size - cut}",
                )
            )
        return verdicts

    def usage(self, view: AccountView, now: datetime) -> Usage:
        total = self._open(view)
        limit = self.config.limit
        return Usage(Decimal(total), Decimal(limit), "contracts", used(total, limit))
