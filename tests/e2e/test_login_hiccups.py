"""The paper gateway answers the login with an HTTP error when asked (a gateway in trouble)."""

from __future__ import annotations

import aiohttp

from fsm_risk.paper import PaperGateway

LOGIN = "/api/Auth/loginKey"


async def test_the_control_api_arms_a_login_fault(paper_gateway: PaperGateway) -> None:
    gw = paper_gateway
    user, key = gw.credentials()
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{gw.control_url}/faults/rest", json={"path": LOGIN, "status": 500}
        ) as r:
            assert r.status == 200, await r.text()
        body = {"userName": user, "apiKey": key}
        async with s.post(f"{gw.api_url}/Auth/loginKey", json=body) as r:
            assert r.status == 500
        async with s.post(f"{gw.api_url}/Auth/loginKey", json=body) as r:
            assert r.status == 200 and (await r.json())["success"] is True
        bad = {"path": "/Auth/loginKey", "status": 200}
        async with s.post(f"{gw.control_url}/faults/rest", json=bad) as r:
            assert r.status == 400
