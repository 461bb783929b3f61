"""A firm's reset of the account, confirmed before it is acted on.

A read whose trade list looks wiped beside a balance moved with no fill is told (`wiped`),
and nothing is changed on it: a list capped newest first, empty for a moment or served stale
looks the same. So the list is asked for again (`ConfirmReset`), over the window's start to a
second after the newest trade it lacked: a window that holds those trades and the older ones
alone, asked after the suspect read. A reset wiped every trade made before it: the gateway
lists none there. A list that was capped, empty for a moment or stale lists at least one of
them when asked again, which is all the refutation needs (`checked`); unanswered, it is asked
again until it is (`again`, and the shell's tries).

Confirmed, the reset is applied only where it tightens the limits. Each book (the day's, the
week's) comes down by what the wiped trades made (what it holds beyond the list's trades,
the trades applied after the list was asked for, the settlements and what an earlier
confirmed reset's wiped trades lost: Monday -450 wiped and kept, Tuesday +396.52 wiped by a
second reset, the week comes down 396.52 to -450, not by -53.48), and no further than
the balance fell with no fill in the suspect read (the day's, than it fell beside what an
earlier day's wiped loss raised it by: Monday -450, Tuesday +396.52, reset to 50,000, up
53.48, the day comes down 396.52): a morning's wiped profit no longer cushions the loss
limits (up 396.52, reset to 50,000: the day's 500 limit fires 500 below the reset, not 896).
A wiped loss is kept, and nothing else changes: the trailing peak, the rules' memories, the
state and every lock, as a reset never loosens a limit mid-period. The trades it wiped are
remembered (``acct.wiped_until``): a later list lacking them is neither a list cut short nor
a reset again, until a list lists one of them again (stale, or the confirmation a glitch):
that list alone rebuilds nothing, and the next one decides. A void of a wiped trade gives
nothing back. Unconfirmed (or never read), nothing changes: the alert told stands, for a
person to check.

What each book comes down by is reckoned at the suspect read (`Suspect`) and applied at the
confirmation to that period alone (a daily reset between them: the day's part is dropped).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fsm_risk.core.effects import Alert, ConfirmReset, Effect, Level
from fsm_risk.core.events import TradesSnapshot
from fsm_risk.core.models import ZERO, AccountModel, Book, Suspect
from fsm_risk.core.pnl import realized_net
from fsm_risk.core.reasons import Reason


def suspect(
    acct: AccountModel,
    ev: TradesSnapshot,
    missing: dict[int, datetime],
    later: set[int],
    move: Decimal | None,
    out: list[Effect],
) -> None:
    """The read's list lacks ``missing`` (applied, in its window, none listed older) and its
    balance moved ``move`` with no fill: its confirming read is asked for, once."""
    if not missing:
        return
    newest = max(missing.values())
    held = acct.resetting
    if held is not None and (held.since, held.newest) == (ev.since, newest):
        return  # asked for already
    fall = ZERO if move is None else -move
    made: dict[str, Decimal] = {}  # per book: what its wiped trades made
    beyond: dict[str, Decimal] = {}  # per book: that and what earlier resets' wiped trades lost
    for book, name in ((acct.day, "day"), (acct.week, "week")):
        kept = _kept(acct, ev, book, later) if ev.since <= book.start else None
        if kept is not None:  # (an earlier reset's wiped loss, kept, is not this one's)
            beyond[name] = book.realized - kept
            made[name] = beyond[name] - (ZERO if _back(acct, ev, book) else book.wiped_loss)
    # the balance the reset set moved by what every wiped trade made: an earlier day's wiped
    # loss (the week's wiped trades before the day) raised it as much, and hid as much of the
    # day's wiped profit from the fall (the lower of the two reckonings: the larger cap)
    both = len(made) == 2
    before = min(made["week"] - made["day"], beyond["week"] - beyond["day"]) if both else ZERO
    drops: list[tuple[str, datetime, Decimal]] = []
    for book, name in ((acct.day, "day"), (acct.week, "week")):
        cap = fall - min(before, ZERO) if name == "day" else fall
        drop = min(made[name], cap) if name in made else ZERO
        if drop > ZERO:
            drops.append((name, book.start, drop))
        elif name in made and made[name] < ZERO:  # a wiped loss, kept: remembered
            drops.append((name, book.start, made[name]))
    acct.resetting = s = Suspect(ev.since, newest, frozenset(missing), tuple(drops))
    out.append(ConfirmReset(acct.account_id, ev.since, s.until))


def again(acct: AccountModel, ev: TradesSnapshot, out: list[Effect]) -> bool:
    """A confirming read asked for and never answered (it failed, or the service stopped
    before it came): asked again with the next read applied (the shell also retries it).

    A list that lists again a trade a confirmed reset wiped is stale (served from before the
    reset) or says the confirmation was a glitch: on its word alone the books are not rebuilt
    (the wiped profit would cushion the limits again; returns True), and ``wiped_until`` is
    forgotten: a list that lists them again rebuilds the books, and one lacking them beside a
    balance moved is a reset told and confirmed again, never hidden."""
    gone, seen = acct.wiped_until, acct.seen_trades
    relisted = gone is not None and any(t.at <= gone and t.trade_id in seen for t in ev.trades)
    if relisted:
        acct.wiped_until = None
    s = acct.resetting
    if s is not None:
        out.append(ConfirmReset(acct.account_id, s.since, s.until))
    return relisted


def checked(acct: AccountModel, ev: TradesSnapshot, out: list[Effect]) -> bool:
    """The confirming read (``ev.until``) of the reset suspected: it lists no trade up to the
    newest the suspect list lacked, the reset is confirmed and applied (see the module's doc);
    else the books are kept. Returns True when a book came down (the rules are to judge it)."""
    s = acct.resetting
    if s is None or (ev.since, ev.until) != (s.since, s.until):
        return False  # not the read asked for (a newer suspect replaced it): nothing to say
    acct.resetting = None
    there = [t for t in ev.trades if t.at <= s.newest or t.trade_id in s.missing]
    window = "the window up to a second after the newest trade the list lacked"
    if there:
        again = sum(1 for t in there if t.trade_id in s.missing)
        out.append(
            Alert(
                Level.WARNING,
                Reason.ACCOUNT_RESET_REFUTED,
                f"not a reset: asked again over {window}, the gateway lists {len(there)} "
                f"trade(s), {again} of those the list lacked (it was cut short, empty for a "
                f"moment or stale); the books are kept (day realized "
                f"{acct.day.realized:.2f}, week {acct.week.realized:.2f})",
                acct.account_id,
            )
        )
        return False
    acct.wiped_until = s.newest if acct.wiped_until is None else max(acct.wiped_until, s.newest)
    changed = []
    for name, start, drop in s.drops:
        book = acct.day if name == "day" else acct.week
        if book.start != start:
            continue  # a new period since: the reset is none of its business
        if drop < ZERO:  # what its wiped trades lost, kept: a later reset leaves it out
            book.wiped_loss += drop
            book.wiped_to = s.newest if book.wiped_to is None else max(book.wiped_to, s.newest)
            continue
        was = book.realized
        book.realized -= drop
        book.wiped += drop  # (the profit target still counts it: `Book.wiped`)
        changed.append(f"{name} realized {was:.2f} -> {book.realized:.2f}")
    kept = "The books kept (no wiped profit to take off within what the balance fell)"
    books = "; ".join(changed) or kept
    out.append(
        Alert(
            Level.CRITICAL,
            Reason.ACCOUNT_RESET_CONFIRMED,
            f"the firm's reset of the account is confirmed: asked again over {window}, the "
            f"gateway lists none of the {len(s.missing)} trade(s) it wiped. {books} (the "
            f"wiped trades' P&L taken off, no further than the balance fell; a wiped loss is "
            f"kept). Kept as they are: the rules' memories, the trailing peak, the state "
            f"({acct.state.value}) and any lock",
            acct.account_id,
        )
    )
    return bool(changed)


def _back(acct: AccountModel, ev: TradesSnapshot, book: Book) -> bool:
    """Whether the list lists again every trade of ``book``'s period a confirmed reset wiped
    losing (up to ``Book.wiped_to``): what they lost is then in what the book keeps, not left
    out again. Never forgotten on a list's word (two served stale would loosen the limits)."""
    to = book.wiped_to
    if to is None or not book.wiped_loss:
        return False
    listed = {t.trade_id for t in ev.trades if not t.voided}
    wiped = [i for i, at in acct.seen_trades.items() if book.start <= at <= to]
    return bool(wiped) and all(i in listed for i in wiped)


def _kept(acct: AccountModel, ev: TradesSnapshot, book: Book, later: set[int]) -> Decimal | None:
    """What ``book`` holds but the wiped trades: the list's trades of its period, the trades
    applied after the list was asked for (the day's fills) and its settlements. None: one of
    those trades is not among the day's fills (what it made is not known: nothing taken off)."""
    listed = (t for t in ev.trades if t.at >= book.start and not t.voided)
    total = sum((realized_net(t.pnl, t.fees) for t in listed), book.settled)
    fills = {f.trade_id: f for f in acct.day.fills}
    for i in later:
        if i in acct.voided or acct.seen_trades[i] < book.start:
            continue
        f = fills.get(i)
        if f is None:
            return None
        total += realized_net(f.pnl, f.fees)
    return total
