"""An order the gateway reports while our close waits for its turn in the request budget is
never taken for that close (`CloseWaiting`).

The gateway's answer to a close names no order: its order is recognised among the order
events by side, type and size. Seen with the chaos fuzzer at the shipped 200 requests a
minute: closes waited up to 49 s behind a full window, and a trader's own market exit of the
same size, placed meanwhile, was taken for our close; with its fill delayed, his exit was then
cancelled as "our close" overshooting when another of his exits reached the target."""

from __future__ import annotations

from fsm_risk.core.effects import Alert, CancelOrder, Level
from fsm_risk.core.events import CloseWaiting, EnforcementRejected, OrderStatus, Side
from fsm_risk.core.exposure import close_wanted
from fsm_risk.core.reasons import Reason
from tests.factories import ACC, MNQ, closes, gateway_read, market, position, reads, reduces
from tests.unit.test_close_answers import limit_3, locked, ms, traded


def test_the_traders_exit_while_our_reduce_waits_is_his_and_not_withdrawn() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))  # a reduce of 2 (number 1) decided
    [r] = reduces(d.effects)
    d.send(CloseWaiting(ACC, MNQ, r.seq, True))  # the window is full: it waits
    ms(d, 100)
    d.send(market(81, Side.SELL, 2, OrderStatus.OPEN))  # his own exit of 2, its fill delayed
    ms(d, 100)
    d.send(*traded(83, Side.SELL, 2, 3))  # another exit of his fills: at the target
    cm = d.acct.contracts[MNQ]
    assert cm.close_order is None and 81 not in d.acct.own_orders
    withdrawn = [
        e for e in d.effects if isinstance(e, CancelOrder) and e.reason is Reason.CLOSE_WITHDRAWN
    ]
    assert withdrawn == []  # his exit is his: never cancelled as ours


def test_our_close_is_recognised_once_it_goes() -> None:
    d = locked()
    d.send(*traded(10, Side.BUY, 7, 7))
    [c] = closes(d.effects)
    d.send(CloseWaiting(ACC, MNQ, c.seq, True))
    ms(d, 50)
    d.send(market(81, Side.SELL, 7, OrderStatus.OPEN))  # his market exit of all 7, working
    assert d.acct.contracts[MNQ].close_order is None
    d.send(*traded(81, Side.SELL, 7, 0))  # it fills: flat
    ms(d, 50)
    d.send(*traded(11, Side.BUY, 2, 2))  # he buys again: our close is wanted again
    d.send(CloseWaiting(ACC, MNQ, c.seq, False))  # its turn: it goes now
    ms(d, 20)
    d.send(*traded(82, Side.SELL, 2, 0))  # its order, sized from the 2 open
    assert 82 in d.acct.own_orders and 81 not in d.acct.own_orders
    assert len(closes(d.effects)) == 1  # and nothing went beside it


def test_a_late_word_of_the_close_before_changes_nothing() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))
    [r] = reduces(d.effects)
    d.send(CloseWaiting(ACC, MNQ, r.seq + 1, True))  # not the close in flight: ignored
    d.send(*traded(82, Side.SELL, 2, 3))  # ours
    assert 82 in d.acct.own_orders


def test_a_waiting_reduce_is_not_sent_beside_the_traders_working_exit_of_the_excess() -> None:
    """Found by review: his market exit of the 2 over the limit is seen working while our
    reduce of 2 waits for the budget: a new close would be held back for it (`holdback`), but
    the waiting one was still 'wanted' at its turn and went beside it; both filled, long 1
    under a limit of 3. It is not wanted while a market order closing the position works."""
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))
    [r] = reduces(d.effects)
    d.send(CloseWaiting(ACC, MNQ, r.seq, True))
    ms(d, 100)
    d.send(market(81, Side.SELL, 2, OrderStatus.OPEN))  # his exit of the excess, working
    ms(d, 100)
    assert not close_wanted(d.acct, MNQ, r.seq), "sent beside his working exit of the excess"


def test_a_close_known_unsent_is_not_timed_out_read_and_resent() -> None:
    """Found by review: told the close had not gone (waiting for a full window, up to ~49 s),
    the engine still timed it out every close timeout, asked a read each time (in the full
    window), paged CRITICAL 'not confirmed', and gave it up for a second close once a read
    came. Its timeouts wait until it goes (at most `UNSENT_BOUND`), and count from then."""
    d = locked()
    d.send(*traded(10, Side.BUY, 5, 5))
    [c] = closes(d.effects)
    d.send(CloseWaiting(ACC, MNQ, c.seq, True))
    start = len(d.effects)
    for _ in range(4):
        d.advance(seconds=11)
    critical = [
        a
        for a in d.effects[start:]
        if isinstance(a, Alert)
        and a.level is Level.CRITICAL
        and a.reason is Reason.CLOSE_NOT_CONFIRMED
    ]
    asked = reads(d.effects[start:])
    assert asked == [] and critical == [], (
        f"{len(asked)} reads asked, {len(critical)} CRITICAL for a close not sent yet"
    )
    gateway_read(d, position(MNQ, 5, "21000"))
    assert len(closes(d.effects)) == 1, "a second close while the first still waits its turn"


def test_a_close_dropped_unsent_is_not_backed_off_like_a_refusal() -> None:
    """Found by review: dropped unsent at its turn (his exit reached the target meanwhile),
    then he re-adds to the size it was sized from before the drop is handled: nothing was
    refused, yet the next close waited the refusal back-off. It goes at once."""
    d = locked()
    d.send(*traded(10, Side.BUY, 5, 5))
    [c] = closes(d.effects)
    d.send(CloseWaiting(ACC, MNQ, c.seq, True))
    ms(d, 100)
    d.send(*traded(81, Side.SELL, 5, 0))  # his own exit: flat; at its turn ours is not wanted
    assert not close_wanted(d.acct, MNQ, c.seq)
    ms(d, 10)
    d.send(*traded(11, Side.BUY, 5, 5))  # he buys 5 again, before the drop is handled
    d.send(EnforcementRejected(ACC, MNQ, None, "not sent: no longer wanted", seq=c.seq, sent=False))
    assert len(closes(d.effects)) == 2, "the new position's close waits a back-off"
