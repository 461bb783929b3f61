"""Found by a review of 75180b6: a close in doubt goes again unread once an order record not ours
is heard live since it went; a record of a reconciliation read begun before the close went
(listing a trader's order the engine had not heard) counted as heard, and the close was sent
again beside our unseen working one (the reversal 75180b6 meant to stop). A read's record, the
account's or one order's, shows nothing of whether the live records reach us
(`OrderUpdate.read`). Guard: our own close, sized by the gateway from a position the trader
changed, is not sent again beside itself."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import (
    CloseInDoubt,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TradesSnapshot,
)
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.service import _ReadBegan
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    alerts,
    closes,
    make_engine,
    order,
    position,
    quote,
)


def long_3() -> Driver:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 3, "21000"))
    return d


def test_a_read_begun_before_the_close_went_is_no_proof_the_records_reach_us() -> None:
    """The hub is connected but silent (the fix's own case): the trader's buy limit 77 was
    never heard live. A periodic read begins (it lists his 77 and long 3); the loss limit
    trips and our close goes before the read's answer is applied; the gateway takes the close
    (its market order works: a slow fill), answers 503, and the close's own read fails. The
    periodic read, answered before the outage, lists 77, new to the engine: the service marks
    it held=False (`service._ReadBegan.read`), so `heard_from` counts it as heard live. It
    proves nothing: it was listed before our close was taken, and our close's record is no
    more heard than before."""
    d = long_3()
    acct = d.acct
    began = d.now
    read = _ReadBegan.of(acct, began)  # the service's own marking of a read's records
    d.now += timedelta(milliseconds=200)
    [first] = closes(d.send(quote(MNQ, "20800")))  # -1,200 on a 1,000 limit: our close goes
    assert d.acct.state is State.Flattening
    d.now += timedelta(milliseconds=300)
    his = order(77, MNQ, Side.BUY, 1, limit="20000", at=began)
    marked, listing = read.read(ACC, [account("50000"), position(MNQ, 3, "21000"), his])
    assert next(e for e in marked if isinstance(e, OrderUpdate)).held is False
    d.send(*marked)
    d.send(listing)
    applied = read.applied
    d.send(TradesSnapshot(ACC, acct.day.start, (), applied, frozenset()))
    d.send(CloseInDoubt(ACC, MNQ, first.seq, d.now))  # answered 503, its read failed
    for _ in range(4):
        d.advance(seconds=5)
    said = [a.message for a in alerts(d.effects) if a.reason is Reason.CLOSE_NOT_CONFIRMED]
    sent = closes(d.effects)
    # what must be: no record heard LIVE since it went, it waits for its read
    assert len(sent) == 1, f"re-sent unread on a read's record: {said}"


def test_our_own_close_unrecognised_by_size_is_not_re_sent_beside() -> None:
    """Our close sized at 3, the gateway sized it at 4 (the trader's add taken just before it;
    his fill unheard yet): its record is not recognised as ours and counts as 'not ours' for
    `heard_from`; `closes_working` still sees it (a market order on the closing side)."""
    d = long_3()
    [first] = closes(d.send(quote(MNQ, "20800")))
    d.send(OrderUpdate(ACC, 901, MNQ, OrderStatus.OPEN, OrderType.MARKET, Side.SELL, 4, d.now))
    d.send(CloseInDoubt(ACC, MNQ, first.seq, d.now))
    assert (ACC, MNQ) in d.engine.pursuit.blind.heard
    d.send(position(MNQ, 4, "21000", at=d.now))
    for _ in range(6):
        d.advance(seconds=5)
    assert len(closes(d.effects)) == 1
