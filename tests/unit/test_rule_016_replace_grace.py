"""RULE-016's replace grace cannot keep a position naked: a stop rejected, on the wrong side,
or placed and cancelled every 4 s gives no grace, or one grace only."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.rules.stop_loss_required import REPLACE_GRACE, StopLossRequired
from tests.factories import (
    MNQ,
    T0,
    closes,
    order,
    position,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
)

GRACE = timedelta(seconds=30)
driver = partial(rule_driver, StopLossRequired)
engine = partial(rule_engine, StopLossRequired)


def stop(oid, side, price, status=OrderStatus.OPEN, at=T0, type=OrderType.STOP):
    return order(oid, MNQ, side, 1, type=type, stop=price, status=status, at=at)


def run_loop(d, make_events, until, every=timedelta(seconds=4)):
    """Every `every` the trader sends make_events(oid, now); between, the scheduler wakes
    the account each second.  Returns every close decided."""
    out = []
    oid = 100
    t = d.now
    while d.now < until:
        d.now = t
        for ev in make_events(oid, d.now):
            out += d.send(ev)
        oid += 1
        # wake every second until the next loop iteration
        for s in range(1, int(every.total_seconds())):
            out += d.at(t + timedelta(seconds=s))
        t = t + every
    return closes(out)


def test_a_stop_rejected_every_4s_keeps_no_position_naked() -> None:
    """The position never had a working stop.  The trader's platform submits a stop that
    the gateway rejects, every 4 s from 25 s on.  It must be closed at the 30 s grace."""
    d = driver()
    d.send(position(MNQ, 2, "21000"))
    d.now = T0 + timedelta(seconds=25)
    got = run_loop(
        d,
        lambda oid, now: [stop(oid, Side.SELL, "20980", status=OrderStatus.REJECTED, at=now)],
        until=T0 + timedelta(minutes=10),
    )
    assert got, "2 MNQ held 10 minutes without ever a working stop and never closed"


@pytest.mark.parametrize(
    ("side", "price"),
    [
        # a BUY stop over a LONG is a stop entry (never protection): its cancel gives no grace
        (Side.BUY, "21050"),
        # a protective stop placed and cancelled every 4 s: protected 0 s of every 4, one grace
        (Side.SELL, "20980"),
    ],
    ids=["wrong_side_gives_no_grace", "placed_and_cancelled_gives_one_grace_only"],
)
def test_a_stop_placed_and_cancelled_every_4s_keeps_no_position_naked(
    side: Side, price: str
) -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.now = T0 + timedelta(seconds=29)
    got = run_loop(
        d,
        lambda oid, now: [
            stop(oid, side, price, at=now),
            stop(oid, side, price, status=OrderStatus.CANCELLED, at=now),
        ],
        until=T0 + timedelta(minutes=10),
    )
    assert got, "a long held 10 minutes without a stop that protects it, never closed"


def test_restart_inside_the_replace_grace_keeps_it() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"), stop(1, Side.SELL, "20980"))
    d.at(T0 + timedelta(minutes=5))
    d.send(stop(1, Side.SELL, "20980", status=OrderStatus.CANCELLED, at=d.now))
    again = restart(d, engine, at=d.now + timedelta(seconds=2))
    out = start_up_read(again, position(MNQ, 1, "21000"))
    assert not closes(out)
    out = again.at(d.now + REPLACE_GRACE)
    assert [c.contract_id for c in closes(out)] == [MNQ]
