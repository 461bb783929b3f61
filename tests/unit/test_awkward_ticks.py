"""Treasuries and currencies: ticks that are binary fractions of a point (ZN 1/64 at
$15.625) or tiny decimals (6J 0.0000005 at $6.25), listed by the gateway under product codes
(ZN is ``CON.F.US.TYA.Z26``, 6J ``CON.F.US.JY6.Z26``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    Driver,
    account,
    alerts,
    closes,
    fill,
    make_engine,
    position,
    quote,
    rule_driver,
)

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
    out = d.send(fill(cid, Side.BUY, 4, entry, fees="3.28"), position(cid, 4, entry))
    out += d.send(quote(cid, up))
    assert not closes(out)
    assert Reason.UNKNOWN_INSTRUMENT not in {a.reason for a in alerts(out)}
    assert d.acct.state is State.Trading
    assert d.acct.open_upnl == 4 * D(tick_value)


ZN = "CON.F.US.TYA.Z26"


@pytest.mark.parametrize(
    ("size", "mark", "booked"),
    [
        (1, "110.53125", "15.62"),  # +1 tick: 15.625, half a cent to the even cent
        (1, "110.46875", "-46.88"),  # -3 ticks: -46.875
        (3, "110.53125", "46.88"),  # +1 tick on 3 contracts
        (2, "110.53125", "31.25"),  # exact
        (1, "110.5625", "46.88"),  # +3 ticks
    ],
)
def test_an_open_zn_position_is_valued_as_closing_it_would_book(
    size: int, mark: str, booked: str
) -> None:
    """The gateway books a trade's P&L to the cent (the paper gateway: half to even) and the
    balance moves by that; the open position read half a cent beside it (15.625)."""
    d = Driver(make_engine())
    d.send(account("50000"))
    d.send(fill(ZN, Side.BUY, size, "110.515625"), position(ZN, size, "110.515625"))
    d.send(quote(ZN, mark))
    assert d.acct.open_upnl == D(booked)
    assert d.acct.positions[ZN].upnl == D(booked)
    assert d.acct.equity == D("50000") + D(booked)


def test_a_daily_loss_limit_is_touched_at_the_loss_the_gateway_would_book() -> None:
    """Long 1 ZN, 3 ticks against: closing books -46.88 (46.875 to the even cent), the limit
    of 46.88 exactly. The open loss read -46.875, above the limit: the position was kept,
    and its close then booked the limit the rule promised to stop at."""
    d = rule_driver(DailyLossLimit, limit="46.88")
    d.send(fill(ZN, Side.BUY, 1, "110.515625"), position(ZN, 1, "110.515625"))
    assert not closes(d.send(quote(ZN, "110.484375")))  # -2 ticks: -31.25
    out = d.send(quote(ZN, "110.46875"))  # -3 ticks: at the limit as booked
    assert [c.contract_id for c in closes(out)] == [ZN]
    assert d.acct.state is State.Flattening


def test_a_daily_loss_limit_a_tick_short_of_a_half_cent_loss_does_not_fire() -> None:
    """-46.875 books -46.88: a limit of 46.89 is not touched, nor one of 62.51 by 4 ticks."""
    for limit, ticks in (("46.89", 3), ("62.51", 4)):
        d = rule_driver(DailyLossLimit, limit=limit)
        d.send(fill(ZN, Side.BUY, 1, "110.515625"), position(ZN, 1, "110.515625"))
        price = D("110.515625") - ticks * D("0.015625")
        assert not closes(d.send(quote(ZN, str(price))))
        assert d.acct.state is State.Trading
