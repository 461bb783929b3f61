"""Found by a review of 74ebbe6: a whole close in doubt whose read failed, answered by the
gateway's own 503: an order of the trader's the gateway took *before* ours must never prove ours
came first, though the answer's ``Date`` is the one an ASP.NET Core (Kestrel) front writes: its
``Date`` is a value cached at its one-second heartbeat and cut to the second, so it may read up
to 2 s before the moment the answer was written (the paper gateway writes the exact second)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email.utils import format_datetime

import pytest
from project_x_py.exceptions import OrderSubmissionUncertainError

from fsm_risk.adapters.wire import AnsweredInDoubt, _decoded
from fsm_risk.core.events import CloseInDoubt, OrderStatus, OrderType, OrderUpdate, Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import ACC, MNQ, Driver, account, closes, make_engine, position, quote

CLOSE = "/Position/closeContract"
#: the gateway's application's own 503: its envelope
OWN = json.dumps({"success": False, "errorCode": 503, "errorMessage": "busy"}).encode()


def his_order(oid: int, created: datetime) -> OrderUpdate:
    """The trader's limit buy of 1 MNQ, pushed live as the gateway took it."""
    return OrderUpdate(ACC, oid, MNQ, OrderStatus.OPEN, OrderType.LIMIT, Side.BUY, 1, created)


def long_2_past_the_limit() -> Driver:
    """Long 2 MNQ at -$800 on a $500 limit: our close of the whole position goes now."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 2, "21000"))
    assert len(closes(d.send(quote(MNQ, "20800")))) == 1
    assert d.acct.state is State.Flattening
    return d


def answered(date: datetime) -> datetime:
    """What the service tells the engine of our close's 503 with this ``Date``."""
    with pytest.raises(AnsweredInDoubt) as raised:
        _decoded(CLOSE, 503, OWN, {}, None, format_datetime(date, usegmt=True))
    assert isinstance(raised.value, OrderSubmissionUncertainError)
    return raised.value.answered


def test_an_order_taken_before_ours_never_proves_ours_came_first_under_a_cached_date() -> None:
    """Clocks agree. Our close goes at t0. The gateway's front last refreshed its cached
    ``Date`` at S + 0.95 s (the header reads S). The trader's bot's buy is taken at S + 1.5 s,
    ours at S + 1.7 s (after his: the order engine takes them in turn), and the application
    answers ours 503 at S + 1.9 s, its ``Date`` still S. His record is pushed live; ours and
    everything after it is lost (the hub's premise: in order, all or nothing). His order was
    created 1.5 s past the ``Date``, over the 1 s margin, yet *before* ours: it proves nothing,
    and a close sent again unread fills beside ours (long 2 MNQ becomes short 2 on a locked
    account). It must wait for its read."""
    d = long_2_past_the_limit()
    [first] = closes(d.effects)
    s = d.now.replace(microsecond=0) + timedelta(seconds=1)  # the second the Date reads
    d.at(s + timedelta(seconds=1.95))  # the 503 arrives, written at S + 1.9 s
    d.send(CloseInDoubt(ACC, MNQ, first.seq, answered(s)))
    d.advance(seconds=0.5)
    d.send(his_order(100, s + timedelta(seconds=1.5)))  # taken before ours, heard late
    for _ in range(6):  # a minute: the close timeout and more, every read failing
        d.advance(seconds=10)
    assert len(closes(d.effects)) == 1, (
        "sent again unread on a record of an order the gateway took before ours "
        "(created 1.5 s past a Date cached 1.9 s before the answer): it fills beside ours"
    )
