"""A close the gateway's request limit turns away (HTTP 429) is a refusal, sent again after a
second: the real SDK in the service, the paper gateway's limit per token, and another program
using the service's token filling the window.

Reported: a trader's bot on the same API key kept the gateway's window full. Every close got a
429, read (as the SDK reads it) as maybe sent: the service waited a close timeout and a read
before each re-send, then 20, 40, 60 s, and a breach stayed open 138-189 s (a locked account
grew from 1 to 11 contracts meanwhile). A 429 is the limiter saying no before the request is
taken; the close now goes again after a second."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.e2e.service_harness import ACCOUNT, MNQ, Harness


async def fill_window(api_url: str, token: str) -> int:
    """Another program on the same token reads until the gateway answers 429; returns how
    many it sent."""
    sent = 0
    async with aiohttp.ClientSession() as http:
        while True:
            sent += 1
            async with http.post(
                f"{api_url}/Order/searchOpen",
                json={"accountId": ACCOUNT},
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                if r.status == 429:
                    return sent
            assert sent < 100, "the gateway never limited"


@pytest.mark.paper(rate_limit=8, rate_limit_window=1.0)
async def test_a_close_turned_away_by_the_request_limit_goes_again_after_a_second(
    h: Harness,
) -> None:
    await h.start("[rule.max_contracts]\nlimit = 5\n")
    h.trade("MNQ", "buy", 5)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 5, "5 held")
    assert h.svc.broker.client is not None
    await fill_window(h.gateway.api_url, h.svc.broker.client.session_token)
    h.trade("MNQ", "buy", 1)  # 6 > 5: the reduce meets the full window
    await h.until(lambda: any("HTTP 429" in m for m in h.logs), "the reduce turned away")
    refused = next(m for m in h.logs if "HTTP 429" in m)
    assert "refused" in refused and "another program using the same API key" in refused
    assert not any("outcome unknown" in m for m in h.logs)
    assert h.position("MNQ") == 6 and h.closes("MNQ") == []  # nothing taken
    await asyncio.sleep(1.1)  # the other program is done: the window frees (wall time)
    # a second later by the service's clock, the reduce goes again (the close timeout, 2 s
    # here, and a read came first when it was taken for maybe sent)
    await h.advance(seconds=1)
    await h.gw_until(lambda: h.position("MNQ") == 5, "reduced to the limit")
    assert [c.size for c in h.closes("MNQ")] == [1]
