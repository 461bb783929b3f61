"""A firm's reset of the account, told from a trade list cut short.

A prop firm resets an account (a failed evaluation restarted, say): its orders cancelled, its
positions removed without a trade, its trade history wiped and its balance set, often back to
the start. The day's and week's realized P&L of the wiped trades is no longer the account's:
kept, a morning's profit would cushion the daily and weekly loss limits of the fresh account
(up 396.52, reset to 50,000, the daily limit of 500 would fire only 896 below the reset).

A read's trade list that lacks trades already applied is, most often, incomplete (a capped
search, a transient gateway failure): rebuilding the books from it could hide losses, so
nothing is wiped on the list's word alone. A reset is told by three things together:

- the list lacks applied trades of its window (``gone``), and lacks them the way a reset
  does: it holds no trade older than one it lacks (``cut``: a reset wipes every trade made
  before it; a list lacking a trade newer than one it holds was cut short);
- the same read's balance moved beyond what the fills since the one taken explain (the read
  confirmed it: ``acct.unbooked``), by more than a cent: a list merely cut short leaves the
  balance where its trades put it.

Even then it may not be one: a list capped newest first, empty for a moment or served a
few seconds stale looks the same, and a fee, a settlement or a fill not yet listed moves the
balance in the same read. Rebuilt from such a list, the books forgot a day's loss (-400 of a
500 limit became -100 or 0), and with the carry or a settlement dropped even a book made
"lower" was looser. So nothing is changed on it (`told`): the books, the rules' memories, the
state and every lock are kept, and a critical alert tells a person that the firm appears to
have reset the account and what the books hold, to check it at the gateway (an admin may lock
the account, or end a lock, with `transition`). The list is asked for again over a window no
cap reaches (`firm_reset`): only a reset that read confirms changes the books, and only down.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fsm_risk.core.effects import Alert, Effect, Level
from fsm_risk.core.events import TradesSnapshot
from fsm_risk.core.exits import CENT
from fsm_risk.core.firm_reset import suspect
from fsm_risk.core.models import ZERO, AccountModel
from fsm_risk.core.pnl import realized_net
from fsm_risk.core.reasons import Reason


def gone(acct: AccountModel, ev: TradesSnapshot, later: set[int]) -> dict[int, datetime]:
    """The trades applied in the list's window that it lacks, with their time. ``later``: the
    trades applied after the list was asked for, which it may lack (left out)."""
    listed = {t.trade_id for t in ev.trades}
    wiped = acct.wiped_until  # (those a confirmed reset wiped are gone for good)
    return {
        i: at
        for i, at in acct.seen_trades.items()
        if at >= ev.since and i not in listed and i not in later and (wiped is None or at > wiped)
    }


def cut(ev: TradesSnapshot, missing: dict[int, datetime], now: datetime) -> bool:
    """Whether the list lacks a trade newer than one it holds: cut short (capped), not wiped
    (a reset wipes every trade made before it)."""
    newest = max(missing.values(), default=now)  # (an empty list holds none older: not cut)
    return bool(missing) and min((t.at for t in ev.trades), default=newest) < newest


def wiped(
    acct: AccountModel,
    ev: TradesSnapshot,
    later: set[int],
    move: Decimal | None,
    now: datetime,
    *,
    behind: bool,
) -> bool:
    """Whether the read's list and balance say the account was reset (see the module's doc):
    applied trades gone, none listed older than them, and ``move`` (this read's balance
    beyond the fills since the one taken; None: none confirmed) more than a cent. The
    start-up read of an exposed account lists its balance after its trades (``behind``): a
    list that looks wiped waits for that balance (``acct.wiping``, `held`)."""
    acct.wiping = None
    missing = gone(acct, ev, later)
    if not missing or cut(ev, missing, now):
        return False
    if behind:
        acct.wiping = ev
        return False
    return move is not None and abs(move) > CENT


def held(acct: AccountModel, move: Decimal, now: datetime, out: list[Effect]) -> None:
    """The balance of the start-up read whose trade list looked wiped (``acct.wiping``), read
    after it and confirmed, moved ``move`` beyond the fills: more than a cent, the firm appears
    to have reset the account (`told`); else the list was only incomplete."""
    if acct.wiping is None:
        return
    ev, acct.wiping = acct.wiping, None
    if abs(move) > CENT:
        told(acct, ev, move, out)


def told(acct: AccountModel, ev: TradesSnapshot, move: Decimal | None, out: list[Effect]) -> bool:
    """A person is told the firm appears to have reset the account; nothing is changed (see
    the module's doc), and the list is asked for again to confirm it (`firm_reset.suspect`).
    Returns False: no settlement was booked."""
    books = "; ".join(
        f"{name} realized {book.realized:.2f} (its trades listed: {_since(ev, book.start):.2f})"
        for book, name in ((acct.day, "day"), (acct.week, "week"))
        if ev.since <= book.start
    )
    out.append(
        Alert(
            Level.CRITICAL,
            Reason.ACCOUNT_RESET,
            f"the firm appears to have reset the account at the gateway: every trade applied in "
            f"the read's window is gone from its trade list and the balance moved "
            f"{move or ZERO:+.2f} with no fill. Kept as they are: {books or 'the books'}, the "
            f"rules' memories, the state ({acct.state.value}) and any lock (a list capped, "
            f"empty or stale looks the same); check the account at the gateway. The trade "
            f"list is asked for again up to the newest trade gone to confirm it",
            acct.account_id,
        )
    )
    known = None if ev.applied is None else ev.applied | {t.trade_id for t in ev.trades}
    later = set() if known is None else {i for i in acct.seen_trades if i not in known}
    suspect(acct, ev, gone(acct, ev, later), later, move, out)
    return False


def _since(ev: TradesSnapshot, start: datetime) -> Decimal:
    """The net realized P&L of the list's trades from ``start`` (what a book rebuilt from it
    would hold: for the person who checks)."""
    trades = (t for t in ev.trades if t.at >= start and not t.voided)
    return sum((realized_net(t.pnl, t.fees) for t in trades), ZERO)
