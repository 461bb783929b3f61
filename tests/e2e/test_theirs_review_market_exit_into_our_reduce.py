"""Found by a review of bce46ce: the hunt's exploit (a losing exit sent into our RULE-002 reduce)
with the trader's exit as a MARKET order (the SDK's close_position, the platform's 'flatten'
button): his fill is still booked as our close and RULE-008 never sees his -$600 (the real SDK,
the paper gateway). Same script as tests/e2e/test_orders_hunt_exit_into_our_reduce.py, type 2."""

from __future__ import annotations

import asyncio

from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderStatus
from tests.e2e.service_harness import MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.max_contracts_per_instrument]
limits = MNQ: 3
default_limit = 10
[rule.trade_cooldown]
tiers = 100: 15, 250: 30, 500: 60
"""


async def test_his_losing_market_exit_sent_into_our_reduce_fires_rule_008(h: Harness) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: h.acct.positions.get(MNQ) and h.acct.positions[MNQ].size == 3, "3 held")
    h.clock.advance(seconds=60)
    h.gateway.move_price("MNQ", -400)  # 100 points down: the 3 lose $600
    h.gateway.set_fill_delay(4.0)  # our reduce works 4 s
    h.trade("MNQ", "buy", 1)  # one over the limit: our reduce of 1 goes
    await h.gw_until(lambda: h.closes("MNQ"), "our reduce sent", timeout=20)
    await asyncio.sleep(0.3)
    h.clock.advance(seconds=0.3)
    assert h.contract_state(MNQ) is State.Flattening  # our reduce still working
    h.gateway.set_fill_delay(0)  # his exit fills at once, before ours
    exit_order = h.trade("MNQ", "sell", 4, type=2)  # his MARKET exit of all 4
    await h.gw_until(
        lambda: h.gateway.order(exit_order.order_id).status == OrderStatus.FILLED,
        "his exit filled",
        timeout=20,
    )
    await h.gw_until(lambda: h.position("MNQ") == 0, "flat", timeout=20)
    await asyncio.sleep(1.5)
    audit = h.audit()
    assert [r for r in audit if r[4] == "RULE-008"], "his -$600 market exit booked as our close"
