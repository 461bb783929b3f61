"""A guard beside a review's findings (it held before the fix): the fix remembers a close in
flight only for a flattening contract scope (`note_closing` at a contract's flat_confirmed).
The same crash with an ACCOUNT-scope flatten: RULE-008 cools the account down after the
trader's losing MNQ exit and flattens his ES; the service dies once that close reached the
gateway; the ES close fills (at a loss) while it is down. At the restart the read confirms the
account flat before its trades come: is our ES close's fill booked as the trader's losing trip
(a second RULE-008)? No: the ES scope is flattening too (checked sound)."""

from __future__ import annotations

import asyncio

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.gateway import GatewayEvent
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_restart_safety import crash, freeze

RULES = """
[rule.trade_cooldown]
tiers = 100: 15, 250: 30, 500: 60
"""
ES = "CON.F.US.EP.Z26"


@pytest.mark.parametrize("dies", [True, False])
async def test_our_account_flatten_filled_while_down_fires_no_second_cooldown(
    h: Harness, dies: bool
) -> None:
    await h.start(RULES)
    h.trade("ES", "buy", 1)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: ES in h.acct.positions and MNQ in h.acct.positions, "both seen")
    h.gateway.move_price("ES", -30)  # the ES held at a loss (ours to close)

    def die_on_the_close(ev: GatewayEvent) -> None:
        if dies and ev.kind == "order_received" and ev.data.source == "close":
            freeze(h)

    h.gateway.add_listener(die_on_the_close)
    h.gateway.move_price("MNQ", -150)
    h.trade("MNQ", "sell", 2)  # his losing exit: RULE-008 flattens the ES
    await h.gw_until(lambda: h.position("ES") == 0, "our ES close filled")
    await asyncio.sleep(0.5)
    h.gateway.remove_listener(die_on_the_close)
    first = [r for r in h.audit() if r[4] == "RULE-008"]
    if dies:
        await crash(h)
    else:
        await h.until(lambda: h.acct.state is State.Cooldown and not h.enforcing(), "cooled")
        await h.stop()
    h.clock.advance(seconds=10)
    await h.start()
    await h.until(lambda: h.svc._caught_up(1001), "its trades read", 15)
    await asyncio.sleep(1)
    audit = h.audit()
    breaches = [r for r in audit if r[4] == "RULE-008" and r[3] == "breach"]
    assert breaches == first[:2], audit  # his MNQ exit's (the account and the ES): no other
    assert h.acct.state is State.Cooldown
    assert [t.enforced for t in h.acct.day.trips] == [False, True]  # the ES close: ours
