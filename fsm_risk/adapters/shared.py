"""One object for equal values read from the gateway or the database: an account's day of
fills repeats the same prices, fees and contract ids, and each fill kept its own copies
(about 100 bytes a number, 50 a name). Numbers and names are immutable, so sharing them
changes no result. The table of numbers is bounded: emptied when full, so a stream of new
prices (quotes) cannot grow it."""

from __future__ import annotations

import sys
from decimal import Decimal

_NUMBERS: dict[str, Decimal] = {}
#: distinct numbers kept at most (a few hundred kilobytes)
LIMIT = 4096


def number(text: str) -> Decimal:
    """``Decimal(text)``, the same object for the same text (exponent and all)."""
    found = _NUMBERS.get(text)
    if found is None:
        found = Decimal(text)  # raises on what is not a number: nothing is kept then
        if len(_NUMBERS) >= LIMIT:
            _NUMBERS.clear()
        _NUMBERS[text] = found
    return found


def same(value: Decimal) -> Decimal:
    """``value``, or the equal number already shared (same digits and exponent)."""
    return number(str(value))


def name(text: str) -> str:
    """One string object for every contract id (or other name) of the same text."""
    return sys.intern(text)
