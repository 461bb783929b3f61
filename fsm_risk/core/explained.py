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

A list that claims to be whole must explain the balance, too (`short`): one capped newest first
that held only the trades made since a restart lacked none the service had applied and was
taken as complete; the estimate and the lock made on it ended, the week's fall was forgotten,
and a real -$1,000 on a $500 daily limit traded on. A fall its trades do not explain, the list
holding no trade applied before the wait began, may be a trade the cap left out (or a payout, a
firm's adjustment: the cost, as for the estimate): the list is kept from (`unjudged.kept`), not
trusted. One that holds such a trade holds every trade newer (newest first): what it does not
explain is no trade (a payout), and it is whole.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fsm_risk.core.events import TradesSnapshot
from fsm_risk.core.exits import CENT
from fsm_risk.core.hidden import explained
from fsm_risk.core.models import ZERO, AccountModel
from fsm_risk.core.unjudged import move


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


def short(acct: AccountModel, ev: TradesSnapshot) -> bool:
    """Whether the waiting account's balance fell by more than its booked trades explain, and
    the list ``ev`` may have been capped: it holds no trade applied before the wait began (a
    list newest first that does holds every trade since, those made while down among them: a
    fall they do not explain is a payout, say, and the list is whole)."""
    unjudged = acct.unjudged
    if unjudged is None or move(acct) >= -CENT:
        return False
    applied = ev.applied or frozenset()
    return not any(t.trade_id in applied and t.at < unjudged.since for t in ev.trades)


def _within(net: Decimal, held: Decimal) -> Decimal:
    """What of ``net`` the move ``held`` holds: on its side, no more than it."""
    if net < ZERO < -held:
        return max(net, held)
    if net > ZERO < held:
        return min(net, held)
    return ZERO
