"""The gateway refuses the session token long before it expires (the same API key logged in
elsewhere): the service logs in again at once, hands the new token to REST, both hubs and the
enforcement connections, and reconciles, so what the trader did while it was blind is enforced.
While it cannot log in it says so: one CRITICAL alert, `status` and /readyz not enforcing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable

import aiohttp
import pytest

from fsm_risk import status
from tests.e2e.service_harness import Harness, web

MAX_CONTRACTS = "[rule.max_contracts]\nlimit = 3\n"
MNQ = "CON.F.US.MNQ.Z26"
REFUSED = "the gateway refused the session token"
RESTARTS = "hub reader ended"
FAILED = "logging in again failed"
RECOVERED = "logged in again: the gateway accepts the new token"
#: from the revocation to the excess reduced (the tester saw it never reduced)
BOUND_SECONDS = 10.0


async def readyz(h: Harness) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as s, s.get(f"{web(h).url}readyz") as r:
        return r.status, json.loads(await r.text())


def count(h: Harness, text: str) -> int:
    return sum(text in m for m in h.logs)


async def eventually(predicate: Callable[[], object], what: str, timeout: float = 10) -> None:
    """Wait (wall time) for something the service logs or reports, not an event it handles."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not met within {timeout} s: {what}")
        await asyncio.sleep(0.05)


@pytest.mark.paper(token_lifetime=86400)
async def test_tokens_revoked_and_hubs_dropped_the_service_logs_in_again_and_reduces(
    h: Harness,
) -> None:
    await h.start(MAX_CONTRACTS)
    broker = h.svc.broker
    assert broker.client is not None and broker.hubs is not None
    first = broker.client.session_token
    began = time.monotonic()
    assert h.gateway.revoke_tokens() >= 1
    await h.gateway.drop_websockets()
    h.trade("MNQ", "buy", 5)  # while the service's token is refused and its hubs are down
    await h.gw_until(lambda: h.position("MNQ") == 3, "the excess reduced", BOUND_SECONDS)
    took = time.monotonic() - began
    print(f"revocation to reduce: {took:.2f} s")
    assert [c.size for c in h.closes("MNQ")] == [2]
    token = broker.client.session_token
    assert token != first  # logged in again, long before the token's expiry
    assert broker.hubs.jwt_token == token  # both hubs run on the new token
    assert broker.wire is not None and f"Bearer {token}" in broker._wire_headers().values()
    await eventually(lambda: h.svc.health()["authenticated"], "authenticated again")
    assert count(h, REFUSED) == 1  # one alert for the outage
    assert count(h, RECOVERED) == 1  # and one all-clear
    assert count(h, RESTARTS) <= 2  # the hubs were not restarted again and again
    # enforcement goes on with the new token, on the enforcement connections
    h.trade("MNQ", "buy", 2)
    await h.gw_until(lambda: h.position("MNQ") == 3, "the new excess reduced")
    assert [c.size for c in h.closes("MNQ")] == [2, 2]


@pytest.mark.paper(token_lifetime=86400)
async def test_while_logins_are_refused_the_service_says_it_is_not_enforcing_and_backs_off(
    h: Harness,
) -> None:
    await h.start(MAX_CONTRACTS)
    gw = h.gateway
    gw.settings = dataclasses.replace(gw.settings, login_refusal="api_key_authentication_disabled")
    gw.revoke_tokens()
    await gw.drop_websockets()
    await eventually(lambda: not h.svc.health()["authenticated"], "the refusal noticed")
    began = time.monotonic()
    await eventually(lambda: count(h, FAILED) >= 3, "three logins refused", 20)
    # one login at a time whoever fails meanwhile, 1 s then 2 s apart: not one per caller
    assert time.monotonic() - began >= 2.5
    assert count(h, RESTARTS) <= 2  # the hubs are not restarted while the login is refused
    assert count(h, REFUSED) == 1
    snap = h.svc.status()
    assert snap["accounts"][0]["readiness"] == "login refused"
    text = status.render(snap, color=False, source="running service")
    assert "NOT ENFORCING: the gateway refuses the service's login" in text
    assert "feed: DEGRADED" in text and "login refused" in text
    code, body = await readyz(h)
    assert code == 503 and body["authenticated"] is False and body["enforcing"] is False
    h.trade("MNQ", "buy", 5)  # bought while the service is blind
    gw.settings = dataclasses.replace(gw.settings, login_refusal="none")
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced once logged in again", 90)
    await eventually(lambda: h.svc.health()["authenticated"], "authenticated again")
    assert count(h, REFUSED) == 1 and count(h, RECOVERED) == 1
    await eventually(lambda: h.svc.health()["healthy"], "the feed healthy again")
    code, body = await readyz(h)
    assert code == 200 and body["authenticated"] is True, body
