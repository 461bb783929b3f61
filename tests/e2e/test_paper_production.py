"""The paper gateway's production profile: the real gateway's shapes and habits, seen through
the real project-x-py SDK (and raw REST / SignalR where the SDK hides the detail)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import ClientSession, WSMsgType
from project_x_py.exceptions import ProjectXOrderError

from fsm_risk.paper import OrderStatus, PaperGateway
from fsm_risk.paper.settings import PaperSettings

from .conftest import ConnectSdk

pytestmark = pytest.mark.e2e

ACCOUNT = 1001
MNQ = "CON.F.US.MNQ.Z26"
COMMISSION = PaperSettings().commission


async def rest(gw: PaperGateway, path: str, body: dict[str, Any]) -> httpx.Response:
    user, key = gw.credentials()
    async with httpx.AsyncClient(base_url=gw.api_url) as client:
        login = await client.post("/Auth/loginKey", json={"userName": user, "apiKey": key})
        token = login.json()["token"]
        return await client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


async def call(gw: PaperGateway, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = (await rest(gw, path, body)).json()
    return answer


def statuses(inbox: Any, order_id: int) -> list[int]:
    return [o["status"] for o in inbox.of("order_update") if o["id"] == order_id]


async def test_orders_go_through_pending_and_a_cancel_through_pending_cancellation(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    market = await orders.place_market_order(MNQ, 0, 1)
    limit = await orders.place_limit_order(MNQ, 0, 1, 20900.0)
    await session.inbox.wait_until(lambda i: len(statuses(i, limit.orderId)) == 2)
    assert statuses(session.inbox, market.orderId) == [OrderStatus.PENDING, OrderStatus.FILLED]
    assert statuses(session.inbox, limit.orderId) == [OrderStatus.PENDING, OrderStatus.OPEN]
    assert await orders.cancel_order(limit.orderId)
    await session.inbox.wait_until(lambda i: len(statuses(i, limit.orderId)) == 4)
    assert statuses(session.inbox, limit.orderId)[2:] == [
        OrderStatus.PENDING_CANCELLATION,
        OrderStatus.CANCELLED,
    ]


async def test_a_resting_limit_order_fills_in_parts(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    placed = await orders.place_limit_order(MNQ, 0, 5, 20990.0)
    paper_gateway.set_price("MNQ", "20989.75")  # the ask touches the limit: 3 of 5 fill
    assert paper_gateway.order(placed.orderId).status == OrderStatus.OPEN
    assert paper_gateway.position(ACCOUNT, MNQ).size == 3  # type: ignore[union-attr]
    paper_gateway.set_price("MNQ", "20989.50")  # the rest
    fills = [t.size for t in paper_gateway.trades(ACCOUNT) if t.order_id == placed.orderId]
    assert fills == [3, 2] and paper_gateway.order(placed.orderId).status == OrderStatus.FILLED
    partial = await session.inbox.wait_for(
        "order_update", lambda o: o["id"] == placed.orderId and o["fillVolume"] == 3
    )
    assert partial["status"] == OrderStatus.OPEN


async def test_a_modify_to_no_more_than_the_filled_volume_is_refused_and_changes_nothing(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    """Reported: a limit of 4 filled 2 of 4, modified to size 2 (the size is the order's
    total), was taken: size 2, fillVolume 2, still Open, and its next fill booked a trade of
    size -1. The gateway refuses it (an error answer, nothing changed), as it refuses any
    modify that leaves nothing to fill; a size above the filled volume is taken."""
    session = await connect_sdk()
    orders = await session.order_manager()
    placed = await orders.place_limit_order(MNQ, 1, 4, 21010.0)
    paper_gateway.set_price("MNQ", "21010.25")  # the bid touches the limit: 2 of 4 fill
    assert paper_gateway.position(ACCOUNT, MNQ).size == 2  # type: ignore[union-attr]
    for size in (2, 1):
        with pytest.raises(ProjectXOrderError, match=f"Invalid order size {size}: 2 of 4"):
            await orders.modify_order(placed.orderId, size=size)
        answer = await call(
            paper_gateway,
            "/Order/modify",
            {"accountId": ACCOUNT, "orderId": placed.orderId, "size": size},
        )
        assert (answer["success"], answer["errorCode"]) == (False, 3)
        order = paper_gateway.order(placed.orderId)
        assert (order.size, order.fill_volume, order.status) == (4, 2, OrderStatus.OPEN)
    assert await orders.modify_order(placed.orderId, size=3)  # 1 left to fill
    paper_gateway.set_price("MNQ", "21010.50")
    fills = [t.size for t in paper_gateway.trades(ACCOUNT) if t.order_id == placed.orderId]
    assert fills == [2, 1] and paper_gateway.order(placed.orderId).status == OrderStatus.FILLED
    assert paper_gateway.position(ACCOUNT, MNQ).size == 3  # type: ignore[union-attr]


async def test_trimmed_incremental_positions_and_commissions_reach_the_sdk_wrapped(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    await orders.place_market_order(MNQ, 0, 1)
    await orders.place_market_order(MNQ, 0, 2)
    inbox = session.inbox
    await inbox.wait_until(lambda i: len(i.of("position_update")) == 2)
    first, update = inbox.of("position_update")
    assert first["accountId"] == ACCOUNT and "creationTimestamp" in first
    assert set(update) == {"contractId", "type", "size", "averagePrice"} and update["size"] == 3
    assert all(set(raw) == {"action", "data"} for raw in inbox.raw["position_update"])
    trade = await inbox.wait_for("trade_execution")
    assert D(str(trade["commissions"])) == COMMISSION and "fees" in trade


async def test_closes_answer_the_envelope_only_with_the_documented_codes(
    paper_gateway: PaperGateway,
) -> None:
    paper_gateway.place_order(ACCOUNT, "MNQ", 0, 3)
    body = {"accountId": ACCOUNT, "contractId": MNQ}
    partial = await call(paper_gateway, "/Position/partialCloseContract", {**body, "size": 1})
    assert partial == {"success": True, "errorCode": 0, "errorMessage": None}
    too_big = await call(paper_gateway, "/Position/partialCloseContract", {**body, "size": 9})
    assert too_big["errorCode"] == 5  # InvalidCloseSize
    paper_gateway.reject_next(message="Order rejected by the market")
    refused = await call(paper_gateway, "/Position/partialCloseContract", {**body, "size": 1})
    assert refused["errorCode"] == 6  # OrderRejected (of a partial close)
    paper_gateway.reject_next(message="Order rejected by the market")
    assert (await call(paper_gateway, "/Position/closeContract", body))["errorCode"] == 5
    closed = await call(paper_gateway, "/Position/closeContract", body)
    assert closed == {"success": True, "errorCode": 0, "errorMessage": None}
    assert paper_gateway.position(ACCOUNT, MNQ) is None


async def test_a_rejected_orders_custom_tag_stays_taken(paper_gateway: PaperGateway) -> None:
    order = {"accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": 0, "size": 1}
    paper_gateway.reject_next()
    first = await call(paper_gateway, "/Order/place", {**order, "customTag": "t-1"})
    assert first["success"] is False
    retry = await call(paper_gateway, "/Order/place", {**order, "customTag": "t-1"})
    assert retry["success"] is False and "customTag 't-1' already exists" in retry["errorMessage"]


@pytest.mark.parametrize(
    ("side", "stop_loss", "take_profit", "message"),
    [
        (0, 40, None, "Invalid stop loss ticks (40). Ticks should be less than zero when longing."),
        (1, -40, None, "Ticks should be greater than zero when shorting."),
        (0, None, -8, "Invalid take profit ticks (-8). Ticks should be greater than zero"),
        (0, -3, None, "Ticks must be at least 4"),
        (0, {"ticks": -8, "type": 1}, None, "a stop loss cannot be a limit order"),
    ],
)
async def test_bracket_ticks_are_signed_with_a_four_tick_minimum(
    paper_gateway: PaperGateway, side: int, stop_loss: Any, take_profit: Any, message: str
) -> None:
    order: dict[str, Any] = {
        "accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": side, "size": 1,
    }  # fmt: skip
    if stop_loss is not None:
        order["stopLossBracket"] = (
            stop_loss if isinstance(stop_loss, dict) else {"ticks": stop_loss}
        )
    if take_profit is not None:
        order["takeProfitBracket"] = {"ticks": take_profit}
    answer = await call(paper_gateway, "/Order/place", order)
    assert answer["success"] is False and answer["errorCode"] == 2
    assert message in answer["errorMessage"]


async def test_a_signed_bracket_protects_a_long_and_stop_limit_cannot_be_placed(
    paper_gateway: PaperGateway,
) -> None:
    order = {"accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": 0, "size": 1}
    placed = await call(
        paper_gateway,
        "/Order/place",
        {**order, "stopLossBracket": {"ticks": -20}, "takeProfitBracket": {"ticks": 40}},
    )
    assert placed["success"] is True
    stop, target = (o for o in paper_gateway.order_log() if o.parent_id == placed["orderId"])
    assert (stop.stop_price, target.limit_price) == (D("20995.25"), D("21010.25"))
    found = await call(paper_gateway, "/Order/searchOpen", {"accountId": ACCOUNT})
    links = {o["id"]: (o["parentOrderId"], o["linkedOrderId"]) for o in found["orders"]}
    assert links == {
        stop.order_id: (placed["orderId"], target.order_id),
        target.order_id: (placed["orderId"], stop.order_id),
    }
    stop_limit = {**order, "type": 3, "limitPrice": 21010, "stopPrice": 21005}
    refused = await call(paper_gateway, "/Order/place", stop_limit)
    assert refused["success"] is False and "not supported" in refused["errorMessage"]


@pytest.mark.paper(rate_limit=3, bars_rate_limit=2)
async def test_bar_history_has_its_own_rate_limit_bucket(paper_gateway: PaperGateway) -> None:
    user, key = paper_gateway.credentials()
    async with httpx.AsyncClient(base_url=paper_gateway.api_url) as client:
        login = await client.post("/Auth/loginKey", json={"userName": user, "apiKey": key})
        auth = {"Authorization": f"Bearer {login.json()['token']}"}
        now = datetime.now(UTC)
        bars = {
            "contractId": MNQ, "live": False, "unit": 2, "unitNumber": 1, "limit": 5,
            "startTime": (now - timedelta(hours=1)).isoformat(), "endTime": now.isoformat(),
            "includePartialBar": True,
        }  # fmt: skip
        answers = [
            (await client.post("/History/retrieveBars", json=bars, headers=auth)).status_code
            for _ in range(3)
        ]
        assert answers == [200, 200, 429]
        search = {"onlyActiveAccounts": True}
        general = [
            (await client.post("/Account/search", json=search, headers=auth)).status_code
            for _ in range(3)
        ]
        assert general == [200, 200, 200]  # the bar requests did not use the general bucket


async def test_an_invocation_with_an_id_is_answered_with_a_completion(
    paper_gateway: PaperGateway,
) -> None:
    user, key = paper_gateway.credentials()
    async with httpx.AsyncClient(base_url=paper_gateway.api_url) as client:
        login = await client.post("/Auth/loginKey", json={"userName": user, "apiKey": key})
        token = login.json()["token"]
    url = paper_gateway.user_hub_url
    async with ClientSession() as http:
        negotiated = await http.post(f"{url}/negotiate?access_token={token}")
        conn_id = (await negotiated.json())["connectionId"]
        ws_url = url.replace("http", "ws", 1) + f"?access_token={token}&id={conn_id}"
        async with http.ws_connect(ws_url) as ws:
            await ws.send_str(json.dumps({"protocol": "json", "version": 1}) + "\x1e")
            assert (await ws.receive()).data == "{}\x1e"
            invoke = {
                "type": 1,
                "invocationId": "7",
                "target": "SubscribeAccounts",
                "arguments": [],
            }
            await ws.send_str(json.dumps(invoke) + "\x1e")
            msg = await ws.receive(timeout=5)
            assert msg.type is WSMsgType.TEXT
            completion = json.loads(msg.data.split("\x1e")[0])
            assert completion == {"type": 3, "invocationId": "7", "result": None}


async def test_the_market_hub_sends_depth(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    await session.rt.subscribe_market_data([MNQ])
    await paper_gateway.wait_for(
        lambda: any(MNQ in c["depth"] for c in paper_gateway.connections("market")),
        what="depth subscription",
    )
    paper_gateway.move_price("MNQ", 1)
    depth = await session.inbox.wait_for("market_depth", lambda d: d["contract_id"] == MNQ)
    assert {level["type"] for level in depth["data"]} == {1, 2}


async def test_a_voided_trade_gives_its_pnl_and_charges_back(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    paper_gateway.place_order(ACCOUNT, "MNQ", 0, 1)
    paper_gateway.move_price("MNQ", -40)
    paper_gateway.place_order(ACCOUNT, "MNQ", 1, 1)
    closing = paper_gateway.trades(ACCOUNT)[-1]
    before = paper_gateway.account(ACCOUNT).balance
    paper_gateway.void_trade(closing.trade_id)
    voided = await session.inbox.wait_for(
        "trade_execution", lambda t: t["id"] == closing.trade_id and t["voided"]
    )
    assert voided["voided"] is True
    paid = closing.fees + COMMISSION
    assert closing.profit_and_loss is not None
    assert paper_gateway.account(ACCOUNT).balance == before - closing.profit_and_loss + paid


@pytest.mark.paper(flat_time=time(15, 10))
async def test_the_platform_flattens_at_the_flat_time_and_reopens_at_the_reset(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    chicago_0900 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    now = [chicago_0900]
    paper_gateway.set_clock(lambda: now[0])
    paper_gateway.platform_check()
    session = await connect_sdk()
    paper_gateway.place_order(ACCOUNT, "MNQ", 0, 2)
    working = paper_gateway.place_order(ACCOUNT, "ES", 0, 1, type=1, limit_price=5000)
    now[0] += timedelta(hours=6, minutes=9)  # 15:09 Chicago
    paper_gateway.platform_check()
    assert paper_gateway.account(ACCOUNT).can_trade
    now[0] += timedelta(minutes=2)  # 15:11
    paper_gateway.platform_check()
    assert paper_gateway.position(ACCOUNT, MNQ) is None
    assert paper_gateway.order(working.order_id).status == OrderStatus.CANCELLED
    assert not paper_gateway.account(ACCOUNT).can_trade
    [platform] = [o for o in paper_gateway.order_log() if o.source == "platform"]
    assert (platform.side, platform.size, platform.custom_tag) == (1, 2, None)
    await session.inbox.wait_for("account_update", lambda a: a["canTrade"] is False)
    order = {"accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": 0, "size": 1}
    refused = await call(paper_gateway, "/Order/place", order)
    assert refused["errorCode"] == 5  # OutsideTradingHours
    now[0] += timedelta(hours=2)  # 17:11: the new trading day
    paper_gateway.platform_check()
    assert paper_gateway.account(ACCOUNT).can_trade


@pytest.mark.paper(daily_loss_limit=D("100"))
async def test_the_platform_flattens_on_the_firms_own_daily_loss(
    paper_gateway: PaperGateway,
) -> None:
    paper_gateway.place_order(ACCOUNT, "MNQ", 0, 2)
    paper_gateway.place_order(ACCOUNT, "MNQ", 0, 1, type=1, limit_price=20000)
    paper_gateway.move_price("MNQ", -80)
    paper_gateway.place_order(ACCOUNT, "MNQ", 1, 1)  # -$40.50 realized, with charges: not yet
    assert paper_gateway.account(ACCOUNT).can_trade
    paper_gateway.move_price("MNQ", -400)
    paper_gateway.place_order(ACCOUNT, "MNQ", 0, 1)  # back to 2 contracts, still losing
    paper_gateway.place_order(ACCOUNT, "MNQ", 1, 1)  # -$240.50 more realized: past 100
    assert not paper_gateway.account(ACCOUNT).can_trade
    assert [o.status for o in paper_gateway.order_log() if o.type == 1] == [OrderStatus.CANCELLED]
    assert paper_gateway.position(ACCOUNT, MNQ) is None  # the rest closed by the platform
    assert [o.size for o in paper_gateway.order_log() if o.source == "platform"] == [1]
    order = {"accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": 0, "size": 1}
    refused = await call(paper_gateway, "/Order/place", order)
    assert refused["errorCode"] == 4  # AccountViolation


@pytest.mark.paper(maintenance_break=(time(16), time(17)))
async def test_in_the_maintenance_break_every_order_is_refused_and_a_cancel_is_taken(
    paper_gateway: PaperGateway,
) -> None:
    chicago_1559 = datetime(2026, 11, 23, 21, 59, tzinfo=UTC)
    now = [chicago_1559]
    paper_gateway.set_clock(lambda: now[0])
    paper_gateway.place_order(ACCOUNT, "MNQ", 0, 2)
    stop = paper_gateway.place_order(ACCOUNT, "MNQ", 1, 2, type=4, stop_price=20000)
    now[0] += timedelta(minutes=1)  # 16:00 Chicago: the break
    body = {"accountId": ACCOUNT, "contractId": MNQ}
    closed = await call(paper_gateway, "/Position/closeContract", body)
    assert closed["errorCode"] == 5  # OrderRejected, of a close
    assert closed["errorMessage"] == (
        "Market is closed: orders are not accepted until it opens (Mon 17:00 CST)"
    )
    partial = await call(paper_gateway, "/Position/partialCloseContract", {**body, "size": 1})
    assert partial["errorCode"] == 6
    order = {**body, "type": 2, "side": 0, "size": 1}
    assert (await call(paper_gateway, "/Order/place", order))["errorCode"] == 5
    cancel = await call(
        paper_gateway, "/Order/cancel", {"accountId": ACCOUNT, "orderId": stop.order_id}
    )
    assert cancel["success"] is True
    now[0] = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)  # Friday 16:30: the weekend
    assert (await call(paper_gateway, "/Order/place", order))["errorCode"] == 5
    now[0] = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # Sunday 17:00: open
    assert (await call(paper_gateway, "/Position/closeContract", body))["success"] is True
    assert paper_gateway.position(ACCOUNT, MNQ) is None


async def test_an_account_without_funds_is_refused_new_exposure(
    paper_gateway: PaperGateway,
) -> None:
    paper_gateway.set_balance(ACCOUNT, 0)
    order = {"accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": 0, "size": 1}
    refused = await call(paper_gateway, "/Order/place", order)
    assert refused["errorCode"] == 3 and "Insufficient funds" in refused["errorMessage"]


async def test_the_control_api_silences_voids_and_liquidates(paper_gateway: PaperGateway) -> None:
    paper_gateway.place_order(ACCOUNT, "MNQ", 0, 2)
    trade = paper_gateway.trades(ACCOUNT)[-1]
    before = len([p for p in paper_gateway.pushed if p.target == "GatewayUserPosition"])
    async with httpx.AsyncClient(base_url=paper_gateway.control_url) as control:
        silenced = await control.post("/faults/silence", json={"target": "GatewayUserPosition"})
        assert silenced.json() == {"silenced": ["GatewayUserPosition"]}
        bad = await control.post("/faults/silence", json={"target": "GatewayQuote"})
        assert bad.status_code == 400 and "GatewayUserPosition" in bad.json()["error"]
        assert (await control.post(f"/trades/{trade.trade_id}/void")).status_code == 200
        assert (await control.post("/trades/1/void")).status_code == 404
        liquidated = await control.post("/platform/liquidate", json={"account_id": ACCOUNT})
        assert liquidated.json() == {"liquidated": ACCOUNT}
        state = (await control.get("/state")).json()
    assert state["faults"]["silenced"] == ["GatewayUserPosition"] and state["positions"] == []
    assert not paper_gateway.account(ACCOUNT).can_trade
    assert len([p for p in paper_gateway.pushed if p.target == "GatewayUserPosition"]) == before


@pytest.mark.parametrize(
    ("change", "code"), [({"unit": 9}, 2), ({"unitNumber": 0}, 3), ({"limit": -1}, 4)]
)
async def test_bar_requests_are_refused_with_the_documented_codes(
    paper_gateway: PaperGateway, change: dict[str, int], code: int
) -> None:
    bars = {"contractId": MNQ, "live": False, "unit": 2, "unitNumber": 1, "limit": 5}
    answer = await call(paper_gateway, "/History/retrieveBars", {**bars, **change})
    assert answer["success"] is False and answer["errorCode"] == code


async def test_the_demo_has_no_platform_flat_time_so_it_runs_at_any_hour() -> None:
    """`serve --demo` promises any hour: its paper platform does not flatten and block every
    account at 15:10 Chicago (a demo begun at 15:05 refused every order until 17:00)."""
    from fsm_risk import bootstrap, runtime

    shipped = Path(__file__).resolve().parents[2] / "settings.ini"
    demo = runtime.demo_settings(bootstrap.load_settings(str(shipped)))
    assert demo.paper is not None and demo.paper.flat_time is None
    gateway = PaperGateway(demo.paper)
    now = [datetime(2026, 11, 23, 21, 5, tzinfo=UTC)]  # 15:05 Chicago
    gateway.set_clock(lambda: now[0])
    gateway.platform_check()
    gateway.place_order(ACCOUNT, "MNQ", 0, 2)
    now[0] += timedelta(minutes=10)  # 15:15
    gateway.platform_check()
    assert gateway.account(ACCOUNT).can_trade and gateway.position(ACCOUNT, MNQ) is not None
    assert gateway.place_order(ACCOUNT, "MNQ", 0, 1).status == OrderStatus.FILLED
