"""Found by a hunt: a trader's own stop, working before the service flattens his account or
closes one of his positions, fills first while that flatten runs: the trade is his, not the
service's close. The rules that judge his trades must see it: RULE-011 counts its loss in the
streak and RULE-012 starts its revenge watch."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.core.states import State
from fsm_risk.rules.max_consecutive_losses import MaxConsecutiveLosses
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.revenge_trading import RevengeTrading
from fsm_risk.rules.trading_permission import TradingPermission
from tests.factories import (
    ES,
    MNQ,
    Driver,
    account,
    closes,
    fill,
    flat,
    make_engine,
    order,
    position,
    quote,
)

_ids = iter(range(9_100_000, 10**9))
#: RULE-001 with ``action = flatten``: past 2 contracts every position is closed, no lock
FLATTEN_ALL = {MaxContracts: {"limit": "2", "action": "flatten"}}


def _round_trip(d: Driver, pnl: str) -> None:
    d.send(
        fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now),
        position(ES, 1, "6000", at=d.now),
        fill(ES, Side.SELL, 1, "5999", pnl=pnl, order_id=next(_ids), at=d.now),
        flat(ES, at=d.now),
    )
    d.now += timedelta(minutes=1)


def _long_es_with_its_stop(d: Driver) -> int:
    """1 ES long at 6000 and the trader's sell stop at 5990, working; a minute passes."""
    stop = next(_ids)
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now))
    d.send(position(ES, 1, "6000", at=d.now))
    d.send(order(stop, ES, Side.SELL, 1, type=OrderType.STOP, stop="5990", at=d.now))
    d.now += timedelta(minutes=1)
    return stop


def _flatten_all(d: Driver) -> None:
    """3 MNQ bought: past RULE-001's 2 contracts, the account flattens (no lock)."""
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    assert d.acct.state is State.Flattening
    assert {c.contract_id for c in closes(d.effects)} == {ES, MNQ}


def _the_stop_fills(d: Driver, stop: int, *also_flat: str) -> None:
    """The stop triggers before our close: its order final, its trade (-$500), flat."""
    d.send(
        order(stop, ES, Side.SELL, 1, type=OrderType.STOP, stop="5990", status=OrderStatus.FILLED),
        fill(ES, Side.SELL, 1, "5990", pnl="-500", order_id=stop, at=d.now),
        flat(ES, at=d.now),
        *(flat(c, at=d.now) for c in also_flat),
    )


def test_the_traders_stop_filling_during_a_flatten_is_his_third_loss_in_a_row() -> None:
    d = Driver(make_engine({MaxConsecutiveLosses: {}, **FLATTEN_ALL}))
    d.send(account())
    _round_trip(d, "-50")
    _round_trip(d, "-50")
    stop = _long_es_with_its_stop(d)
    _flatten_all(d)
    _the_stop_fills(d, stop, MNQ)
    assert d.acct.day.trips[-1].net == -500
    assert d.acct.state is State.LockedDaily
    assert "3 losing round trips in a row" in d.acct.holds["RULE-011"].detail


def test_the_traders_stop_filling_during_a_flatten_starts_the_revenge_watch() -> None:
    d = Driver(make_engine({RevengeTrading: {}, **FLATTEN_ALL}))
    d.send(account())
    stop = _long_es_with_its_stop(d)
    _flatten_all(d)
    _the_stop_fills(d, stop, MNQ)
    assert d.acct.state is State.Trading  # the flatten is done, it locks nothing
    d.now += timedelta(seconds=30)
    # 30 s after his own -$500 stop-out the trader buys 2 ES: double the losing size
    d.send(fill(ES, Side.BUY, 2, "5990", order_id=next(_ids), at=d.now))
    d.send(position(ES, 2, "5990", at=d.now))
    assert d.acct.holds["RULE-012"].until == d.now + timedelta(minutes=30)
    assert [c.contract_id for c in closes(d.effects)][-1] == ES


def test_the_traders_stop_filling_during_a_position_close_is_his_trade_too() -> None:
    d = Driver(make_engine({MaxConsecutiveLosses: {}, PositionStopLoss: {"limit": "400"}}))
    d.send(account())
    _round_trip(d, "-50")
    _round_trip(d, "-50")
    stop = _long_es_with_its_stop(d)
    d.send(quote(ES, "5992", at=d.now))  # -$400: RULE-014 closes ES
    assert d.acct.contracts[ES].state is State.Flattening
    d.now += timedelta(seconds=1)
    _the_stop_fills(d, stop)
    assert d.acct.state is State.LockedDaily


def test_the_traders_stop_filling_while_the_gateway_disallows_trading_is_his_trade() -> None:
    """canTrade false (RULE-018, default: flatten into LockedDaily): the trader's own stop,
    working since before, fills first. It is his -$500 loss, not the platform's liquidation:
    once trading is allowed again, doubling up 30 s later is revenge."""
    d = Driver(make_engine({RevengeTrading: {}, TradingPermission: {}}))
    d.send(account())
    stop = _long_es_with_its_stop(d)
    d.send(account(can_trade=False))
    assert d.acct.state is State.Flattening
    _the_stop_fills(d, stop)
    assert d.acct.state is State.LockedDaily
    d.send(account(can_trade=True))
    assert d.acct.state is State.Trading
    d.now += timedelta(seconds=30)
    d.send(fill(ES, Side.BUY, 2, "5990", order_id=next(_ids), at=d.now))
    d.send(position(ES, 2, "5990", at=d.now))
    assert d.acct.holds["RULE-012"].until == d.now + timedelta(minutes=30)
