"""A whole close that waited for the request budget is not sent at its turn on a position
the trader reversed meanwhile. Found by review: locked, long 5, our sell close waited; he sold
8 (short 3); at its turn the close went, the gateway bought the 3, and that buy was not
recognised as ours (its side): the close stayed in flight unseen, and his next position on
the locked account waited a close timeout for its close. It is dropped at its turn, and the
next is decided at once on the side open then."""

from __future__ import annotations

from fsm_risk.core.events import (
    CloseWaiting,
    EnforcementAccepted,
    EnforcementRejected,
    OrderStatus,
    Side,
)
from fsm_risk.core.exposure import close_wanted
from tests.factories import ACC, MNQ, closes, fill, market, position
from tests.unit.test_close_answers import locked, ms, traded


def test_a_whole_close_is_not_sent_on_a_position_he_reversed_and_the_next_goes_at_once() -> None:
    d = locked()
    d.send(*traded(10, Side.BUY, 5, 5))  # long 5, locked: our close (a sell) decided
    [c] = closes(d.effects)
    d.send(CloseWaiting(ACC, MNQ, c.seq, True))  # it waits for the budget
    ms(d, 2000)
    # he reverses at market: sells 8, short 3
    d.send(
        market(11, Side.SELL, 8, OrderStatus.FILLED, 8),
        fill(MNQ, Side.SELL, 8, "21000", pnl="0", order_id=11),
        position(MNQ, 3, "21000", long=False),
    )
    ms(d, 1000)
    if close_wanted(d.acct, MNQ, c.seq):
        going = c  # it goes: closeContract buys the 3
    else:  # dropped at its turn; the next, on the short, goes at once
        d.send(EnforcementRejected(ACC, MNQ, None, "not sent", seq=c.seq, sent=False))
        assert len(closes(d.effects)) == 2
        going = closes(d.effects)[-1]
    d.send(CloseWaiting(ACC, MNQ, going.seq, False))
    d.send(EnforcementAccepted(ACC, MNQ, None, going.seq))
    ms(d, 30)
    d.send(
        market(900, Side.BUY, 3, OrderStatus.FILLED, 3),
        fill(MNQ, Side.BUY, 3, "21000", pnl="0", order_id=900),
        position(MNQ, 0, "0"),
    )
    ours = 900 in d.acct.own_orders
    ms(d, 500)
    before = len(closes(d.effects))
    d.send(*traded(12, Side.BUY, 2, 2))  # he buys 2 on the locked account
    waited = 0
    while len(closes(d.effects)) == before and waited < 30_000:
        ms(d, 100)
        waited += 100
        d.advance(seconds=0)
    assert ours and waited <= 1000, (
        f"our close's order (a buy of 3 closing his short) taken for ours: {ours}; the next "
        f"position on the locked account waited {waited / 1000:.1f} s for its close"
    )
