"""The period P&L rules judging an account whose trades cannot be read, on its balance's move.

After a restart an account's rules on realized P&L wait for its trades (`unread.waiting`)
unless its listed balance settles them. The trades search failing (an outage: 503 after 503)
left them waiting for as long as it failed: a trader long 2 MNQ down $1,200 against a $500
daily loss limit was not closed, the limit failing open because a read failed.

So they wait for the trades `GRACE` at most once a read of them failed (the shell says so
with a `Tick`, `unread`): a retry that works lands within it and the exact books judge. A
read merely queued is no failure: a start-up of many exposed accounts at the gateway's
request budget reads their trades a minute or more after the start, and judged on the
estimate meanwhile, 40 of 60 healthy accounts whose traders won while down were closed on
a loss the trades did not reach (those their balance settles are judged at once). A read
held in the budget neither lands nor fails, though (a locked trader's stream of cancels
filling the reads' share kept a -$1,200 open loss on a $500 limit open 75 s and on): the wait
ends `LATE` after it began whatever the reads do (five budget windows). Past it, the daily
and weekly loss limits and the profit target judge on what is known: the stored books, the
open P&L (the positions read, the quotes live), and the balance's move the fills booked since
do not explain (`move`: the start-up listing's, or a balance heard live since), which is what
the unread trades realized net of their fees, give or take a payout, a deposit or a firm's
adjustment. Each rule counts that move only on the side that can make it fire (a loss limit
a fall, a profit target a rise): the estimate tightens a rule, it never gives room. Without a
reset missed, every unread trade is in the day's and the week's books, and a fall counted is
exactly the loss made while down (a payout counted as a loss is the cost: a lock the trades
read then ends). Across a missed reset the new day's (or week's) share of the move is not
known: the whole fall is counted in it (the loss before the reset is taken as today's), the
strict way. A win while down is not counted: an open loss alone deeper than the room the
stored books leave locks, where the trades would have allowed it. Judged at once (no grace),
every restart with a move would lock on the estimate before a working read could say better;
never judged (as before), a loss limit does not fire for as long as the gateway fails.

A lock a rule made on the estimate says so (`ESTIMATED` in its detail). When the trades are
read, its deadline is brought to that instant (`released`): kept until the balance read after
them (`overdue`), the lock then ends, audited, and the rule, judging the exact books in that
same event, locks again where they justify it. A restart does not end it before its read, nor
does a list lacking trades already applied (`kept`): its silence about a loss says nothing.

Trailing drawdown (RULE-004) judges past the wait too, on equity alone: its peak is stored, and
the gateway's balance plus the open P&L is the equity it trails, which the trades read does
not change (they may raise a peak, never lower one: not knowing them only leaves the floor
lower). So it counts the listing's move whole (`listed`): the balance a read confirmed, a win
while down in it as much as a loss, a payout too, as once the balance is taken. It never
counts a balance heard live that no read confirmed (in no equity, as ever), and with no
balance read since the stop (a missed reset alone, its account not exposed at the start: the
stored balance misses a win made while down) it still waits. A wait kept by a capped list
(`kept`) judges: its trades were read, its balance with them (waiting on, an admin's unlock of
a lock on the week's kept fall left RULE-004 silent for the day: equity $50 under its floor
traded on). Its peak does not rise while the account waits (`observe` is not asked).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from fsm_risk.core.events import Event, Tick
from fsm_risk.core.exposure import Unjudged
from fsm_risk.core.hidden import begun, keep
from fsm_risk.core.models import ZERO, AccountModel
from fsm_risk.core.reasons import Reason
from fsm_risk.core.records import Lock
from fsm_risk.core.states import State
from fsm_risk.core.unread import start_listed, waiting

#: how long the P&L rules wait for the trades before judging on the balance's move
GRACE = timedelta(seconds=5)
#: the longest a read merely queued is waited for, no read failing: held in the request
#: budget (a locked trader's stream of cancels filling the reads' share, the gateway's 429s
#: holding reads) it neither lands nor fails, and a -$1,200 open loss on a $500 limit stayed
#: open for as long as that lasted. Five of the budget's windows: a start-up of many exposed
#: accounts at the shipped budget reads an account's trades about two windows after its
#: enforcing step (at 120 s, 72 of 200 healthy exposed accounts among 500 were flattened on
#: the estimate before their reads landed, none of them past its limit)
LATE = timedelta(seconds=300)
#: in the detail of a lock made on the estimate: the trades read ends it (see `released`)
ESTIMATED = "trades unread, balance move"
#: the reasons of the rules that judge on the estimate (a lock of any other carries no marker)
JUDGING = frozenset(
    {
        Reason.DAILY_LOSS_LIMIT,
        Reason.DAILY_PROFIT_TARGET,
        Reason.WEEKLY_LOSS_LIMIT,
        Reason.TRAILING_DRAWDOWN,
    }
)


def estimating(acct: object) -> bool:
    """The account's period P&L rules judge on its balance's move now."""
    unjudged = getattr(acct, "unjudged", None)
    return isinstance(unjudged, Unjudged) and unjudged.estimating


def move(acct: AccountModel) -> Decimal:
    """What the balance moved by that the books do not hold: the moves of balances a read
    confirmed while waiting (taken into the balance, not the books), and the gateway's balance
    less the one taken and the fills booked since: a balance heard live that they do not
    explain, else the start-up listing's, else nothing known (zero)."""
    taken = ZERO if acct.unjudged is None else acct.unjudged.taken
    if acct.unexplained:
        return taken + acct.unexplained
    behind = acct.behind
    if behind is not None and behind.move is not None:
        return taken + behind.move
    return taken


