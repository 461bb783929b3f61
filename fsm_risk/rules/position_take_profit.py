"""RULE-015 position_take_profit: close one position once its unrealized profit touches +target.

The target is in dollars for the whole position (every contract of it), with optional per-root
overrides (months of one root share the root's target, each position is judged alone). Only
the position is closed, and its working orders in that contract cancelled; nothing is locked.
The profit is valued at the contract's mark and is never acted on when that quote is stale.
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
    target: Decimal
    targets: dict[str, Decimal]

    def target_for(self, contract_id: str) -> Decimal:
        return self.targets.get(root_of(contract_id), self.target)


class PositionTakeProfit(Rule):
    id = "RULE-015"
    name = "position_take_profit"
    fires_when = "one position's unrealized P&L >= target (per-root overrides)"
    default_action = "close that position only (and cancel its orders); no lock"
    fields = (
        Field(
            "target",
            schema.amount(),
            "500",
            "close a position once its open profit reaches this ($ for the whole position)",
        ),
        Field(
            "targets",
            schema.mapping(schema.symbol_root, schema.amount()),
            "",
            "per-root overrides in $, e.g. 'NQ: 1000, MNQ: 300' (empty: target for every root)",
        ),
    )
    reacts_to = frozenset({Quote, PositionUpdate})

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(values["target"], dict(values["targets"]))

    config: Config

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self._target = config.target
        self._uniform = not config.targets
        self._targets: dict[str, Decimal] = {}  # contract id -> target, for per-root targets

    def _target_of(self, contract_id: str) -> Decimal:
        target = self._targets.get(contract_id)
        if target is None:
            target = self._targets[contract_id] = self.config.target_for(contract_id)
        return target

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        # the quote hot path: only the quoted contract's position moved; compare it first
        if not isinstance(event, _MOVES):
            return ()
        cid = event.contract_id
        pos = view.positions.get(cid)
        if pos is None:
            return ()
        target = self._target if self._uniform else self._target_of(cid)
        if pos.upnl < target:
            return ()
        if not (pos.priced and self.ctx.fresh(cid, now)):
            return ()  # the profit rests on a stale (or missing) quote: do not act on it
        return (
            Verdict(
                self.id,
                Reason.POSITION_TAKE_PROFIT,
                Action.CLOSE,
                Scope.CONTRACT,
                contract_id=cid,
                detail=f"{pos.size} {cid} unrealized {pos.upnl:.2f} >= {target:.2f}",
            ),
        )

    def quote_band(self, view: AccountView) -> Band | None:
        return UNBOUNDED

    def position_band(self, view: AccountView, position: Position) -> Band | None:
        target = self._target if self._uniform else self._target_of(position.contract_id)
        return (UNBOUNDED[0], target)  # fires when the position's open P&L >= target

    def usage(self, view: AccountView, now: datetime) -> Usage | None:
        """The position closest to its target."""
        best: tuple[Decimal, Position, Decimal] | None = None
        for cid, pos in view.positions.items():
            target = self.config.target_for(cid)
            fraction = used(pos.upnl, target)
            if best is None or fraction > best[0]:
                best = (fraction, pos, target)
        if best is None:
            return None
        fraction, pos, target = best
        return Usage(pos.upnl, target, "$", fraction, pos.contract_id)


def take_profit_within_daily_target(file: str, rules: dict[str, RuleSettings]) -> list[Problem]:
    """Cross-check: a per-position take-profit must be below the daily profit target, or on a
    day that starts at zero the daily target fires first (flattening everything) and the
    take-profit never does."""
    take, daily = rules.get(PositionTakeProfit.name), rules.get("daily_profit_target")
    if take is None or daily is None:
        return []
    day_target: Decimal = daily.config.target
    cfg: Config = take.config
    section = "rule." + PositionTakeProfit.name
    why = f"is not below the daily profit target of {day_target} in [rule.daily_profit_target]"
    problems = []
    if cfg.target >= day_target:
        problems.append(Problem(file, section, "target", f"{cfg.target} {why}"))
    for root, value in sorted(cfg.targets.items()):
        if value >= day_target:
            problems.append(Problem(file, section, "targets", f"{root}: {value} {why}"))
    return problems
