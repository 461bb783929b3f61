"""Found by a review of e4234f1: with this machine's clock ahead of the gateway's (30 s: a PC or
VPS with no time synchronisation, warned and allowed up to 60 s), a whole close answered 503 by
the gateway while its reads fail was judged answered at this machine's time, 30 s past the
gateway's: the trader's order, taken by the gateway 3 s after it answered ours, counted for
nothing, and the close was not sent again for 31 s, the loss open all along. The ``Date`` of the
gateway's own answer to ours judges it, whatever the clocks' difference: the close goes again
at its close timeout."""

from __future__ import annotations

import asyncio

from fsm_risk.core.states import State
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_clock_skew import gateway_behind
from tests.e2e.test_close_503_while_reads_fail import READS, RULES


async def test_a_whole_close_answered_503_goes_again_with_this_machines_clock_30_s_ahead(
    h: Harness,
) -> None:
    gateway_behind(h, 30)
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.fail_rest("/api/Position/closeContract", 503, count=1, own=True)  # not taken
    for path in READS:
        h.gateway.fail_rest(path, 503, seconds=45)
    h.gateway.move_price("MNQ", -600)  # -$600 on a 500 limit
    await h.until(lambda: h.acct.state is State.Flattening, "flattening")
    blind = h.svc.engine.pursuit.blind
    await h.until(lambda: blind.doubted, "the close's doubt told to the engine", timeout=20)
    await h.advance(seconds=3)  # (the gateway's clock too: his add is taken after the 503)
    h.trade("MNQ", "buy", 1)  # the trader adds while locked (heard live)
    sizes = []
    took = None
    for step in range(1, 31):  # the service's clock, 2 s at a time (0.5 s wall each)
        await h.advance(seconds=2)
        await asyncio.sleep(0.5)
        sizes.append(h.position("MNQ"))
        if h.position("MNQ") == 0:
            took = 2 * step
            break
    assert took is not None and took <= 20, (
        f"the position stayed open {2 * len(sizes)} s of the service's clock "
        f"({0.5 * len(sizes):.0f} s wall) after its close was answered 503: sizes {sizes}"
    )
    for _ in range(4):  # nothing opened on the other side by the closes after it
        await h.advance(seconds=5)
        await asyncio.sleep(0.5)
        assert h.position("MNQ") == 0
