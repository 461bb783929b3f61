"""Trading through the real SDK (OrderManager, PositionManager, ProjectX) against the paper
gateway: every order type, cancel, modify, partial close, close, reversal, realised P&L."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from project_x_py.exceptions import ProjectXOrderError

from fsm_risk.paper import PRODUCTS, OrderStatus, PaperGateway, PositionType
from fsm_risk.paper.settings import DEFAULT_FEES, PaperSettings

from .conftest import ConnectSdk

pytestmark = pytest.mark.e2e

ACCOUNT = 1001
COMMISSION = PaperSettings().commission  # per contract per side, beside the fees


def filled(order_id: int) -> Any:
    return lambda o: o["id"] == order_id and o["status"] == OrderStatus.FILLED


async def test_market_order_fills_at_the_ask_and_every_user_event_reaches_the_sdk(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk(quotes=("MNQ",))
    orders = await session.order_manager()
    mnq = paper_gateway.contract("MNQ").id
    placed = await orders.place_order(mnq, 2, 0, 2, custom_tag="entry-1")
    inbox = session.inbox
    order = await inbox.wait_for("order_update", filled(placed.orderId))
    assert order["filledPrice"] == 21000.25 and order["customTag"] == "entry-1"
    trade = await inbox.wait_for("trade_execution", lambda t: t["orderId"] == placed.orderId)
    assert (trade["price"], trade["size"], trade["profitAndLoss"]) == (21000.25, 2, None)
    position = await inbox.wait_for("position_update", lambda p: p["contractId"] == mnq)
    assert (position["type"], position["size"]) == (PositionType.LONG, 2)
    account = await inbox.wait_for("account_update", lambda a: a["balance"] < 50000)
    assert D(str(account["balance"])) == D("50000") - 2 * (DEFAULT_FEES["MNQ"] + COMMISSION)
    assert D(str(trade["commissions"])) == 2 * COMMISSION
    quote = (await inbox.wait_for("quote_update", lambda q: q["contract_id"] == mnq))["data"]
    assert (quote["bestBid"], quote["bestAsk"], quote["lastPrice"]) == (21000, 21000.25, 21000)
    tagged = await orders.search_orders()
    assert [(o.id, o.customTag) for o in tagged] == [(placed.orderId, "entry-1")]


async def test_limit_order_rests_then_fills_at_its_limit_when_touched(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    mnq = paper_gateway.contract("MNQ").id
    placed = await orders.place_limit_order(mnq, 0, 1, 20990.0)
    open_orders = await orders.search_open_orders()
    assert [(o.id, o.limitPrice) for o in open_orders] == [(placed.orderId, 20990.0)]
    paper_gateway.set_price("MNQ", "20989.75")
    order = await session.inbox.wait_for("order_update", filled(placed.orderId))
    assert order["filledPrice"] == 20990.0
    assert await orders.search_open_orders() == []


async def test_stop_order_triggers_on_the_quote(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    es = paper_gateway.contract("ES").id
    await orders.place_market_order(es, 1, 1)  # short 1 at the bid, 6000.00
    stop = await orders.place_stop_order(es, 0, 1, 6005.0)  # protective buy stop
    paper_gateway.set_price("ES", "6004.50")  # ask 6004.75: not yet
    assert paper_gateway.order(stop.orderId).status is OrderStatus.OPEN
    paper_gateway.set_price("ES", "6005.00")  # ask 6005.25 >= 6005
    order = await session.inbox.wait_for("order_update", filled(stop.orderId))
    assert order["filledPrice"] == 6005.25
    trade = await session.inbox.wait_for("trade_execution", lambda t: t["orderId"] == stop.orderId)
    assert D(str(trade["profitAndLoss"])) == D("-5.25") / D("0.25") * D("12.50")
    assert paper_gateway.position(ACCOUNT, "ES") is None


@pytest.mark.paper(profile="simple")  # the real gateway cannot place a stop limit
async def test_stop_limit_order_triggers_then_rests_at_its_limit(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    mes = paper_gateway.contract("MES").id
    placed = await orders.place_order(mes, 3, 0, 1, limit_price=6004.0, stop_price=6005.0)
    paper_gateway.set_price("MES", "6006.00")  # triggered; ask 6006.25 is above the limit
    assert paper_gateway.order(placed.orderId).status is OrderStatus.OPEN
    paper_gateway.set_price("MES", "6003.50")
    order = await session.inbox.wait_for("order_update", filled(placed.orderId))
    assert order["filledPrice"] == 6004.0


async def test_trailing_stop_follows_the_market_and_triggers(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    nq = paper_gateway.contract("NQ").id
    await orders.place_market_order(nq, 0, 1)  # long at 21000.25
    trail = await orders.place_trailing_stop_order(nq, 1, 1, 10.0)
    assert paper_gateway.order(trail.orderId).stop_price == D("20990.00")  # bid - 10
    paper_gateway.set_price("NQ", "21020.00")
    moved = await session.inbox.wait_for(
        "order_update", lambda o: o["id"] == trail.orderId and o["stopPrice"] == 21010.0
    )
    assert moved["status"] == OrderStatus.OPEN
    paper_gateway.set_price("NQ", "21015.00")  # pull-back: the stop holds at 21010
    assert paper_gateway.order(trail.orderId).stop_price == D("21010.00")
    paper_gateway.set_price("NQ", "21009.00")
    order = await session.inbox.wait_for("order_update", filled(trail.orderId))
    assert order["filledPrice"] == 21009.0
    assert await session.px.search_open_positions() == []


async def test_cancel_and_modify_working_orders_through_the_sdk(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    gc = paper_gateway.contract("GC").id
    placed = await orders.place_limit_order(gc, 0, 1, 3290.0)
    assert await orders.modify_order(placed.orderId, limit_price=3295.0, size=3)
    modified = await session.inbox.wait_for(
        "order_update", lambda o: o["id"] == placed.orderId and o["size"] == 3
    )
    assert modified["limitPrice"] == 3295.0
    assert await orders.cancel_order(placed.orderId)
    cancelled = await session.inbox.wait_for(
        "order_update",
        lambda o: o["id"] == placed.orderId and o["status"] == OrderStatus.CANCELLED,
    )
    assert cancelled["size"] == 3
    assert paper_gateway.order(placed.orderId).status is OrderStatus.CANCELLED
    assert await orders.search_open_orders() == []


@pytest.mark.paper(profile="simple")  # the real gateway answers a close without an orderId
async def test_partial_close_then_close_push_positions_and_log_market_orders(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    positions = session.position_manager()
    mcl = paper_gateway.contract("MCL").id
    await orders.place_market_order(mcl, 0, 5)
    paper_gateway.set_price("MCL", "65.40")
    result = await positions.partially_close_position(mcl, 2)
    assert result["success"] is True
    assert [(p.size, p.averagePrice) for p in await session.px.search_open_positions()] == [
        (3, 65.01)
    ]
    partial = paper_gateway.order(result["orderId"])
    assert (partial.source, partial.side, partial.size) == ("partial_close", 1, 2)
    result = await positions.close_position_direct(mcl)
    assert result["success"] is True
    closed = await session.inbox.wait_for(
        "position_update", lambda p: p["contractId"] == mcl and p["size"] == 0
    )
    assert closed["type"] == PositionType.LONG
    close_order = await session.inbox.wait_for("order_update", filled(result["orderId"]))
    assert close_order["type"] == 2 and close_order["side"] == 1 and close_order["size"] == 3
    assert [e.source for e in paper_gateway.order_log()] == ["rest", "partial_close", "close"]
    assert await session.px.search_open_positions() == []


async def test_closing_a_flat_contract_is_a_business_error(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    result = await session.position_manager().close_position_direct(paper_gateway.contract("ES").id)
    assert result["success"] is False and result["errorCode"] != 0


async def test_reversal_through_zero_realises_pnl_and_flips_the_position(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    ym = paper_gateway.contract("YM").id
    await orders.place_market_order(ym, 0, 2)  # long 2 at the ask, 44001
    paper_gateway.set_price("YM", "44011")
    reverse = await orders.place_market_order(ym, 1, 5)  # sells 5 at the bid, 44011
    trade = await session.inbox.wait_for(
        "trade_execution", lambda t: t["orderId"] == reverse.orderId
    )
    assert D(str(trade["profitAndLoss"])) == D(10) * D(5) * 2  # 10 ticks x $5 x 2 closed
    flipped = await session.inbox.wait_for(
        "position_update", lambda p: p["contractId"] == ym and p["type"] == PositionType.SHORT
    )
    assert (flipped["size"], flipped["averagePrice"]) == (3, 44011.0)


@pytest.mark.parametrize(
    ("root", "side", "entry_last", "exit_last", "size", "expected_net"),
    [
        # long MNQ 3: buys at the ask 21000.25, sells at the bid 21010.00
        # (21010.00 - 21000.25) / 0.25 x 0.50 x 3 = 58.50, fees 0.37 x 3 x 2 = 2.22
        ("MNQ", 0, "21000.00", "21010.00", 3, "56.28"),
        # short CL 2: sells at the bid 65.00, buys at the ask 64.51
        # (65.00 - 64.51) / 0.01 x 10 x 2 = 980.00, fees 1.40 x 2 x 2 = 5.60
        ("CL", 1, "65.00", "64.50", 2, "974.40"),
        # long GC 1: buys at the ask 3300.1, sells at the bid 3296.0
        # (3296.0 - 3300.1) / 0.1 x 10 x 1 = -410.00, fees 1.40 x 1 x 2 = 2.80
        ("GC", 0, "3300.0", "3296.0", 1, "-412.80"),
        # long M2K 4: buys at 2200.1, sells at 2201.0: 9 ticks x 0.50 x 4 = 18.00, fees 2.96
        ("M2K", 0, "2200.0", "2201.0", 4, "15.04"),
    ],
)
async def test_round_trip_realised_pnl_matches_hand_computed_values(
    connect_sdk: ConnectSdk,
    paper_gateway: PaperGateway,
    root: str,
    side: int,
    entry_last: str,
    exit_last: str,
    size: int,
    expected_net: str,
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    contract = paper_gateway.contract(root).id
    paper_gateway.set_price(root, entry_last)
    entry = await orders.place_market_order(contract, side, size)
    paper_gateway.set_price(root, exit_last)
    exit_ = await orders.place_market_order(contract, 1 - side, size)
    inbox = session.inbox
    opening = await inbox.wait_for("trade_execution", lambda t: t["orderId"] == entry.orderId)
    closing = await inbox.wait_for("trade_execution", lambda t: t["orderId"] == exit_.orderId)
    assert opening["profitAndLoss"] is None
    product = PRODUCTS[root]
    direction = 1 if side == 0 else -1
    gross = (
        (D(str(closing["price"])) - D(str(opening["price"])))
        * direction
        / product.tick_size
        * product.tick_value
        * size
    )
    assert D(str(closing["profitAndLoss"])) == gross
    fees = D(str(opening["fees"])) + D(str(closing["fees"]))
    assert fees == 2 * size * DEFAULT_FEES[root]
    assert gross - fees == D(expected_net)
    paid = 2 * size * COMMISSION
    balance = await inbox.wait_for(
        "account_update", lambda a: D(str(a["balance"])) == D("50000") + D(expected_net) - paid
    )
    assert balance["id"] == ACCOUNT
    trades = await session.px.search_trades()
    assert [t.orderId for t in trades] == [exit_.orderId, entry.orderId]  # newest first


async def test_invalid_orders_raise_sdk_errors_and_nothing_fills(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    es = paper_gateway.contract("ES").id
    with pytest.raises(ProjectXOrderError, match="above the ask"):
        await orders.place_stop_order(es, 0, 1, 5990.0)  # a buy stop below the market
    assert [e.status for e in paper_gateway.order_log()] == [OrderStatus.REJECTED]
    assert paper_gateway.trades() == []


@pytest.mark.paper(profile="simple")  # the SDK's positive ticks: see the production test
async def test_native_bracket_orders_protect_the_entry_and_one_cancels_the_other(
    connect_sdk: ConnectSdk, paper_gateway: PaperGateway
) -> None:
    session = await connect_sdk()
    orders = await session.order_manager()
    mnq = paper_gateway.contract("MNQ").id
    bracket = await orders.place_bracket_order(
        mnq, 0, 1, entry_price=21000.25, stop_loss_price=20995.25,
        take_profit_price=21010.25, entry_type="market",
    )  # fmt: skip
    assert bracket.success and bracket.stop_order_id and bracket.target_order_id
    stop = paper_gateway.order(bracket.stop_order_id)
    target = paper_gateway.order(bracket.target_order_id)
    assert (stop.type, stop.side, stop.stop_price) == (4, 1, D("20995.25"))  # fill - 20 ticks
    assert (target.type, target.side, target.limit_price) == (1, 1, D("21010.25"))
    assert stop.parent_id == target.parent_id == bracket.entry_order_id
    paper_gateway.set_price("MNQ", "20995.00")  # the bid falls through the stop
    await session.inbox.wait_for("order_update", filled(stop.order_id))
    await session.inbox.wait_for(
        "order_update", lambda o: o["id"] == target.order_id and o["status"] == 3
    )
    assert await session.px.search_open_positions() == []
    assert await orders.search_open_orders() == []
