"""RULE-015 position_take_profit: close one position once its unrealized profit touches +target.

The target is in dollars for the whole position, with optional per-root overrides; only that
position is closed (and its working orders in that contract cancelled), nothing is locked, and
a stale quote never fires it. (The shape it shares with RULE-014 is in `position_pnl`.)
"""

from __future__ import annotations

from fsm_risk import schema
from fsm_risk.core.reasons import Reason
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.position_pnl import PositionPnlRule, amount_in
from fsm_risk.schema import Field


class PositionTakeProfit(PositionPnlRule):
    id = "RULE-015"
    name = "position_take_profit"
    fires_when = "one position's unrealized P&L >= target (per-root overrides)"
    default_action = "close that position only (and cancel its orders); no lock"
    tighter = {"target": strict.lower, "targets": strict.PerRoot(amount_in("target", "targets"))}
    fields = (
        Field(
            "target",
            schema.amount(),
            "500",
            "close a position once its open profit reaches this ($ for the whole position)",
        ),
        Field(
            "targets",
            schema.mapping(schema.root_key("targets"), schema.amount()),
            "",
            "per-root overrides in $, e.g. 'NQ: 1000, MNQ: 300' (empty: target for every root)",
            roots=True,
        ),
    )
    loss, amount_key, overrides_key = False, "target", "targets"
    reason = Reason.POSITION_TAKE_PROFIT
