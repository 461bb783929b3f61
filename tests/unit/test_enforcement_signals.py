"""Honest signals from the engine: a lost race is not a rejected close, a trade list read
while fills keep arriving is not an incomplete one."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.effects import Level
from fsm_risk.core.events import EnforcementRejected, OrderStatus, OrderType, Side, TradesSnapshot
from fsm_risk.core.reasons import Reason
from tests.factories import (
    ACC,
    ES,
    MNQ,
    Driver,
    account,
    alerts,
    cancels,
    fill,
    make_engine,
    order,
)
from tests.unit.test_engine import locked  # noqa: F401  (fixture)


def test_a_cancel_refused_after_the_order_filled_is_information_not_a_rejection(
    locked: Driver,  # noqa: F811
) -> None:
    d = locked
    d.send(order(88, ES, Side.BUY, 1, type=OrderType.MARKET))
    assert [c.order_id for c in cancels(d.effects)] == [88]
    d.send(order(88, ES, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED))
    out = d.send(EnforcementRejected(ACC, ES, 88, "Order 88 is filled, not working"))
    assert [(a.level, a.reason) for a in alerts(out)] == [(Level.INFO, Reason.OVERTAKEN)]


def test_a_cancel_refused_while_the_order_still_works_is_a_rejection(
    locked: Driver,  # noqa: F811
) -> None:
    d = locked
    d.send(order(89, ES, Side.BUY, 1, limit="5000"))
    out = d.send(EnforcementRejected(ACC, ES, 89, "gateway busy"))
    assert [(a.level, a.reason) for a in alerts(out)] == [(Level.CRITICAL, Reason.CLOSE_REJECTED)]


def test_a_close_refused_because_the_gateway_closed_it_first_is_information(
    locked: Driver,  # noqa: F811
) -> None:
    d = locked
    out = d.send(EnforcementRejected(ACC, MNQ, None, "No open position", overtaken=True))
    assert [(a.level, a.reason) for a in alerts(out)] == [(Level.INFO, Reason.OVERTAKEN)]


def test_trades_applied_after_the_list_was_read_are_not_missing_from_it() -> None:
    d = Driver(make_engine())
    d.send(account(), fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=801))
    asked = frozenset(d.acct.seen_trades)  # the list is asked for now
    listed = fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=801)
    d.send(fill(MNQ, Side.SELL, 1, "21010", pnl="20", fees="0.74", trade_id=802))  # meanwhile
    out = d.send(TradesSnapshot(ACC, d.acct.week.start, (listed,), asked))
    assert alerts(out) == []
    assert d.acct.day.realized == Decimal("18.52")  # the newest trade is not dropped


def test_a_list_lacking_a_trade_applied_before_it_was_asked_for_is_still_incomplete() -> None:
    d = Driver(make_engine())
    d.send(account(), fill(MNQ, Side.SELL, 1, "21000", pnl="-400", fees="0.74", trade_id=811))
    asked = frozenset(d.acct.seen_trades)
    d.send(fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=812))
    out = d.send(TradesSnapshot(ACC, d.acct.week.start, (), asked))
    assert "lacks 1 trade(s)" in alerts(out)[0].message
    assert d.acct.day.realized == Decimal("-401.48")
