"""A position held across a live reset that the engine learned of only after it.

A live reset carries the open P&L of the positions it knows (`Book.carried`). A position
opened before the reset whose records came only after it (the user hub silent a while, the
position found by the next read; or a first start, its books opened with nothing carried)
carried nothing: the new period counted as its own the whole open P&L made before the reset.
Long 3 MNQ bought at 21,000 at 15:30, the firm's reset at 16:00 with MNQ at 21,500, the
position read at 16:05: the day read +$3,000, and at 21,000 (-$3,000 since the reset, a
$1,000 limit) the account was still Trading.

So once the fills and the gateway agree on a position opened before a period's start of
which that period's carry holds no part (`wanted`), the gateway's price at that start is
asked for (`ReadResetPrices`, handed back as `PricesAtReset`), and the period carries what
was held at its start (the position less the period's own fills) valued at it (`carry`):
its ``carry`` and ``carried`` (which a fill stamped before the start, whose record comes
later, takes back as for any carried contract) and, at a live reset, ``late`` (the equity
at the reset: RULE-004's end-of-day peak is taken again with it). Stored with the book:
``carried`` marks the contract as carried, so a restart or a second record never carries it
twice. A price the gateway could not give is taken from the last price known (a warning),
a loss at it carried as nothing (the fall since the reset before the read is not known, and
must not be erased); with neither, the position stays as it was (asked once). A contract
whose tick value is being asked (`unpriced`) is asked for once it is known. Until the answer
(one read) the position counts as before. A price read is the contract's last price known
too, where no newer one is known: a quiet contract is valued at it until its next quote, not
at an older mark (nor at nothing), which read the carried loss as a gain of the new period's;
stale, never a fresh quote (it is the last trade before the reset), and not where the account
added to the position since the reset (those contracts' own trades are newer than it).

Left to their own machinery: a contract a reset applied at a restore valued (`missed`, its
part in ``missed_carried``; a contract it could value nothing of, left out of its carry and
of that part, is carried here once the start-up read is applied), and a week that began
before the day (its fills between the two starts are not kept: only a week starting with the
day is done).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from fsm_risk.core.early import _made
from fsm_risk.core.effects import Effect, ReadResetPrices
from fsm_risk.core.events import PricesAtReset, Side
from fsm_risk.core.models import ZERO, AccountModel, Book, Mark
from fsm_risk.core.records import FillRecord
from fsm_risk.core.valuation import Valuation


class Uncarried:
    """The prices asked for: at most one read per account at a time, its answer carrying all
    it asked for, and each (reset, contract) asked once (a price the answer lacked, with no
    mark to stand in, is not asked again on every event). Not stored: a restart finds a
    position still uncarried, and asks again."""

    def __init__(self, valuation: Valuation) -> None:
        self.valuation = valuation
        self.asked: dict[int, list[tuple[datetime, str]]] = {}  # awaiting the answer
        self.answered: dict[int, set[tuple[datetime, str]]] = {}

    def check(self, acct: AccountModel, out: list[Effect]) -> None:
        """Ask the gateway's price at each period start a position is held uncarried across
        (none while an answer is awaited: what it leaves is asked after it)."""
        if not acct.positions or acct.account_id in self.asked:
            return
        answered = self.answered.get(acct.account_id, set())
        new = [w for w in wanted(acct) if w not in answered]
        if new:
            self.asked[acct.account_id] = new
            out.append(ReadResetPrices(acct.account_id, tuple(new)))

    def priced(self, acct: AccountModel, event: PricesAtReset) -> bool:
        """The gateway's answer: carry each position asked for, at the price it gives, else
        at the contract's last price known (the shell warns of each price not read). Whether
        any carry moved."""
        asked = self.asked.pop(acct.account_id, [])
        starts = {acct.day.start, acct.week.start}
        answered = {w for w in self.answered.get(acct.account_id, ()) if w[0] in starts}
        self.answered[acct.account_id] = answered | set(asked)
        given = {(p.at, p.contract_id): p.price for p in event.prices}
        moved = False
        for at, cid in asked:
            price = given.get((at, cid))
            if price is not None:
                moved |= carry(acct, self.valuation, at, cid, Mark(price, price, price, at))
                self._learn(acct, at, cid, price)
            else:  # the last price known: never a loss (the fall since the reset not erased)
                moved |= carry(acct, self.valuation, at, cid, self.valuation.last_mark(cid), True)
        return moved

    def _learn(self, acct: AccountModel, at: datetime, cid: str, price: Decimal) -> None:
        """The price read is the contract's last price known where no newer one is known: its
        holders are valued at it until a quote (a quiet contract, with no mark or an older
        one, counted nothing or the older price: the carried loss read as a gain of the new
        day's). Stale, never a fresh quote (`Valuation.learn`): it is the last trade before
        ``at`` (at 17:00 Chicago, the close before the halt), not the market since. Not where
        the account added to the position since ``at``: contracts bought at the reopen valued
        at the close before it are a loss or a gain never made (what was sold since is booked
        at its own price: the rest was all held at ``at``, its value there the carry's)."""
        pos = acct.positions.get(cid)
        adds = Side.BUY if pos is None or pos.long else Side.SELL
        if any(f.contract_id == cid and f.at >= at and f.side is adds for f in acct.day.fills):
            return
        valuation = self.valuation
        valuation.learn(at, {cid: price})
        for holder in valuation.holding(cid):
            pos = holder.positions.get(cid)
            if pos is not None:
                valuation.revalue(holder, pos)


def _books(acct: AccountModel) -> Iterator[Book]:
    yield acct.day
    if acct.week.start == acct.day.start:
        yield acct.week


def _since(acct: AccountModel, book: Book, cid: str) -> tuple[int, list[FillRecord]]:
    """The signed contracts of ``cid`` held at ``book``'s start (held now less the period's
    own fills of it, from the day's journal), and those fills."""
    fills = [f for f in acct.day.fills if f.contract_id == cid and f.at >= book.start]
    pos = acct.positions[cid]
    moved = sum((f.size if f.side is Side.BUY else -f.size for f in fills), 0)
    return pos.signed - moved, fills


def wanted(acct: AccountModel) -> list[tuple[datetime, str]]:
    """(period start, contract) for each position the fills and the gateway agree on, opened
    before a period's start, held at it, of which that period's carry holds no part."""
    found = {(b.start, c) for b in _books(acct) for c in acct.positions if _uncarried(acct, b, c)}
    return sorted(found)


def _uncarried(acct: AccountModel, book: Book, cid: str) -> bool:
    pos = acct.positions.get(cid)
    if (
        pos is None
        or acct.missed is not None  # (the missed resets' redo values what they carried)
        or pos.opened_at >= book.start
        or cid in book.carried
        or cid in book.missed_carried
        or pos.settling
        or acct.net.get(cid, 0) != pos.signed
        or cid in acct.expected
        or cid in acct.unsettled
        or cid in acct.unpriced  # (its tick value asked: a price read first would carry nothing)
    ):
        return False
    held, _ = _since(acct, book, cid)
    return held != 0 and (held > 0) == pos.long


def carry(
    acct: AccountModel,
    valuation: Valuation,
    at: datetime,
    cid: str,
    mark: Mark | None,
    gain_only: bool = False,
) -> bool:
    """Each period starting at ``at`` carries what was held of ``cid`` at its start, valued at
    ``mark`` (nothing without a price or an instrument). Whether any carry moved."""
    moved = False
    pos = acct.positions.get(cid)
    for book in _books(acct):
        if pos is None or book.start != at or not _uncarried(acct, book, cid):
            continue
        held, fills = _since(acct, book, cid)
        now = valuation.worth(cid, pos.signed, pos.average_price * pos.signed, mark)
        made = _made(valuation, cid, fills, mark) if fills else ZERO
        if now is None or made is None:
            continue
        value: Decimal = now + made
        if gain_only and value < ZERO:
            value = ZERO
        book.carry += value
        book.carried[cid] = (value, abs(held))
        if book.late is not None:  # the equity at a live reset (RULE-004's peak: `late`)
            book.late += value
        moved = True
    return moved
