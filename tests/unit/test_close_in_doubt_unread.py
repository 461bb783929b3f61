"""A close in doubt whose read failed (`CloseInDoubt`, see `core.blind`).

Found by a hunt: a loss limit's close answered 503 while the gateway's reads failed too; the
service waited for a read before sending another, none came, and the position (and the trader's
add under the lock) stayed open for the whole read outage. A close of the whole position goes
again at its close timeout; a reduce does not (sized from the position last heard, it could
take the position past its target) and its alert says why; a close never answered at all still
waits for its read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from fsm_risk.core.events import CloseInDoubt, OrderStatus, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    alerts,
    closes,
    make_engine,
    market,
    order,
    position,
    quote,
    reads,
    reduces,
)

TIMEOUT = timedelta(seconds=10)  # the close timeout of these settings


def past_the_loss_limit() -> Driver:
    """Long 3 MNQ, -1,200 on a 1,000 limit: our close of the whole position is out."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 3, "21000"))
    assert len(closes(d.send(quote(MNQ, "20800")))) == 1
    assert d.acct.state is State.Flattening
    return d


def test_a_whole_close_in_doubt_whose_read_failed_goes_again_at_its_close_timeout() -> None:
    d = past_the_loss_limit()
    [first] = closes(d.effects)
    d.send(CloseInDoubt(ACC, MNQ, first.seq, d.now))  # answered 503; its read failed
    d.now += timedelta(seconds=3)  # the trader adds (live), taken after the answer
    d.send(replace(market(77, Side.BUY, 1, OrderStatus.FILLED, volume=1), created_at=d.now))
    d.send(position(MNQ, 4, "21000"))
    d.now += TIMEOUT - timedelta(seconds=4)
    assert len(closes(d.send(quote(MNQ, "20800")))) == 0  # not before its timeout
    out = d.advance(seconds=1)
    [again] = closes(out)
    assert again.seq > first.seq and again.contract_id == MNQ
    [said] = [a for a in alerts(out) if a.reason is Reason.CLOSE_NOT_CONFIRMED]
    assert "answered in doubt and its read failed" in said.message
    for _ in range(12):  # the one sent again is unheard of too, with no word of doubt: read
        d.advance(seconds=5)
    assert len(closes(d.effects)) == 2 and reads(d.effects)


def his_order(d: Driver, oid: int) -> None:
    """An order record of the trader's heard live (his buy limit under the lock), 3 s on: the
    gateway took it after it answered our close (`blind`)."""
    d.now += timedelta(seconds=3)
    d.send(order(oid, MNQ, Side.BUY, 1, limit="20000", at=d.now))


def test_a_whole_close_in_doubt_again_goes_again_again() -> None:
    d = past_the_loss_limit()
    d.send(CloseInDoubt(ACC, MNQ, closes(d.effects)[-1].seq, d.now))
    his_order(d, 77)
    d.advance(seconds=8)
    d.send(CloseInDoubt(ACC, MNQ, closes(d.effects)[-1].seq, d.now))
    his_order(d, 78)
    d.advance(seconds=18)  # (the backoff after two tries)
    assert len(closes(d.effects)) == 3


def test_a_doubt_about_an_older_close_is_not_this_ones() -> None:
    d = past_the_loss_limit()
    [first] = closes(d.effects)
    d.send(CloseInDoubt(ACC, MNQ, first.seq, d.now))
    his_order(d, 77)
    d.advance(seconds=8)
    his_order(d, 78)
    d.send(CloseInDoubt(ACC, MNQ, first.seq, d.now))  # late word of the first: not of the second
    for _ in range(12):
        d.advance(seconds=5)
    assert len(closes(d.effects)) == 2


def test_a_whole_close_never_answered_still_waits_for_its_read() -> None:
    d = past_the_loss_limit()
    for _ in range(12):
        d.advance(seconds=5)
    assert len(closes(d.effects)) == 1 and len(reads(d.effects)) >= 3


def test_a_reduce_in_doubt_whose_read_failed_is_not_sent_again_unread_and_says_so() -> None:
    d = Driver(make_engine({MaxContractsPerInstrument: {"limits": "MNQ: 3", "default_limit": "5"}}))
    d.send(account(), quote(MNQ, "21000"))
    [r] = reduces(d.send(position(MNQ, 5, "21000")))
    assert r.size == 2
    d.send(CloseInDoubt(ACC, MNQ, r.seq))
    for _ in range(24):
        d.advance(seconds=5)
    assert len(reduces(d.effects)) == 1 and closes(d.effects) == []
    said = [a.message for a in alerts(d.effects) if a.reason is Reason.CLOSE_NOT_CONFIRMED]
    assert said and all("a reduce is not re-sent unread" in m for m in said)
    assert reads(d.effects)  # it waits for a read, asked at each timeout


def test_a_whole_close_in_doubt_waits_for_its_read_while_no_order_record_is_heard() -> None:
    """Found by a review of 84de528: a close taken, then answered 503, its market order still
    working (a slow fill, a halted market) and the account's order records not reaching us (a
    hub connected but silent), the reads failing: the close of the whole position went again
    beside it, both filled, and the locked account was short 2 for 58 s. With no order record
    of the account heard since the close went, it waits for a read, and says why."""
    d = past_the_loss_limit()
    [first] = closes(d.effects)
    d.send(CloseInDoubt(ACC, MNQ, first.seq, d.now))
    for _ in range(12):
        d.advance(seconds=5)
    assert len(closes(d.effects)) == 1 and len(reads(d.effects)) >= 3
    said = [a.message for a in alerts(d.effects) if a.reason is Reason.CLOSE_NOT_CONFIRMED]
    assert said and all("until an order record is heard" in m for m in said)
    assert all("of an order the gateway took after it answered" in m for m in said)
    his_order(d, 77)  # the records reach us again: ours, had it been taken, came first
    d.advance(seconds=30)
    assert len(closes(d.effects)) == 2
