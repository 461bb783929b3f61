"""Found by a review: the trader's own round trip made while the service was dead, after our close
filled (same contract, his exit on our close's side, after our close was sent), must be his:
RULE-008 must judge his loss after the restart, as it does when our close was not in flight
when the service died (the control: the service stopped once the close was booked)."""

from __future__ import annotations

import asyncio

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.gateway import GatewayEvent
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_restart_safety import crash, freeze

RULES = """
[rule.position_stop_loss]
limit = 250
[rule.trade_cooldown]
tiers = 100: 15, 250: 30, 500: 60
"""


@pytest.mark.parametrize("dies", [True, False])
async def test_his_losing_trip_behind_our_close_fires_rule_008(h: Harness, dies: bool) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "MNQ seen")

    def die_on_the_close(ev: GatewayEvent) -> None:
        if dies and ev.kind == "order_received" and ev.data.source == "close":
            freeze(h)

    h.gateway.add_listener(die_on_the_close)
    h.gateway.move_price("MNQ", -300)  # -$300 on 2 MNQ: our RULE-014 close
    await h.gw_until(lambda: h.position("MNQ") == 0, "our close filled")
    await asyncio.sleep(0.5)
    h.gateway.remove_listener(die_on_the_close)
    if dies:
        await crash(h)
    else:
        await h.until(lambda: h.acct.state is State.Trading and not h.enforcing(), "settled")
        await h.stop()
    # while the service is dead: the trader buys 2 MNQ again and sells them 75 points lower
    h.clock.advance(seconds=60)
    h.trade("MNQ", "buy", 2)
    h.clock.advance(seconds=60)
    h.gateway.move_price("MNQ", -150)  # 2 MNQ x -75 points = -$300 (his loss)
    h.trade("MNQ", "sell", 2)
    assert h.position("MNQ") == 0
    h.clock.advance(seconds=10)
    await h.start()
    await h.until(lambda: h.svc._caught_up(1001), "its trades read", 15)
    await asyncio.sleep(1)
    audit = h.audit()
    assert [r for r in audit if r[4] == "RULE-008"], audit  # his -$300 trip: 30 min cooldown
    assert h.acct.state is State.Cooldown
