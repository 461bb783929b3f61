"""Found by a review of d88c376: an estimate lock kept by an incomplete trades list (the wait
kept, its balance move taken) carried into the next day: the new day was judged on yesterday's
estimate and locked again, every day a capped list kept it (a payout taken for a loss cost the
trader whole days); and a list that looks like a firm's reset (empty, the balance moved) still
released an estimate lock on a real loss whose books it did not accept (-$1,300 on a $500 limit
left trading, the alert saying every lock was kept). A kept wait ends with the lock it was kept
for (at its reset, or an admin's unlock); a list that lacks applied trades keeps the lock."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import Tick, TradesSnapshot
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from tests.factories import ACC, alerts, balance_read, start_listed
from tests.unit.test_estimate_lock_kept_by_an_incomplete_list import read
from tests.unit.test_restored_settled_by_the_start_listing import estimate_locked_then_restarted


def test_a_kept_lock_ends_at_the_daily_reset_nothing_moved() -> None:
    again, listed = estimate_locked_then_restarted()
    start_listed(again)
    read(again, listed[1:])  # capped: lacks trade 101 (as every read of a capped gateway)
    assert again.acct.state is State.LockedDaily
    # the daily reset (17:00 Chicago = 23:00 UTC) passes; the gateway's list is capped still
    reset = again.acct.day.start + timedelta(days=1)
    again.at(reset + timedelta(minutes=1))
    balance_read(again, "49000")  # the periodic read's balance, unchanged since yesterday
    again.advance(seconds=1)
    assert again.acct.state is State.Trading, (
        f"a new day, nothing lost in it: {again.acct.state} ({again.acct.holds.get('RULE-003')})"
    )


def test_a_move_taken_while_kept_is_no_loss_of_the_next_day() -> None:
    """Kept (a capped list), the locked day goes on; a confirmed balance read moves -$600
    beyond the fills (a payout the trader asked for, say: no trade). The day's lock ends at the
    reset; the new day, nothing lost in it, must trade."""
    again, listed = estimate_locked_then_restarted()
    start_listed(again)
    read(again, listed[1:])  # capped: lacks trade 101
    assert again.acct.state is State.LockedDaily
    again.advance(minutes=30)
    balance_read(again, "48400")  # a payout of $600, confirmed by a read
    again.advance(seconds=1)
    reset = again.acct.day.start + timedelta(days=1)
    again.at(reset + timedelta(minutes=1))
    assert again.acct.state is State.Trading, (
        f"a new day, nothing lost in it: {again.acct.state} ({again.acct.holds.get('RULE-003')})"
    )


def test_a_lock_kept_this_run_ends_at_the_reset() -> None:
    """The commit's own this-run case (no restart): kept by a capped list, then the reset."""
    from fsm_risk.core.events import Side, Tick
    from fsm_risk.core.unjudged import ESTIMATED, GRACE
    from tests.factories import ACC, MNQ, flat, our_close_filled, quote
    from tests.unit.test_unread import restarted

    d = restarted("49000")
    d.send(quote(MNQ, "21000"), Tick(ACC, unread=True))
    d.now += GRACE + timedelta(seconds=1)
    d.send(quote(MNQ, "21000", at=d.now))
    ours = our_close_filled(MNQ, Side.SELL, 2, "21000", pnl="0", at=d.now)
    d.send(*ours, flat(MNQ))
    balance_read(d, "49000")
    assert d.acct.state is State.LockedDaily and ESTIMATED in d.acct.holds["RULE-003"].detail
    read(d, ())  # capped: lacks trades 101 and our close
    reset = d.acct.day.start + timedelta(days=1)
    d.at(reset + timedelta(minutes=1))
    balance_read(d, "49000")
    d.advance(seconds=1)
    assert d.acct.state is State.Trading, f"a new day, nothing lost in it: {d.acct.holds}"


