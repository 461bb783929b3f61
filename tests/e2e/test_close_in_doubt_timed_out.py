"""Found by a review of e4234f1: a whole close that timed out (no answer at all) was a close in
doubt answered the moment we gave up on it. A busy gateway takes a request it has read after
that: the wire's reset only drops what the kernel still holds. The trader's order, taken after
we gave up (created over a second past it), counted as proof that ours came first; ours, taken
after it, its record lost (the order records silent since), worked unseen, and the close sent
again unread filled beside it: long 2 MNQ on a locked account went short 2. A close with no
answer of the gateway's own (a timeout, a lost connection, a bare or a proxy's 5xx) must wait
for its read, and say so: never two closes of the whole position at once."""

from __future__ import annotations

import asyncio
import time

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness
from tests.e2e.test_close_503_while_reads_fail import READS, RULES
from tests.e2e.test_close_in_doubt_never_beside_ours import signed

CLOSE = "/api/Position/closeContract"


async def test_never_short_on_a_trader_order_taken_after_our_close_timed_out(
    h: Harness,
) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    timeout = h.svc.broker.wire.timeout  # the SDK's request timeout (30 s)
    h.gateway.set_fill_delay(20.0)  # wall seconds a market order works before it fills
    # our close is received and queued at a busy gateway past our timeout: taken 8 s after
    # we gave up on it (nothing the reset can take back: the gateway has read it)
    h.gateway.hold_rest(CLOSE, timeout + 8.0)
    for path in READS:
        h.gateway.fail_rest(path, 503, seconds=timeout + 60)
    h.gateway.move_price("MNQ", -600)  # -$600 on a $500 limit
    await h.until(lambda: h.acct.state is State.Flattening, "flattening")
    blind = h.svc.engine.pursuit.blind
    await h.until(
        lambda: blind.doubted, "the close's timeout told as a doubt", timeout=timeout + 10
    )
    assert not h.closes(MNQ), "our close is still queued at the gateway"
    await h.advance(seconds=2)  # the trader's order is created 2 s after we gave up
    bid = h.gateway.quote("MNQ").bid
    h.trade("MNQ", "buy", 1, type=1, limit_price=bid - 100)  # taken before ours, pushed live
    await h.until(lambda: (ACCOUNT, MNQ) in blind.heard, "the trader's order heard live")
    h.gateway.silence("GatewayUserOrder")  # ours, taken next, is never heard
    await h.gw_until(lambda: h.closes(MNQ), "our timed-out close taken by the gateway")
    worst, began, short_since = 0, time.monotonic(), None
    while time.monotonic() - began < 35:
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
    assert signed(h) == 0, "ours, taken late, closed the position"
    assert any("no answer from the gateway itself" in line for line in h.logs), "not said"
