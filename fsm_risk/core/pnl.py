"""Money: exact P&L arithmetic with `Decimal`.

- Unrealized P&L of a position = (mark - average price) / tick size x tick value x size, sign
  flipped for shorts. The division comes last so that a fractional average price (several
  fills) stays exact.
- Realized P&L is the broker's ``profitAndLoss`` on closing fills minus fees on every fill.
- The mark is the last trade price by default; with ``liquidation`` it is the bid for a long
  and the ask for a short (what closing would get).
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

from fsm_risk.core.models import ZERO, Instrument, Mark


class MarkMode(Enum):
    LAST = "last"
    LIQUIDATION = "liquidation"


def unrealized(long: bool, size: int, average: Decimal, mark: Decimal, inst: Instrument) -> Decimal:
    diff = mark - average if long else average - mark
    return diff * size * inst.tick_value / inst.tick_size


def realized_net(pnl: Decimal | None, fees: Decimal) -> Decimal:
    """A fill's contribution to realized P&L: its P&L (none on an opening fill) less fees."""
    return (pnl if pnl is not None else ZERO) - fees


def mark_price(mark: Mark, long: bool, mode: MarkMode) -> Decimal | None:
    """The price a position is valued at, or None when the quote lacks it."""
    if mode is MarkMode.LIQUIDATION:
        return mark.bid if long else mark.ask
    return mark.last


def ticks(amount: Decimal, inst: Instrument, size: int) -> Decimal:
    """How many ticks of price movement ``amount`` dollars is for ``size`` contracts."""
    return amount / (inst.tick_value * size)