def test_a_capped_gateway_never_locks_the_next_days() -> None:
    """As above, the gateway's list capped at every read (a trade of Monday's never listed
    again): Monday's estimate locks Tuesday, Wednesday... each whole day."""
    from fsm_risk.core.events import Side, Tick
    from fsm_risk.core.unjudged import GRACE
    from tests.factories import ACC, MNQ, flat, our_close_filled, quote
    from tests.unit.test_unread import restarted

    d = restarted("49000")
    d.send(quote(MNQ, "21000"), Tick(ACC, unread=True))
    d.now += GRACE + timedelta(seconds=1)
    d.send(quote(MNQ, "21000", at=d.now))
    ours = our_close_filled(MNQ, Side.SELL, 2, "21000", pnl="0", at=d.now)
    d.send(*ours, flat(MNQ))
    balance_read(d, "49000")
    read(d, ())  # capped
    locked = []
    for _day in range(1, 4):
        d.at(d.acct.day.start + timedelta(days=1, minutes=1))  # the next daily reset
        for _ in range(3):  # periodic reads through the day, each capped
            d.advance(hours=2)
            read(d, ())
        locked.append((d.now.date().isoformat(), d.acct.state.value))
    assert all(s == "Trading" for _, s in locked), locked


def test_a_list_that_looks_wiped_keeps_an_estimate_lock_on_a_real_loss() -> None:
    """An earlier run locked on the estimate: the -$1,000 fall was a real loss made while it
    was down (trades 120/121, never applied). Down again, the trader lost $300 more. This run's
    whole read: its balance 48,700 (confirmed: -300 beyond the fills), then a trade list empty
    for a moment (`wiped`: 'a list capped, empty or stale looks the same'). The books are kept
    at 0, as the alert says: 'Kept as they are: ... any lock'. The lock must hold: -$1,300 on a
    $500 limit."""
    again, _ = estimate_locked_then_restarted()
    start_listed(again, "48700")  # moved: the restored account waits for its trades
    out = balance_read(again, "48700")  # the whole read's balance, before its list
    out += again.send(
        TradesSnapshot(ACC, again.acct.week.start, (), frozenset(again.acct.seen_trades))
    )
    out += again.send(Tick(ACC))
    said = [a.message for a in alerts(out) if a.reason is Reason.ACCOUNT_RESET]
    out += balance_read(again, "48700")
    out += again.advance(seconds=1)
    assert said and "any lock" in said[0]
    assert again.acct.state is State.LockedDaily, (
        f"-$1,300 real on a $500 limit, the books kept at {again.acct.day.realized}: "
        f"{again.acct.state}"
    )


def test_then_a_complete_list_books_the_loss_and_locks_on_the_exact_books() -> None:
    """After it, the confirming read refutes the reset and the next whole read is complete:
    the books rebuilt at -$1,300, locked on them (no longer on the estimate)."""
    from datetime import timedelta

    from fsm_risk.core.events import Side
    from fsm_risk.core.unjudged import ESTIMATED
    from tests.factories import MNQ, fill
    from tests.unit.test_estimate_lock_kept_by_an_incomplete_list import lost, read

    again, listed = estimate_locked_then_restarted()
    start_listed(again, "48700")
    balance_read(again, "48700")
    again.send(TradesSnapshot(ACC, again.acct.week.start, (), frozenset(again.acct.seen_trades)))
    again.send(Tick(ACC))
    balance_read(again, "48700")
    again.advance(seconds=1)
    assert again.acct.state is State.LockedDaily
    t = again.acct.day.start + timedelta(minutes=2)
    more = (
        fill(MNQ, Side.BUY, 1, "21000", order_id=30, trade_id=130, at=t),
        fill(MNQ, Side.SELL, 1, "20850", pnl="-300", order_id=31, trade_id=131, at=t),
    )
    read(again, (*listed, *lost(again), *more), balance="48700")
    assert again.acct.day.realized == -1300, again.acct.day.realized
    assert again.acct.state is State.LockedDaily
    assert ESTIMATED not in again.acct.holds["RULE-003"].detail
