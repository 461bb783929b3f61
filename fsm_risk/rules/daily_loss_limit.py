"""RULE-003 daily_loss_limit: the trading day's net P&L may not touch -limit.

Basis ``equity`` (default) counts realized P&L net of fees plus the open positions'
unrealized P&L since the day began; ``realized`` counts closed trades only. On the equity
basis the rule does not fire while any open position's quote is stale.
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
from fsm_risk.schema import Field

BASIS_FIELD = Field(
    "basis",
    schema.choice("equity", "realized"),
    "equity",
    "equity: realized net of fees + open unrealized; realized: closed trades only",
)


@dataclass(frozen=True)
class Config:
    limit: Decimal
    basis: str

    @property
    def with_unrealized(self) -> bool:
        return self.basis == "equity"

    @property
    def floor(self) -> Decimal:
        return -self.limit


class DailyLossLimit(Rule):
    id = "RULE-003"
    name = "daily_loss_limit"
    fires_when = "the trading day's net P&L <= -limit (basis equity or realized)"
    default_action = "flatten + cancel, LockedDaily until the next daily reset"
    fields = (
        Field(
            "limit", schema.amount(), "1000", "the most the account may lose in a trading day ($)"
        ),
        BASIS_FIELD,
    )
    reacts_to = frozenset({Quote, Fill, PositionUpdate, AccountUpdate, Tick})

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(values["limit"], values["basis"])

    config: Config

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self._floor = config.floor
        self._equity = config.with_unrealized

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        # the quote hot path: the books are read directly, the limit compared first
        day = view.day
        pnl = day.realized + view.open_upnl - day.carry if self._equity else day.realized
        if pnl > self._floor:
            return ()
        cfg = self.config
        if cfg.with_unrealized and not self.ctx.all_fresh(view, now):
            return ()  # the loss rests on a stale quote: do not act on it
        return (
            Verdict(
                self.id,
                Reason.DAILY_LOSS_LIMIT,
                Action.FLATTEN,
                lock=State.LockedDaily,
                until=self.ctx.calendar.next_daily_reset(now),
                detail=f"day P&L {pnl:.2f} <= -{cfg.limit:.2f} ({cfg.basis})",
            ),
        )

    def quote_band(self, view: AccountView) -> Band | None:
        day = view.day
        if self._equity:  # fires when realized + open - carry <= floor
            return (self._floor - day.realized + day.carry, UNBOUNDED[1])
        return UNBOUNDED if day.realized > self._floor else None

    def position_band(self, view: AccountView, position: Position) -> Band | None:
        return UNBOUNDED

    def usage(self, view: AccountView, now: datetime) -> Usage:
        pnl = view.day_pnl(with_unrealized=self.config.with_unrealized)
        limit = self.config.limit
        return Usage(pnl, -limit, "$", used(-pnl, limit), self.config.basis)
