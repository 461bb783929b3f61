"""The validating boundary: gateway payloads, bare or wrapped, into core events."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.adapters import payloads
from fsm_risk.adapters.payloads import PayloadError
from fsm_risk.core.events import OrderStatus, OrderType, PositionType, Side

POSITION = {
    "id": 7,
    "accountId": 1001,
    "contractId": "CON.F.US.MNQ.Z26",
    "creationTimestamp": "2026-11-23T15:00:00.1234567+00:00",
    "type": 2,
    "size": 3,
    "averagePrice": 21000.25,
}
TRADE = {
    "id": 99,
    "accountId": 1001,
    "contractId": "CON.F.US.ES.Z26",
    "creationTimestamp": "2026-11-23T15:00:01Z",
    "price": 6000.5,
    "profitAndLoss": -62.5,
    "fees": 1.4,
    "side": 1,
    "size": 1,
    "voided": False,
    "orderId": 12,
}
ORDER = {
    "id": 12,
    "accountId": 1001,
    "contractId": "CON.F.US.ES.Z26",
    "creationTimestamp": "2026-11-23T15:00:00+00:00",
    "updateTimestamp": None,
    "status": 1,
    "type": 4,
    "side": 1,
    "size": 1,
    "stopPrice": 5990.25,
    "customTag": "mine",
}


def test_position_bare_and_wrapped_are_the_same_event() -> None:
    bare = payloads.position(POSITION)
    assert payloads.position({"action": 1, "data": POSITION}) == bare
    assert payloads.position([POSITION]) == bare
    assert bare.type is PositionType.SHORT and bare.size == 3
    assert bare.average_price == Decimal("21000.25")
    # .NET's seven fractional digits are cut to six, and the time is UTC
    assert bare.opened_at == datetime(2026, 11, 23, 15, 0, 0, 123456, tzinfo=UTC)


def test_trade_money_keeps_the_digits_the_gateway_sent() -> None:
    fill = payloads.trade(TRADE)
    assert fill.pnl == Decimal("-62.5") and fill.fees == Decimal("1.4")
    assert fill.price == Decimal("6000.5") and fill.side is Side.SELL
    assert payloads.trade({**TRADE, "profitAndLoss": None}).pnl is None  # a half-turn


def test_order_enums_and_optional_prices() -> None:
    o = payloads.order(ORDER)
    assert (o.status, o.type, o.side) == (OrderStatus.OPEN, OrderType.STOP, Side.SELL)
    assert o.stop_price == Decimal("5990.25") and o.limit_price is None
    assert o.custom_tag == "mine"


@pytest.mark.parametrize(
    ("convert", "payload", "message"),
    [
        (payloads.position, {**POSITION, "size": None}, "'size' is missing"),
        (payloads.position, {**POSITION, "size": "three"}, "'size' is not a whole number"),
        (payloads.position, {**POSITION, "size": -1}, "'size' is negative"),
        (payloads.position, {**POSITION, "type": 9}, "'type' has an unknown value 9"),
        (payloads.position, {**POSITION, "creationTimestamp": "yesterday"}, "not a timestamp"),
        (payloads.trade, {**TRADE, "price": "NaN"}, "'price' is not a finite number"),
        (payloads.trade, {**TRADE, "fees": -1}, "'fees' is negative"),
        (payloads.trade, {**TRADE, "size": 1.5}, "'size' is not a whole number"),
        (payloads.order, {**ORDER, "status": True}, "'status' is not a whole number"),
        (payloads.order, "not an object", "expected an object, got str"),
        (payloads.account, {"id": 1, "balance": 5, "canTrade": "yes"}, "'canTrade' is not true"),
    ],
)
def test_malformed_payloads_are_refused_with_the_field_named(
    convert: Any, payload: Any, message: str
) -> None:
    with pytest.raises(PayloadError, match=message):
        convert(payload)


def test_quotes_may_carry_only_what_changed() -> None:
    received = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    q = payloads.quote("CON.F.US.MNQ.Z26", {"bestBid": 21000.25}, received)
    assert q.bid == Decimal("21000.25") and q.last is None and q.at == received
    with pytest.raises(PayloadError, match="no lastPrice, bestBid or bestAsk"):
        payloads.quote("CON.F.US.MNQ.Z26", {"volume": 5}, received)
    with pytest.raises(PayloadError, match="contract id"):
        payloads.quote(None, {"lastPrice": 1}, received)


def test_unknown_extra_fields_are_ignored() -> None:
    assert payloads.position({**POSITION, "somethingNew": [1, 2]}).size == 3


@pytest.mark.parametrize(
    "value, voided",
    [(False, False), (True, True), ("false", False), ("False", False), ("TRUE", True),
     (None, False)],
)  # fmt: skip
def test_voided_is_read_as_true_or_false_never_by_truthiness(value: Any, voided: bool) -> None:
    # seen: "voided": "false" (a string) counted the trade as voided, its P&L given back
    assert payloads.trade({**TRADE, "voided": value}).voided is voided


@pytest.mark.parametrize("value", ["no", "0", "", 0, 1, [], {"v": 1}])
def test_a_voided_flag_that_is_not_true_or_false_refuses_the_trade(value: Any) -> None:
    with pytest.raises(PayloadError, match="'voided' is not true or false"):
        payloads.trade({**TRADE, "voided": value})


def test_can_trade_as_a_string_is_read_as_what_it_says() -> None:
    raw = {"id": 1, "balance": 5, "canTrade": "False"}
    assert payloads.account(raw).can_trade is False
