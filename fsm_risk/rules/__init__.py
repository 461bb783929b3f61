"""The rules, one small class each. ``ALL_RULES`` is ordered by rule id."""

from __future__ import annotations

from fsm_risk.rules.base import Rule
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.daily_profit_target import DailyProfitTarget
from fsm_risk.rules.max_consecutive_losses import MaxConsecutiveLosses
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from fsm_risk.rules.position_hold_time import PositionHoldTime
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.position_take_profit import PositionTakeProfit
from fsm_risk.rules.rapid_fire import RapidFire
from fsm_risk.rules.revenge_trading import RevengeTrading
from fsm_risk.rules.stop_loss_required import StopLossRequired
from fsm_risk.rules.symbol_block import SymbolBlock
from fsm_risk.rules.trade_cooldown import TradeCooldown
from fsm_risk.rules.trading_hours import TradingHours
from fsm_risk.rules.trading_permission import TradingPermission
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit

ALL_RULES: tuple[type[Rule], ...] = (
    MaxContracts,
    MaxContractsPerInstrument,
    DailyLossLimit,
    TrailingDrawdown,
    DailyProfitTarget,
    TradingHours,
    MaxTradesPerDay,
    TradeCooldown,
    PositionHoldTime,
    RapidFire,
    MaxConsecutiveLosses,
    RevengeTrading,
    WeeklyLossLimit,
    PositionStopLoss,
    PositionTakeProfit,
    StopLossRequired,
    SymbolBlock,
    TradingPermission,
)

BY_NAME: dict[str, type[Rule]] = {r.name: r for r in ALL_RULES}
BY_ID: dict[str, type[Rule]] = {r.id: r for r in ALL_RULES}

assert [r.id for r in ALL_RULES] == sorted(BY_ID), "ALL_RULES must be ordered by rule id"
