"""Found by a review of 75180b6: a trader's order the gateway took while our close was in flight
(queued at a busy gateway) was pushed live and counted as proof that the order records reach us.
Ours was taken a moment after it (its market order working: a slow fill), answered 503, its
record lost (the order records silent since), the reads failing: the close sent again unread
filled beside it, and the locked account, long 2 MNQ, went short 2. Only an order the gateway
took after it answered ours proves ours came first: the close waits for its read."""

from __future__ import annotations

import asyncio
import time

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness
from tests.e2e.test_close_503_while_reads_fail import READS, RULES
from tests.e2e.test_close_in_doubt_never_beside_ours import signed

CLOSE = "/api/Position/closeContract"


async def test_never_short_on_a_trader_order_taken_while_our_close_was_in_flight(
    h: Harness,
) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.set_fill_delay(12.0)  # wall seconds a market order works before it fills
    h.gateway.hold_rest(CLOSE, 2.0)  # our close queued at the gateway: in flight 2 s
    h.gateway.fail_rest_after(CLOSE, 503, count=1, own=True)  # then done, answered 503
    for path in READS:
        h.gateway.fail_rest(path, 503, seconds=60)
    h.gateway.move_price("MNQ", -600)  # -$600 on a $500 limit
    await h.until(lambda: h.acct.state is State.Flattening, "flattening")
    await asyncio.sleep(0.3)  # our close is at the gateway, held
    blind = h.svc.engine.pursuit.blind
    bid = h.gateway.quote("MNQ").bid
    h.trade("MNQ", "buy", 1, type=1, limit_price=bid - 100)  # taken before ours, pushed live
    await h.until(lambda: (ACCOUNT, MNQ) in blind.heard, "the trader's order heard live")
    h.gateway.silence("GatewayUserOrder")  # ours, taken next, is never heard
    await h.until(lambda: blind.doubted, "the close's doubt told to the engine", timeout=20)
    assert h.closes(MNQ), "our close was taken by the gateway"
    worst, began, short_since = 0, time.monotonic(), None
    while time.monotonic() - began < 25:
        await h.advance(seconds=1)
        await asyncio.sleep(0.5)
        now = signed(h)
        if now < 0 and short_since is None:
            short_since = time.monotonic()
        worst = min(worst, now)
        if short_since is not None and now >= 0:
            break
    lasted = 0.0 if short_since is None else time.monotonic() - short_since
    assert worst == 0, (
        f"two closes of the whole position worked at once: short {-worst} MNQ on a locked "
        f"account for {lasted:.1f} s"
    )
