"""Locks held past their deadline until the account's trades are read.

A lock ends at its deadline, and a rule whose cause still holds locks again at that same
instant (a blown account at the weekly reset: released and locked again, nothing between).
A rule judging realized P&L (`Rule.waits_for_trades`) cannot judge while the account's
trades are still being read: after a restart that applied the resets missed while stopped
(``acct.missed``), or while a read of an exposed account has its positions but not yet its
trades (``acct.behind``). Ended then, its lock would leave the account free to trade until
the read lands, with nothing to lock it again: a blown account restarted a minute after
Sunday's reset bought 10 NQ and lost on them, and nothing was closed.

So such a lock outlives its deadline while the read is awaited; its deadline, passed, is no
wake-up then (the account would be woken over and over for nothing). Once the trades are
read, the account is judged in that same event: the lock ends (audited) and the rule, judging
again, locks it anew where its cause still holds.
"""

from __future__ import annotations

from datetime import datetime

from fsm_risk.core.models import AccountModel, Lock, Lockable
from fsm_risk.core.rulebook import RuleBook


def reading(acct: AccountModel) -> bool:
    """The account's trades are still being read (after a restart, or an exposed account's
    positions read before them): the rules judging realized P&L do not judge it yet."""
    return acct.missed is not None or acct.behind is not None or acct.balance_due


def held_for_read(book: RuleBook, acct: AccountModel) -> frozenset[str]:
    """The sources whose holds outlive their deadline on this account now: the rules that
    judge realized P&L, while its trades are still being read (none otherwise)."""
    if not reading(acct):
        return frozenset()
    return frozenset(r.id for r in book.rules if r.waits_for_trades)


def kept(hold: Lock, held: frozenset[str], now: datetime) -> bool:
    """A hold whose deadline passed, kept until the account's trades are read."""
    return hold.until is not None and hold.until <= now and hold.source in held


def overdue(acct: AccountModel, now: datetime) -> bool:
    """A hold of the account, or of one of its contracts, whose deadline has passed: one kept
    for a read that has just landed (the account is to be judged now)."""
    models: list[Lockable] = [acct, *acct.contracts.values()]
    return any(h.until is not None and h.until <= now for m in models for h in m.holds.values())
