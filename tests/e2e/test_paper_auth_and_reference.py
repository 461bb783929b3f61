"""The real SDK logs in to the paper gateway, lists accounts and finds contracts; the gateway
refuses wrong keys and answers HTTP 429 past its rate limit."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal as D

import httpx
import pytest
from project_x_py import ProjectX
from project_x_py.exceptions import (
    OrderSubmissionUncertainError,
    ProjectXAuthenticationError,
    ProjectXError,
)
from project_x_py.models import ProjectXConfig

from fsm_risk.adapters.clock import ManualClock
from fsm_risk.paper import PRODUCTS, PaperAccount, PaperGateway, PaperSettings

from .conftest import ConnectSdk

pytestmark = pytest.mark.e2e


async def test_sdk_authenticates_and_lists_the_configured_account(
    paper_gateway: PaperGateway, px_config: ProjectXConfig
) -> None:
    user, key = paper_gateway.credentials()
    async with ProjectX(user, key, config=px_config) as px:
        await px.authenticate()
        assert px.account_info is not None
        assert (px.account_info.id, px.account_info.name) == (1001, "PAPER-1")
        accounts = await px.list_accounts()
        assert [(a.id, a.balance, a.canTrade, a.simulated) for a in accounts] == [
            (1001, 50000.0, True, True)
        ]
        assert px.token_expiry is not None  # the SDK read exp from the JWT
        assert await px.validate_session()  # type: ignore[misc]  # /Auth/validate: newToken
        assert await px.ping() == "pong"  # type: ignore[misc]


@pytest.mark.paper(
    accounts=(
        PaperAccount(7, "ALPHA", D("100000.00")),
        PaperAccount(8, "BETA", D("25000.00"), can_trade=False),
    )
)
async def test_account_selection_by_name_sees_every_configured_account(
    paper_gateway: PaperGateway, px_config: ProjectXConfig
) -> None:
    user, key = paper_gateway.credentials()
    async with ProjectX(user, key, config=px_config, account_name="BETA") as px:
        await px.authenticate()
        assert px.account_info is not None
        assert (px.account_info.id, px.account_info.canTrade) == (8, False)
        assert [a.name for a in await px.list_accounts()] == ["ALPHA", "BETA"]


@pytest.mark.parametrize(
    ("username", "api_key"),
    [("paper", "short-key"), ("someone-else", "a-long-enough-api-key")],
)
async def test_wrong_credentials_are_refused_with_the_gateway_error_shape(
    paper_gateway: PaperGateway, px_config: ProjectXConfig, username: str, api_key: str
) -> None:
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            f"{paper_gateway.api_url}/Auth/loginKey",
            json={"userName": username, "apiKey": api_key},
        )
    assert reply.status_code == 200
    body = reply.json()
    assert body["success"] is False and body["errorCode"] != 0 and body["errorMessage"]
    assert body["token"] is None
    async with ProjectX(username, api_key, config=px_config) as px:
        with pytest.raises(ProjectXAuthenticationError):
            await px.authenticate()


@pytest.mark.paper(api_key="exactly-this-key")
async def test_a_configured_api_key_is_the_only_one_accepted(
    paper_gateway: PaperGateway, px_config: ProjectXConfig
) -> None:
    async with ProjectX("paper", "another-long-key", config=px_config) as px:
        with pytest.raises(ProjectXAuthenticationError):
            await px.authenticate()
    async with ProjectX("paper", "exactly-this-key", config=px_config) as px:
        await px.authenticate()


async def test_requests_without_a_valid_token_get_401(paper_gateway: PaperGateway) -> None:
    async with httpx.AsyncClient() as http:
        missing = await http.post(f"{paper_gateway.api_url}/Account/search", json={})
        forged = await http.post(
            f"{paper_gateway.api_url}/Account/search",
            json={},
            headers={"Authorization": "Bearer not.a.jwt"},
        )
    assert (missing.status_code, forged.status_code) == (401, 401)


async def test_revoked_tokens_are_refused_long_before_they_expire_and_a_new_login_works(
    paper_gateway: PaperGateway,
) -> None:
    api = paper_gateway.api_url
    user, key = paper_gateway.credentials()
    async with httpx.AsyncClient() as http:

        async def login() -> str:
            answer = await http.post(f"{api}/Auth/loginKey", json={"userName": user, "apiKey": key})
            token: str = answer.json()["token"]
            return token

        async def search(token: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"}
            return await http.post(f"{api}/Account/search", json={}, headers=headers)

        old = await login()
        assert (await search(old)).status_code == 200
        control = f"{paper_gateway.control_url}/faults/revoke_tokens"
        assert (await http.post(control, json={})).json() == {"revoked": 1}
        assert (await search(old)).status_code == 401
        negotiate = await http.post(f"{paper_gateway.user_hub_url}/negotiate?access_token={old}")
        assert negotiate.status_code == 401  # the hubs refuse it too
        new = await login()
        assert (await search(new)).status_code == 200


@pytest.mark.paper(product_codes={"ES": "EP", "NQ": "ENQ"})
async def test_contracts_are_found_by_root_and_by_product_code(
    paper_gateway: PaperGateway, px_config: ProjectXConfig
) -> None:
    user, key = paper_gateway.credentials()
    async with ProjectX(user, key, config=px_config) as px:
        await px.authenticate()
        for root, product in PRODUCTS.items():
            found = await px.search_instruments(root)
            assert len(found) == 1, root
            contract = found[0]
            assert contract.id.startswith("CON.F.US.") and contract.id.endswith(".Z26")
            assert (D(str(contract.tickSize)), D(str(contract.tickValue))) == (
                product.tick_size,
                product.tick_value,
            )
            code = contract.id.split(".")[3]  # what the SDK searches when aligning ticks
            assert [c.id for c in await px.search_instruments(code)] == [contract.id]
        es = await px.get_instrument("ES")
        assert es.id == "CON.F.US.EP.Z26" and es.name == "ESZ26"
        assert (await px.get_instrument("CON.F.US.ENQ.Z26")).tickValue == 5.0
        assert len(await px.list_available_contracts()) == len(PRODUCTS)


@pytest.mark.paper(product_codes={"ES": "EP"})
async def test_limit_orders_on_a_product_code_contract_are_tick_aligned_by_the_sdk(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    placed = await orders.place_limit_order("CON.F.US.EP.Z26", 0, 1, 5990.1)
    entry = paper_gateway.order(placed.orderId)
    assert entry.limit_price == D("5990.00")  # the SDK found the tick (0.25) via "EP"


async def test_bar_history_is_served(
    paper_gateway: PaperGateway, px_config: ProjectXConfig
) -> None:
    user, key = paper_gateway.credentials()
    async with ProjectX(user, key, config=px_config) as px:
        await px.authenticate()
        bars = await px.get_bars("MNQ", days=1, interval=5)
    assert 200 <= len(bars) <= 24 * 12
    assert {"open", "high", "low", "close", "volume"} <= set(bars.columns)
    assert (bars["high"] >= bars["low"]).all()


async def test_bars_follow_the_prices_the_gateway_really_had(
    paper_gateway: PaperGateway, px_config: ProjectXConfig
) -> None:
    """One-minute bars through the SDK: each the open, high, low and close of the prices set
    in its minute; a minute without a change (the 16:00 break) carries the last price. They
    were random around the opening price, unrelated to the prices the gateway moved through:
    a service asking the price at a reset could not be tested against them."""
    clock = ManualClock(datetime(2026, 11, 23, 21, 58, tzinfo=UTC))  # 15:58 Chicago
    paper_gateway.set_clock(clock.now)
    for seconds, price in ((0, 21005), (20, 21010), (20, 20990), (30, 21050)):
        clock.advance(seconds=seconds)
        paper_gateway.set_price("MNQ", price)
    clock.advance(minutes=6)  # 22:05:10: nothing traded since 21:59:10
    user, key = paper_gateway.credentials()
    async with ProjectX(user, key, config=px_config) as px:
        await px.authenticate()
        bars = await px.get_bars(
            "MNQ",
            interval=1,
            partial=False,
            start_time=datetime(2026, 11, 23, 21, 55, tzinfo=UTC),
            end_time=datetime(2026, 11, 23, 22, 4, tzinfo=UTC),
        )
    got = {
        t.astimezone(UTC).strftime("%H:%M"): (o, h, low, c)
        for t, o, h, low, c in bars.select("timestamp", "open", "high", "low", "close").rows()
    }
    assert got["21:57"] == (21000, 21000, 21000, 21000)  # before: the opening price
    assert got["21:58"] == (21005, 21010, 20990, 20990)
    for minute in ("21:59", "22:00", "22:01", "22:02", "22:03"):  # then carried
        assert got[minute] == (21050, 21050, 21050, 21050)


async def test_rest_calls_past_the_rate_limit_get_429_and_mutations_raise_at_once(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    paper_gateway.set_rate_limit(3, window=60)
    token = session.px.get_session_token()
    async with httpx.AsyncClient() as http:
        statuses = [
            (
                await http.post(
                    f"{paper_gateway.api_url}/Account/search",
                    json={"onlyActiveAccounts": True},
                    headers={"Authorization": f"Bearer {token}"},
                )
            ).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        last = await http.post(
            f"{paper_gateway.api_url}/Account/search",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert int(last.headers["Retry-After"]) >= 1
    # The SDK raises on a rate-limited mutation instead of sleeping; nothing was placed.
    with pytest.raises(OrderSubmissionUncertainError):
        await orders.place_market_order(paper_gateway.contract("MNQ").id, 0, 1)
    assert paper_gateway.order_log() == []
    paper_gateway.set_rate_limit(None)
    await orders.place_market_order(paper_gateway.contract("MNQ").id, 0, 1)
    assert len(paper_gateway.order_log()) == 1


async def test_the_rate_limit_is_per_token(paper_gateway: PaperGateway) -> None:
    paper_gateway.set_rate_limit(2)
    user, key = paper_gateway.credentials()
    async with httpx.AsyncClient() as http:
        tokens = []
        for _ in range(2):
            login = await http.post(
                f"{paper_gateway.api_url}/Auth/loginKey", json={"userName": user, "apiKey": key}
            )
            tokens.append(login.json()["token"])
        codes = []
        for token in (tokens[0], tokens[0], tokens[0], tokens[1]):
            reply = await http.post(
                f"{paper_gateway.api_url}/Contract/available",
                json={"live": False},
                headers={"Authorization": f"Bearer {token}"},
            )
            codes.append(reply.status_code)
    assert codes == [200, 200, 429, 200]


async def test_a_business_error_on_a_read_is_not_an_http_error(
    paper_gateway: PaperGateway, px_config: ProjectXConfig
) -> None:
    user, key = paper_gateway.credentials()
    async with ProjectX(user, key, config=px_config) as px:
        await px.authenticate()
        with pytest.raises(ProjectXError):
            await px.search_open_positions(account_id=424242)  # not this user's account


def test_default_settings_are_what_the_issue_asks_for() -> None:
    settings = PaperSettings()
    assert [(a.id, a.balance, a.can_trade) for a in settings.accounts] == [
        (1001, D("50000.00"), True)
    ]
    assert settings.rate_limit == 200 and settings.rate_limit_window == 60
    assert settings.token_lifetime == 24 * 3600
    assert settings.quote_heartbeat <= 10


@pytest.mark.paper(rest_latency=0.25)
async def test_a_gateway_far_away_answers_every_rest_request_a_round_trip_later(
    paper_gateway: PaperGateway,
) -> None:
    user, key = paper_gateway.credentials()
    async with httpx.AsyncClient(timeout=10) as http:
        began = time.perf_counter()
        login = await http.post(
            f"{paper_gateway.api_url}/Auth/loginKey", json={"userName": user, "apiKey": key}
        )
        took = time.perf_counter() - began
        assert login.json()["success"] and took >= 0.25
        token = login.json()["token"]
        began = time.perf_counter()
        listed = await http.post(
            f"{paper_gateway.api_url}/Account/search",
            json={"onlyActiveAccounts": True},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert listed.json()["accounts"] and time.perf_counter() - began >= 0.25