def counted(view: object, loss: bool) -> Decimal:
    """What a period rule adds to its realized P&L while estimating: the move's fall for a
    loss limit, its rise for a profit target (zero otherwise)."""
    if not isinstance(view, AccountModel) or not estimating(view):
        return ZERO
    m = move(view)
    return min(m, ZERO) if loss else max(m, ZERO)


def listed(view: object) -> Decimal | None:
    """What trailing drawdown adds to equity while the account is judged on its balance's
    move: the move of the balance listed after the subscription (a read) that the balance does
    not hold, whole, whatever was heard live since (a live balance the stored one does not
    explain is in no equity: every one after a move made while down); zero: a balance read
    since holds it (`taken`), or not judged on the move (the rule judges as ever); None: no
    balance a read confirmed to judge by (the rule waits; a wait `kept` has its read)."""
    if not isinstance(view, AccountModel) or not estimating(view):
        return ZERO
    behind = view.behind
    if behind is not None and behind.move is not None:
        return behind.move  # (a balance heard live beyond it is in no equity, as ever)
    if view.unexplained:
        return None
    assert view.unjudged is not None  # (estimating)
    confirmed = view.unjudged.taken or view.unjudged.kept is not None  # (its trades read)
    return ZERO if confirmed else None


def weekly(view: object) -> Decimal:
    """What the week's loss limit adds to its realized P&L: the falls kept for the week
    (`Book.hidden`), and the estimate's beyond what of it they hold (`Unjudged.carried`)."""
    if not isinstance(view, AccountModel):
        return ZERO
    carried = view.unjudged.carried if view.unjudged is not None else ZERO
    return view.week.hidden + min(counted(view, True) - carried, ZERO)


def said(view: object, loss: bool, week: bool = False) -> str:
    """What a verdict's detail adds while the account is judged on its balance's move (or,
    for the week's loss limit, on a fall kept for the week: ended by a complete list too)."""
    if not isinstance(view, AccountModel):
        return ""
    hidden = view.week.hidden if week else ZERO
    if not estimating(view):
        return f"; {ESTIMATED} {hidden:+.2f} kept for the week" if hidden else ""
    kept = f", {hidden:+.2f} kept for the week" if hidden else ""
    return f"; {ESTIMATED} {move(view):+.2f}, {counted(view, loss):+.2f} of it counted{kept}"


