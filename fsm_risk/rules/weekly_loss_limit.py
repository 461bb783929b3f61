"""RULE-013 weekly_loss_limit: the trading week's net P&L may not touch -limit.

The week runs between two weekly resets (default Sunday 17:00 America/Chicago) and is the
engine's week book (``view.week``). The basis is RULE-003's: ``equity`` (default) counts
realized P&L net of fees plus the open positions' unrealized P&L since the week began,
``realized`` counts closed trades only. On the equity basis the rule does not fire while any
open position's quote is stale. (The shape it shares with RULE-003 and RULE-005 is in
`period_pnl`.)
"""

from __future__ import annotations

from fsm_risk import schema
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.period_pnl import BASIS_FIELD, PeriodPnlRule
from fsm_risk.schema import Field


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
