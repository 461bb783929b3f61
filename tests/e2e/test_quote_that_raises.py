"""Found by a review of ca4d42d: the GatewayQuote handler that replaced the SDK's runs inside
pysignalr's reader, which re-raises a handler's exception for a server invocation: a quote whose
handling raised ended the market hub's reader (before, the SDK's forward caught it: one quote
lost). The raise: this machine's clock 45 s behind the gateway's (quote stamps are moved onto
our time, `gateway_clock`) and a ZN quote stamped with .NET's default DateTime
("0001-01-01T00:00:00"): moved 45 s back it is out of range (OverflowError). Every quote pushed
after it came in again the same way, so the reader kept ending and the feed went quiet."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.service_harness import MNQ, Harness

pytestmark = pytest.mark.paper(spread_ticks=0, commission=Decimal(0))
ZN = "CON.F.US.TYA.Z26"
RULES = (
    "[broker]\nfeed_silence_seconds = 3600\n"
    "[rule.max_contracts]\nlimit = 20\n[rule.max_contracts_per_instrument]\ndefault_limit = 20\n"
    "[rule.position_stop_loss]\nenabled = true\nlimit = 62.50\n"
)


async def test_a_quote_that_raises_leaves_the_market_hub_reading(h: Harness) -> None:
    gw = h.gateway
    gw.set_clock(lambda: h.clock.now() + timedelta(seconds=45))  # the gateway 45 s ahead
    for c in gw.contracts():
        q = gw.quote(c.id)
        gw.set_price(c.id, q.last, bid=q.bid, ask=q.ask)  # (quotes stamped on its clock)
    await h.start(RULES)
    h.trade("MNQ", "buy", 1)
    h.trade("ZN", "buy", 1)
    acct = h.acct
    await h.until(
        lambda: all(c in acct.positions and acct.positions[c].priced for c in (MNQ, ZN)), "held"
    )
    broker: Any = h.svc.broker
    await h.until(lambda: broker.gateway_clock.quotes_agree, "the clocks' difference judged")
    assert broker.gateway_clock.skew is not None
    payload = gw.engine.quote_payload

    def stamped_by_default(cid: str) -> dict[str, Any]:
        p = payload(cid)
        if cid == ZN:  # this contract's quotes carry .NET's default DateTime
            p["timestamp"] = p["lastUpdated"] = "0001-01-01T00:00:00"
        return p

    gw.engine.quote_payload = stamped_by_default  # type: ignore[method-assign]
    refused = broker.health.refused.get("quote", 0)
    gw.move_price("ZN", 1)  # pushes one such ZN quote
    await asyncio.sleep(1.5)
    t0 = time.perf_counter()
    gw.move_price("MNQ", -200)  # -$100 on 1 MNQ: past the 62.50 stop
    while h.position("MNQ") != 0 and time.perf_counter() - t0 < 5:
        await asyncio.sleep(0.02)
    took = time.perf_counter() - t0
    assert broker.health.readers_restarted == 0, "the market hub's reader ended"
    assert h.position("MNQ") == 0 and took < 1.0, f"MNQ still held {took:.2f} s after its breach"
    assert broker.health.refused.get("quote", 0) > refused, "the ZN quote was not refused"
