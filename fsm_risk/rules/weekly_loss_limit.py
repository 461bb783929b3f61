"""RULE-013 weekly_loss_limit: the trading week's net P&L may not touch -limit.

The week runs between two weekly resets (default Sunday 17:00 America/Chicago) and is the
engine's week book (``view.week``). The basis is RULE-003's: ``equity`` (default) counts
realized P&L net of fees plus the open positions' unrealized P&L since the week began,
``realized`` counts closed trades only. On the equity basis the rule does not fire while any
open position's quote is stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fsm_risk import schema
from fsm_risk.core.events import AccountUpdate, Event, Fill, PositionUpdate, Quote, Tick
from fsm_risk.core.models import Position
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.errors import Problem
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

if TYPE_CHECKING:  # config imports the rules: a runtime import here would be circular
    from fsm_risk.config import RuleSettings


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


class WeeklyLossLimit(Rule):
    id = "RULE-013"
    name = "weekly_loss_limit"
    fires_when = "the trading week's net P&L <= -limit (basis equity or realized)"
    default_action = "flatten + cancel, LockedWeekly until the next weekly reset"
    fields = (
        Field(
            "limit",
            schema.amount(),
            "2500",
            "the most the account may lose in a trading week ($)",
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
        week = view.week
        pnl = week.realized + view.open_upnl - week.carry if self._equity else week.realized
        if pnl > self._floor:
            return ()
        cfg = self.config
        if cfg.with_unrealized and not self.ctx.all_fresh(view, now):
            return ()  # the loss rests on a stale quote: do not act on it
        return (
            Verdict(
                self.id,
                Reason.WEEKLY_LOSS_LIMIT,
                Action.FLATTEN,
                lock=State.LockedWeekly,
                until=self.ctx.calendar.next_weekly_reset(now),
                detail=f"week P&L {pnl:.2f} <= -{cfg.limit:.2f} ({cfg.basis})",
            ),
        )

    def quote_band(self, view: AccountView) -> Band | None:
        week = view.week
        if self._equity:  # fires when realized + open - carry <= floor
            return (self._floor - week.realized + week.carry, UNBOUNDED[1])
        return UNBOUNDED if week.realized > self._floor else None

    def position_band(self, view: AccountView, position: Position) -> Band | None:
        return UNBOUNDED

    def usage(self, view: AccountView, now: datetime) -> Usage:
        pnl = view.week_pnl(with_unrealized=self.config.with_unrealized)
        limit = self.config.limit
        return Usage(pnl, -limit, "$", used(-pnl, limit), self.config.basis)


def weekly_not_below_daily(file: str, rules: dict[str, RuleSettings]) -> list[Problem]:
    """Cross-check: a weekly loss limit below the daily one pre-empts the daily limit on the
    first day of every week (almost always a typo)."""
    weekly, daily = rules.get(WeeklyLossLimit.name), rules.get("daily_loss_limit")
    if weekly is None or daily is None:
        return []
    week_limit: Decimal = weekly.config.limit
    day_limit: Decimal = daily.config.limit
    if week_limit >= day_limit:
        return []
    return [
        Problem(
            file,
            "rule." + WeeklyLossLimit.name,
            "limit",
            f"{week_limit} is below the daily loss limit of {day_limit} in "
            "[rule.daily_loss_limit]: it would fire before the daily limit on a week's first day",
        )
    ]
