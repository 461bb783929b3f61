"""RULE-013 weekly_loss_limit: the trading week's net P&L may not touch -limit.

The week runs between two weekly resets (default Sunday 17:00 America/Chicago) and is the
engine's week book (``view.week``). The basis is RULE-003's: ``equity`` (default) counts
realized P&L net of fees plus the open positions' unrealized P&L since the week began,
``realized`` counts closed trades only. On the equity basis the rule does not fire while any
open position's quote is stale. (The shape it shares with RULE-003 and RULE-005 is in
`period_pnl`.)
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from fsm_risk import schema
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.errors import Problem
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.period_pnl import BASIS_FIELD, PeriodPnlRule
from fsm_risk.schema import Field

if TYPE_CHECKING:  # config imports the rules: a runtime import here would be circular
    from fsm_risk.rules.base import RuleSettings


class WeeklyLossLimit(PeriodPnlRule):
    id = "RULE-013"
    name = "weekly_loss_limit"
    fires_when = "the trading week's net P&L <= -limit (basis equity or realized)"
    default_action = "flatten + cancel, LockedWeekly until the next weekly reset"
    tighter = {"limit": strict.lower}
    fields = (
        Field(
            "limit",
            schema.amount(),
            "2500",
            "the most the account may lose in a trading week ($)",
        ),
        BASIS_FIELD,
    )
    period, loss, amount_key = "week", True, "limit"
    reason, lock = Reason.WEEKLY_LOSS_LIMIT, State.LockedWeekly


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
