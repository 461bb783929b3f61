"""Found by a hunt (every order type, from a trader who wants around a rule): the trader opens a
reduce window at will (one contract over RULE-002's limit) and sends his losing exit into it as
a sell limit (or join bid) while our reduce works: the paper gateway fills his first, ours
after; his fill was booked as our close and RULE-008 never saw his loss."""

from __future__ import annotations

import asyncio

import pytest

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


@pytest.mark.parametrize("kind", [1, 6], ids=["limit", "join-bid"])
async def test_his_losing_exit_sent_into_our_reduce_fires_rule_008(h: Harness, kind: int) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: h.acct.positions.get(MNQ) and h.acct.positions[MNQ].size == 3, "3 held")
    h.clock.advance(seconds=60)
    h.gateway.move_price("MNQ", -400)  # 100 points down: the 3 lose $600
    h.gateway.set_fill_delay(4.0)  # our reduce works 4 s
    h.trade("MNQ", "buy", 1)  # one over the limit: our reduce of 1 goes
    await h.gw_until(lambda: h.closes("MNQ"), "our reduce sent", timeout=20)
    await asyncio.sleep(0.3)
    h.clock.advance(seconds=0.3)  # (the service's clock: his exit goes 0.3 s after our reduce)
    assert h.contract_state(MNQ) is State.Flattening  # our reduce still working
    h.gateway.set_fill_delay(0)  # his exit fills at once, before ours
    bid = h.gateway.quote("MNQ").bid
    kw = {"limit_price": bid - 5} if kind == 1 else {}
    exit_order = h.trade("MNQ", "sell", 4, type=kind, **kw)  # his exit of all 4
    await h.gw_until(
        lambda: h.gateway.order(exit_order.order_id).status == OrderStatus.FILLED,
        "his exit filled",
        timeout=20,
    )
    await h.gw_until(lambda: h.position("MNQ") == 0, "flat", timeout=20)
    await asyncio.sleep(1.5)
    audit = h.audit()
    assert [r for r in audit if r[4] == "RULE-008"], "his -$600 exit was booked as our close"
