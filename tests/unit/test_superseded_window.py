"""A close given up on is watched for a late delivery only as long as a proxy could still
hand it over (`LATE_WINDOW`): the trader's own exits minutes later were alerted CRITICAL as
"our close delivered late" (the feed cannot tell them apart)."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import OrderStatus, Side
from fsm_risk.core.reasons import Reason
from tests.factories import MNQ, alerts, fill, flat, gateway_read, position, reads, reduces
from tests.unit.test_enforcement_pursuit import limit_3, market


def test_the_traders_own_exit_minutes_after_a_resend_is_no_late_delivery() -> None:
    d = limit_3()
    assert len(reduces(d.send(position(MNQ, 6, "21000")))) == 1
    out = d.advance(seconds=10)
    assert len(reads(out)) == 1
    assert len(reduces(gateway_read(d, position(MNQ, 6, "21000")))) == 1
    d.send(
        market(80, Side.SELL, 3, OrderStatus.FILLED, volume=3),
        fill(MNQ, Side.SELL, 3, "21000", pnl="0", order_id=80),
        position(MNQ, 3, "21000"),
    )
    # the link came back at once: the first reduce was reset and never arrived.  Five
    # minutes later the trader takes 1 of his 3 contracts off (a limit order placed working,
    # then filled: known to the service as his)
    d.now += timedelta(minutes=5)
    d.send(market(90, Side.SELL, 1, OrderStatus.OPEN))
    out = d.send(
        market(90, Side.SELL, 1, OrderStatus.FILLED, volume=1),
        fill(MNQ, Side.SELL, 1, "21010", pnl="10", order_id=90, at=d.now),
        position(MNQ, 2, "21000", at=d.now),
    )
    assert late_alerts(out) == []


def test_the_traders_market_exit_minutes_after_a_resend_is_no_late_delivery() -> None:
    d = limit_3()
    reduces(d.send(position(MNQ, 6, "21000")))
    d.advance(seconds=10)
    reduces(gateway_read(d, position(MNQ, 6, "21000")))
    d.send(
        market(80, Side.SELL, 3, OrderStatus.FILLED, volume=3),
        fill(MNQ, Side.SELL, 3, "21000", pnl="0", order_id=80),
        position(MNQ, 3, "21000"),
    )
    d.now += timedelta(minutes=5)
    out = d.send(  # the trader flattens from his platform (a market order)
        market(91, Side.SELL, 3, OrderStatus.FILLED, volume=3),
        fill(MNQ, Side.SELL, 3, "21010", pnl="30", order_id=91, at=d.now),
        flat(MNQ, at=d.now),
    )
    assert late_alerts(out) == []


def late_alerts(out: list[object]) -> list[str]:
    """Every late-delivery alert, whatever its level."""
    return [a.message for a in alerts(out) if a.reason is Reason.CLOSE_DELIVERED_LATE]
