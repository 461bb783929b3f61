"""Found by a crash hunt (real SDK, paper gateway, shared manual clock): our close of one contract
(RULE-014 position stop loss) fills while the service is dead (it died once the close reached
the gateway). At the restart the read listed the positions first and confirmed the contract flat,
then booked the close's fill as the trader's losing round trip: RULE-008 trade_cooldown fired,
flattened the trader's ES and locked the account for 30 min (none of it happens without the
crash). Now the close's fill stays ours: no rule fires on it, the ES is left alone."""

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
ES = "CON.F.US.EP.Z26"


@pytest.mark.parametrize("other", ["ES held", "flat"])
@pytest.mark.parametrize("dies", [True, False])
async def test_our_close_filled_while_down_fires_no_rule(
    h: Harness, dies: bool, other: str
) -> None:
    await h.start(RULES)
    if other == "ES held":
        h.trade("ES", "buy", 1)
        await h.until(lambda: ES in h.acct.positions, "ES seen")
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "MNQ seen")

    def die_on_the_close(ev: GatewayEvent) -> None:
        if dies and ev.kind == "order_received" and ev.data.source == "close":
            freeze(h)  # the close reached the gateway: nothing more reaches the database

    h.gateway.add_listener(die_on_the_close)
    h.gateway.move_price("MNQ", -300)  # 2 MNQ x -75 points = -$300: past the $250 stop loss
    await h.gw_until(lambda: h.position("MNQ") == 0, "our close filled")
    await asyncio.sleep(0.5)
    h.gateway.remove_listener(die_on_the_close)
    await crash(h)
    await h.start()
    await h.until(lambda: h.svc._caught_up(1001), "its trades read", 15)
    await asyncio.sleep(1)
    audit = h.audit()
    assert not [r for r in audit if r[4] == "RULE-008"], audit  # our close's fill fired none
    assert [c.contract_id for c in h.closes()] == [MNQ]  # ours, once
    assert h.acct.state is State.Trading
    if other == "ES held":
        assert h.position("ES") == 1, "the trader's ES was closed"
