"""A firm's reset's balance fall, and the loss heard late that it held.

A confirmed reset takes each book down no further than the balance fell with no fill in the
read whose list looked wiped (see `firm_reset`). A loss whose balance came ahead of its fills
is in that fall too: its fills heard after the read began are booked as well, and the loss
counted twice (up 396.52, a -300 round trip's balance first, two lists empty 3 s apart: the
day came down 300, then its fills took 300 more: -203.48 where the account made 96.52).

Such a fill is stamped before the read (``Fallen.at``) and heard after it began (it is not
among the trades applied then: ``Fallen.heard``), and it never moved the balance again: a read
then confirms the balance up by as much beyond the fills since (``Fallen.rise``, the moves
confirmed since the read). What both say, no more than what the reset took off, is given back
to each book (`settle`). A fill made after the reset moves the balance as it comes (no rise),
and a later reset's rise beside no such fill gives nothing: the loss limits are never looser
than the books the reset left. Not stored: after a restart nothing is given back (the loss
stays counted twice: stricter, never looser).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from fsm_risk.core.effects import Alert, Effect, Level
from fsm_risk.core.events import TradesSnapshot
from fsm_risk.core.models import ZERO, AccountModel
from fsm_risk.core.pnl import realized_net
from fsm_risk.core.reasons import Reason


@dataclass(slots=True)
class Fallen:
    """The read whose list looked wiped (a reset suspected), for the loss heard late in its
    balance's fall: see the module's doc."""

    #: when that read's list was applied; its day's start
    at: datetime
    day: datetime
    #: the trades applied when that read began (its balance came after them)
    heard: frozenset[int]
    #: per book: its start and what the confirmed reset took off it (none: not confirmed yet)
    drops: tuple[tuple[str, datetime, Decimal], ...] = ()
    #: the balance moves reads confirmed since, beyond the fills
    rise: Decimal = ZERO
    #: per book: what was given back so far
    given: dict[str, Decimal] = field(default_factory=dict)


def begin(acct: AccountModel, ev: TradesSnapshot, now: datetime) -> None:
    """A read's list looked wiped, its confirming read asked for (`firm_reset.suspect`)."""
    acct.fallen = None if ev.applied is None else Fallen(now, acct.day.start, ev.applied)


def confirmed(
    acct: AccountModel, drops: tuple[tuple[str, datetime, Decimal], ...], out: list[Effect]
) -> None:
    """The reset was confirmed: ``drops`` taken off the books (`firm_reset.checked`)."""
    if acct.fallen is not None:
        acct.fallen.drops = drops
        settle(acct, out)


def moved(acct: AccountModel, move: Decimal, out: list[Effect]) -> None:
    """A read confirmed the balance, ``move`` beyond the fills since the one taken."""
    if acct.fallen is not None:
        acct.fallen.rise += move
        settle(acct, out)


def settle(acct: AccountModel, out: list[Effect]) -> None:
    """Each book the confirmed reset took down gets back what the loss heard late (stamped
    before the read, heard after it began) made, no more than the balance rose since beyond
    the fills, nor than the reset took off it. Its day over, or the wiped trades listed again
    (the books then go by the lists): forgotten."""
    f = acct.fallen
    if f is None or not f.drops:
        return
    if acct.day.start != f.day or acct.wiped_until is None:
        acct.fallen = None
        return
    late = [x for x in acct.day.fills if x.trade_id not in f.heard and x.at <= f.at]
    lost = -sum((realized_net(x.pnl, x.fees) for x in late), ZERO)
    back = max(ZERO, min(lost, f.rise))
    changed = []
    for name, start, drop in f.drops:
        book = acct.day if name == "day" else acct.week
        if book.start != start:
            continue  # a new period since: none of its business
        was = f.given.get(name, ZERO)
        give = min(drop, back)
        if give != was:
            book.realized += give - was
            book.wiped -= give - was
            f.given[name] = give
            changed.append(
                f"{name} realized {book.realized - give + was:.2f} -> {book.realized:.2f}"
            )
    if changed:
        out.append(
            Alert(
                Level.WARNING,
                Reason.ACCOUNT_RESET_CONFIRMED,
                f"the firm's reset's balance fall held a loss heard late ({len(late)} fill(s) "
                f"stamped before the read that found it, {-lost:+.2f}; the balance rose "
                f"{f.rise:+.2f} since with no fill): not counted twice: " + "; ".join(changed),
                acct.account_id,
            )
        )
