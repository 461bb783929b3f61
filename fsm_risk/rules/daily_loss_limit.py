"""RULE-003 daily_loss_limit: the trading day's net P&L may not touch -limit.

Basis ``equity`` (default) counts realized P&L net of fees plus the open positions'
unrealized P&L since the day began; ``realized`` counts closed trades only. On the equity
basis the rule does not fire while any open position's quote is stale. (The shape it shares
with RULE-005 and RULE-013 is in `period_pnl`.)
"""

from __future__ import annotations

from fsm_risk import schema
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.period_pnl import BASIS_FIELD, Config, PeriodPnlRule
from fsm_risk.schema import Field

__all__ = ["BASIS_FIELD", "Config", "DailyLossLimit"]


class DailyLossLimit(PeriodPnlRule):
    id = "RULE-003"
    name = "daily_loss_limit"
    fires_when = "the trading day's net P&L <= -limit (basis equity or realized)"
    default_action = "flatten + cancel, LockedDaily until the next daily reset"
    tighter = {"limit": strict.lower}
    fields = (
        Field(
            "limit", schema.amount(), "1000", "the most the account may lose in a trading day ($)"
        ),
        BASIS_FIELD,
    )
    period, loss, amount_key = "day", True, "limit"
    reason, lock = Reason.DAILY_LOSS_LIMIT, State.LockedDaily
