"""A new period's fills booked before this machine's clock reached its reset.

A fill belongs to the period its gateway time falls in. A fill stamped ahead of our clock by
no more than a gateway stamp may lead it (`MARK_SKEW`) rolls the period itself (`Timers.roll`);
with this machine's clock further behind the gateway's, the new day's first fills come while
our clock is still in the day that is ending, and are booked there (`Book.take_fill` judges
only a fill stamped before a period began). With our clock 2 min behind, a $900 loss made at
17:00:30 by the gateway's clock went to the day that ended, the new day began at 0, and a
further $600 loss left a day at -$600 under a $1,000 limit (the day was at -$1,500).

At the reset (`carry_over`), every fill of the ending day stamped at or after the new period's
start goes over to it: its net P&L and fees leave the old books and count in the new ones (the
day keeps the fill, and the round trips closed since the start, for the rules that count them).
Never in both: the old books give them up. The contracts those fills moved were not held at the
boundary as the reset found them: each contract's part of the carry becomes what was held at
the boundary valued at the same price (`_uncarry`), nothing for a contract those fills opened
from flat. ``Book.late`` takes the change this makes to the equity at the boundary (the new
period's P&L so far, given back), so that RULE-004's end-of-day peak is the equity at the
gateway's reset, not after the new day's first trades. A reset applied at a restore (no
``late``: the trades made while stopped redo it, see `missed`) values the account as a whole:
its carry gives back the same, at the prices it values the account at, and the equity its
rules' reset hooks see is the equity at the boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from fsm_risk.core.events import Side
from fsm_risk.core.missed_carry import moved_over
from fsm_risk.core.models import ZERO, AccountModel, Book, Mark
from fsm_risk.core.records import FillRecord
from fsm_risk.core.valuation import Prices, Valuation


def carry_over(
    acct: AccountModel,
    old: Book,
    book: Book,
    valuation: Valuation,
    *,
    weekly: bool,
    prices: Prices | None = None,
) -> None:
    """Move ``old``'s fills stamped at or after ``book.start`` (taken from the ending day's
    journal, which keeps the fills: the week's does not) into the new period ``book``. At a
    reset applied at a restore, ``prices`` are those it values the account at (else the
    prices last known: `Valuation.last_known`)."""
    moved = [f for f in acct.day.fills if f.at >= book.start]
    if not moved:
        return
    net = sum((f.net for f in moved), ZERO)
    fees = sum((f.fees for f in moved), ZERO)
    old.realized -= net
    old.fees -= fees
    book.realized += net
    book.fees += fees
    # a loss a confirmed reset wiped among them goes over too, remembered (`Book.wiped_loss`)
    gone = old.wiped_to
    lost = sum((f.net for f in moved if gone is not None and f.at <= gone), ZERO)
    part = max(old.wiped_loss, min(lost, ZERO))
    if part:
        old.wiped_loss -= part
        book.wiped_loss += part
        book.wiped_to = gone
    if not weekly:  # (the week's book keeps no fills; the day's journal still has them)
        trips = [t for t in old.trips if t.closed_at is not None and t.closed_at >= book.start]
        for f in moved:
            old.drop_fill(f)
            book.add_fill(f)
        old.trips = [t for t in old.trips if all(t is not m for m in trips)]
        book.trips.extend(trips)
    was = book.carry
    for cid in sorted({f.contract_id for f in moved}):
        fills = [f for f in moved if f.contract_id == cid]
        if book.late is not None:
            _uncarry(acct, book, valuation, cid, fills)
            continue
        # at a restore: the account valued as a whole, at the reset's prices where read
        price = None if prices is None else prices.get(cid)
        at = None if price is None else Mark(price, price, price, book.start)
        made = _made(valuation, cid, fills, at or valuation.last_mark(cid))
        book.carry += ZERO if made is None else made
        if made is not None:  # and its part of the contract (`missed_carry`)
            moved_over(book.missed_carried, cid, _held(acct, book.missed_carried, cid, fills), made)
    if book.late is not None:
        book.late += book.carry - was - net
    else:  # the equity the rules' reset hooks see (`Timers.catch_up` puts it back after)
        acct.open_upnl += book.carry - was - net


def _made(
    valuation: Valuation, cid: str, fills: Sequence[FillRecord], mark: Mark | None
) -> Decimal | None:
    """What ``fills`` of one contract take off the value of the contracts held after them to
    leave those held before them, valued at ``mark`` (else at the last of their prices): their
    P&L, less what they bought and sold is worth there (None: no instrument)."""
    signed = sum((f.size if f.side is Side.BUY else -f.size for f in fills), 0)
    cost = sum((f.price * (f.size if f.side is Side.BUY else -f.size) for f in fills), ZERO)
    last = fills[-1]
    worth = valuation.worth(
        cid, signed, cost, mark or Mark(last.price, last.price, last.price, last.at)
    )
    return None if worth is None else sum((f.pnl or ZERO for f in fills), ZERO) - worth


def _uncarry(
    acct: AccountModel, book: Book, valuation: Valuation, cid: str, fills: Sequence[FillRecord]
) -> None:
    """The carry's part of one contract at a live reset, as held before ``fills`` (all of the
    new period): held now less what they moved, valued at the contract's mark (`_made`), so
    that the new period's P&L is what they made. Nothing when they opened it from flat."""
    value, _ = book.carried.get(cid, (ZERO, 0))
    before = _held(acct, book.carried, cid, fills)
    if before == 0:
        book.carried.pop(cid, None)
        book.carry -= value
        return
    made = _made(valuation, cid, fills, valuation.marks.get(cid))
    if made is None:
        return  # no instrument: the carry is left as the reset took it
    book.carry += made
    book.carried[cid] = (value + made, abs(before))


def _held(
    acct: AccountModel, split: dict[str, tuple[Decimal, int]], cid: str, fills: Sequence[FillRecord]
) -> int:
    """The signed contracts of ``cid`` held before ``fills``: those ``split`` values (on the
    side of the position held now) less what the fills moved."""
    _, n = split.get(cid, (ZERO, 0))
    pos = acct.positions.get(cid)
    held = -n if pos is not None and not pos.long else n
    return held - sum((f.size if f.side is Side.BUY else -f.size for f in fills), 0)
