"""Money: exact P&L arithmetic with `Decimal`.

- Unrealized P&L of a position = (mark - average price) / tick size x tick value x size, sign
  flipped for shorts. The division comes last so that a fractional average price (several
  fills) stays exact.
- Realized P&L is the broker's ``profitAndLoss`` on closing fills minus fees on every fill.
- The gateway books a closing trade's P&L to the cent, half a cent to the even cent (one ZN
  tick, $15.625, books 15.62; three book 46.88), and the balance moves by that: an open
  position is valued as closing it would book (`booked`), so that a limit is touched at the
  figure the gateway will book, not half a cent beside it.
- The mark is the last trade price by default; with ``liquidation`` it is the bid for a long
  and the ask for a short (what closing would get).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum

from fsm_risk.core.models import ZERO, Instrument, Mark

CENT = Decimal("0.01")


def booked(amount: Decimal) -> Decimal:
    """``amount`` as the gateway books a trade's P&L: to the cent, half a cent to the even
    cent (a tick value such as ZN's $15.625 makes half cents)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


class MarkMode(Enum):
    LAST = "last"
    LIQUIDATION = "liquidation"


def unrealized(long: bool, size: int, average: Decimal, mark: Decimal, inst: Instrument) -> Decimal:
    diff = mark - average if long else average - mark
    return diff * size * inst.tick_value / inst.tick_size


def realized_net(pnl: Decimal | None, fees: Decimal) -> Decimal:
    """A fill's contribution to realized P&L: its P&L (none on an opening fill) less fees."""
    return (pnl if pnl is not None else ZERO) - fees


def closing_fees(fees: Decimal, closed: int, size: int) -> Decimal:
    """The part of a fill's ``fees`` that ``closed`` of its ``size`` contracts pay: fees are
    charged per contract, so a reversal's one trade carries the fees of the contracts that
    close the old position and of those that open the new one. To the cent, half to the even
    cent; the rest (``fees`` less this, exactly) is the opening contracts'."""
    return (fees * closed / size).quantize(CENT, rounding=ROUND_HALF_EVEN)


def mark_price(mark: Mark, long: bool, mode: MarkMode) -> Decimal | None:
    """The price a position is valued at, or None when the quote lacks it."""
    if mode is MarkMode.LIQUIDATION:
        return mark.bid if long else mark.ask
    return mark.last


def ticks(amount: Decimal, inst: Instrument, size: int) -> Decimal:
    """How many ticks of price movement ``amount`` dollars is for ``size`` contracts."""
    return amount / (inst.tick_value * size)
