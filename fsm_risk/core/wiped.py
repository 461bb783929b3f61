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
  before it; a list lacking a trade older than one it holds was cut short);
- the same read's balance moved beyond what the fills since the one taken explain (the read
  confirmed it: ``acct.unbooked``), by more than a cent: a list merely cut short leaves the
  balance where its trades put it.

The books then restart from the reset (`restart`): their realized P&L and fees are the list's
trades (those made since the reset), the settlements and the carry into the period are
dropped (the positions behind them are gone), the trades wiped stay seen (a record of one
replayed is never applied again). Only when that is lower: a list capped (newest first), empty
for a moment or served stale, beside a balance moved by a fee, a settlement or a fill not yet
listed, looks the same, so a period's book is never made looser by it (a loss before the
reset still counts until the period's own reset; a profit before it no longer cushions). A
lock is kept: only an admin ends one. A critical alert names the account and what the books
were, for a person to look.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fsm_risk.core.effects import Alert, Effect, Level
from fsm_risk.core.events import TradesSnapshot
from fsm_risk.core.exits import CENT
from fsm_risk.core.models import ZERO, AccountModel
from fsm_risk.core.pnl import realized_net
from fsm_risk.core.reasons import Reason


def gone(acct: AccountModel, ev: TradesSnapshot, later: set[int]) -> dict[int, datetime]:
    """The trades applied in the list's window that it lacks, with their time. ``later``: the
    trades applied after the list was asked for, which it may lack (left out)."""
    listed = {t.trade_id for t in ev.trades}
    return {
        i: at
        for i, at in acct.seen_trades.items()
        if at >= ev.since and i not in listed and i not in later
    }


def cut(ev: TradesSnapshot, missing: dict[int, datetime], now: datetime) -> bool:
    """Whether the list lacks a trade older than one it holds: cut short (capped), not wiped
    (a reset wipes every trade made before it)."""
    return bool(missing) and min((t.at for t in ev.trades), default=now) < max(missing.values())


def wiped(
    acct: AccountModel,
    ev: TradesSnapshot,
    later: set[int],
    voided: set[int],
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
        acct.wiping = (ev, frozenset(voided))
        return False
    return move is not None and abs(move) > CENT


def held(acct: AccountModel, move: Decimal, now: datetime, out: list[Effect]) -> None:
    """The balance of the start-up read whose trade list looked wiped (``acct.wiping``), read
    after it and confirmed, moved ``move`` beyond the fills: more than a cent, the firm reset
    the account (`restart`); else the list was only incomplete, and the books stay."""
    if acct.wiping is None:
        return
    (ev, voided), acct.wiping = acct.wiping, None
    if abs(move) > CENT:
        restart(acct, ev, set(voided), move, now, out)


def restart(
    acct: AccountModel,
    ev: TradesSnapshot,
    voided: set[int],
    move: Decimal | None,
    now: datetime,
    out: list[Effect],
) -> bool:
    """The books restart from the account's reset: each period the list covers is rebuilt from
    its trades alone (those since the reset), its settlements and carry dropped; a period it
    does not cover is left as it is (and said so); a book the list would make looser is kept.
    The rules' memories are left as they are (RULE-004's peak: a reset to a lower balance may
    lock the fresh account, for a person to look). The state, and any lock, are untouched.
    Returns False: no settlement was booked."""
    was: list[str] = []
    for book, name in ((acct.day, "day"), (acct.week, "week")):
        if ev.since > book.start:
            was.append(f"{name} realized {book.realized:.2f} kept (not covered by the list)")
            continue
        trades = [t for t in ev.trades if t.trade_id not in voided and t.at >= book.start]
        realized = sum((realized_net(t.pnl, t.fees) for t in trades), ZERO)
        fees = sum((t.fees for t in trades), ZERO)
        if realized >= book.realized:  # (a list cut short or stale looks the same: never looser)
            was.append(
                f"{name} realized {book.realized:.2f} kept: the list's {realized:.2f} since "
                "the reset would loosen the loss limits, which waits for the period's reset"
            )
            continue
        was.append(
            f"{name} realized {book.realized:.2f} (fees {book.fees:.2f}) restarted at "
            f"{realized:.2f} (fees {fees:.2f}) from {len(trades)} trade(s) since the reset"
        )
        book.realized, book.fees, book.settled = realized, fees, ZERO
        book.carry, book.carried = ZERO, {}
    acct.settled.clear()  # (their fills were wiped with the rest: none will come)
    out.append(
        Alert(
            Level.CRITICAL,
            Reason.ACCOUNT_RESET,
            f"the firm reset the account at the gateway: every trade applied this week is gone "
            f"from its trade list and the balance moved {move or ZERO:+.2f} with no fill; "
            + "; ".join(was)
            + f"; the state ({acct.state.value}) and any lock are kept",
            acct.account_id,
        )
    )
    return False
