"""What the trades of a waiting account explain of its balance's move, counted once.

An account waiting for its trades (`unjudged`) is judged on its balance's move: the listing's
(`Behind.move`) or a read's taken into the balance (`Unjudged.taken`). Either holds every trade
made before the wait began, the loss made while the service was down among them. Booked after
that read (the list that catches the account up, or a capped list that does list the loss's own
trades), such a trade was counted twice: in the move, which did not change, and in the books.
A -$1,000 lost while down, its balance read first and its trades listed after, made the day
-$2,000 on a $500 limit and the week -$2,000 on a $1,500 limit: a weekly lock until the weekly
reset, the hidden fall kept for the week (`hidden`) never coming down. So its net P&L leaves
that move (no more than the move holds, toward zero) and, a read's, the stored balance too (the
read took it in: equity holds it once), and what of the fall kept for the week it explains
leaves it (`hidden.explained`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fsm_risk.core.hidden import explained
from fsm_risk.core.models import ZERO, AccountModel


def explain(acct: AccountModel, at: datetime, net: Decimal, reflected: bool) -> None:
    """A trade stamped ``at`` booked now, ``net`` realized: made before the account's wait
    began, or ``reflected`` (read after the positions, never heard live: made before the
    subscriptions, so in the balance listed after them), the move it is in already gives it up
    (a balance heard live that the fills do not explain gives it up on its own, `Ledger.fill`:
    what of the fall kept for the week it was leaves it all the same)."""
    unjudged = acct.unjudged
    if unjudged is None or not net:
        return
    if acct.unexplained:
        explained(acct, _within(net, acct.unexplained))
        return
    if not (reflected or at < unjudged.since):
        return
    behind = acct.behind
    if behind is not None and behind.move is not None:
        part = _within(net, behind.move)
        behind.move -= part
    else:
        part = _within(net, unjudged.taken)
        unjudged.taken -= part
        if acct.balance is not None:
            acct.balance -= part  # (the read took it in; the books hold it now)
    explained(acct, part)


def _within(net: Decimal, held: Decimal) -> Decimal:
    """What of ``net`` the move ``held`` holds: on its side, no more than it."""
    if net < ZERO < -held:
        return max(net, held)
    if net > ZERO < held:
        return min(net, held)
    return ZERO
