"""A loss the balance shows and the trades never explained, kept in the week's judgement.

A trades list capped newest first (the gateway's search returns so many trades, the newest)
leaves out the oldest of a busy account's: a loss among them is never booked. The balance shows
it: the account is judged on the estimate (`unjudged`), kept by every list lacking trades
already applied (`unjudged.kept`). That estimate is the day's and ends with it (yesterday's
fall, a payout maybe, is no loss of the new day's), but it was the week's loss too: ended, a
hidden -$1,000 on Monday and -$600 booked on Tuesday left RULE-013 (a $1,500 weekly limit)
seeing -$600. So the fall of a kept estimate goes into the week's book (`Book.hidden`, stored
with it) as the estimate is kept, and what it fell further before its day ended: RULE-013
counts it until the weekly reset (a fall only: it tightens, never gives room), across daily
resets, restarts and an admin's unlock. A complete list of the week's trades ends it (`forget`:
the exact books judge, as the read of the trades ends an estimate), so a loss it lists is
never counted twice, and a payout taken for a loss costs the trader until such a list.

A fall is counted once. What of it the stored balance does not hold is stored with it
(`Book.unheld`): a restart's listing, measured from the stored balance, shows that fall again,
and a new wait starts from it as already kept (`Unjudged.carried`, `begun`). A trade booked
later that explains it (a capped list listing the loss's own trades) takes it out
(`explained`): counted once in the books, not again as hidden.
"""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.models import ZERO, AccountModel


def keep(acct: AccountModel, fall: Decimal) -> None:
    """The account's kept estimate ``fall``s (its move, on the side that tightens a loss
    limit): what of it the week's book does not hold yet goes in (`Unjudged.carried`)."""
    unjudged = acct.unjudged
    assert unjudged is not None  # (kept)
    more = min(fall, ZERO) - unjudged.carried
    if more < ZERO:
        acct.week.hidden += more
        unjudged.carried += more
    unheld(acct)


def explained(acct: AccountModel, part: Decimal) -> None:
    """A trade booked in the wait explains ``part`` of its move (a loss: below zero): what of
    the fall kept for the week it was leaves it (no more than this wait kept)."""
    unjudged = acct.unjudged
    assert unjudged is not None  # (waiting)
    back = max(part, unjudged.carried) if part < ZERO else ZERO
    unjudged.carried -= back
    acct.week.hidden -= back
    unheld(acct)


def unheld(acct: AccountModel) -> None:
    """What of the fall kept for the week the stored balance does not hold (`Book.unheld`):
    the kept fall beyond what the wait took into it; with no wait, a read took all of it."""
    unjudged = acct.unjudged
    unheld = ZERO if unjudged is None else min(unjudged.carried - unjudged.taken, ZERO)
    acct.week.unheld = max(unheld, acct.week.hidden)


def begun(acct: AccountModel) -> Decimal:
    """What a wait beginning now holds kept for the week already (`Unjudged.carried`): the
    fall the stored balance does not hold, which its move, measured from it, shows again."""
    return acct.week.unheld


def forget(acct: AccountModel) -> None:
    """A complete list of the week's trades: the exact books judge the week from now."""
    acct.week.hidden = ZERO
    acct.week.unheld = ZERO
    if acct.unjudged is not None:
        acct.unjudged.carried = ZERO
