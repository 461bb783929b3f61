"""Positions under a lock kept only for the trades read: left open until the read judges them.

A lock of a rule judging realized P&L outlives its deadline while the account's trades are
read (`overdue`). A scope locked by such holds alone is not known to be locked: their
deadline has passed, and the rule judges again once the trades are read. A position that
appears there (a trader's first trade of the new day, made while the service was down over
the daily reset) is legal unless that read locks again. So, while a scope is locked only by
kept holds, an order that would open or add is still cancelled on sight (the read takes
seconds), but a position is left open for the read to decide: the rule locks again (the P&L
rules flatten: every position is closed in that same event) or the lock ends (nothing is
closed).

A read that does not come (the trades search failing) leaves no position unjudged for long:
`WAIT` after the account's first position so left, each one in such a scope is closed on
sight, as under any lock, until the read lands. A restart's read keeps the instant stored
with its missed resets: a service restarting within each minute does not start it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fsm_risk.core.models import AccountModel, Lockable
from fsm_risk.core.overdue import held_for_read, kept, reading
from fsm_risk.core.rulebook import RuleBook

#: how long after the account's first position left to the read it is closed without it (a
#: start-up reads the trades of 50 locked or exposed accounts within a minute at the gateway's
#: 200 requests a minute; a read slower than this is the old strictness, not a blind spot)
WAIT = timedelta(seconds=60)


def only_kept(scope: Lockable, held: frozenset[str], now: datetime) -> bool:
    """Every hold of the scope is past its deadline and kept for the trades read."""
    return bool(scope.holds) and all(kept(h, held, now) for h in scope.holds.values())


class Awaiting:
    """Which positions a scope locked only for the trades read leaves open, and until when."""

    def __init__(self, book: RuleBook) -> None:
        self.book = book
        #: per account, when its first position was left to the read (runtime only)
        self.since: dict[int, datetime] = {}
        #: per (account, contract), the signed size left to the read: the least seen since
        #: the first sighting (a market order's add fills before its cancel: it is reduced)
        self.left: dict[tuple[int, str], int] = {}

    def unjudged(self, acct: AccountModel, scope: Lockable, now: datetime) -> bool:
        """The scope is locked only for the read, and the wait has not run out (no record
        is started: see `leaves`)."""
        if not only_kept(scope, held_for_read(self.book, acct), now):
            return False
        since = self.started(acct)
        return since is None or now < since + WAIT

    def started(self, acct: AccountModel) -> datetime | None:
        """When the account's first position was left to the read (a restart's read keeps
        the instant stored with the missed resets)."""
        since = self.since.get(acct.account_id)
        if since is None and acct.missed is not None:
            since = acct.missed.left_since
        return since

    def leaves(
        self, acct: AccountModel, scope: Lockable, now: datetime, opened: datetime | None = None
    ) -> bool:
        """Whether a position in the scope (``opened`` then, at the gateway) is left open for
        the read now (the first one so left starts the account's wait). One opened before a
        kept hold's deadline was opened while that lock was live (the service down): it is
        closed, as under any lock."""
        if not self.unjudged(acct, scope, now):
            return False
        if opened is not None and any(
            h.until is not None and opened < h.until for h in scope.holds.values()
        ):
            return False
        since = self.since.setdefault(acct.account_id, self.started(acct) or now)
        if acct.missed is not None and acct.missed.left_since is None:
            acct.missed.left_since = since
        return True

    def over(self, acct: AccountModel, cid: str, size: int, long: bool) -> int | None:
        """A position left to the read, grown past the least size left on its side since
        first seen (an add, or a reversal): the size it is reduced to (None: within it)."""
        key, signed = (acct.account_id, cid), size if long else -size
        first = self.left.setdefault(key, signed)
        if first != 0 and (first > 0) == long:
            if size <= abs(first):
                self.left[key] = signed
                return None
            return abs(first)
        return 0

    def prune(self, acct: AccountModel) -> None:
        """The account's trades are read: its wait is over. A contract left and now flat
        has nothing left to the read (what it opens again is an add)."""
        for key in [k for k in self.left if k[0] == acct.account_id]:
            if key[1] not in acct.positions:
                self.left[key] = 0
        if acct.account_id in self.since and not reading(acct):
            del self.since[acct.account_id]
            for key in [k for k in self.left if k[0] == acct.account_id]:
                del self.left[key]

    def closes_at(self, acct: AccountModel) -> datetime | None:
        """When the positions left to the read are closed without it (None: none left)."""
        since = self.started(acct)
        return None if since is None else since + WAIT

    def wakeup(self, acct: AccountModel, now: datetime) -> datetime | None:
        """The account's wake-up for the end of its wait (None: none, or passed)."""
        at = self.closes_at(acct)
        return at if at is not None and at > now else None
