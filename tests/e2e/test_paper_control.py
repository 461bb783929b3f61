"""The /_paper control API drives the same gateway a ProjectX client sees."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import httpx
import pytest

from fsm_risk.paper import OrderStatus, PaperGateway

pytestmark = pytest.mark.e2e


@pytest.fixture
async def control(paper_gateway: PaperGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=paper_gateway.control_url) as client:
        yield client


async def test_index_lists_the_endpoints(control: httpx.AsyncClient) -> None:
    listing = (await control.get("")).json()["control_api"]
    assert any("/faults/drop" in line for line in listing)


async def test_prices_orders_positions_and_the_order_log(
    control: httpx.AsyncClient, paper_gateway: PaperGateway
) -> None:
    quote = (await control.post("/price", json={"contract": "ES", "price": "6010.25"})).json()
    assert (quote["bid"], quote["ask"], quote["last"]) == (6010.25, 6010.5, 6010.25)
    moved = (await control.post("/price", json={"contract": "ES", "ticks": -3})).json()
    assert moved["last"] == 6009.5
    placed = await control.post(
        "/orders",
        json={"account_id": 1001, "contract": "ES", "side": "buy", "size": 2, "custom_tag": "t1"},
    )
    assert placed.status_code == 200 and placed.json()["status"] == "filled"
    limit = await control.post(
        "/orders",
        json={"account_id": 1001, "contract": "ES", "side": 1, "size": 1, "type": "limit",
              "limit_price": 6020},
    )  # fmt: skip
    assert limit.json()["status"] == "open"
    log = (await control.get("/orders", params={"account_id": 1001})).json()
    assert [(e["source"], e["custom_tag"], e["status"]) for e in log] == [
        ("direct", "t1", "filled"),
        ("direct", None, "open"),
    ]
    assert all(e["received_perf"] > 0 for e in log)
    cancelled = await control.post(f"/orders/{limit.json()['order_id']}/cancel", json={
        "account_id": 1001})  # fmt: skip
    assert cancelled.json()["status"] == "cancelled"
    positions = (await control.get("/positions")).json()
    assert [(p["contract_id"], p["size"], p["type"]) for p in positions] == [
        ("CON.F.US.EP.Z26", 2, "long")
    ]
    closed = await control.post("/positions/close", json={"account_id": 1001, "contract": "ES"})
    assert closed.json()["source"] == "close"
    assert (await control.get("/positions")).json() == []
    trades = (await control.get("/trades")).json()
    # bought 2 at the ask 6009.75, sold at the bid 6009.50: -1 tick x $12.50 x 2
    assert trades[-1]["profit_and_loss"] == float((D("6009.50") - D("6009.75")) * 4 * 25)
    state = (await control.get("/state")).json()
    assert state["price_mode"] == "scripted" and state["accounts"][0]["balance"] < 50000


async def test_faults_are_switched_through_the_control_api(
    control: httpx.AsyncClient, paper_gateway: PaperGateway
) -> None:
    reject = await control.post("/faults/reject", json={"count": 1, "message": "nope"})
    assert reject.json() == {"message": "nope", "remaining": 1}
    refused = await control.post(
        "/orders", json={"account_id": 1001, "contract": "MNQ", "side": 0, "size": 1}
    )
    assert refused.status_code == 409 and refused.json()["error"] == "nope"
    assert paper_gateway.order_log()[0].status is OrderStatus.REJECTED
    await control.post("/faults/fill_delay", json={"seconds": 0.5})
    assert paper_gateway.engine.fill_delay == 0.5
    await control.post("/faults/fill_delay", json={"seconds": 0})
    await control.post("/faults/wrap", json={"enabled": True})
    assert paper_gateway.wrapped
    await control.post("/faults/rate_limit", json={"limit": 5, "window": 10})
    assert (paper_gateway._rate_limit, paper_gateway._rate_window) == (5, 10)
    assert (await control.post("/faults/drop")).json() == {"dropped": 0}
    malformed = await control.post("/faults/malformed", json={"account_id": 1001})
    assert malformed.json() == {"recipients": 0}
    account = await control.post("/accounts/1001", json={"can_trade": False, "balance": 48000})
    assert account.json()["can_trade"] is False and account.json()["balance"] == 48000
    await control.post("/price_mode", json={"mode": "random_walk"})
    assert paper_gateway.price_mode == "random_walk"
    faults = (await control.get("/state")).json()["faults"]
    assert faults["wrapped"] is True and faults["rate_limit"] == 5


async def test_the_reverse_fault_pushes_the_next_orders_records_reversed(
    control: httpx.AsyncClient, paper_gateway: PaperGateway
) -> None:
    armed = await control.post("/faults/reverse", json={"account_id": 1001})
    assert armed.json() == {"reversing": {"1001": 1}}
    assert (await control.get("/state")).json()["faults"]["reversing"] == {"1001": 1}
    order = {"account_id": 1001, "contract": "MNQ", "side": 0, "size": 1}
    for _ in range(2):  # the first comes Filled, then Pending; the second as it happened
        await control.post("/orders", json=order)
    records = [p for p in paper_gateway.pushed if p.target == "GatewayUserOrder"]
    assert [p.payload["status"] for p in records] == [2, 6, 6, 2]
    assert (await control.get("/state")).json()["faults"]["reversing"] == {}
    unknown = await control.post("/faults/reverse", json={"account_id": 9})
    assert unknown.status_code == 404


async def test_bad_control_requests_are_explained(control: httpx.AsyncClient) -> None:
    unknown = await control.post("/price", json={"contract": "ZZZ", "price": 1})
    assert unknown.status_code == 404 and "ZZZ" in unknown.json()["error"]
    off_tick = await control.post("/price", json={"contract": "ES", "price": "6000.10"})
    assert off_tick.status_code == 400
    garbage = await control.post("/price", content=b"{not json")
    assert garbage.status_code == 400
    missing = await control.post("/orders", json={"account_id": 1001})
    assert missing.status_code == 400 and "contract" in missing.json()["error"]


async def test_events_since_read_only_what_is_new(
    control: httpx.AsyncClient, paper_gateway: PaperGateway
) -> None:
    """A poll of the events after a sequence number costs what it returns: the gateway reads
    its history from the newest end and stops at that number."""
    await control.post("/orders", json={"account_id": 1001, "contract": "ES", "side": "buy",
                                        "size": 1})  # fmt: skip
    first = (await control.get("/events")).json()
    last = first[-1]["seq"]
    assert (await control.get("/events", params={"since": last})).json() == []
    await control.post("/positions/close", json={"account_id": 1001, "contract": "ES"})
    new = (await control.get("/events", params={"since": last})).json()
    assert new and all(e["seq"] > last for e in new)
    assert [e["seq"] for e in new] == sorted(e["seq"] for e in new)
    assert [e.seq for e in paper_gateway.pushed_since(last)] == [e["seq"] for e in new]
    assert [e.seq for e in paper_gateway.pushed_since(0)] == [e.seq for e in paper_gateway.pushed]


async def test_a_position_is_cash_settled_with_no_trade(
    control: httpx.AsyncClient, paper_gateway: PaperGateway
) -> None:
    """`settle_position`: the position goes with no order and no trade, its P&L at the
    settlement price into the balance; pushed as the position closed, then the account."""
    buy = {"account_id": 1001, "contract": "MNQ", "side": "buy", "size": 2}
    assert (await control.post("/orders", json=buy)).json()["status"] == "filled"
    held = paper_gateway.position(1001, "MNQ")
    assert held is not None and held.size == 2
    balance, trades = paper_gateway.account(1001).balance, len(paper_gateway.trades())
    seq = paper_gateway.pushed[-1].seq
    body = {"account_id": 1001, "contract": "MNQ", "price": str(held.average_price - 60)}
    settled = await control.post("/positions/settle", json=body)
    assert settled.json() == {"settled": "CON.F.US.MNQ.Z26", "account_id": 1001}
    assert paper_gateway.position(1001, "MNQ") is None
    assert len(paper_gateway.trades()) == trades  # no trade
    assert paper_gateway.account(1001).balance == balance - D("240.00")  # 2 x 60 x $2
    pushed = [
        (p.target, p.payload.get("size"))
        for p in paper_gateway.pushed_since(seq)
        if p.target.startswith("GatewayUser")
    ]
    assert pushed == [("GatewayUserPosition", 0), ("GatewayUserAccount", None)]
    again = await control.post("/positions/settle", json=body)
    assert again.status_code == 409 and "No open position" in again.json()["error"]


async def test_a_firm_resets_an_account(
    control: httpx.AsyncClient, paper_gateway: PaperGateway
) -> None:
    """`/accounts/{id}/reset`, as a prop firm resets an account: its working orders cancelled,
    its positions removed with no trade, its trade history wiped (`/Trade/search` lists none
    of it) and its balance set (by default to its opening balance); pushed as the orders
    cancelled, the positions closed, then the account."""
    buy = {"account_id": 1001, "contract": "MNQ", "side": "buy", "size": 2}
    assert (await control.post("/orders", json=buy)).json()["status"] == "filled"
    held = paper_gateway.position(1001, "MNQ")
    assert held is not None
    stop = {"account_id": 1001, "contract": "MNQ", "side": "sell", "size": 2, "type": "stop",
            "stop_price": str(held.average_price - 50)}  # fmt: skip
    assert (await control.post("/orders", json=stop)).json()["status"] == "open"
    await control.post("/accounts/1001", json={"balance": "50600"})
    seq = paper_gateway.pushed[-1].seq
    reset = await control.post("/accounts/1001/reset", json={})
    assert reset.status_code == 200 and reset.json()["balance"] == 50000
    assert paper_gateway.position(1001, "MNQ") is None and paper_gateway.trades(1001) == []
    assert not paper_gateway.orders(working=True)
    pushed = [
        (p.target, p.payload.get("size"), p.payload.get("status"))
        for p in paper_gateway.pushed_since(seq)
        if p.target.startswith("GatewayUser")
    ]
    assert pushed == [
        ("GatewayUserOrder", 2, int(OrderStatus.CANCELLED)),
        ("GatewayUserPosition", 0, None),
        ("GatewayUserAccount", None, None),
    ]
    again = await control.post("/accounts/1001/reset", json={"balance": "49000.50"})
    assert again.json()["balance"] == D("49000.50")
    unknown = await control.post("/accounts/1001/reset", json={"balance": 1, "size": 2})
    assert unknown.status_code == 400 and "'size'" in unknown.json()["error"]
