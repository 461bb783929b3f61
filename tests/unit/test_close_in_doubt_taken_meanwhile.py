"""A close in doubt whose read failed goes again unread only on a trader's order the gateway
took after it had answered ours (`core.blind`).

Found by a review of 75180b6: a trader's order record the gateway made while our close was in
flight (before it took ours) counted as proof that the order records reach us. Ours was taken a
moment after it and answered 503, its record never reached us, and the close sent again unread
filled beside it: long 2 MNQ, both closes filled, the locked account short 2. The hub pushes the
records in order, so only a record made after the gateway answered ours proves ours would have
come first: an order created after the answer, by its gateway stamp against the answer's time
on the gateway's clock (`CloseInDoubt.answered`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from fsm_risk.core.events import CloseInDoubt, OrderStatus, OrderType, OrderUpdate, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import ACC, MNQ, Driver, account, alerts, closes, make_engine, position, quote


def long_2_past_the_limit() -> Driver:
    """Long 2 MNQ, -$800 on a $500 limit: our close of the whole position goes now."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 2, "21000"))
    assert len(closes(d.send(quote(MNQ, "20800")))) == 1
    assert d.acct.state is State.Flattening
    return d


def his_add(oid: int, created: datetime) -> OrderUpdate:
    """The trader's market buy of 1 MNQ under the lock, pushed live as the gateway took it."""
    return OrderUpdate(ACC, oid, MNQ, OrderStatus.OPEN, OrderType.MARKET, Side.BUY, 1, created)


def said(d: Driver) -> list[str]:
    return [a.message for a in alerts(d.effects) if a.reason is Reason.CLOSE_NOT_CONFIRMED]


def test_a_trader_order_taken_while_our_close_was_in_flight_is_no_proof() -> None:
    """Our close goes at t; the trader's add is taken at t+0.1 s and pushed (heard at t+0.2 s);
    ours is taken at t+0.3 s (its record lost), answered 503 at t+0.4 s, its read fails. The
    add was made before the gateway answered ours: ours may have come after it. It must wait
    for its read (saying why), never go again beside ours."""
    d = long_2_past_the_limit()
    [first], sent = closes(d.effects), d.now
    d.now = sent + timedelta(milliseconds=200)
    d.send(his_add(77, sent + timedelta(milliseconds=100)))
    d.now = sent + timedelta(seconds=1)
    d.send(CloseInDoubt(ACC, MNQ, first.seq, d.now))  # answered 503; its read failed
    for _ in range(12):
        d.advance(seconds=5)
    assert len(closes(d.effects)) == 1, f"sent again beside ours: {said(d)}"
    assert said(d) and all("after it answered" in m for m in said(d))


def test_a_record_heard_after_the_answer_yet_made_before_it_is_no_proof() -> None:
    """The user hub lags the REST answer: the add, taken while ours was in flight, reaches us
    only after the doubt was told. Heard late, it was still made before the answer."""
    d = long_2_past_the_limit()
    [first], sent = closes(d.effects), d.now
    d.now = sent + timedelta(seconds=1)
    d.send(CloseInDoubt(ACC, MNQ, first.seq, d.now))
    d.now = sent + timedelta(seconds=3)
    d.send(his_add(77, sent + timedelta(milliseconds=100)))
    for _ in range(12):
        d.advance(seconds=5)
    assert len(closes(d.effects)) == 1, f"sent again beside ours: {said(d)}"


def test_a_trader_order_created_after_the_answer_lets_the_close_go_again() -> None:
    """A busy account: the trader's next add is created 3 s after the answer (on the gateway's
    clock): ours, taken or refused before that, came first. The close goes again unread."""
    d = long_2_past_the_limit()
    [first], sent = closes(d.effects), d.now
    d.now = sent + timedelta(seconds=1)
    d.send(CloseInDoubt(ACC, MNQ, first.seq, d.now))
    d.now = sent + timedelta(seconds=4)
    d.send(his_add(78, d.now))
    d.advance(seconds=10)
    assert len(closes(d.effects)) == 2
    assert any("answered in doubt and its read failed: closed again" in m for m in said(d))


def test_the_answer_is_judged_on_the_gateways_clock() -> None:
    """The gateway's clock 5 s ahead of ours: an add stamped 3 s past our answer's time was
    made 2 s before it. The answer's time on the gateway's clock judges it; one stamped after
    that proves ours came first."""
    d = long_2_past_the_limit()
    [first], sent = closes(d.effects), d.now
    answered = sent + timedelta(milliseconds=400)
    d.now = sent + timedelta(seconds=1)
    d.send(his_add(77, answered + timedelta(seconds=3)))
    d.send(CloseInDoubt(ACC, MNQ, first.seq, answered + timedelta(seconds=5)))
    for _ in range(6):
        d.advance(seconds=5)
    assert len(closes(d.effects)) == 1, f"sent again beside ours: {said(d)}"
    d.send(his_add(78, answered + timedelta(seconds=8)))
    d.advance(seconds=30)
    assert len(closes(d.effects)) == 2


def test_an_order_created_after_the_answer_counts_heard_before_the_doubt() -> None:
    """The read that failed took 5 s: the trader's add, created 3 s after the answer, was heard
    before the doubt was told. It was made after the gateway answered ours: it counts."""
    d = long_2_past_the_limit()
    [first], sent = closes(d.effects), d.now
    answered = sent + timedelta(milliseconds=400)
    d.now = answered + timedelta(seconds=3)
    d.send(his_add(77, d.now))
    d.now = answered + timedelta(seconds=5)
    d.send(CloseInDoubt(ACC, MNQ, first.seq, answered))
    d.advance(seconds=10)
    assert len(closes(d.effects)) == 2
