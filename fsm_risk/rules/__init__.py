"""The rules, one small class each. ``ALL_RULES`` is ordered by rule id."""

from __future__ import annotations

from fsm_risk.rules.base import Rule
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument

ALL_RULES: tuple[type[Rule], ...] = (
    MaxContracts,
    MaxContractsPerInstrument,
    DailyLossLimit,
)

BY_NAME: dict[str, type[Rule]] = {r.name: r for r in ALL_RULES}
BY_ID: dict[str, type[Rule]] = {r.id: r for r in ALL_RULES}
