"""A position's average price, put right by reads and checked at the hub's door.

Reported: a position record with a wrong average (a stale one at 20000.00 for a real
21000.25, or an averagePrice of 0) left the open P&L wrong for as long as the position
stood: the periodic read compared only the sizes, agreed, and was not applied (equity 55,931
against 49,930 at the gateway, the daily loss limit blind). A read that agrees on the size
but not on the average now diverges, and the gateway's average is taken; a hub record of an
open position with an average price not above 0 is refused as malformed."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest

from fsm_risk.adapters.payloads import PayloadError, PositionShapes
from fsm_risk.core.effects import Alert
from fsm_risk.core.events import Side
from fsm_risk.core.reasons import Reason
from tests.factories import (
    ACC,
    MNQ,
    T0,
    Driver,
    account,
    fill,
    gateway_read,
    make_engine,
    position,
    quote,
)

TRIMMED = {"contractId": MNQ, "type": 1, "size": 3, "averagePrice": 21000.25}


def stale_average() -> Driver:
    """Long 3 MNQ bought at 21000.25, then a stale record of 3 at 20000.00."""
    d = Driver(make_engine())
    d.send(account("50000"), quote(MNQ, "21000.25"))
    d.send(fill(MNQ, Side.BUY, 3, "21000.25"), position(MNQ, 3, "21000.25"))
    assert d.acct.open_upnl == 0
    d.send(position(MNQ, 3, "20000.00"))  # the same size, the wrong average
    d.send(quote(MNQ, "21000.25"))
    assert d.acct.open_upnl == Decimal("6001.50")  # 1000.25 points x 3 x $2: not so
    return d


def test_a_periodic_read_of_the_same_size_at_another_average_diverges() -> None:
    d = stale_average()
    read = [position(MNQ, 3, "21000.25")]
    [alert] = d.engine.diverged(ACC, read)
    assert isinstance(alert, Alert) and alert.reason is Reason.STATE_DIVERGED
    assert f"{MNQ} at +3 averaging 21000.25, the engine held 20000.00" in alert.message


def test_the_read_applied_takes_the_gateways_average_and_the_open_pnl_is_right() -> None:
    d = stale_average()
    gateway_read(d, dataclasses.replace(position(MNQ, 3, "21000.25"), snapshot=True))
    assert d.acct.positions[MNQ].average_price == Decimal("21000.25")
    d.send(quote(MNQ, "21010.25"))
    assert d.acct.open_upnl == Decimal("60") and d.acct.equity == Decimal("50060")
    assert d.engine.diverged(ACC, [position(MNQ, 3, "21000.25")]) == []


def test_the_floats_noise_in_an_average_is_no_divergence() -> None:
    """21000.25 + 2 x 21002.25 comes as 21001.583333333332 (a float): listed with one digit
    more or less, it is the same cost."""
    d = Driver(make_engine())
    d.send(account("50000"), quote(MNQ, "21001"))
    d.send(fill(MNQ, Side.BUY, 3, "21001.583333333332"), position(MNQ, 3, "21001.583333333332"))
    assert d.engine.diverged(ACC, [position(MNQ, 3, "21001.58333333333")]) == []
    assert d.engine.diverged(ACC, [position(MNQ, 3, "21001.583333333333")]) == []
    assert d.engine.diverged(ACC, [position(MNQ, 3, "21001.5834")]) != []


@pytest.mark.parametrize("average", [0, "0", -1.5])
def test_a_hub_record_of_an_open_position_without_a_positive_average_is_refused(
    average: object,
) -> None:
    shapes = PositionShapes()
    shapes.hub(TRIMMED, ACC, T0)
    with pytest.raises(PayloadError, match="averagePrice"):
        shapes.hub({**TRIMMED, "averagePrice": average}, ACC, T0 + timedelta(seconds=1))
    # the position known stays the last good record (a read of it is not refused)
    same = shapes.hub(TRIMMED, ACC, T0 + timedelta(seconds=2))
    assert same.average_price == Decimal("21000.25") and same.opened_at == T0


def test_a_closed_position_may_come_with_an_average_of_zero() -> None:
    shapes = PositionShapes()
    shapes.hub(TRIMMED, ACC, T0)
    closed = shapes.hub({**TRIMMED, "size": 0, "averagePrice": 0}, ACC, T0)
    assert closed.size == 0
