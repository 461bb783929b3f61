"""The paper gateway's matching engine, without network: netting, averages, P&L, fees."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from fsm_risk.paper.catalog import PRODUCTS, build_contracts
from fsm_risk.paper.engine import (
    BusinessError,
    Engine,
    Event,
    OrderRejected,
    OrderStatus,
    OrderType,
    PositionType,
    Side,
)
from fsm_risk.paper.settings import DEFAULT_FEES

ACCOUNT = 1001
T0 = datetime(2026, 3, 9, 14, 30, tzinfo=UTC)


def make_engine(spread_ticks: int = 0, fill_delay: float = 0.0) -> Engine:
    contracts = {c.id: c for c in build_contracts("Z26", {}, dict(DEFAULT_FEES))}
    engine = Engine(contracts, spread_ticks=spread_ticks, clock=lambda: T0, fill_delay=fill_delay)
    engine.add_account(ACCOUNT, "PAPER-1", D("50000.00"), True, "paper")
    for contract in contracts.values():
        engine.set_last(contract.id, PRODUCTS[contract.root].start_price)
    return engine


def cid(root: str) -> str:
    return f"CON.F.US.{root}.Z26"


def market(engine: Engine, root: str, side: Side, size: int) -> list[Event]:
    _, events = engine.place(ACCOUNT, cid(root), OrderType.MARKET, side, size)
    return events


def targets(events: list[Event]) -> list[str]:
    return [e.target for e in events]


def position(engine: Engine, root: str) -> tuple[int, D] | None:
    p = engine.positions.get((ACCOUNT, cid(root)))
    return (p.net, p.average) if p else None


def test_market_buy_fills_at_ask_and_sends_order_trade_position_account_in_order() -> None:
    engine = make_engine(spread_ticks=1)
    events = market(engine, "MNQ", Side.BUY, 2)
    assert targets(events) == [
        "GatewayUserOrder",  # accepted (open)
        "GatewayUserOrder",  # filled
        "GatewayUserTrade",
        "GatewayUserPosition",
        "GatewayUserAccount",
    ]
    assert events[0].payload["status"] == OrderStatus.OPEN
    assert events[1].payload["status"] == OrderStatus.FILLED
    trade = events[2].payload
    assert trade["price"] == D("21000.25")  # the ask, one tick over the last
    assert trade["profitAndLoss"] is None  # an opening fill carries no P&L
    assert trade["fees"] == D("0.74")
    assert events[3].payload["type"] == PositionType.LONG
    assert events[3].payload["size"] == 2
    assert events[4].payload["balance"] == D("49999.26")


def test_netting_averages_same_direction_fills() -> None:
    engine = make_engine()
    market(engine, "ES", Side.BUY, 1)
    engine.set_last(cid("ES"), D("6001.00"))
    market(engine, "ES", Side.BUY, 2)
    assert position(engine, "ES") == (3, (D("6000.00") + 2 * D("6001.00")) / 3)


def test_partial_exit_realises_pnl_on_the_closed_quantity_and_keeps_the_average() -> None:
    engine = make_engine()
    market(engine, "NQ", Side.BUY, 3)
    engine.set_last(cid("NQ"), D("21010.00"))
    events = market(engine, "NQ", Side.SELL, 1)
    trade = events[2].payload
    # 10 points = 40 ticks x $5 x 1 contract
    assert trade["profitAndLoss"] == D("200.00")
    assert position(engine, "NQ") == (2, D("21000.00"))
    fees = 4 * D("1.40")
    assert engine.accounts[ACCOUNT].balance == D("50000.00") + D("200.00") - fees


def test_reversal_through_zero_closes_then_opens_at_the_fill_price() -> None:
    engine = make_engine()
    market(engine, "MES", Side.BUY, 2)
    engine.set_last(cid("MES"), D("5990.00"))
    events = market(engine, "MES", Side.SELL, 5)
    trade = events[2].payload
    # closes 2 long at a 10-point loss: 40 ticks x $1.25 x 2 = -100
    assert trade["profitAndLoss"] == D("-100.00")
    pos = events[3].payload
    assert (pos["type"], pos["size"], pos["averagePrice"]) == (PositionType.SHORT, 3, D("5990.00"))
    assert position(engine, "MES") == (-3, D("5990.00"))


def test_short_round_trip_pnl_sign_and_close_pushes_size_zero() -> None:
    engine = make_engine()
    market(engine, "CL", Side.SELL, 2)
    engine.set_last(cid("CL"), D("64.50"))
    _, events = engine.close_position(ACCOUNT, cid("CL"))
    trade = events[2].payload
    # short 2 from 65.00 to 64.50: 50 ticks x $10 x 2 = +1000
    assert trade["profitAndLoss"] == D("1000.00")
    assert trade["side"] == Side.BUY
    closed = events[3].payload
    assert closed["size"] == 0 and closed["type"] == PositionType.SHORT
    assert position(engine, "CL") is None
    assert engine.accounts[ACCOUNT].balance == D("50000.00") + D("1000.00") - 4 * D("1.40")


@pytest.mark.parametrize(
    ("root", "entry", "exit_", "size", "expected_gross"),
    [
        ("MNQ", "21000.00", "21012.75", 3, "76.50"),  # 51 ticks x 0.50 x 3
        ("YM", "44000", "43985", 2, "-150.00"),  # -15 ticks x 5 x 2
        ("MGC", "3300.0", "3304.3", 1, "43.00"),  # 43 ticks x 1 x 1
        ("M2K", "2200.0", "2199.9", 4, "-2.00"),  # -1 tick x 0.50 x 4
    ],
)
def test_long_round_trip_pnl_matches_the_tick_formula(
    root: str, entry: str, exit_: str, size: int, expected_gross: str
) -> None:
    engine = make_engine()
    engine.set_last(cid(root), D(entry))
    market(engine, root, Side.BUY, size)
    engine.set_last(cid(root), D(exit_))
    events = market(engine, root, Side.SELL, size)
    product = PRODUCTS[root]
    formula = (D(exit_) - D(entry)) / product.tick_size * product.tick_value * size
    assert events[2].payload["profitAndLoss"] == formula == D(expected_gross)
    fees = 2 * size * DEFAULT_FEES[root]
    assert engine.accounts[ACCOUNT].balance == D("50000.00") + formula - fees


@pytest.mark.parametrize(
    ("root", "entry", "exit_", "size", "booked"),
    [
        ("ZN", "110.515625", "110.53125", 1, "15.62"),  # 1 tick x 15.625: half a cent, to even
        ("ZN", "110.515625", "110.46875", 1, "-46.88"),  # -3 ticks x 15.625 = -46.875
        ("ZN", "110.515625", "110.53125", 2, "31.25"),  # 2 x 15.625: exact
        ("ZF", "107.8515625", "107.859375", 1, "7.81"),  # 7.8125
        ("ZT", "103.50390625", "103.4921875", 1, "-23.44"),  # -3 ticks x 7.8125 = -23.4375
        ("ZB", "115.03125", "115.0625", 1, "31.25"),
        ("6J", "0.0065035", "0.0065085", 3, "187.50"),  # 10 ticks x 6.25 x 3
        ("6E", "1.08525", "1.08520", 1, "-6.25"),
        ("6B", "1.2710", "1.2725", 2, "187.50"),  # 15 ticks x 6.25 x 2
    ],
)
def test_a_treasury_or_currency_trade_books_its_pnl_to_the_cent_as_the_balance_moves(
    root: str, entry: str, exit_: str, size: int, booked: str
) -> None:
    engine = make_engine()
    contract = next(c for c in engine.contracts.values() if c.root == root)
    engine.set_last(contract.id, D(entry))
    engine.place(ACCOUNT, contract.id, OrderType.MARKET, Side.BUY, size)
    engine.set_last(contract.id, D(exit_))
    _, events = engine.place(ACCOUNT, contract.id, OrderType.MARKET, Side.SELL, size)
    trade = next(e.payload for e in events if e.target == "GatewayUserTrade")
    assert trade["profitAndLoss"] == D(booked)
    fees = 2 * size * DEFAULT_FEES[root]
    assert engine.accounts[ACCOUNT].balance == D("50000.00") + D(booked) - fees


def test_resting_limit_fills_at_its_limit_when_touched() -> None:
    engine = make_engine(spread_ticks=1)
    order, events = engine.place(
        ACCOUNT, cid("MNQ"), OrderType.LIMIT, Side.BUY, 1, limit_price=D("20990.00")
    )
    assert targets(events) == ["GatewayUserOrder"] and order.status is OrderStatus.OPEN
    assert engine.set_last(cid("MNQ"), D("20995.00")) == []
    events = engine.set_last(cid("MNQ"), D("20989.00"))  # ask 20989.25 <= limit
    assert order.status is OrderStatus.FILLED and order.filled_price == D("20990.00")
    assert targets(events)[:2] == ["GatewayUserOrder", "GatewayUserTrade"]


def test_marketable_limit_fills_at_the_better_market_price() -> None:
    engine = make_engine(spread_ticks=1)
    order, _ = engine.place(
        ACCOUNT, cid("MNQ"), OrderType.LIMIT, Side.SELL, 1, limit_price=D("20990.00")
    )
    assert order.filled_price == D("21000.00")  # the bid, above the limit


def test_sell_stop_triggers_at_the_bid_and_fills_at_market() -> None:
    engine = make_engine(spread_ticks=2)  # bid = last - 1 tick
    order, _ = engine.place(
        ACCOUNT, cid("ES"), OrderType.STOP, Side.SELL, 1, stop_price=D("5995.00")
    )
    engine.set_last(cid("ES"), D("5996.00"))  # bid 5995.75
    assert order.status is OrderStatus.OPEN
    engine.set_last(cid("ES"), D("5994.00"))  # bid 5993.75 (gapped through)
    assert order.status is OrderStatus.FILLED and order.filled_price == D("5993.75")


def test_stop_through_the_market_is_rejected_and_recorded() -> None:
    engine = make_engine()
    with pytest.raises(OrderRejected) as info:
        engine.place(ACCOUNT, cid("ES"), OrderType.STOP, Side.BUY, 1, stop_price=D("5999.00"))
    assert info.value.order.status is OrderStatus.REJECTED
    assert info.value.events[0].payload["status"] == OrderStatus.REJECTED


def test_stop_limit_rests_as_a_limit_after_the_trigger() -> None:
    engine = make_engine()
    order, _ = engine.place(
        ACCOUNT,
        cid("MES"),
        OrderType.STOP_LIMIT,
        Side.BUY,
        1,
        stop_price=D("6005.00"),
        limit_price=D("6004.00"),
    )
    engine.set_last(cid("MES"), D("6006.00"))  # triggered, but above the limit
    assert order.triggered and order.status is OrderStatus.OPEN
    engine.set_last(cid("MES"), D("6003.00"))
    assert order.status is OrderStatus.FILLED and order.filled_price == D("6004.00")


def test_trailing_stop_ratchets_in_favour_only_and_triggers() -> None:
    engine = make_engine()
    market(engine, "MNQ", Side.BUY, 1)
    order, _ = engine.place(
        ACCOUNT, cid("MNQ"), OrderType.TRAILING_STOP, Side.SELL, 1, trail_price=D("5.00")
    )
    assert order.stop_price == D("20995.00")
    engine.set_last(cid("MNQ"), D("21010.00"))
    assert order.stop_price == D("21005.00")
    engine.set_last(cid("MNQ"), D("21007.00"))  # pull-back: the stop does not move down
    assert order.stop_price == D("21005.00") and order.status is OrderStatus.OPEN
    engine.set_last(cid("MNQ"), D("21004.00"))
    assert order.status is OrderStatus.FILLED and position(engine, "MNQ") is None


def test_cancel_and_modify_working_orders_only() -> None:
    engine = make_engine()
    order, _ = engine.place(
        ACCOUNT, cid("GC"), OrderType.LIMIT, Side.BUY, 1, limit_price=D("3290.0")
    )
    events = engine.modify(ACCOUNT, order.id, size=2, limit_price=D("3295.0"))
    assert events[0].payload["size"] == 2 and events[0].payload["limitPrice"] == D("3295.0")
    engine.modify(ACCOUNT, order.id, limit_price=D("3300.0"))  # now marketable: fills
    assert order.status is OrderStatus.FILLED
    with pytest.raises(BusinessError):
        engine.cancel(ACCOUNT, order.id)
    other, _ = engine.place(ACCOUNT, cid("GC"), OrderType.LIMIT, Side.BUY, 1, limit_price=D("3200"))
    assert engine.cancel(ACCOUNT, other.id)[0].payload["status"] == OrderStatus.CANCELLED


def test_partial_close_leaves_the_rest_and_rejects_oversize() -> None:
    engine = make_engine()
    market(engine, "MCL", Side.BUY, 5)
    with pytest.raises(BusinessError):
        engine.close_position(ACCOUNT, cid("MCL"), size=6)
    engine.close_position(ACCOUNT, cid("MCL"), size=2)
    assert position(engine, "MCL") == (3, D("65.00"))


def test_cannot_trade_refuses_entries_but_allows_exits() -> None:
    engine = make_engine()
    market(engine, "MNQ", Side.BUY, 2)
    engine.set_can_trade(ACCOUNT, False)
    with pytest.raises(OrderRejected):
        market(engine, "MNQ", Side.BUY, 1)
    with pytest.raises(OrderRejected):
        market(engine, "MNQ", Side.SELL, 3)  # would reverse: opens exposure
    engine.close_position(ACCOUNT, cid("MNQ"))
    assert position(engine, "MNQ") is None


def test_rejection_rules_count_down_and_filter() -> None:
    engine = make_engine()
    engine.reject(lambda r: r.custom_tag == "bad", "no bad tags")
    engine.reject(lambda r: True, "next one", count=1)
    with pytest.raises(OrderRejected, match="next one"):
        market(engine, "ES", Side.BUY, 1)
    market(engine, "ES", Side.BUY, 1)
    with pytest.raises(OrderRejected, match="no bad tags"):
        engine.place(ACCOUNT, cid("ES"), OrderType.MARKET, Side.BUY, 1, custom_tag="bad")


def test_custom_tags_are_unique_per_account() -> None:
    engine = make_engine()
    engine.place(ACCOUNT, cid("ES"), OrderType.MARKET, Side.BUY, 1, custom_tag="t-1")
    with pytest.raises(OrderRejected, match="customTag"):
        engine.place(ACCOUNT, cid("ES"), OrderType.MARKET, Side.SELL, 1, custom_tag="t-1")


def test_fill_delay_defers_fills_until_completed_and_cancel_wins() -> None:
    engine = make_engine(fill_delay=1.0)
    order, events = engine.place(ACCOUNT, cid("ES"), OrderType.MARKET, Side.BUY, 1)
    assert targets(events) == ["GatewayUserOrder"] and order.status is OrderStatus.OPEN
    assert engine.take_deferred() == [order.id]
    engine.set_last(cid("ES"), D("6002.00"))
    assert targets(engine.complete_deferred(order.id))[1] == "GatewayUserTrade"
    assert order.filled_price == D("6002.00")  # the price when the fill happened
    late, _ = engine.place(ACCOUNT, cid("ES"), OrderType.MARKET, Side.SELL, 1)
    engine.cancel(ACCOUNT, late.id)
    assert engine.complete_deferred(late.id) == []
    assert late.status is OrderStatus.CANCELLED


def test_misaligned_prices_and_unknown_accounts_are_business_errors() -> None:
    engine = make_engine()
    with pytest.raises(BusinessError):
        engine.place(ACCOUNT, cid("ES"), OrderType.LIMIT, Side.BUY, 1, limit_price=D("5990.10"))
    with pytest.raises(BusinessError) as info:
        engine.place(9999, cid("ES"), OrderType.MARKET, Side.BUY, 1)
    assert info.value.code != 0
    with pytest.raises(BusinessError):
        engine.close_position(ACCOUNT, cid("ES"))


def test_brackets_wait_suspended_then_work_as_one_cancels_other() -> None:
    engine = make_engine()
    entry, events = engine.place(
        ACCOUNT,
        cid("MNQ"),
        OrderType.LIMIT,
        Side.BUY,
        2,
        limit_price=D("20990.00"),
        stop_loss_bracket=(20, OrderType.STOP),
        take_profit_bracket=(40, OrderType.LIMIT),
    )
    stop, target = (engine.orders[i] for i in entry.children)
    assert [e.payload["status"] for e in events] == [1, 8, 8]  # open, suspended, suspended
    assert stop.stop_price is None and stop.side is Side.SELL and stop.size == 2
    engine.set_last(cid("MNQ"), D("20990.00"))  # the entry fills at its limit
    assert (stop.status, stop.stop_price) == (OrderStatus.OPEN, D("20985.00"))
    assert (target.status, target.limit_price) == (OrderStatus.OPEN, D("21000.00"))
    events = engine.set_last(cid("MNQ"), D("21000.00"))
    assert target.status is OrderStatus.FILLED and stop.status is OrderStatus.CANCELLED
    assert events[-1].payload["id"] == stop.id and events[-1].payload["status"] == 3
    assert position(engine, "MNQ") is None


def test_cancelling_an_unfilled_entry_cancels_its_suspended_brackets() -> None:
    engine = make_engine()
    entry, _ = engine.place(
        ACCOUNT,
        cid("ES"),
        OrderType.LIMIT,
        Side.SELL,
        1,
        limit_price=D("6010.00"),
        stop_loss_bracket=(8, OrderType.TRAILING_STOP),
    )
    events = engine.cancel(ACCOUNT, entry.id)
    assert [(e.payload["id"], e.payload["status"]) for e in events] == [
        (entry.id, OrderStatus.CANCELLED),
        (entry.children[0], OrderStatus.CANCELLED),
    ]


def test_invalid_brackets_are_rejected() -> None:
    engine = make_engine()
    with pytest.raises(OrderRejected, match="bracket"):
        engine.place(ACCOUNT, cid("ES"), OrderType.MARKET, Side.BUY, 1, take_profit_bracket=(5, 4))


def test_a_modify_leaving_nothing_to_fill_is_refused_and_changes_nothing() -> None:
    """The size is the order's total: at or below its filled volume nothing is left to fill.
    Taken, the order stayed Open at size 2 with 2 filled and its next fill was of size -1."""
    contracts = {c.id: c for c in build_contracts("Z26", {}, dict(DEFAULT_FEES))}
    engine = Engine(contracts, spread_ticks=0, clock=lambda: T0, production=True)
    engine.add_account(ACCOUNT, "PAPER-1", D("50000.00"), True, "paper")
    engine.set_last(cid("MNQ"), D("21000.00"))
    order, _ = engine.place(
        ACCOUNT, cid("MNQ"), OrderType.LIMIT, Side.SELL, 4, limit_price=D("21010.00")
    )
    engine.set_last(cid("MNQ"), D("21010.00"))  # resting: 2 of 4 fill
    assert (order.fill_volume, order.status) == (2, OrderStatus.OPEN)
    for size in (2, 1):
        with pytest.raises(BusinessError, match=f"Invalid order size {size}: 2 of 4") as refused:
            engine.modify(ACCOUNT, order.id, size=size)
        assert refused.value.code == 3
        assert (order.size, order.fill_volume, order.status) == (4, 2, OrderStatus.OPEN)
    events = engine.modify(ACCOUNT, order.id, size=3)
    assert (events[0].payload["size"], events[0].payload["fillVolume"]) == (3, 2)
    engine.set_last(cid("MNQ"), D("21010.25"))
    assert [t.size for t in engine.trades if t.order_id == order.id] == [2, 1]
    assert order.status is OrderStatus.FILLED and position(engine, "MNQ") == (-3, D("21010.00"))


def test_a_suspended_bracket_child_takes_a_new_size_and_goes_live_at_it() -> None:
    """A reduce of the service's while the entry is filled in part cuts the bracket still
    waiting for it (the old engine refused: 'suspended, not working', and the bracket went
    live at the entry's size beside a smaller position). Its prices wait for the entry."""
    engine = make_engine()
    entry, _ = engine.place(
        ACCOUNT,
        cid("MNQ"),
        OrderType.LIMIT,
        Side.BUY,
        7,
        limit_price=D("20990.00"),
        stop_loss_bracket=(40, OrderType.STOP),
    )
    [stop] = (engine.orders[i] for i in entry.children)
    events = engine.modify(ACCOUNT, stop.id, size=6)
    assert [(e.payload["size"], e.payload["status"]) for e in events] == [(6, 8)]
    for bad in ({"size": 0}, {"stop_price": D("20980.00")}):
        with pytest.raises(BusinessError):
            engine.modify(ACCOUNT, stop.id, **bad)  # type: ignore[arg-type]
    assert (stop.size, stop.status, stop.stop_price) == (6, OrderStatus.SUSPENDED, None)
    engine.set_last(cid("MNQ"), D("20990.00"))
    assert (stop.size, stop.status, stop.stop_price) == (6, OrderStatus.OPEN, D("20980.00"))
