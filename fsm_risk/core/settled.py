"""Positions settled without a fill.

A position the gateway removes with no trade (cash settlement at expiry, any forced
removal) moves the balance by its P&L, and no fill ever realizes it. It is booked
(`vanished`, `confirmed`) only when a read of the gateway confirms both: the position gone (or
smaller) with no fill on its way, and the balance moved beyond what the fills explain
(``acct.unbooked``); that move, to the cent, is the day's and week's realized P&L of the
settlement (``Book.settled``, kept by a rebuild from the trades). A balance move with no
position gone (a fee, a deposit, a reset of the account: told, see `wiped`) books nothing. A
fill of a settled position that comes after all (``acct.settled``) replaces
its part of the settlement.

A firm's reset of the account removes its positions without a fill too, and moves the
balance back to the start: booked as a settlement, that move would lock a fresh account (up
$600, reset to 50,000: -600) or hide a loss. A reset wipes the account's trades, every one
made before it, the trades that opened those positions with them; a settlement leaves them
listed. So a position found gone is first judged by its read's trade list (`judge`): its
opening trades gone from a list that lacks only trades older than all it holds, it is the
reset's (`lost`: nothing booked, a critical alert); listed, or gone from a list with a gap a
reset cannot make (a list cut short: a listed trade older than one it lacks), it is settled.
Its trades are those of the list's window (the week), not the day's alone: one held overnight
with nothing traded today is judged by yesterday's; with none in the window, the window's
trades a reset would have wiped tell.

A read lists the balance, the positions, then its trade list (`TradesSnapshot`); an exposed
account's start-up read takes its positions first, its trades and balance after; a read's
balance older than a fill that came live meanwhile is no truth. So a position found gone waits
(``acct.vanished``, stored) for its read's trade list (``acct.judged``) and for a balance a
read confirms, and that balance settles it: its move booked, or nothing when it did not move,
into the day (and week) it was found gone in (``acct.vanished_at``), never a later one.
Several settled in one read share that one move (what each made of it cannot be told): a late
fill of one takes back its own P&L, what it moved the balance by.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fsm_risk.core.effects import Alert, Effect, Level, ReadTrades
from fsm_risk.core.events import Fill, TradesSnapshot
from fsm_risk.core.exits import CENT
from fsm_risk.core.exposure import fills_coming
from fsm_risk.core.models import ZERO, AccountModel
from fsm_risk.core.pnl import realized_net
from fsm_risk.core.reasons import Reason
from fsm_risk.core.wiped import cut, gone


def paid(ev: Fill) -> Decimal | None:
    """What a fill moved the balance by: its net P&L, when the gateway gave its P&L."""
    return None if ev.pnl is None else realized_net(ev.pnl, ev.fees)


def vanished(
    acct: AccountModel, cid: str, gone: int, now: datetime, out: list[Effect], *, live: bool = False
) -> None:
    """A read found ``gone`` signed contracts of ``cid`` no longer held, with no fill for
    them: the balance's move a read confirms beyond the fills is their settlement, unless
    the account was reset (see the module's doc). They wait (``acct.vanished``) for the
    read's trade list, which judges them (`judge`), and for that balance: this read's, which
    came first, or, when it brought none (one read before a fill that came live meanwhile is
    older than ours), the next: the account is read again. ``live``: a live record said so,
    its fills never came (`Settlement.expire`): no read is under way, one is asked for."""
    net = acct.net.get(cid, 0) + gone
    if net == 0 or (net > 0) != (gone > 0) or abs(gone) > abs(net):
        return  # not a position shrinking: no settlement of one
    if fills_coming(acct, cid):
        return  # its fills are on their way
    new = cid not in acct.vanished
    if not acct.vanished:
        acct.vanished_at = now
    acct.vanished[cid] = acct.vanished.get(cid, 0) + gone
    acct.judged = False
    if acct.behind is None and (live or acct.unbooked is None) and new:
        out.append(ReadTrades(acct.account_id))  # (behind: its trades and balance come next)


def judge(
    acct: AccountModel,
    ev: TradesSnapshot,
    later: set[int],
    move: Decimal | None,
    now: datetime,
    out: list[Effect],
) -> bool:
    """The read's trade list judges the positions found gone beside it (``acct.vanished``):
    those whose trades a reset wiped are dropped (`lost`), the rest are settled, booked at
    ``move`` (this read's balance, which came before its list; None: none, or it comes after
    it) or at the next balance a read confirms. ``later``: the trades applied after the list
    was asked for, which it may lack. A reset wipes every trade before it, so a list lacking
    a trade older than one it holds was cut short (capped), not wiped: all are settled.
    Returns True when a settlement was booked."""
    missing = gone(acct, ev, later)
    short = cut(ev, missing, now)
    told: set[bool] = set()  # per position, whether its newest trade in the list's window is gone
    for cid in [] if short else acct.vanished:
        # (the day's, and the list's own: one older than today is known to it by id alone)
        own = [(f.at, f.trade_id) for f in acct.day.fills if f.contract_id == cid]
        own += [(t.at, t.trade_id) for t in ev.trades if t.contract_id == cid]
        own = [o for o in own if o[0] >= ev.since and o[1] not in later]
        if own:
            told.add(max(own)[1] in missing)
    # none of theirs in the window (held overnight, nothing traded today; or from before it):
    # the window's trades tell, every one a reset wiped, not the day's alone. One gone: a
    # reset, whose move cannot be split from a settlement beside it (one listed too: cannot be
    # told; nothing booked)
    reset = True in told if told else bool(missing)
    if reset and not short:
        lost(acct, dict(acct.vanished), move, out)
    acct.judged = True
    return bool(acct.vanished) and move is not None and confirmed(acct, move, now, out)


def lost(acct: AccountModel, gone: dict[str, int], move: Decimal | None, out: list[Effect]) -> None:
    """Positions found gone without a fill whose trades the same read's list no longer holds,
    with every trade before them (see `judge`): the gateway's history was wiped, as a firm's
    reset of the account does (its balance set back to the start, its positions removed) or a
    fresh paper gateway, not a settlement; booked as one, the reset's move would lock a fresh
    account or hide a loss. Nothing is booked: the balance's move (``move``, when the read
    brought it first) is taken by no rule, as any move no fill explains. A list cut short the
    same way (its oldest trades) cannot be told from it: hence a critical alert, naming the
    account, for a person to look."""
    for cid in gone:
        acct.vanished.pop(cid, None)
    text = ", ".join(f"{c} {n:+d}" for c, n in sorted(gone.items()))
    amount = "" if move is None else f" ({move:+.2f})"
    out.append(
        Alert(
            Level.CRITICAL,
            Reason.POSITION_SETTLED,
            f"{text} removed by the gateway without a fill, its trades gone from the "
            "gateway's trade list: the account was reset at the gateway, and the balance's "
            f"move{amount} is not booked as a settlement (if the list was only cut short, "
            "check the account at the gateway)",
            acct.account_id,
            min(gone) if len(gone) == 1 else None,
        )
    )


def confirmed(acct: AccountModel, move: Decimal, now: datetime, out: list[Effect]) -> bool:
    """A read confirmed the balance, ``move`` beyond the fills since the one taken: the
    settlement of the positions found gone without a fill (`vanished`), booked together,
    to the cent; a balance that did not move settles them at nothing. With none gone
    (yet), the move waits for the read's positions (``acct.unbooked``).

    How much of one move each of several positions settled cannot be told (the gateway
    says neither the price nor the P&L): they share it, kept on one of them with their
    time (``acct.settled``), and one found gone later in the same read (its move is the
    one booked) joins them. A late fill of one takes back its own P&L (`take_back`).
    Returns True when it booked them."""
    acct.unbooked = move
    gone = acct.vanished
    if not gone or not acct.judged or acct.behind is not None:
        return False  # (not judged: its read's trade list is still to come)
    if any(fills_coming(acct, c) for c in gone):
        return False
    at = acct.vanished_at or now  # found gone then: booked into that day (and week)
    acct.vanished, acct.vanished_at = {}, None
    group = {c: v for c, v in acct.settled.items() if v[2] == at}  # booked by this read
    if abs(move) <= CENT and not group:
        return False  # nothing moved: nothing settled
    acct.unbooked = ZERO
    for book in (acct.day, acct.week):
        if at >= book.start:
            book.realized += move
            book.settled += move
    members = {c: v[0] for c, v in group.items()}
    total = move + sum(v[1] for v in group.values())
    for c, n in gone.items():
        was_n, was, _ = (0, ZERO, at) if c in group else acct.settled.get(c, (0, ZERO, at))
        members[c] = members.get(c, 0) + was_n + n
        total += was  # (an older settlement of it, merged)
    keep = min(members)
    acct.settled.update({c: (n, total if c == keep else ZERO, at) for c, n in members.items()})
    others = ", ".join(sorted(set(members) - set(gone)))
    if others:
        what = f"settled with {others} by the move this read booked ({total:+.2f} in all)"
    else:
        what = f"the balance's move {move:+.2f} is booked as "
        what += "its settlement" if len(gone) == 1 else "their settlement"
    if at < acct.day.start:  # found gone before the daily reset: not the new day's
        what += " of the day before (found gone before the daily reset: not the new day's)"
    text = ", ".join(f"{c}: {n:+d}" for c, n in sorted(gone.items()))
    out.append(
        Alert(
            Level.WARNING,
            Reason.POSITION_SETTLED,
            f"{text} removed by the gateway without a fill; {what} (day realized "
            f"{acct.day.realized:.2f}, week {acct.week.realized:.2f})",
            acct.account_id,
            min(gone) if len(gone) == 1 else None,
        )
    )
    return True


def came(acct: AccountModel, cid: str, delta: int) -> int:
    """A fill of ``delta`` closing a position found gone whose settlement waits for a
    balance (`vanished`): it came after all, and settles that much of it. Returns that
    position's size (0: none)."""
    n = acct.vanished.get(cid, 0)
    if not n or (n > 0) == (delta > 0):
        return 0
    left = n - min(abs(delta), abs(n)) * (1 if n > 0 else -1)
    if left:
        acct.vanished[cid] = left
    else:
        del acct.vanished[cid]
    return n


