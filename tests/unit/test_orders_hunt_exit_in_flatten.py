"""Found by a hunt (every order type, from a trader who wants around a rule): a trader's exit order
placed while a no-lock rule (RULE-002 here) reduces his position is taken for the service's
close: its fill is booked as enforcement and hidden from every rule that judges his trades
(RULE-008's cooldown here; RULE-011, RULE-012 alike). A trader can open that window at will (buy
one contract over the per-instrument limit) and send his losing exit into it. Ours are only ever
market orders: the fill of a LIMIT / JOIN / STOP order of his can never be our close."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    MNQ,
    Driver,
    account,
    fill,
    flat,
    make_engine,
    order,
    position,
    reduces,
)

_ids = iter(range(8_100_000, 10**9))
RULES = {
    TradeCooldown: {"tiers": "500: 60"},  # a round trip losing $500 or more: 60 min cooldown
    MaxContractsPerInstrument: {"default_limit": "3"},
}
KINDS = [OrderType.LIMIT, OrderType.JOIN_BID, OrderType.STOP, OrderType.MARKET]
# (a market exit of his may be our close, the gateway's close naming no order: it stays ours)


def _long_three(d: Driver) -> None:
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    d.now += timedelta(minutes=1)


def _over_the_limit(d: Driver) -> None:
    """He buys 1 more at 20900: long 4 over RULE-002's 3, our reduce of 1 goes (no lock)."""
    d.send(fill(MNQ, Side.BUY, 1, "20900", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 4, "20975", at=d.now))
    assert d.acct.contracts[MNQ].state is State.Flattening
    assert [r.size for r in reduces(d.effects)] == [1]
    d.now += timedelta(milliseconds=300)  # his exit goes 0.3 s later, our reduce still working


def _his_exit(d: Driver, kind: OrderType, size: int) -> None:
    """His exit of everything at 20900: the 3 bought at 21000 lose 100 points ($600)."""
    oid = next(_ids)
    limit = "20900" if kind in (OrderType.LIMIT, OrderType.JOIN_BID) else None
    stop = "20900" if kind is OrderType.STOP else None
    kw = {"type": kind, "limit": limit, "stop": stop, "at": d.now}
    d.send(order(oid, MNQ, Side.SELL, size, **kw))  # type: ignore[arg-type]
    d.send(
        order(oid, MNQ, Side.SELL, size, status=OrderStatus.FILLED, **kw),  # type: ignore[arg-type]
        fill(MNQ, Side.SELL, size, "20900", pnl="-600", order_id=oid, at=d.now),
        flat(MNQ, at=d.now),
    )


@pytest.mark.parametrize("kind", KINDS)
def test_control_his_losing_exit_outside_a_reduce_starts_the_cooldown(kind: OrderType) -> None:
    d = Driver(make_engine(RULES))
    d.send(account())
    _long_three(d)
    _his_exit(d, kind, 3)
    assert "RULE-008" in d.acct.holds, d.acct.state


@pytest.mark.parametrize("kind", KINDS[:3])
def test_his_losing_exit_during_our_reduce_starts_the_cooldown(kind: OrderType) -> None:
    d = Driver(make_engine(RULES))
    d.send(account())
    _long_three(d)
    _over_the_limit(d)
    _his_exit(d, kind, 4)
    assert not d.acct.day.fills[-1].enforcement, "his exit booked as our close"
    assert "RULE-008" in d.acct.holds, "his -$600 exit was taken for our reduce: no cooldown"
