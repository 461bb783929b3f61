"""A whole close in doubt whose read failed: what proves it came first is the ``Date`` of the
gateway's own answer to it, and only the gateway's own answer has one (`core.blind`,
`wire.AnsweredInDoubt`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email.utils import format_datetime

import pytest
from project_x_py.exceptions import OrderSubmissionUncertainError

from fsm_risk.adapters.wire import AnsweredInDoubt, _decoded
from fsm_risk.core.effects import Level
from fsm_risk.core.events import CloseInDoubt, OrderStatus, OrderType, OrderUpdate, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import ACC, MNQ, Driver, account, alerts, closes, make_engine, position, quote

#: this machine's clock ahead of the gateway's
AHEAD = timedelta(seconds=30)
CLOSE = "/Position/closeContract"
#: the gateway's application's own 503: its envelope
OWN = json.dumps({"success": False, "errorCode": 503, "errorMessage": "busy"}).encode()


def his_order(oid: int, created: datetime) -> OrderUpdate:
    """The trader's bot's limit buy of 1 MNQ, pushed live as the gateway took it."""
    return OrderUpdate(ACC, oid, MNQ, OrderStatus.OPEN, OrderType.LIMIT, Side.BUY, 1, created)


def long_2_past_the_limit() -> Driver:
    """Long 2 MNQ at -$800 on a $500 limit: our close of the whole position goes now."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 2, "21000"))
    assert len(closes(d.send(quote(MNQ, "20800")))) == 1
    assert d.acct.state is State.Flattening
    return d


def answer_of(status: int, body: bytes, date: str | None) -> datetime | None:
    """What the service tells the engine of our close's answer (`CloseInDoubt.answered`)."""
    with pytest.raises(OrderSubmissionUncertainError) as raised:
        _decoded(CLOSE, status, body, {}, None, date)
    return raised.value.answered if isinstance(raised.value, AnsweredInDoubt) else None


def test_a_busy_accounts_close_in_doubt_goes_again_with_this_machines_clock_ahead() -> None:
    """Found by a review of e4234f1: the answer's time was this machine's clock moved only for
    a gateway ahead; with this machine 30 s ahead of the gateway (warned, allowed up to 60 s),
    the trader's bot's orders, each taken after the gateway answered ours, counted for nothing
    for 31 s: the loss stayed open. The gateway's own 503 to ours carries its ``Date``: an order
    created over a second past it proves ours came first, whatever the clocks' difference, and
    the close goes again at its close timeout."""
    d = long_2_past_the_limit()
    [first] = closes(d.effects)
    d.now += timedelta(milliseconds=400)
    date = format_datetime(d.now - AHEAD, usegmt=True)  # the gateway's clock, to the second
    answered = answer_of(503, OWN, date)
    assert answered is not None
    d.send(CloseInDoubt(ACC, MNQ, first.seq, answered))
    for oid in range(100, 160):  # 12 s of the bot's orders
        d.now += timedelta(milliseconds=200)
        d.send(his_order(oid, d.now - AHEAD))  # the gateway's stamp: after its answer
        d.advance(seconds=0)
    assert len(closes(d.effects)) == 2, (
        "not sent again in 12 s of the trader's orders, each taken after the gateway "
        f"answered ours (answer's time judged {answered - (d.now - AHEAD)} past the last one)"
    )


@pytest.mark.parametrize(
    ("status", "body", "date"),
    [
        (503, b"Service Unavailable", "Tue, 08 Dec 2026 00:00:00 GMT"),  # a proxy's: bare
        (502, b"<html><body>Bad Gateway</body></html>", "Tue, 08 Dec 2026 00:00:00 GMT"),
        (504, b"", "Tue, 08 Dec 2026 00:00:00 GMT"),  # a load balancer gave up upstream
        (503, OWN, None),  # no Date: no time it was done with ours
        (500, json.dumps({"title": "error"}).encode(), "Tue, 08 Dec 2026 00:00:00 GMT"),
    ],
)
def test_only_the_gateways_own_5xx_with_its_date_tells_when_it_was_done_with_ours(
    status: int, body: bytes, date: str | None
) -> None:
    """Found by a review of e4234f1: a bare or a proxy's 5xx (the backend perhaps still working
    on ours) was read as the gateway's answer. Only its envelope and its Date say it was done."""
    assert answer_of(status, body, date) is None


def test_a_whole_close_timed_out_waits_for_its_read_whatever_orders_are_heard() -> None:
    """Found by a review of e4234f1: a close that timed out was a close in doubt answered when
    we gave up; the gateway, busy, had read it and took it 8 s later, after a trader's order
    created 2 s after we gave up, which then counted as proof: the close sent again unread
    filled beside ours, long 2 MNQ became short 2 on a locked account. With no answer of the
    gateway's own (``answered`` None: a timeout, a lost connection, a bare 5xx) no order proves
    anything: it waits for its read, says why, and the alert is critical after repeated asks."""
    d = long_2_past_the_limit()
    [first] = closes(d.effects)
    d.now += timedelta(seconds=30)  # the request timeout: we give up on it
    d.send(CloseInDoubt(ACC, MNQ, first.seq, None))
    before = len(d.effects)
    for oid in range(100, 124):  # two minutes of the trader's orders, each long after
        d.now += timedelta(seconds=5)
        d.send(his_order(oid, d.now))
        d.advance(seconds=0)
    assert len(closes(d.effects)) == 1, "sent again unread beside a close that may yet be taken"
    said = [a for a in alerts(d.effects[before:]) if a.reason is Reason.CLOSE_NOT_CONFIRMED]
    assert said and all("no answer from the gateway itself" in a.message for a in said)
    assert said[-1].level is Level.CRITICAL
