"""RULE-014 position_stop_loss: close one position once its unrealized loss touches -limit.

The limit is in dollars for the whole position, with optional per-root overrides; only that
position is closed (and its working orders in that contract cancelled), nothing is locked, and
a stale quote never fires it. (The shape it shares with RULE-015 is in `position_pnl`.)
"""

from __future__ import annotations

from fsm_risk import schema
from fsm_risk.core.reasons import Reason
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.position_pnl import PositionPnlRule, amount_in
from fsm_risk.schema import Field


class PositionStopLoss(PositionPnlRule):
    id = "RULE-014"
    name = "position_stop_loss"
    fires_when = "one position's unrealized P&L <= -limit (per-root overrides)"
    default_action = "close that position only (and cancel its orders); no lock"
    tighter = {"limit": strict.lower, "limits": strict.PerRoot(amount_in("limit", "limits"))}
    fields = (
        Field(
            "limit",
            schema.amount(),
            "250",
            "close a position once its open loss reaches this ($ for the whole position)",
        ),
        Field(
            "limits",
            schema.mapping(schema.root_key("limits"), schema.amount()),
            "",
            "per-root overrides in $, e.g. 'NQ: 500, MNQ: 150' (empty: limit for every root)",
            roots=True,
        ),
    )
    loss, amount_key, overrides_key = True, "limit", "limits"
    reason = Reason.POSITION_STOP_LOSS