def track(acct: AccountModel, now: datetime, event: Event | None = None) -> None:
    """Before the rules judge: the account's wait begins, a read of its trades fails (a
    `Tick` saying so), runs out (`GRACE` after that failure: the estimate in force, its guard
    band asked again) or ends (its trades read: `released`); a restored account's balance
    listed after the subscriptions is its first read (`unread.start_listed`). A fall that
    locked on the estimate is the week's too, stored (`hidden`): a restart keeps it."""
    if isinstance(event, Tick) and event.listed is not None:
        start_listed(acct, event.listed)
    if ended(acct, now):
        return
    if acct.unjudged is None:
        acct.unjudged = Unjudged(now, carried=begun(acct))
    if isinstance(event, Tick) and event.unread and acct.unjudged.failed is None:
        acct.unjudged.failed = now
    if not acct.unjudged.estimating and now >= due(acct.unjudged):
        acct.unjudged.estimating = True
        acct.band = None
    if acct.unjudged.estimating and any(estimated(h, now) for h in acct.holds.values()):
        keep(acct, move(acct))  # a fall that locked is the week's too, stored (`hidden`)


def due(unjudged: Unjudged) -> datetime:
    """When the wait runs out: `GRACE` after a read of the trades failed, `LATE` after it
    began whatever the reads do (a read held in the budget neither lands nor fails)."""
    late = unjudged.since + LATE
    return late if unjudged.failed is None else min(unjudged.failed + GRACE, late)


def ended(acct: AccountModel, now: datetime) -> bool:
    """Whether the account's rules wait no more. A wait this run saw ends: its trades read,
    a lock made on the estimate ends (`released`). A restored lock made on one by an earlier
    run is not ended by the restore, before any read: by the read that ends its next wait.
    A wait kept by an incomplete list (`kept`) ends with its day, not with its lock (an admin's
    unlock left the estimate uncounted: -$1,000 on a $500 limit trading on): its move, taken
    before the reset, is no loss of the new day's, and its fall stays the week's (`hidden`);
    no lock ends for a day passing."""
    unjudged = acct.unjudged
    over = unjudged is not None and unjudged.kept is not None and now >= unjudged.kept
    if unjudged is not None and over:
        keep(acct, move(acct))  # (the week's from now on: `Book.hidden`)
        unjudged.kept = None
    if waiting(acct):
        return False
    if acct.unjudged is not None:
        acct.unjudged = None
        if not over:
            released(acct, now)
    return True


def deadline(acct: AccountModel, now: datetime) -> datetime | None:
    """The account's wake-up for the end of its wait, while it trades (None: none, passed,
    or locked: a lock closes what it holds; its next event judges it); its wait over, a lock
    made on the estimate ends now (`ended`: the wake-up at its new deadline)."""
    ended(acct, now)
    unjudged = acct.unjudged
    if unjudged is None or unjudged.estimating or acct.state is not State.Trading:
        return None
    at = due(unjudged)
    return at if at > now else None


def released(acct: AccountModel, now: datetime) -> None:
    """The trades are read: a lock made on the estimate ends now (its deadline brought to
    ``now``; the rule judges the exact books at once and locks again where they say so)."""
    for source, hold in list(acct.holds.items()):
        if estimated(hold, now):
            acct.holds[source] = replace(hold, until=now)


def estimated(hold: Lock, now: datetime) -> bool:
    """Whether ``hold`` is a lock a rule made on the estimate, still in force at ``now``."""
    made = hold.reason in JUDGING and f"; {ESTIMATED} " in hold.detail
    return made and (hold.until is None or hold.until > now)


def kept(acct: AccountModel, now: datetime) -> bool:
    """The trades read, their list lacking trades already applied (a capped search: the books
    kept from it, `Ledger.rebuild_realized`). Its silence about a loss says nothing: a lock
    made on the estimate holds (not `released`), and the account is judged on the estimate
    (its wait kept, or begun for that lock) until a complete list; the next periodic read lists
    the whole window and is applied (`reads.differences`). Released on that list, a restored
    lock on a real loss the stored books missed left a -$1,000 day on a $500 limit trading.
    Returns False where no such lock is held: the read ends the wait as ever."""
    unjudged = acct.unjudged
    if not any(estimated(h, now) for h in acct.holds.values()):
        return False
    if unjudged is None:
        unjudged = acct.unjudged = Unjudged(now, carried=begun(acct))
    if not unjudged.estimating:
        unjudged.estimating = True
        acct.band = None  # (its guard band asked again, as when a wait runs out: `track`)
    unjudged.kept = acct.day.end  # (until the day ends: `ended`)
    unjudged.restored = False  # (read: kept, its wait ends with its day, not at a whole list)
    keep(acct, move(acct))  # (the week's share of it, stored: `hidden`)
    return True
