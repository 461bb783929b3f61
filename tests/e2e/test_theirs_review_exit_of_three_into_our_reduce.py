"""Found by a review of bce46ce: the hunt's exploit sized to leave our reduce its contract. Long 4
over RULE-002's 3, our reduce of 1 working (the gateway fills it 4 s later; our withdrawal of it
is refused: it is already on its way), he sells 3 by a limit at once: -$600 on the 3. His fill
is his, but ours closes the round trip after it and RULE-008 never judges the -$600 (the real
SDK, the paper gateway)."""

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


async def test_his_limit_exit_of_three_beside_our_reduce_fires_rule_008(h: Harness) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: h.acct.positions.get(MNQ) and h.acct.positions[MNQ].size == 3, "3 held")
    h.clock.advance(seconds=60)
    h.gateway.move_price("MNQ", -400)  # 100 points down: the 3 lose $600
    h.gateway.set_fill_delay(4.0)  # our reduce works 4 s
    h.gateway.refuse_cancels("Order is being filled")  # our withdrawal comes too late
    h.trade("MNQ", "buy", 1)  # one over the limit: our reduce of 1 goes
    await h.gw_until(lambda: h.closes("MNQ"), "our reduce sent", timeout=20)
    await asyncio.sleep(0.3)
    h.clock.advance(seconds=0.3)
    assert h.contract_state(MNQ) is State.Flattening
    h.gateway.set_fill_delay(0)
    bid = h.gateway.quote("MNQ").bid
    exit_order = h.trade("MNQ", "sell", 3, type=1, limit_price=bid - 5)  # his exit of 3
    await h.gw_until(
        lambda: h.gateway.order(exit_order.order_id).status == OrderStatus.FILLED,
        "his exit filled",
        timeout=20,
    )
    await h.gw_until(lambda: h.position("MNQ") == 0, "flat: our reduce filled too", timeout=20)
    await asyncio.sleep(1.5)
    audit = h.audit()
    assert [r for r in audit if r[4] == "RULE-008"], "his -$600 exit hidden by our reduce's fill"
