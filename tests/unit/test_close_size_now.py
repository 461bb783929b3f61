"""A whole close's order is also recognised at the size open when its record comes (the
gateway sizes closeContract as it executes), but only while that position is on the side our
close closes. Found by review: after the trader reversed (long 5, sold 8: short 3) while our
sell close of 5 was on its way, his market sell of 3 adding to the short on the locked account
was taken for our close: never cancelled, and once filled paged as our close overshooting."""

from __future__ import annotations

from fsm_risk.core.effects import CancelOrder
from fsm_risk.core.events import OrderStatus, Side
from tests.factories import MNQ, Driver, market, position
from tests.unit.test_close_answers import locked, ms, traded


def _reversed_then_adds(size: int) -> Driver:
    d = locked()
    d.send(*traded(10, Side.BUY, 5, 5))  # long 5 on a locked account: our close (sell) goes
    ms(d, 20)
    # he reverses with a sell 8 before our close executes: short 3
    d.send(
        market(11, Side.SELL, 8, OrderStatus.FILLED, 8),
        *traded(11, Side.SELL, 8, 0)[1:2],
        position(MNQ, 3, "21000", long=False),
    )
    ms(d, 20)
    # and sells more at market: an order ADDING to his short, on a locked account
    d.send(market(81, Side.SELL, size, OrderStatus.OPEN))
    return d


def _cancelled(d: Driver, oid: int) -> bool:
    return any(isinstance(e, CancelOrder) and e.order_id == oid for e in d.effects)


def test_control_an_add_to_the_short_of_another_size_is_cancelled_on_sight() -> None:
    d = _reversed_then_adds(2)
    assert 81 not in d.acct.own_orders
    assert _cancelled(d, 81)


def test_an_add_to_the_short_of_its_size_is_not_taken_for_our_sell_close() -> None:
    d = _reversed_then_adds(3)  # sell 3 while short 3: opens more, closes nothing
    assert 81 not in d.acct.own_orders, "the trader's opening sell taken for our close"
    assert _cancelled(d, 81), "his order adding to a short on a locked account not cancelled"


def test_his_add_to_the_short_filling_is_not_paged_as_our_close_overshooting() -> None:
    """The cost: his sell 3 (taken for our close) fills, short 6, and the engine pages a
    CRITICAL CLOSE_OVERSHOT ('our close ... opened 3 contract(s) on the other side') and
    judges our real close (still on its way at the gateway) done."""
    from fsm_risk.core.effects import Alert
    from fsm_risk.core.reasons import Reason
    from tests.factories import fill

    d = _reversed_then_adds(3)
    ms(d, 20)
    d.send(
        market(81, Side.SELL, 3, OrderStatus.FILLED, 3),
        fill(MNQ, Side.SELL, 3, "21000", order_id=81),
        position(MNQ, 6, "21000", long=False),
    )
    overshot = [a for a in d.effects if isinstance(a, Alert) and a.reason is Reason.CLOSE_OVERSHOT]
    assert overshot == [], overshot[0].message
