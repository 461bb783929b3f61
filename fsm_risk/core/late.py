"""A fill stamped before a period's boundary whose record came after it, and its void.

Such a fill is the last period's (`Book.take_fill`): its P&L is not this period's, and the
contracts it closed were not held at the boundary, so they carry nothing into this one (their
part of the carry is taken back); at a live boundary ``Book.late`` takes the change it makes
to the equity then (its net P&L less that part), and RULE-004's ``end_of_day`` peak is taken
again with it. What each such fill did is kept, by trade id (`Book.lates`, stored with the
book), so that a void of it gives back exactly that: ``late``, the carry and the contracts'
part of it, to the cent and after a restart. Kept until the period ends: a void arriving
after the next boundary is of an older trade (see `voids`). A fill that changed neither (at a
reset applied at a restore, which the trades made while stopped redo instead: `missed`) is
not kept: the store rewrites the book whenever the account moves, and a day's trades made
while the service was stopped may be many.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsm_risk.core.records import Book, FillRecord

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Late:
    """What one late fill did to a book."""

    contract_id: str
    net: Decimal  # its net P&L (in the last period's realized P&L, not this one's)
    fees: Decimal
    part: Decimal  # the carry it took back: the value the boundary gave the contracts it closed
    contracts: int  # how many of the carried contracts it closed
    counted: bool  # ``Book.late`` took it (a live boundary; not one applied at a restore)

    def to_list(self) -> list[Any]:
        return [
            self.contract_id,
            str(self.net),
            str(self.fees),
            str(self.part),
            self.contracts,
            self.counted,
        ]

    @staticmethod
    def from_list(v: list[Any]) -> Late:
        return Late(v[0], Decimal(v[1]), Decimal(v[2]), Decimal(v[3]), int(v[4]), bool(v[5]))


def take_late(book: Book, record: FillRecord, net: Decimal) -> None:
    """Book a fill stamped before ``book`` began (see the module's docstring)."""
    counted = book.late is not None
    if book.late is not None:
        book.late += net
    part, k = ZERO, 0
    held = book.carried.get(record.contract_id)
    if held is not None and record.exit:
        value, n = held
        k = min(record.exit, n)
        part = value if k >= n else value * k / n
        book.carry -= part
        if book.late is not None:
            book.late -= part
        if k < n:
            book.carried[record.contract_id] = (value - part, n - k)
        else:
            del book.carried[record.contract_id]
    if counted or k:  # (at a reset applied at a restore the trades redo it: see `missed`)
        book.lates[record.trade_id] = Late(record.contract_id, net, record.fees, part, k, counted)


def give_back(book: Book, trade_id: int) -> Late | None:
    """A late fill voided: ``book`` as if it had never come (None: not one of its late fills).
    The steps of `take_late`, undone in the reverse order."""
    late = book.lates.pop(trade_id, None)
    if late is None:
        return None
    if late.contracts:
        value, n = book.carried.get(late.contract_id, (ZERO, 0))
        book.carried[late.contract_id] = (value + late.part, n + late.contracts)
        book.carry += late.part
        if late.counted and book.late is not None:
            book.late += late.part
    if late.counted and book.late is not None:
        book.late -= late.net
    return late
