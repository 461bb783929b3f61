"""A close that waited for the request budget is judged, once it goes, only by what comes
after: its timeout restarts then, and the marks gathered while it waited (a read begun
before it went, the flat its wait was kept across) are dropped. Found by review: a read
begun before the close went, answering "still 5 open", sent a second reduce 0.3 s after the
first went (both filled: long 1 under a limit of 3); and a close kept across a flat while it
waited was re-sent without a read at its restarted timeout."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.effects import ReducePosition
from fsm_risk.core.events import CloseWaiting, Side
from fsm_risk.core.pursuit import UNSENT_BOUND
from fsm_risk.core.states import State
from tests.factories import ACC, MNQ, Driver, gateway_read, position, reads, reduces
from tests.unit.test_close_answers import limit_3, ms, traded


def _waiting_reduce_ghosted_then_goes() -> tuple[Driver, ReducePosition]:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))  # over 3: reduce of 2 (number 1)
    [r] = reduces(d.effects)
    d.send(CloseWaiting(ACC, MNQ, r.seq, True))  # a full window: it waits
    ms(d, 500)
    d.send(*traded(81, Side.SELL, 2, 3))  # his own exit of the excess: at the target
    ms(d, 500)
    d.send(*traded(11, Side.BUY, 2, 5))  # he re-adds: over again, our reduce still waits
    cm = d.acct.contracts[MNQ]
    assert cm.state is State.Flattening and cm.close_in_flight
    ms(d, 1000)
    d.send(CloseWaiting(ACC, MNQ, r.seq, False))  # its turn: wanted (over), it goes now
    return d, r


def test_a_close_kept_across_a_flat_while_it_waited_is_not_resent_blind_once_it_went() -> None:
    d, r = _waiting_reduce_ghosted_then_goes()
    went, asked = d.now, len(reads(d.effects))
    # the gateway executed it; its records are late (the design's reason for reading first)
    d.advance(seconds=10.5)
    again = [e for e in reduces(d.effects) if e.seq != r.seq]
    assert again == [], (
        f"reduce of {again[0].size} re-sent {d.now - went} after ours went, with no read "
        f"begun since it went ({len(reads(d.effects)) - asked} asked): both fill, long 1"
    )


def test_a_read_begun_before_the_close_went_does_not_send_another_beside_it() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))
    [r] = reduces(d.effects)
    d.send(CloseWaiting(ACC, MNQ, r.seq, True))
    d.advance(seconds=UNSENT_BOUND.total_seconds() + 1)  # past the bound: a read is asked
    assert reads(d.effects), "no read asked at the bound"
    began = d.now + timedelta(milliseconds=100)  # that read begins (stamped before its slot)
    d.now = began + timedelta(milliseconds=100)
    d.send(CloseWaiting(ACC, MNQ, r.seq, False))  # our reduce is first in line: it goes
    went = d.now
    d.now += timedelta(milliseconds=300)
    # the read's answer: its position listed before our reduce executed
    gateway_read(d, position(MNQ, 5, "21000"), began=began)
    again = [e for e in reduces(d.effects) if e.seq != r.seq]
    assert again == [], (
        f"a second reduce of {again[0].size} {d.now - went} after ours went, judged by a read "
        "begun before it went: both fill, long 1 under a limit of 3"
    )
