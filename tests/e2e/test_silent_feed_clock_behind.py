"""Found by a review of the reads on the gateway's time: the market hub silent while this machine's
clock is 5 minutes behind the gateway's (a start allows any amount behind). The silent contract
is priced from the gateway's bars (`broker.last_price`), whose window ended at this machine's
now + 1 min: the bars of the last 4 gateway minutes were never asked for, the mark stayed at the
price before the fall, and a -$600 open loss under a $500 limit was enforced 336 s after the
silence, not within the silence limit."""

from __future__ import annotations

import asyncio

import pytest

from fsm_risk.core.states import State
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_clock_skew import gateway_behind

RULES = """
[broker]
reconcile_interval_seconds = 1
[rule.daily_loss_limit]
limit = 500
"""
#: the feed's silence limit (``feed_silence_seconds``'s default)
SILENCE = 30


@pytest.mark.parametrize("behind", [0, 300])
async def test_a_silent_contract_is_priced_at_the_gateways_price_with_our_clock_behind(
    h: Harness, behind: int
) -> None:
    gateway_behind(h, -behind)  # the gateway's clock ``behind`` s ahead of ours
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", 1)
    await h.until(lambda: MNQ in h.svc.engine.marks, "MNQ quoted")
    h.gateway.silence("GatewayMarket")
    fell_to = h.gateway.move_price("MNQ", -600).last  # -150 points x 2 x $2: limit $500
    flat_at, marked = None, None
    for s in range(1, 361):  # six minutes of the service's clock (the gateway's follows)
        h.clock.advance(seconds=1)
        await asyncio.sleep(0.1)
        if s == SILENCE + 5:
            marked = getattr(h.svc.engine.marks.get(MNQ), "last", None)
        if h.acct.state is not State.Trading:
            flat_at = s
            break
    assert flat_at is not None and flat_at <= SILENCE + 5, (
        f"enforced {flat_at} s after the silence began (None: not in 360 s); the gateway's "
        f"price {fell_to}, the mark {marked} at {SILENCE + 5} s"
    )
    await h.until(lambda: h.acct.state is State.LockedDaily, "flattened and locked")
    assert h.position("MNQ") == 0
