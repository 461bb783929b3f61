"""A trade the gateway voided: what its fill did to the books, given back.

The gateway voids a trade after the fact (the fill with ``voided`` true; its position and
balance updates follow, as if it had never been made). A fill of the day already applied
gives back its P&L and fees (the day's, the week's, and what awaits a balance update) and
leaves the day's fills. A fill stamped before the day's (or week's) reset whose record came
after it, as the book keeps it (see `late`), gives back its P&L and fees too (the week's,
when it is the week's) and what it did at the reset: the carry and its contracts' part of
it, and the day's ``late``, so that RULE-004's ``end_of_day`` peak is taken again without it.
Either way (a fill of the day's or a late one) the rules are told what left the books
(`Rule.on_void`: RULE-004's ``intraday`` peak gives back what the trade raised once a read
of the account asked for then says the void left the position as it was).
An older one (applied on an earlier day) is corrected by the next rebuild from the gateway's
trades, and a read of the balance its void moves.

A read asked for before a void was applied (a periodic one that live events overtook, say)
may list the trade unvoided, its position and the balance before its void: older news, which
never brings the voided P&L back (`listed`, `older`), nor the position the void gave back at
the gateway (`undid`: a lock would close it, selling into a flat account). A void is taken as
final at the gateway (the paper gateway has no un-void, and none is known of ProjectX); a list
asked for after the void is believed all the same, as the rebuild's truth.
"""

from __future__ import annotations

from fsm_risk.core.events import AccountUpdate, Fill, PositionUpdate, TradesSnapshot
from fsm_risk.core.exits import Computed
from fsm_risk.core.late import give_back
from fsm_risk.core.models import AccountModel
from fsm_risk.core.pnl import realized_net
from fsm_risk.core.work import Work


def void(acct: AccountModel, ev: Fill, computed: Computed, work: Work) -> None:
    """Give back what the voided trade ``ev`` did (see the module's docstring); a trade never
    applied is remembered as seen, so that its record, should it come, is never applied."""
    tid = ev.trade_id
    acct.voided[tid] = ev.contract_id
    gone = acct.wiped_until
    if gone is not None and tid in acct.seen_trades and acct.seen_trades[tid] <= gone:
        # a trade a confirmed firm's reset wiped: its P&L went with the reset's (a wiped loss
        # kept is kept: `firm_reset`); given back again, a wiped loss would cushion the limits
        return
    day, week = give_back(acct.day, tid), give_back(acct.week, tid)
    if tid not in acct.seen_trades and day is None and week is None:
        acct.seen_trades[tid] = ev.at  # never applied: nothing to take back
        work.new_voids.append((acct.account_id, tid, ev.at))
        return
    computed.void(acct, tid)
    record = next((f for f in acct.day.fills if f.trade_id == tid), None)
    if record is not None:
        acct.day.drop_fill(record)
        net, fees = realized_net(record.pnl, record.fees), record.fees
        acct.day.realized -= net
        acct.day.fees -= fees
        in_week = record.at >= acct.week.start
    elif day is not None:  # a late fill: the week's too, unless late for the week as well
        net, fees, in_week = day.net, day.fees, week is None
    elif week is not None:  # (the day's book began at the same reset, or later)
        net, fees, in_week = week.net, week.fees, False
    else:
        return  # an older trade's: the next rebuild from the gateway's trades
    work.new_voids.append((acct.account_id, tid, ev.at))
    work.given_back.append((acct.account_id, tid, net))  # (the rules': `RuleBook.voided`)
    acct.pending_realized -= net
    if in_week:
        acct.week.realized -= net
        acct.week.fees -= fees


def listed(acct: AccountModel, ev: TradesSnapshot) -> set[int]:
    """The trades of a list voided: those it says are, and those seen voided since it was
    asked for (not in ``ev.voided``; None: every one seen) that it lists unvoided."""
    before = ev.voided or frozenset()
    return {
        t.trade_id
        for t in ev.trades
        if t.voided or (t.trade_id in acct.voided and t.trade_id not in before)
    }


def older(acct: AccountModel, ev: AccountUpdate) -> bool:
    """Whether a balance a read listed predates a void applied since it was asked for."""
    return ev.voided is not None and not acct.voided.keys() <= ev.voided


def undid(acct: AccountModel, ev: PositionUpdate) -> bool:
    """Whether a position a read listed predates a void of a trade in its contract applied
    since it was asked for: the void gave the position back live, newer than the read."""
    before = ev.voided
    if before is None:
        return False
    return any(c == ev.contract_id and t not in before for t, c in acct.voided.items())
