"""RULE-014 position_stop_loss: close one position once its unrealized loss touches -limit.

The limit is in dollars for the whole position (every contract of it), with optional per-root
overrides (months of one root share the root's limit, each position is judged alone). Only the
position is closed, and its working orders in that contract cancelled; nothing is locked. The
loss is valued at the contract's mark and is never acted on when that quote is stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fsm_risk import schema
from fsm_risk.core.events import Event, PositionUpdate, Quote
from fsm_risk.core.models import Position, root_of
from fsm_risk.core.reasons import Reason
from fsm_risk.errors import Problem
from fsm_risk.rules.base import (
    UNBOUNDED,
    AccountView,
    Action,
    Band,
    Rule,
    RuleContext,
    Scope,
    Usage,
    Verdict,
    used,
)
from fsm_risk.schema import Field

if TYPE_CHECKING:  # config imports the rules: a runtime import here would be circular
    from fsm_risk.config import RuleSettings


#: the events that move one position's unrealized P&L (a tuple: isinstance is fastest so)
_MOVES = (Quote, PositionUpdate)


@dataclass(frozen=True)
class Config:
    limit: Decimal
    limits: dict[str, Decimal]

    def limit_for(self, contract_id: str) -> Decimal:
        return self.limits.get(root_of(contract_id), self.limit)


class PositionStopLoss(Rule):
    id = "RULE-014"
    name = "position_stop_loss"
    fires_when = "one position's unrealized P&L <= -limit (per-root overrides)"
    default_action = "close that position only (and cancel its orders); no lock"
    fields = (
        Field(
            "limit",
            schema.amount(),
            "250",
            "close a position once its open loss reaches this ($ for the whole position)",
        ),
        Field(
            "limits",
            schema.mapping(schema.symbol_root, schema.amount()),
            "",
            "per-root overrides in $, e.g. 'NQ: 500, MNQ: 150' (empty: limit for every root)",
        ),
    )
    reacts_to = frozenset({Quote, PositionUpdate})

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(values["limit"], dict(values["limits"]))

    config: Config

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self._floor = -config.limit
        self._uniform = not config.limits
        self._floors: dict[str, Decimal] = {}  # contract id -> -limit, for per-root limits

    def _floor_of(self, contract_id: str) -> Decimal:
        floor = self._floors.get(contract_id)
        if floor is None:
            floor = self._floors[contract_id] = -self.config.limit_for(contract_id)
        return floor

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        # the quote hot path: only the quoted contract's position moved; compare it first
        if not isinstance(event, _MOVES):
            return ()
        cid = event.contract_id
        pos = view.positions.get(cid)
        if pos is None:
            return ()
        floor = self._floor if self._uniform else self._floor_of(cid)
        if pos.upnl > floor:
            return ()
        if not (pos.priced and self.ctx.fresh(cid, now)):
            return ()  # the loss rests on a stale (or missing) quote: do not act on it
        return (
            Verdict(
                self.id,
                Reason.POSITION_STOP_LOSS,
                Action.CLOSE,
                Scope.CONTRACT,
                contract_id=cid,
                detail=f"{pos.size} {cid} unrealized {pos.upnl:.2f} <= {floor:.2f}",
            ),
        )

    def quote_band(self, view: AccountView) -> Band | None:
        return UNBOUNDED

    def position_band(self, view: AccountView, position: Position) -> Band | None:
        floor = self._floor if self._uniform else self._floor_of(position.contract_id)
        return (floor, UNBOUNDED[1])  # fires when the position's open P&L <= floor

    def usage(self, view: AccountView, now: datetime) -> Usage | None:
        """The position closest to its stop."""
        worst: tuple[Decimal, Position, Decimal] | None = None
        for cid, pos in view.positions.items():
            limit = self.config.limit_for(cid)
            fraction = used(-pos.upnl, limit)
            if worst is None or fraction > worst[0]:
                worst = (fraction, pos, limit)
        if worst is None:
            return None
        fraction, pos, limit = worst
        return Usage(pos.upnl, -limit, "$", fraction, pos.contract_id)


def stop_within_daily_loss(file: str, rules: dict[str, RuleSettings]) -> list[Problem]:
    """Cross-check (SPEC.md section 3): a per-position stop must be tighter than the daily
    loss limit, or on a day that starts at zero the daily limit fires first (flattening
    everything and locking the day) and the stop never does."""
    stop, daily = rules.get(PositionStopLoss.name), rules.get("daily_loss_limit")
    if stop is None or daily is None:
        return []
    day_limit: Decimal = daily.config.limit
    cfg: Config = stop.config
    section = "rule." + PositionStopLoss.name
    why = f"is not below the daily loss limit of {day_limit} in [rule.daily_loss_limit]"
    problems = []
    if cfg.limit >= day_limit:
        problems.append(Problem(file, section, "limit", f"{cfg.limit} {why}"))
    for root, value in sorted(cfg.limits.items()):
        if value >= day_limit:
            problems.append(Problem(file, section, "limits", f"{root}: {value} {why}"))
    return problems
