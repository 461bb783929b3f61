"""Found by a review: `settled` is decided once, at the enforcing step's Listing, and never undone
by a balance heard afterwards that the fills do not explain (`unread.waiting` reads only
``behind.settled``). A trade made just before the subscription whose balance the gateway moves
after the listing read (when the balance moves relative to a fill is unverified) is then judged
on books the gateway has already contradicted."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk import reconciler
from fsm_risk.core.events import Side, Tick, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.core.unread import waiting
from tests.factories import MNQ, account, fill, quote
from tests.unit.test_unread import BOUGHT, EARLIER, closes, restarted


def test_a_win_whose_balance_comes_after_the_listing_is_no_false_close() -> None:
    """-$300 realized before the stop, long 2 MNQ. A +$400 round trip made just before the
    subscription (not heard live), its balance moved after the listing read: the listing says
    49,700 (settled), the hub then says 50,100 (unexplained +400). MNQ falls $250: the truth
    is -$150 on the day, the stored books say -$550: closed and locked for the day."""
    d = restarted("49700", realized="-300")
    acct = d.engine.accounts[d.acc]
    assert acct.behind is not None and acct.behind.settled
    d.send(account("50100"))  # the win's balance, heard live after the listing
    sent = d.send(quote(MNQ, "20937.5"))  # -$250 open: -$150 on the day in truth
    assert acct.state is State.Trading, "closed on books the balance already contradicts"
    assert not closes(sent)


def test_the_same_without_the_listing_waits_as_before() -> None:
    """Control: no listed balance (before 942bc64): the rules wait for the trades."""
    d = restarted(None, realized="-300")
    acct = d.engine.accounts[d.acc]
    d.send(account("50100"))
    d.send(quote(MNQ, "20937.5"))
    assert acct.state is State.Trading and not closes(d.effects)


def test_a_loss_whose_balance_comes_after_the_listing_is_not_judged_on_the_stored_books() -> None:
    """The loosening twin: a -$400 loss before the subscription, its balance after the
    listing: settled on 50,000; the hub says 49,600. MNQ falls $150: -$700 on the day in
    truth (limit $500), judged -$300 until the trades read, which 942bc64 put after the
    other accounts' start-up reads (REST, not HISTORY)."""
    d = restarted("50000")
    acct = d.engine.accounts[d.acc]
    d.send(account("49600"))
    d.send(quote(MNQ, "20925"))  # -$300 open
    assert acct.behind is not None
    assert waiting(acct), "still judged as settled by a balance the gateway moved"
    assert (
        reconciler.urgency(
            enforcing=False,
            exposed=True,
            known=True,
            probed=True,
            behind=True,
            settled=not waiting(acct),
        )
        == reconciler.HISTORY
    ), "its trades read after every other account's start-up reads"
    lost = (
        fill(MNQ, Side.BUY, 1, "21000", order_id=2, trade_id=102, at=EARLIER),
        fill(MNQ, Side.SELL, 1, "20800", pnl="-400", order_id=3, trade_id=103, at=EARLIER),
    )
    d.send(TradesSnapshot(d.acc, acct.week.start, (BOUGHT, *lost), frozenset({101})), Tick(d.acc))
    assert acct.day.realized == Decimal(-400) and acct.state is State.Flattening


def test_a_read_that_confirms_the_late_balance_does_not_settle_it_again() -> None:
    """The fix's second half (found end to end): a read's balance (``applied``) confirms the
    +400 move before its trades are booked; settled stays, unexplained is cleared: the stored
    books alone judge again, and a $250 fall is closed on -$550 (truth -$150)."""
    from dataclasses import replace

    d = restarted("49700", realized="-300")
    acct = d.engine.accounts[d.acc]
    d.send(account("50100"))
    d.send(replace(account("50100"), applied=frozenset(acct.seen_trades)))
    d.send(quote(MNQ, "20937.5"))
    assert acct.state is State.Trading and not closes(d.effects)
