"""A periodic re-read of an account, compared with what the live feed told the engine.

The service re-reads every account's trades, positions and working orders on a schedule,
whatever its feeds say. A read that agrees with the engine is not applied; one that finds what
the live feed did not say is a divergence: the engine answers with an alert naming each
difference, and the read is then applied like any reconciliation (see `ledger.unlisted`).

Most periodic reads list only the recent trades (`read_since`): those from a minute before the
latest the account has seen, on the gateway's own clock. A trade the feed never delivered is
newer than that, or older than one seen since, and then listed by the reads made before that
one was. A whole week of trades is one large answer to build and parse, every interval, on an
active account: a breach arriving meanwhile waited behind it. Every `FULL_EVERY`-th read used
lists the whole window all the same, and one that diverges is applied from a whole read (its
trades rebuild the day's and the week's realized P&L).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from fsm_risk.core.effects import Alert, Effect, Level
from fsm_risk.core.events import (
    AccountUpdate,
    Event,
    Fill,
    OrderStatus,
    OrderUpdate,
    PositionType,
    PositionUpdate,
)
from fsm_risk.core.exits import CENT, Computed
from fsm_risk.core.models import AccountModel
from fsm_risk.core.reasons import Reason
from fsm_risk.core.valuation import COST_QUANTUM


def differences(
    acct: AccountModel, read: Sequence[Event], computed: Computed | None = None
) -> list[str]:
    """What the read lists that the engine does not hold the same way, one line each: a
    trade booked with a computed P&L (``computed``) now listed with the gateway's is one, and
    so is a position of the same size at another average price (the gateway's is taken: a
    stale record's average left the open P&L wrong until the position changed), and so is
    a balance the fills since the one taken do not explain (`moved`), and so are books a
    trade list lacking applied trades left unconfirmed (their wait, `unjudged.kept`)."""
    found: list[str] = []
    listed: dict[str, PositionUpdate] = {}
    orders: set[int] = set()
    for e in read:
        if isinstance(e, PositionUpdate):
            listed[e.contract_id] = e
        elif isinstance(e, OrderUpdate):
            orders.add(e.order_id)
        elif isinstance(e, Fill) and e.trade_id not in acct.seen_trades and not e.voided:
            found.append(f"trade {e.trade_id} not seen")
        elif isinstance(e, Fill) and computed is not None and computed.awaited(acct, e):
            found.append(f"trade {e.trade_id} with its P&L {e.pnl}, booked as computed")
        elif isinstance(e, AccountUpdate) and e.can_trade != acct.can_trade:
            found.append(f"canTrade {e.can_trade}, the engine held {acct.can_trade}")
        elif isinstance(e, AccountUpdate) and abs(moved(acct, e)) > CENT:
            found.append(f"balance {e.balance:.2f}, {moved(acct, e):+.2f} beyond the fills since")
    if acct.unjudged is not None and acct.unjudged.kept:  # (whole, then: `unjudged.kept`)
        found.append("its last trade list lacked trades already applied")
    for cid, e in sorted(listed.items()):
        pos = acct.positions.get(cid)
        signed = e.size if e.type is PositionType.LONG else -e.size
        held = 0 if pos is None else (pos.size if pos.long else -pos.size)
        if signed != held:
            found.append(f"{cid} at {signed:+d}, the engine held {held:+d}")
        elif pos is not None and not same_cost(e.average_price, pos.average_price, pos.size):
            found.append(
                f"{cid} at {signed:+d} averaging {e.average_price}, the engine held "
                f"{pos.average_price}"
            )
    for cid in sorted(set(acct.positions) - set(listed)):
        found.append(f"{cid} flat, the engine held a position")
    # suspended orders (bracket children) are not listed by the open-order search
    working = {i for i, o in acct.orders.items() if o.status is not OrderStatus.SUSPENDED}
    for oid in sorted(orders ^ working):
        found.append(f"order {oid} {'working' if oid in orders else 'no longer working'}")
    return found


def moved(acct: AccountModel, e: AccountUpdate) -> Decimal:
    """How far a read's balance is from the one taken and the fills since (a cash settlement,
    a firm's reset of the account, a fee: what no fill explains). Taken quietly, it would be
    judged by no read's trade list (see `core.wiped`): the read is applied whole instead."""
    if acct.balance is None:
        return Decimal(0)
    return e.balance - acct.balance - acct.pending_realized


def same_cost(listed: Decimal, held: Decimal, size: int) -> bool:
    """Whether two average prices of ``size`` contracts cost the same to the millionth (what
    a position's cost is taken to: `valuation.COST_QUANTUM`; the float's noise is below it)."""
    return abs(listed - held) * size < COST_QUANTUM


def diverged(
    acct: AccountModel, read: Sequence[Event], computed: Computed | None = None
) -> list[Effect]:
    """The alert a periodic read calls for: none when it agrees with the engine (it is then
    not applied), else one warning listing every difference (it is then applied)."""
    found = differences(acct, read, computed)
    if not found:
        return []
    text = "the periodic read found what the live feed did not say: " + "; ".join(found)
    return [Alert(Level.WARNING, Reason.STATE_DIVERGED, text, acct.account_id)]


#: a recent read lists the trades from this long before the account's latest one
RECENT = timedelta(seconds=60)
#: after this many recent reads used, the next periodic read lists the whole window
FULL_EVERY = 30


def read_since(acct: AccountModel, window: datetime, *, whole: bool) -> datetime:
    """Where a periodic read's trades begin: the reconciliation's ``window`` (its start) when
    ``whole`` or when the account has seen no trade, else a minute before its latest trade."""
    if whole:
        return window
    latest = acct.seen_trades.latest()  # (a walk over the seen trades: only when it is used)
    return window if latest is None else max(window, latest - RECENT)
