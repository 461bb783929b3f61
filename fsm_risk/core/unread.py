"""A restarted account's trades not read yet, and what its balance already says of them.

After a restart an exposed account is read in two steps (see `fsm_risk.reconciler`): its
positions and working orders first (it enforces), its trades later (`exposure.Behind`). At
the gateway's request budget the second step of the last of 60 exposed accounts came a
minute after the first, and meanwhile the rules on realized P&L waited: a fall through
every account's loss limit closed 20 of them at once and 40 a minute later.

The day's and the week's realized P&L up to the stop are stored, and the gateway's balance
moves by what its trades realize, fees and commissions paid (the realized P&L the rules read
is net of them too). So the balance listed once every account's hub was subscribed (later
trades are heard live) settles it when it is, to the cent, the stored balance plus the
realized P&L booked since (`AccountModel.pending_realized`): whatever was traded between the
stop and the subscription realized nothing net, the books are the truth, and the rules judge
the account at once. Any other balance (a loss or a win while down, a trade's fees, a void, a
firm's reset, a deposit, a balance heard live that the fills do not explain) is left to the
trades: the rules wait for them as before, and those trades are read before the settled
accounts' (`reconciler.urgency`). Judged from the stored books alone, a win while down would
close an account whose loss limit the trades do not reach; judged from the balance's move, a
deposit, a void or a firm's reset would count as P&L (a loss beside a deposit left open). A
reset missed while down waits for the trades whatever the balance (`missed`).

The trades still come (their round trips, fills and entries, for the other rules): booked
from the `TradesSnapshot` (`exposure.catch_up`), one at a time, so the rules wait again while
they are (a loss booked before the win beside it is no breach), and judge at the `Tick` after.

A restored account waits from its restore, not from that listing: its first quote reaches the
engine before its enforcing step has read it. Judged then on its stored books, a trader long
2 MNQ who won $200 on MES while the service was down and lost $600 open on the MNQ read
-$602 against a $500 daily loss limit (his day was -$400) and was flattened and locked for
the day before the read that would have said so. So restored, the rules on realized P&L wait
(`Unjudged.restored`, its clock started) until its first read: the enforcing step's listing
hands the wait over to its being behind (`first_listed`: settled, they judge at once, at the
`Tick` after it; else they wait for the trades as above, its clock started again), a whole
read's trades end it (`trades_read`). A read that fails or never comes leaves it to the
estimate (`unjudged`), as for any wait. The rules on anything else (sizes, hours, stops) judge
the restored account at once.

Its first read is the balances listed after the subscriptions, though, handed to every restored
account as they come (`start_listed`): an account flat at the stop has no enforcing step, and its
whole read comes after every exposed account's steps. Waiting for it, one -$400 on the day against a
$500 limit that opened 2 MES right after a restart of 100 exposed accounts and lost $200 on them was
closed 60.6 s after the fall, the floor of its trailing drawdown not raised by the highs made
meanwhile (its peak does not rise while it waits). A balance that settles it (see above) ends its
wait at once if it is flat; one that moved keeps it waiting for its trades, and so does an exposed
one: a balance says nothing of a position (closed while down at no net P&L, a fee-free scratch, it
is still held in the stored books, and judged on them a fall of the market flattened and locked a
flat account); its enforcing step's listing, which reads its positions first, settles it
(`first_listed`). So does an account flat at the stop that opened a position since: the gateway
pushes nothing on a subscription, so a position opened while the service was down is in no books
(settled by the balance and judged on what was heard live, a -$400 day that bought 2 MNQ H27 while
down, +$300 since, and 2 MNQ Z26 after the restart, -$200, read -$600 on a $500 limit and was
flattened and locked). It is read early instead (`read_early`): its enforcing step comes right
after enforcement, before the other exposed accounts' steps (`reconciler.urgency`; its $200 loss
on a -$400 day waited for its whole read, after every exposed account's steps, a minute at 100
exposed). Its peak does not rise while it waits on: equity then holds the stored balance, and a
fall of it while down (a loss, a payout) would raise the peak to a height the account never
reached, its floor higher than the truth.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from fsm_risk.core.events import Listing
from fsm_risk.core.exposure import Behind
from fsm_risk.core.models import AccountModel


def behind_from(acct: AccountModel, listing: Listing) -> Behind:
    """The account's being behind, begun by the enforcing step's ``listing``: settled when
    the balance listed after the subscription (`Listing.listed`) says so (see above)."""
    return Behind(
        trips={c: replace(t) for c, t in acct.trips_open.items()},
        settled=settles(acct, listing.listed),
        move=moved(acct, listing.listed),
    )


def moved(acct: AccountModel, listed: Decimal | None) -> Decimal | None:
    """How far ``listed``, the gateway's balance, is from the stored one and the realized P&L
    the fills booked since (None: either unknown)."""
    if listed is None or acct.balance is None:
        return None
    return listed - acct.balance - acct.pending_realized


def settles(acct: AccountModel, listed: Decimal | None) -> bool:
    """Whether ``listed``, the gateway's balance, is the stored one plus what the fills booked
    since realized, to the cent, with no balance move unexplained and no reset missed."""
    if listed is None or acct.balance is None or acct.missed is not None or acct.unexplained:
        return False
    return listed == acct.balance + acct.pending_realized


def waiting(acct: AccountModel) -> bool:
    """Whether the rules on realized P&L (`Rule.waits_for_trades`) wait for the account's
    trades: behind and not settled by its balance, or settled but contradicted since by a
    balance heard live that the fills do not explain (`AccountModel.unexplained`: a trade made
    before the subscription whose balance moved after the listing), or a missed reset; or
    restored and not read yet (see above), or read by a list that lacked trades already applied
    (`unjudged.kept`)."""
    behind = acct.behind
    unsettled = behind is not None and (not behind.settled or bool(acct.unexplained))
    unread = acct.unjudged is not None and (acct.unjudged.restored or bool(acct.unjudged.kept))
    return unsettled or unread or acct.missed is not None


def contradicted(acct: AccountModel, move: Decimal) -> None:
    """A balance read back ``move``d from the one taken by what no fill explains: a behind
    account settled by the listing is settled no more (its books miss a trade the listing
    did not show yet), and its rules wait for its trades again. The move is taken into the
    balance, not the books: an account waiting keeps it for its estimate (`unjudged.move`)."""
    if acct.unjudged is not None and waiting(acct):  # (taken: `unjudged.move` keeps it)
        acct.unjudged.taken += move
        if acct.behind is not None:
            acct.behind.move = None  # (in the balance taken now)
    if acct.behind is not None and abs(move) > Decimal("0.01"):
        acct.behind.settled = False


def start_listed(acct: AccountModel, listed: Decimal) -> None:
    """A restored account not listed by its enforcing step yet, its balance ``listed`` after the
    subscriptions: settled and flat, its wait ends (the rules judge at once), and nothing its
    restore brought ends (a lock made on an estimate by an earlier run ends when its trades are
    read, `unjudged.released`: the stored books may miss the trades that moved that balance);
    else it waits on, as before (exposed, for its positions read: `read_early`)."""
    unjudged = acct.unjudged
    if unjudged is None or not unjudged.restored or acct.behind is not None:
        return
    if settles(acct, listed) and not acct.exposed():  # (exposed: positions no read confirmed)
        unjudged.restored = False
        if not waiting(acct):
            acct.unjudged = None  # (not `unjudged.ended`: no lock is released by this)


def read_early(acct: AccountModel) -> bool:
    """Whether a restored account flat at the stop (`Unjudged.flat`) is exposed since (heard
    live) and its enforcing step has not listed it yet: its positions are read right after
    enforcement, before the other exposed accounts' steps (a position opened while the service
    was down is in no books until they are; its rules on realized P&L wait for that read)."""
    unjudged = acct.unjudged
    if unjudged is None or not (unjudged.restored and unjudged.flat) or acct.behind is not None:
        return False
    return acct.exposed()


def first_listed(acct: AccountModel, now: datetime) -> None:
    """A restored account's enforcing step listed it (``acct.behind`` just begun): its wait is
    its being behind's now. Settled, the rules judge at once, and nothing its restore brought
    ends (a lock made on an estimate by an earlier run ends when its trades are read, in
    `Ledger.rebuild_realized`); unsettled, the wait for the trades runs from now, as for an
    account that was never restored (a wait already judging on the estimate, or after a failed
    read, goes on)."""
    unjudged = acct.unjudged
    if unjudged is None or not unjudged.restored:
        return
    unjudged.restored = False
    if not waiting(acct):
        acct.unjudged = None
    elif not unjudged.estimating and unjudged.failed is None:
        unjudged.since = now


def trades_read(acct: AccountModel) -> None:
    """A restored account's trades were read (its books confirmed or rebuilt): its restore, or
    an incomplete list read before (`unjudged.kept`), no longer holds the rules on realized P&L
    back."""
    if acct.unjudged is not None:
        acct.unjudged.restored, acct.unjudged.kept = False, None
