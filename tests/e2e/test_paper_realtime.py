"""The hubs under stress: dropped websockets, isolation between accounts, wrapped and malformed
payloads, trading permission, rejections, fill delay, quote heartbeats, the injected clock."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from project_x_py.exceptions import ProjectXOrderError

from fsm_risk.paper import GatewayEvent, OrderStatus, PaperAccount, PaperGateway, PaperSettings

from .conftest import ConnectSdk, Inbox

pytestmark = pytest.mark.e2e

ACCOUNT = 1001


async def test_dropped_websockets_are_survived_with_resubscription(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk(quotes=("MNQ",))
    assert await paper_gateway.drop_websockets() == 2
    assert paper_gateway.connections() == []
    await paper_gateway.wait_for(
        lambda: (
            paper_gateway.subscribers(ACCOUNT) == 1 and paper_gateway.quote_subscribers("MNQ") == 1
        ),
        timeout=10,
        what="the SDK reconnects and re-subscribes both hubs",
    )
    session.inbox.clear()
    entry = paper_gateway.place_order(ACCOUNT, "MNQ", 0, 1)
    order = await session.inbox.wait_for(
        "order_update", lambda o: o["id"] == entry.order_id and o["status"] == 2
    )
    assert order["accountId"] == ACCOUNT
    await session.inbox.wait_for("position_update", lambda p: p["size"] == 1)
    paper_gateway.set_price("MNQ", "21001.00")
    quote = await session.inbox.wait_for(
        "quote_update", lambda q: q["data"]["lastPrice"] == 21001.0
    )
    assert quote["contract_id"] == paper_gateway.contract("MNQ").id


@pytest.mark.paper(
    accounts=(
        PaperAccount(1001, "ALPHA", D("50000.00")),
        PaperAccount(2002, "BRAVO", D("50000.00"), owner="bob"),
    )
)
async def test_two_users_on_two_accounts_never_see_each_others_events(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    alpha = await connect_sdk()
    bravo = await connect_sdk(user="bob", api_key="bobs-api-key-123")
    assert (alpha.account_id, bravo.account_id) == (1001, 2002)
    assert [a.id for a in await bravo.px.list_accounts()] == [2002]
    a_order = paper_gateway.place_order(1001, "ES", 0, 1)
    b_order = paper_gateway.place_order(2002, "NQ", 1, 2)
    paper_gateway.set_can_trade(2002, False)
    for session, own in ((alpha, a_order), (bravo, b_order)):
        inbox = session.inbox
        await inbox.wait_for("trade_execution", lambda t, own=own: t["orderId"] == own.order_id)
        await inbox.wait_for("account_update", lambda a, s=session: a["id"] == s.account_id)
    await bravo.inbox.wait_for("account_update", lambda a: a["canTrade"] is False)
    for session in (alpha, bravo):
        for kind in ("order_update", "trade_execution", "position_update", "account_update"):
            key = "id" if kind == "account_update" else "accountId"
            seen = {event[key] for event in session.inbox.of(kind)}
            assert seen == {session.account_id}, (session.account_id, kind, seen)


@pytest.mark.paper(
    accounts=(
        PaperAccount(1001, "ALPHA", D("50000.00")),
        PaperAccount(1002, "CHARLIE", D("50000.00")),
    )
)
async def test_two_accounts_of_one_user_share_only_account_updates(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    """SubscribeAccounts covers every account of the user, as on the real gateway; orders,
    trades and positions stay with the account the client subscribed to."""
    first = await connect_sdk()
    second = await connect_sdk(account_name="CHARLIE")
    assert second.account_id == 1002
    paper_gateway.place_order(1001, "ES", 0, 1)
    paper_gateway.place_order(1002, "ES", 1, 1)
    for session in (first, second):
        for account_id in (1001, 1002):
            await session.inbox.wait_for("account_update", lambda a, i=account_id: a["id"] == i)
        for kind in ("order_update", "trade_execution", "position_update"):
            assert {e["accountId"] for e in session.inbox.of(kind)} == {session.account_id}


@pytest.mark.paper(
    accounts=(
        PaperAccount(1001, "ALPHA", D("50000.00")),
        PaperAccount(1002, "CHARLIE", D("50000.00")),
        PaperAccount(1003, "DELTA", D("50000.00")),
        PaperAccount(2002, "BRAVO", D("50000.00"), owner="bob"),
    )
)
async def test_one_connection_subscribed_to_several_accounts_hears_each_of_them(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    """As on the real gateway, the per-account subscribe calls add up on one connection:
    subscribing orders, positions and trades for account X there delivers X's records; an
    account not subscribed (1003) or another user's (2002) is not heard, except 1003's
    balance, which SubscribeAccounts delivers for every account of the user."""
    session = await connect_sdk()
    hub = session.rt.user_connection
    assert hub is not None
    for target in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
        await hub.send(target, [1002])
        await hub.send(target, [2002])  # another user's account: refused
    await paper_gateway.wait_for(
        lambda: [c["trades"] for c in paper_gateway.connections("user")] == [[1001, 1002]],
        what="both accounts on the one connection",
    )
    for account_id, contract in ((1001, "ES"), (1002, "NQ"), (1003, "MES"), (2002, "MNQ")):
        paper_gateway.place_order(account_id, contract, 0, 1)
    last = paper_gateway.place_order(1001, "GC", 0, 1)  # pushed after all the others
    inbox = session.inbox
    await inbox.wait_for("trade_execution", lambda t: t["orderId"] == last.order_id)
    await inbox.wait_until(lambda i: {a["id"] for a in i.of("account_update")} >= {1001, 1003})
    for kind in ("order_update", "trade_execution", "position_update"):
        assert {e["accountId"] for e in inbox.of(kind)} == {1001, 1002}
    assert 2002 not in {a["id"] for a in inbox.of("account_update")}
    assert paper_gateway.opened == {"user": 1, "market": 1}


async def test_wrapped_payloads_reach_raw_callbacks_wrapped_and_the_sdk_unwraps_them(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    after_manager = Inbox()  # registered after the OrderManager's own callback
    await session.rt.add_callback("order_update", after_manager.callback("order_update"))
    paper_gateway.set_wrapped(True)
    placed = await orders.place_market_order(paper_gateway.contract("MES").id, 0, 1)
    await after_manager.wait_for("order_update", lambda o: o["status"] == OrderStatus.FILLED)
    raw = session.inbox.raw["order_update"]
    assert all(set(r) == {"action", "data"} for r in raw)
    assert [r["action"] for r in raw] == [0, 1]  # added, then updated
    assert orders.order_status_cache[str(placed.orderId)] == OrderStatus.FILLED
    assert await orders.is_order_filled(placed.orderId)


async def test_malformed_events_are_delivered_and_the_stream_carries_on(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    await session.order_manager()
    for target, kind in (
        ("GatewayUserOrder", "missing_fields"),
        ("GatewayUserPosition", "wrong_types"),
        ("GatewayUserTrade", "not_an_object"),
        ("GatewayUserAccount", "no_arguments"),
    ):
        assert paper_gateway.push_malformed(ACCOUNT, target, kind) == 1
    inbox = session.inbox
    await inbox.wait_for("order_update", lambda o: o.get("paperMalformed") is True)
    await inbox.wait_for("position_update", lambda p: p.get("size") == "lots")
    await inbox.wait_for("trade_execution", lambda t: isinstance(t, str))
    await inbox.wait_for("account_update", lambda a: a == {})
    entry = paper_gateway.place_order(ACCOUNT, "MNQ", 0, 1)
    await inbox.wait_for("trade_execution", lambda t: isinstance(t, dict) and "orderId" in t
                         and t["orderId"] == entry.order_id)  # fmt: skip


async def test_trading_permission_toggle_pushes_the_account_and_refuses_entries(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    mnq = paper_gateway.contract("MNQ").id
    await orders.place_market_order(mnq, 0, 2)
    paper_gateway.set_can_trade(ACCOUNT, False)
    await session.inbox.wait_for("account_update", lambda a: a["canTrade"] is False)
    with pytest.raises(ProjectXOrderError, match="not permitted"):
        await orders.place_market_order(mnq, 0, 1)
    closed = await session.position_manager().close_position_direct(mnq)  # exits stay allowed
    assert closed["success"] is True
    paper_gateway.set_can_trade(ACCOUNT, True)
    await session.inbox.wait_for("account_update", lambda a: a["canTrade"] is True)
    await orders.place_market_order(mnq, 0, 1)


async def test_rejections_are_business_errors_logged_and_announced(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    es = paper_gateway.contract("ES").id
    paper_gateway.reject_next(1, "Risk: daily loss limit reached")
    with pytest.raises(ProjectXOrderError, match="daily loss limit"):
        await orders.place_market_order(es, 0, 1)
    rejected = paper_gateway.order_log()[0]
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.reject_reason == "Risk: daily loss limit reached"
    await session.inbox.wait_for(
        "order_update", lambda o: o["id"] == rejected.order_id and o["status"] == 5
    )
    paper_gateway.reject_orders(lambda r: r.source == "close", "closes are refused")
    await orders.place_market_order(es, 0, 1)
    result = await session.position_manager().close_position_direct(es)
    assert result["success"] is False and result["errorMessage"] == "closes are refused"
    assert paper_gateway.position(ACCOUNT, "ES") is not None
    paper_gateway.clear_rejections()
    assert (await session.position_manager().close_position_direct(es))["success"] is True


async def test_fill_delay_keeps_orders_working_until_they_fill(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    paper_gateway.set_fill_delay(0.3)
    placed = await orders.place_market_order(paper_gateway.contract("RTY").id, 0, 1)
    assert paper_gateway.order(placed.orderId).status is OrderStatus.OPEN
    assert [o.id for o in await orders.search_open_orders()] == [placed.orderId]
    await session.inbox.wait_for(
        "order_update", lambda o: o["id"] == placed.orderId and o["status"] == 2
    )
    fill = next(e for e in paper_gateway.pushed if e.target == "GatewayUserTrade")
    assert fill.perf - paper_gateway.order(placed.orderId).received_perf >= 0.3


@pytest.mark.paper(quote_heartbeat=0.2)
async def test_subscribed_quotes_repeat_without_price_changes(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk(quotes=("MGC",))
    session.inbox.clear()
    started = time.perf_counter()
    await session.inbox.wait_until(lambda inbox: len(inbox.of("quote_update")) >= 3, timeout=3)
    assert time.perf_counter() - started >= 0.3  # heartbeats, not a burst
    assert {q["data"]["lastPrice"] for q in session.inbox.of("quote_update")} == {3300.0}


@pytest.mark.paper(price_mode="random_walk", quote_interval=0.05)
async def test_random_walk_moves_prices_and_reaches_subscribers(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk(quotes=("NQ",))
    first = paper_gateway.quote("NQ").last
    moved = await session.inbox.wait_for(
        "quote_update", lambda q: q["data"]["lastPrice"] != float(first), timeout=5
    )
    assert D(str(moved["data"]["bestAsk"])) - D(str(moved["data"]["bestBid"])) == D("0.25")


async def test_random_walk_is_reproducible_from_its_seed() -> None:
    def walk(seed: int) -> list[D]:
        gateway = PaperGateway(dataclasses.replace(PaperSettings(), seed=seed))
        gateway.step_walk(25)
        return [gateway.quote(c.id).last for c in gateway.contracts()]

    assert walk(11) == walk(11)
    assert walk(11) != walk(12)


async def test_timestamps_come_from_the_injected_clock(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    moment = datetime(2026, 3, 8, 7, 59, 30, tzinfo=UTC)  # the US DST change, 01:59:30 CST
    paper_gateway.set_clock(lambda: moment)
    session = await connect_sdk()
    entry = paper_gateway.place_order(ACCOUNT, "MYM", 0, 1)
    trade = await session.inbox.wait_for(
        "trade_execution", lambda t: t["orderId"] == entry.order_id
    )
    assert datetime.fromisoformat(trade["creationTimestamp"]) == moment
    position = await session.inbox.wait_for("position_update", lambda p: p["size"] == 1)
    assert position["creationTimestamp"] == "2026-03-08T07:59:30+00:00"
    found = await session.px.search_trades(
        start_date=moment - timedelta(minutes=1), end_date=moment + timedelta(minutes=1)
    )
    assert [t.orderId for t in found] == [entry.order_id]
    assert entry.received_at == moment


async def test_listeners_hear_connections_orders_and_pushes_in_order(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    heard: list[GatewayEvent] = []
    paper_gateway.add_listener(heard.append)
    session = await connect_sdk()
    orders = await session.order_manager()
    placed = await orders.place_market_order(paper_gateway.contract("MNQ").id, 0, 1)
    kinds = [e.kind for e in heard]
    assert kinds.index("connected") < kinds.index("subscribed") < kinds.index("order_received")
    received = [e.data for e in heard if e.kind == "order_received"]
    assert [(r.order_id, r.source) for r in received] == [(placed.orderId, "rest")]
    assert [e.data.target for e in heard if e.kind == "pushed"] == [
        "GatewayUserOrder",
        "GatewayUserOrder",
        "GatewayUserTrade",
        "GatewayUserPosition",
        "GatewayUserAccount",
    ]
    paper_gateway.remove_listener(heard.append)
    paper_gateway.place_order(ACCOUNT, "MNQ", 1, 1)
    assert [e.kind for e in heard].count("order_received") == 1


async def test_wait_for_names_what_it_waited_for(paper_gateway: PaperGateway) -> None:
    with pytest.raises(TimeoutError, match="a fill that never comes"):
        await paper_gateway.wait_for(lambda: False, timeout=0.05, what="a fill that never comes")
    assert await paper_gateway.wait_for(lambda: 42) == 42
