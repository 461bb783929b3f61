"""Found by a hunt (a chaos run of a real service): a loss limit's close answered 503 (the
gateway did not take it) while the gateway's reads answer 503 too (a gateway in trouble: reads
failing for a minute, the hubs still up). The close's outcome is unknown, and the service waited
for a read before sending another; no read came, so no close went: 2 MNQ at -$600 on a 500
limit, and the trader's add under the lock, stayed open 44.6 s of a 45 s read outage (no upper
bound). A close of the whole position in doubt whose read failed goes again at its close timeout:
it closes whatever is open (with nothing open, the gateway refuses it)."""

from __future__ import annotations

import asyncio

from fsm_risk.core.states import State
from tests.e2e.service_harness import MNQ, Harness

RULES = """
[rule.daily_loss_limit]
limit = 500
"""

READS = (
    "/api/Position/searchOpen",
    "/api/Order/searchOpen",
    "/api/Trade/search",
    "/api/Account/search",
    "/api/Order/search",
)


async def test_a_whole_close_answered_503_goes_again_while_reads_fail(h: Harness) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.fail_rest("/api/Position/closeContract", 503, count=1, own=True)  # not taken
    for path in READS:
        h.gateway.fail_rest(path, 503, seconds=45)
    h.gateway.move_price("MNQ", -600)  # -$600 on a 500 limit
    await h.until(lambda: h.acct.state is State.Flattening, "flattening")
    await asyncio.sleep(1.0)
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
