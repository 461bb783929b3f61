"""A guard, from a review of ca4d42d (every GatewayQuote record handed on, the SDK's latest-wins
coalescing bypassed by replacing the realtime client's quote forwarder): a login again
(`update_jwt_token` re-runs `setup_connections`, which binds the SDK's own forwarder anew) and
a rebuilt market hub keep the replacement: a partial quote followed in one message by another
still reaches the engine, and a stop loss it breaches is closed."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.paper.engine import iso
from tests.e2e.service_harness import Harness
from tests.e2e.test_partial_quotes_in_one_message import RULES, TICK, ZN, push

pytestmark = pytest.mark.paper(spread_ticks=0, commission=Decimal(0), token_lifetime=86400)


async def test_a_partial_quote_is_not_lost_after_a_login_again_and_a_new_market_hub(
    h: Harness,
) -> None:
    await h.start("[market]\nmark = liquidation\n" + RULES)
    broker: Any = h.svc.broker
    rt = broker.hubs
    old_market = rt.market_connection
    first = broker.client.session_token
    assert h.gateway.revoke_tokens() >= 1
    await h.gateway.drop_websockets()
    await h.until(lambda: broker.client.session_token != first, "logged in again", 30)
    await h.until(
        lambda: (
            rt.market_connection is not old_market
            and broker.quotes_settled()
            and broker.health.market_connected
        ),
        "market hub rebuilt and subscribed",
        30,
    )
    h.trade("ZN", "buy", 1)
    await h.until(lambda: ZN in h.acct.positions and h.acct.positions[ZN].priced, "held")
    entry = h.acct.positions[ZN].average_price
    h.gateway.move_price("ZN", 0)  # a full quote now: the gateway's next keep-alive one is 5 s off
    await asyncio.sleep(0.5)
    at = iso(h.clock.now())
    low = entry - 5 * TICK  # the bid 5 ticks down: -78.125, past the 62.50 stop
    h.gateway.engine.set_quote(ZN, bid=low, ask=low + TICK, last=entry)
    push(
        h,
        {"bestBid": float(low), "bestAsk": float(low + TICK), "timestamp": at},
        {"lastPrice": float(entry), "timestamp": at},
    )
    await asyncio.sleep(2)
    assert h.position("ZN") == 0, "2 s after the bid fell the ZN was still held"
