"""Found by a review: RULE-002 reduces 3 MNQ to its limit of 2 and the service dies once the
reduce reached the gateway. While it is down the trader sells his other 2 at a loss. At the
restart the read finds MNQ flat before the trades: the reduce's fill is ours, his sale is his
and RULE-008 must judge it (it does when the service merely stopped)."""

from __future__ import annotations

import asyncio

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.gateway import GatewayEvent
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_restart_safety import crash, freeze

RULES = """
[rule.max_contracts_per_instrument]
limits = MNQ: 2
[rule.trade_cooldown]
tiers = 100: 15, 250: 30, 500: 60
"""


@pytest.mark.parametrize("dies", [True, False])
async def test_his_sale_after_our_reduce_fires_rule_008(h: Harness, dies: bool) -> None:
    await h.start(RULES)

    def die_on_the_reduce(ev: GatewayEvent) -> None:
        if dies and ev.kind == "order_received" and ev.data.source in ("close", "partial_close"):
            freeze(h)

    h.gateway.add_listener(die_on_the_reduce)
    h.trade("MNQ", "buy", 3)
    await h.gw_until(lambda: h.position("MNQ") == 2, "our reduce filled")
    await asyncio.sleep(0.5)
    h.gateway.remove_listener(die_on_the_reduce)
    if dies:
        await crash(h)
    else:
        await h.until(lambda: h.contract_state(MNQ) is State.Trading and not h.enforcing(), "ok")
        await h.stop()
    h.clock.advance(seconds=60)
    h.gateway.move_price("MNQ", -150)  # 2 MNQ x -37.5 points = -$150 (his loss)
    h.trade("MNQ", "sell", 2)
    assert h.position("MNQ") == 0
    h.clock.advance(seconds=10)
    await h.start()
    await h.until(lambda: h.svc._caught_up(1001), "its trades read", 15)
    await asyncio.sleep(1)
    audit = h.audit()
    assert [c.contract_id for c in h.closes()] == [MNQ]  # our reduce, once
    assert [r for r in audit if r[4] == "RULE-008"], audit  # his loss: a cooldown
    assert h.acct.state is State.Cooldown