def take_back(
    acct: AccountModel, cid: str, exit_: int, own: Decimal | None, out: list[Effect]
) -> None:
    """The fill of ``exit_`` contracts settled without one came (live, or in the trades a
    restart reads, which the positions read already reflect): the settlement's part for
    them is taken back from the books (the fill's own P&L replaces it), and from what the
    balance does not show yet (it showed the settlement). That part is the fill's own net
    P&L ``own`` (what it moved the balance by), exact even for one of several positions
    settled together (`confirmed`); without it, a share by contracts of what is left."""
    n, _, at = acct.settled[cid]
    group = {c: v for c, v in acct.settled.items() if v[2] == at}  # settled together
    total = sum((v[1] for v in group.values()), ZERO)
    contracts = sum(abs(v[0]) for v in group.values())
    k = min(exit_, abs(n))
    part = own if own is not None else total * k / contracts
    left = {c: v[0] for c, v in group.items()} | {cid: n - k if n > 0 else n + k}
    for c in group:
        del acct.settled[c]
    waiting = sorted(c for c, m in left.items() if m)
    for c in waiting:
        acct.settled[c] = (left[c], total - part if c == waiting[0] else ZERO, at)
    acct.pending_realized -= part
    for book in (acct.day, acct.week):
        if at >= book.start:
            book.realized -= part
            book.settled -= part
    out.append(
        Alert(
            Level.INFO,
            Reason.POSITION_SETTLED,
            f"{cid}: the fill of {k} contract(s) settled without one came after all: "
            f"it replaces {part:+.2f} of the settlement booked",
            acct.account_id,
            cid,
        )
    )


def stands(acct: AccountModel, cid: str) -> None:
    """``cid`` settled without a fill is traded again: no fill of it will come, its
    settlement stands; what it shares with others settled together stays theirs to hold."""
    _, amount, at = acct.settled.pop(cid)
    rest = sorted(c for c, v in acct.settled.items() if v[2] == at)
    if rest:
        n, was, _ = acct.settled[rest[0]]
        acct.settled[rest[0]] = (n, was + amount, at)
