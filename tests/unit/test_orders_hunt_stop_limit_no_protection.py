"""Found by a hunt (every order type, from a trader who wants around a rule): RULE-016 takes a sell
stop-limit beside a long as its protective stop by its stop price alone. One whose limit is
above its stop (and above the entry) protects nothing: once the price falls through the stop it
rests as a sell limit above the market and never fills on the way down. A trader satisfies the
rule with it and holds the position naked."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from fsm_risk.core.events import OrderType, Side
from fsm_risk.rules.stop_loss_required import StopLossRequired
from tests.factories import MNQ, T0, closes, order, position, rule_driver

GRACE = timedelta(seconds=30)
driver = partial(rule_driver, StopLossRequired, grace_seconds="30")


@pytest.mark.parametrize(
    ("limit", "closed"),
    [
        ("20875", False),  # control: limit below its stop: sells on the way down, protects
        ("21500", True),  # limit above the entry: triggered, it rests above the market
    ],
)
def test_a_sell_stop_limit_protects_a_long_only_if_its_limit_sells_on_the_way_down(
    limit: str, closed: bool
) -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    d.send(order(2, MNQ, Side.SELL, 1, type=OrderType.STOP_LIMIT, stop="20900", limit=limit))
    out = d.at(T0 + GRACE)
    got = [c.contract_id for c in closes(out)]
    assert (got == [MNQ]) is closed
