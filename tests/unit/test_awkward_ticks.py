"""Treasuries and currencies: ticks that are binary fractions of a point (ZN 1/64 at
$15.625) or tiny decimals (6J 0.0000005 at $6.25), listed by the gateway under product codes
(ZN is ``CON.F.US.TYA.Z26``, 6J ``CON.F.US.JY6.Z26``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from tests.factories import Driver, account, alerts, closes, fill, make_engine, position, quote

D = Decimal

#: (gateway contract id, entry, one tick up, dollars one tick of one contract is worth)
PRODUCTS = [
    ("CON.F.US.TUA.Z26", "103.50390625", "103.5078125", "7.8125"),
    ("CON.F.US.FVA.Z26", "107.8515625", "107.859375", "7.8125"),
    ("CON.F.US.TYA.Z26", "110.515625", "110.53125", "15.625"),
    ("CON.F.US.USA.Z26", "115.03125", "115.0625", "31.25"),
    ("CON.F.US.EU6.Z26", "1.08525", "1.0853", "6.25"),
    ("CON.F.US.JY6.Z26", "0.0065035", "0.006504", "6.25"),
    ("CON.F.US.BP6.Z26", "1.2710", "1.2711", "6.25"),
]


@pytest.mark.parametrize(("cid", "entry", "up", "tick_value"), PRODUCTS)
def test_a_treasury_or_currency_position_is_valued_not_closed_as_unknown(
    cid: str, entry: str, up: str, tick_value: str
) -> None:
    """Their tick size and value were unknown until the gateway was asked (after the
    position had come): every first ZN or 6E of the day was closed at once, fail closed."""
    d = Driver(make_engine())
    d.send(account("50000"))
    out = d.send(fill(cid, Side.BUY, 2, entry, fees="1.64"), position(cid, 2, entry))
    out += d.send(quote(cid, up))
    assert not closes(out)
    assert Reason.UNKNOWN_INSTRUMENT not in {a.reason for a in alerts(out)}
    assert d.acct.state is State.Trading
    assert d.acct.open_upnl == 2 * D(tick_value)
