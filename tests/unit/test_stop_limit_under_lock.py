"""Found by a review: a stop-limit that
triggers without filling (the price gapped through its limit) rests as a limit, and one price
then fills it and a target beside it. A sell stop-limit of 1 and a sell target of 1 beside a
kept long 1 end, both filled, short 1 in the locked scope: they must not both work."""

from __future__ import annotations

from functools import partial

from fsm_risk.core.events import OrderType, OrderUpdate, Side
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from tests.factories import MNQ, order, rule_driver
from tests.unit.test_exits_kept_under_lock import cancelled, locked_with_mnq_held, resizes

driver = partial(rule_driver, MaxTradesPerDay, limit="2")


def stop_limit(size: int, oid: int) -> OrderUpdate:
    return order(oid, MNQ, Side.SELL, size, type=OrderType.STOP_LIMIT, stop="20900", limit="20899")


def target(size: int, oid: int) -> OrderUpdate:
    return order(oid, MNQ, Side.SELL, size, limit="21100")


def test_a_target_then_a_stop_limit_beside_a_long_1_are_not_both_kept() -> None:
    d = driver()
    locked_with_mnq_held(d, [])
    out = d.send(target(1, 3))
    assert cancelled(out) == []
    out = d.send(stop_limit(1, 10))
    # the protection is kept; the target, which with it could sell 2 of a long 1, goes
    assert cancelled(out) == [3] and resizes(out) == []


def test_a_stop_limit_then_a_target_beside_a_long_1_are_not_both_kept() -> None:
    d = driver()
    locked_with_mnq_held(d, [])
    assert cancelled(d.send(stop_limit(1, 2))) == []
    out = d.send(target(1, 3))
    assert cancelled(out) == [3] and resizes(out) == []


def test_a_plain_stop_and_a_target_are_still_both_kept() -> None:
    """The bracket's legs (a stop fills only below the market, a limit only above) stay."""
    d = driver()
    locked_with_mnq_held(d, [])
    d.send(target(1, 3))
    out = d.send(order(10, MNQ, Side.SELL, 1, type=OrderType.STOP, stop="20900"))
    assert cancelled(out) == [] and resizes(out) == []
