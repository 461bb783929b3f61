"""A read the gateway cannot answer for the moment goes again inside the request budget, at the
pace the gateway asks: the real SDK against the paper gateway, which counts every request it
receives against its own limit.

Reported: the SDK's own policy for reads sleeps a minute on a 429 (whatever Retry-After says)
and sends a read three times on a 5xx, all inside one slot of the service's budget. Another
program on the same API key fills the gateway's window; the read that a close waited on then
stood still for 60 s, and in a 5xx storm the gateway counted three requests for each one the
budget allowed, pushing it over its limit (429s on closes too)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from fsm_risk.adapters.broker import (
    Credentials,
    Priority,
    ProjectXBroker,
    RequestBudget,
    sdk_config,
)
from fsm_risk.paper import PaperGateway
from tests.e2e.service_harness import ACCOUNT


class CountingBudget(RequestBudget):
    sent = 0

    async def acquire(self, priority: Priority = Priority.READ, tag: int | None = None) -> None:
        await super().acquire(priority, tag)
        self.sent += 1


async def started(gw: PaperGateway, budget: RequestBudget) -> ProjectXBroker:
    user, key = gw.credentials()
    urls = (gw.api_url, gw.user_hub_url, gw.market_hub_url)
    broker = ProjectXBroker(
        sdk_config(*urls), Credentials(user, key), lambda _: None, budget=budget
    )
    await broker.start()
    return broker


def counted(gw: PaperGateway, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every REST request the gateway counts against its limit, by path."""
    seen: list[str] = []
    limited = gw._rate_limited

    def counting(token: str, path: str = "") -> float | None:
        seen.append(path)
        return limited(token, path)

    monkeypatch.setattr(gw, "_rate_limited", counting)
    return seen


@pytest.mark.paper(rate_limit=6, rate_limit_window=2.0)
async def test_a_read_refused_429_goes_again_when_the_gateway_says_not_a_minute_later(
    paper_gateway: PaperGateway,
) -> None:
    gw = paper_gateway
    budget = CountingBudget(1000, 60.0, 0)  # blind to the other program's requests
    broker = await started(gw, budget)
    try:
        assert broker.client is not None
        token = broker.client.session_token
        # another program on the same key fills the gateway's window
        async with aiohttp.ClientSession() as http:
            codes = []
            for _ in range(8):
                async with http.post(
                    f"{gw.api_url}/Order/searchOpen",
                    json={"accountId": ACCOUNT},
                    headers={"Authorization": f"Bearer {token}"},
                ) as r:
                    codes.append(r.status)
        assert 429 in codes, codes
        loop = asyncio.get_running_loop()
        started_at, before = loop.time(), budget.sent
        with broker.for_enforcement(ACCOUNT):  # the read a close waits on
            orders = await asyncio.wait_for(broker._open_orders(ACCOUNT), 15)
        took = loop.time() - started_at
        assert orders == []
        assert took < 6, f"the read took {took:.1f} s"  # the window is 2 s; the SDK slept 60
        assert budget.sent - before >= 2  # refused, then answered: each send in the budget
    finally:
        await broker.stop()


async def test_a_read_answered_5xx_goes_again_and_every_send_is_in_the_budget(
    paper_gateway: PaperGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = paper_gateway
    budget = CountingBudget(1000, 60.0, 0)
    broker = await started(gw, budget)
    try:
        seen = counted(gw, monkeypatch)
        gw.place_order(ACCOUNT, "MNQ", 0, 2)
        gw.fail_rest("/api/Position/searchOpen", 503, count=2)
        before = budget.sent
        held = await asyncio.wait_for(broker._positions(ACCOUNT), 15)
        assert [(p.contract_id, p.size) for p in held] == [(gw.contract("MNQ").id, 2)]
        sends = [p for p in seen if p.endswith("/Position/searchOpen")]
        assert len(sends) == 3  # two refused, the third answered
        assert budget.sent - before == len(sends)  # the budget counted what the gateway did
    finally:
        await broker.stop()


async def test_a_read_the_gateway_keeps_refusing_fails_after_three_sends(
    paper_gateway: PaperGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from project_x_py.exceptions import ProjectXServerError

    gw = paper_gateway
    budget = CountingBudget(1000, 60.0, 0)
    broker = await started(gw, budget)
    try:
        seen = counted(gw, monkeypatch)
        gw.fail_rest("/api/Order/searchOpen", 502, count=10)
        before = budget.sent
        with pytest.raises(ProjectXServerError):
            await asyncio.wait_for(broker._open_orders(ACCOUNT), 15)
        sends = [p for p in seen if p.endswith("/Order/searchOpen")]
        assert len(sends) == 3 and budget.sent - before == 3
    finally:
        await broker.stop()


@pytest.mark.paper(rate_limit=3, rate_limit_window=30.0)
async def test_what_still_goes_through_the_sdks_request_method_raises_on_a_429_at_once(
    paper_gateway: PaperGateway,
) -> None:
    """The login (and its account listing) still goes through the SDK's request method, whose
    rate-limit decorator slept a minute on a 429 before its one retry: a login at a full
    window left the service blind for 60 s. It raises now; the login's own backoff retries."""
    from project_x_py.exceptions import ProjectXRateLimitError

    gw = paper_gateway
    budget = CountingBudget(1000, 60.0, 0)
    broker = await started(gw, budget)  # the SDK's listing and ours: 2 of the 3 a window
    try:
        assert broker.client is not None
        await broker._open_orders(ACCOUNT)  # the third
        loop = asyncio.get_running_loop()
        begun = loop.time()
        with pytest.raises(ProjectXRateLimitError):
            await asyncio.wait_for(
                broker.client._make_request(
                    "POST", "/Account/search", {"onlyActiveAccounts": True}
                ),
                10,
            )
        assert loop.time() - begun < 1
    finally:
        await broker.stop()
