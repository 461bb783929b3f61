"""An order the gateway reports while our close waits for its turn in the request budget is
never taken for that close (`CloseWaiting`).

The gateway's answer to a close names no order: its order is recognised among the order
events by side, type and size. Seen with the chaos fuzzer at the shipped 200 requests a
minute: closes waited up to 49 s behind a full window, and a trader's own market exit of the
same size, placed meanwhile, was taken for our close; with its fill delayed, his exit was then
cancelled as "our close" overshooting when another of his exits reached the target."""

from __future__ import annotations

from fsm_risk.core.effects import CancelOrder
from fsm_risk.core.events import CloseWaiting, OrderStatus, Side
from fsm_risk.core.reasons import Reason
from tests.factories import ACC, MNQ, closes, market, reduces
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
