"""RULE-005 daily_profit_target: once the trading day's net P&L touches +target, stop for the day.

The basis is RULE-003's: ``equity`` (default) counts realized P&L net of fees plus the open
positions' unrealized P&L since the day began, ``realized`` counts closed trades only. On the
equity basis the rule does not fire while any open position's quote is stale. (The shape it
shares with RULE-003 and RULE-013 is in `period_pnl`.)
"""

from __future__ import annotations

from fsm_risk import schema
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.period_pnl import BASIS_FIELD, PeriodPnlRule
from fsm_risk.schema import Field


class DailyProfitTarget(PeriodPnlRule):
    id = "RULE-005"
    name = "daily_profit_target"
    fires_when = "the trading day's net P&L >= target (basis equity or realized)"
    default_action = "flatten + cancel, LockedDaily until the next daily reset"
    tighter = {"target": strict.lower}
    fields = (
        Field(
            "target",
            schema.amount(),
            "1500",
            "once the day's net profit reaches this, positions are closed and the day ends ($)",
        ),
        BASIS_FIELD,
    )
    period, loss, amount_key = "day", False, "target"
    reason, lock = Reason.DAILY_PROFIT_TARGET, State.LockedDaily
