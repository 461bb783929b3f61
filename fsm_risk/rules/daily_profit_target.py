"""RULE-005 daily_profit_target: once the trading day's net P&L touches +target, stop for the day.

The basis is RULE-003's: ``equity`` (default) counts realized P&L net of fees plus the open
positions' unrealized P&L since the day began, ``realized`` counts closed trades only. On the
equity basis the rule does not fire while any open position's quote is stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import AccountUpdate, Event, Fill, PositionUpdate, Quote, Tick
from fsm_risk.core.models import Position
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import (
    UNBOUNDED,
    AccountView,
    Action,
    Band,
    Rule,
    RuleContext,
    Usage,
    Verdict,
    used,
)
from fsm_risk.rules.daily_loss_limit import BASIS_FIELD
from fsm_risk.schema import Field


@dataclass(frozen=True)
class Config:
    target: Decimal
    basis: str

    @property
    def with_unrealized(self) -> bool:
        return self.basis == "equity"


class DailyProfitTarget(Rule):
    id = "RULE-005"
    name = "daily_profit_target"
    fires_when = "the trading day's net P&L >= target (basis equity or realized)"
    default_action = "flatten + cancel, LockedDaily until the next daily reset"
    fields = (
        Field(
            "target",
            schema.amount(),
            "1500",
            "once the day's net profit reaches this, positions are closed and the day ends ($)",
        ),
        BASIS_FIELD,
    )
    reacts_to = frozenset({Quote, Fill, PositionUpdate, AccountUpdate, Tick})

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(values["target"], values["basis"])

    config: Config

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self._target = config.target
        self._equity = config.with_unrealized

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        # the quote hot path: the books are read directly, the target compared first
        day = view.day
        pnl = day.realized + view.open_upnl - day.carry if self._equity else day.realized
        if pnl < self._target:
            return ()
        cfg = self.config
        if cfg.with_unrealized and not self.ctx.all_fresh(view, now):
            return ()  # the profit rests on a stale quote: do not act on it
        return (
            Verdict(
                self.id,
                Reason.DAILY_PROFIT_TARGET,
                Action.FLATTEN,
                lock=State.LockedDaily,
                until=self.ctx.calendar.next_daily_reset(now),
                detail=f"day P&L {pnl:.2f} >= target {cfg.target:.2f} ({cfg.basis})",
            ),
        )

    def quote_band(self, view: AccountView) -> Band | None:
        day = view.day
        if self._equity:  # fires when realized + open - carry >= target
            return (UNBOUNDED[0], self._target - day.realized + day.carry)
        return UNBOUNDED if day.realized < self._target else None

    def position_band(self, view: AccountView, position: Position) -> Band | None:
        return UNBOUNDED

    def usage(self, view: AccountView, now: datetime) -> Usage:
        pnl = view.day_pnl(with_unrealized=self.config.with_unrealized)
        target = self.config.target
        return Usage(pnl, target, "$", used(pnl, target), self.config.basis)
