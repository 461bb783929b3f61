"""Found by a review of f977055 (the real SDK, the paper gateway): our reduce's request is slow to
land (a gateway far away), and the trader market-sells 1 (our reduce's size) meanwhile: his
order's record comes first and is taken for our close's. Our reduce then lands and fills first
(his is slower): our own fill (-$150) is booked as his trade and RULE-008 (basis trade) cools
him down on it -- our reduce tripping a rule (before f977055 it was ours)."""

from __future__ import annotations

import asyncio
import dataclasses

from fsm_risk.core.states import State
from tests.e2e.service_harness import MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.max_contracts_per_instrument]
limits = MNQ: 3
default_limit = 10
[rule.trade_cooldown]
basis = trade
tiers = 100: 15
"""


async def test_our_reduce_filled_beside_his_same_size_exit_is_not_judged_as_his(
    h: Harness,
) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: h.acct.positions.get(MNQ) and h.acct.positions[MNQ].size == 3, "3 held")
    h.clock.advance(seconds=60)
    h.gateway.move_price("MNQ", -400)  # 100 points down
    h.gateway.settings = dataclasses.replace(h.gateway.settings, rest_latency=1.5)
    h.trade("MNQ", "buy", 1)  # one over the limit: our reduce of 1 goes (slow to land)
    await h.until(
        lambda: (cm := h.acct.contracts.get(MNQ)) is not None and cm.close_sent_at is not None,
        "our reduce sent",
    )
    assert h.contract_state(MNQ) is State.Flattening
    assert not h.closes("MNQ")  # not landed yet
    h.gateway.set_fill_delay(4.0)
    his = h.trade("MNQ", "sell", 1, type=2)  # his market sale of 1, slow to fill
    h.gateway.set_fill_delay(0)
    await h.until(lambda: h.acct.contracts[MNQ].close_order == his.order_id, "his taken for ours")
    await h.gw_until(lambda: h.closes("MNQ"), "our reduce landed", timeout=20)
    ours = h.closes("MNQ")[0]
    await h.until(lambda: [f for f in h.acct.day.fills if f.order_id == ours.order_id], "booked")
    await asyncio.sleep(1.5)
    mine = [f for f in h.acct.day.fills if f.order_id == ours.order_id]
    rows = [r for r in h.audit() if r[4] == "RULE-008"]
    assert all(f.enforcement for f in mine), "our reduce's fill booked as his"
    assert not rows, "our own reduce cooled him down (and flattened his 3)"
