"""The shared shape of the per-position P&L rules: close one position at a dollar threshold.

RULE-014 (stop loss: the position's unrealized P&L touches -limit) and RULE-015 (take profit:
it touches +target) differ only in direction, reason and wording. The amount is in dollars for
the whole position (every contract of it), with optional per-root overrides (months of one root
share the root's amount, each position is judged alone). Only that position is closed, and its
working orders in that contract cancelled; nothing is locked. The P&L is valued at the
contract's mark and is never acted on when that quote is stale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from fsm_risk.core.events import Event, PositionUpdate, Quote
from fsm_risk.core.models import Position, root_of
from fsm_risk.core.reasons import Reason
from fsm_risk.rules.base import (
    UNBOUNDED,
    AccountView,
    Action,
    Band,
    Outcome,
    Rule,
    RuleContext,
    Scope,
    Usage,
    Verdict,
    used,
)

#: the events that move one position's unrealized P&L (a tuple: isinstance is fastest so)
_MOVES = (Quote, PositionUpdate)


@dataclass(frozen=True)
class Config:
    amount: Decimal  # the stop's loss or the target's profit, a positive number of dollars
    overrides: dict[str, Decimal] = field(default_factory=dict)  # per symbol root

    def amount_for(self, contract_id: str) -> Decimal:
        return self.overrides.get(root_of(contract_id), self.amount)

    # the names each rule's settings use
    @property
    def limit(self) -> Decimal:
        return self.amount

    @property
    def target(self) -> Decimal:
        return self.amount

    @property
    def limits(self) -> dict[str, Decimal]:
        return self.overrides

    @property
    def targets(self) -> dict[str, Decimal]:
        return self.overrides

    def limit_for(self, contract_id: str) -> Decimal:
        return self.amount_for(contract_id)

    def target_for(self, contract_id: str) -> Decimal:
        return self.amount_for(contract_id)


def amount_in(amount_key: str, overrides_key: str) -> Callable[[Mapping[str, Any], str], Decimal]:
    """Reads a rule's parsed settings: the amount they give a root (for `tighter.PerRoot`)."""

    def amount(values: Mapping[str, Any], root: str) -> Decimal:
        return Config(values[amount_key], values[overrides_key]).amount_for(root)

    return amount


class PositionPnlRule(Rule):
    """Subclasses set ``loss``, ``reason`` and the keys of the amount and its overrides."""

    loss: ClassVar[bool]  # True: fires at P&L <= -amount; False: fires at P&L >= amount
    reason: ClassVar[Reason]
    amount_key: ClassVar[str]  # "limit" or "target"
    overrides_key: ClassVar[str]  # "limits" or "targets"
    reacts_to = frozenset({Quote, PositionUpdate})
    per_position = True  # (a quote judges its contract's position: `evaluate`)

    config: Config

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(values[cls.amount_key], dict(values[cls.overrides_key]))

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        return Outcome(Action.CLOSE, scope=Scope.CONTRACT)

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self._uniform = not config.overrides
        self._edge = self._signed(config.amount)
        self._edges: dict[str, Decimal] = {}  # contract id -> edge, for per-root amounts

    def _signed(self, amount: Decimal) -> Decimal:
        return -amount if self.loss else amount

    def _edge_of(self, contract_id: str) -> Decimal:
        if self._uniform:
            return self._edge
        edge = self._edges.get(contract_id)
        if edge is None:
            edge = self._edges[contract_id] = self._signed(self.config.amount_for(contract_id))
        return edge

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        # the quote hot path: only the quoted contract's position moved; compare it first
        if not isinstance(event, _MOVES):
            return ()
        cid = event.contract_id
        pos = view.positions.get(cid)
        if pos is None:
            return ()
        edge = self._edge_of(cid)
        if (pos.upnl > edge) if self.loss else (pos.upnl < edge):
            return ()
        if not (pos.priced and self.ctx.fresh(cid, now)):
            return ()  # the P&L rests on a stale (or missing) quote: do not act on it
        sign = "<=" if self.loss else ">="
        return (
            Verdict(
                self.id,
                self.reason,
                Action.CLOSE,
                Scope.CONTRACT,
                contract_id=cid,
                detail=f"{pos.size} {cid} unrealized {pos.upnl:.2f} {sign} {edge:.2f}",
            ),
        )

    def quote_band(self, view: AccountView) -> Band | None:
        return UNBOUNDED

    def position_band(self, view: AccountView, position: Position) -> Band | None:
        edge = self._edge_of(position.contract_id)
        return (edge, UNBOUNDED[1]) if self.loss else (UNBOUNDED[0], edge)

    def usage(self, view: AccountView, now: datetime) -> Usage | None:
        """The position closest to its threshold."""
        best: tuple[Decimal, Position, Decimal] | None = None
        for cid, pos in view.positions.items():
            amount = self.config.amount_for(cid)
            fraction = used(-pos.upnl if self.loss else pos.upnl, amount)
            if best is None or fraction > best[0]:
                best = (fraction, pos, amount)
        if best is None:
            return None
        fraction, pos, amount = best
        return Usage(pos.upnl, self._signed(amount), "$", fraction, pos.contract_id)
