"""A lock made on the estimate ends only at a trades read whose books the ledger accepted
(rebuilt or confirmed): a list lacking trades already applied (a capped search), kept from by
`Ledger.rebuild_realized`, ends neither the lock nor the wait (`unjudged.kept`), and the next
periodic read, diverging, lists the whole window again (`reads.differences`)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.events import Fill, Side, Tick, TradesSnapshot
from fsm_risk.core.reads import differences
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import ESTIMATED, GRACE
from fsm_risk.core.unread import waiting
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    balance_read,
    fill,
    flat,
    our_close_filled,
    quote,
    start_listed,
)
from tests.unit.test_restored_settled_by_the_start_listing import (
    estimate_locked_then_restarted,
)
from tests.unit.test_unread import BOUGHT, restarted

KEPT = "lacks 1 trade(s) already applied"
LACKED = "its last trade list lacked trades already applied"


def lost(d: Driver) -> tuple[Fill, ...]:
    """A $1,000 loss made while the service was down (a round trip of 1 MNQ)."""
    t = d.acct.day.start + timedelta(minutes=1)
    return (
        fill(MNQ, Side.BUY, 1, "21000", order_id=20, trade_id=120, at=t),
        fill(MNQ, Side.SELL, 1, "20500", pnl="-1000", order_id=21, trade_id=121, at=t),
    )


def read(d: Driver, trades: tuple[Fill, ...], balance: str = "49000") -> str:
    """The trades read (a whole window), its Tick and the balance read after it; returns the
    alerts' messages."""
    out = d.send(TradesSnapshot(ACC, d.acct.week.start, trades, frozenset(d.acct.seen_trades)))
    out += d.send(Tick(ACC))
    out += balance_read(d, balance)
    out += d.advance(seconds=1)
    return " | ".join(str(getattr(e, "message", "")) for e in out)


def test_an_estimate_lock_on_a_real_loss_is_not_released_by_an_incomplete_trades_list() -> None:
    """Found by a review: an earlier run locked on the estimate (a -$1,000 fall of the balance
    while down: a real loss). This run's trades read listed the loss but lacked a trade already
    applied (a capped search): the ledger kept the books (-$0, 'kept'), yet the lock made on the
    estimate was released at that read, and the exact books, missing the loss, did not lock
    again: a real -$1,000 on a $500 limit left Trading, day 0."""
    again, listed = estimate_locked_then_restarted()
    start_listed(again)
    said = read(again, (*listed[1:], *lost(again)))  # lacks trade 101 (applied)
    assert KEPT in said, said
    assert again.acct.state is State.LockedDaily, (
        f"a real -$1,000 on a $500 limit: {again.acct.state}, day {again.acct.day.realized}"
    )
    assert ESTIMATED in again.acct.holds["RULE-003"].detail  # (the lock made on the estimate)


def test_a_list_lacking_the_loss_too_keeps_the_lock_and_the_wait() -> None:
    """As the service feeds it (the listed fills are the only ones booked): the capped list
    lacks the loss as well as trade 101. Its silence about the loss says nothing: the lock
    holds, the account waits on, judged on the estimate, and the next periodic read diverges
    (it is applied from a whole read). (Its total agrees with the books: no alert.)"""
    again, listed = estimate_locked_then_restarted()
    start_listed(again)
    read(again, listed[1:])
    assert again.acct.state is State.LockedDaily
    unjudged = again.acct.unjudged
    assert unjudged is not None and unjudged.kept and unjudged.estimating
    assert waiting(again.acct)
    assert LACKED in differences(again.acct, [])


def test_a_complete_read_after_it_ends_the_lock_when_the_fall_was_a_payout() -> None:
    """Then a complete list (no trade made the fall: a payout): the books confirmed, the wait
    ends, the lock made on the estimate ends at the balance read after it; the periodic read
    agrees again."""
    again, listed = estimate_locked_then_restarted()
    start_listed(again)
    read(again, listed[1:])
    assert again.acct.state is State.LockedDaily
    read(again, listed)
    assert again.acct.unjudged is None and not waiting(again.acct)
    assert again.acct.state is State.Trading, "a lock made on the estimate kept past its read"
    assert differences(again.acct, []) == []


def test_a_complete_read_after_it_locks_on_the_exact_books_when_the_fall_was_a_loss() -> None:
    """Then a complete list with the loss: the books rebuilt at -$1,000, the estimate's lock
    ends and the exact books lock again."""
    again, listed = estimate_locked_then_restarted()
    start_listed(again)
    read(again, listed[1:])
    read(again, (*listed, *lost(again)))
    assert again.acct.day.realized == Decimal("-1000")
    assert again.acct.state is State.LockedDaily
    assert ESTIMATED not in again.acct.holds["RULE-003"].detail  # (judged on the exact books)


def test_a_restored_wait_goes_on_at_an_incomplete_list() -> None:
    """Restored and not settled by the start listing (its balance moved: -$1,000), the
    account's wait for its trades is not ended by a list lacking an applied trade."""
    again, listed = estimate_locked_then_restarted()
    start_listed(again, "48000")
    assert again.acct.unjudged is not None and again.acct.unjudged.restored
    read(again, listed[1:], balance="48000")
    assert waiting(again.acct) and again.acct.state is State.LockedDaily


def test_an_incomplete_list_ends_a_wait_with_no_estimate_lock_as_ever() -> None:
    """Guard: nothing locked on the estimate, a list lacking an applied trade ends the wait as
    before (no wait begun where none ran; an exposed account's wait for its trades ends)."""
    d = restarted("50000")  # settled by its listing: no wait
    assert not waiting(d.acct)
    read(d, (), balance="50000")  # lacks trade 101 (an entry: the totals agree)
    assert d.acct.unjudged is None and d.acct.state is State.Trading
    d = restarted("49000")  # not settled: it waits for its trades
    d.send(quote(MNQ, "21000"))
    assert waiting(d.acct) and d.acct.unjudged is not None
    read(d, (), balance="49000")
    assert not waiting(d.acct) and d.acct.unjudged is None and d.acct.state is State.Trading


def test_a_lock_made_on_the_estimate_this_run_holds_at_an_incomplete_list() -> None:
    """The same without a restart: an exposed account whose listing moved -$1,000 waits for
    its trades, a read of them fails, past the grace it locks on the estimate; the trades read
    then lacks an applied trade: the lock holds, judged on the estimate, until a complete one."""
    d = restarted("49000")
    d.send(quote(MNQ, "21000"), Tick(ACC, unread=True))
    d.now += GRACE + timedelta(seconds=1)
    d.send(quote(MNQ, "21000", at=d.now))
    assert d.acct.state is State.Flattening
    ours = our_close_filled(MNQ, Side.SELL, 2, "21000", pnl="0", at=d.now)
    d.send(*ours, flat(MNQ))
    balance_read(d, "49000")
    assert d.acct.state is State.LockedDaily and ESTIMATED in d.acct.holds["RULE-003"].detail
    read(d, ())  # lacks trades 101 and our close
    assert d.acct.state is State.LockedDaily
    assert d.acct.unjudged is not None and d.acct.unjudged.kept and waiting(d.acct)
    assert LACKED in differences(d.acct, [])
    read(d, (BOUGHT, *[e for e in ours if isinstance(e, Fill)]))  # complete: a payout
    assert d.acct.state is State.Trading, "a lock made on the estimate kept past a complete read"
