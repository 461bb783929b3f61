"""The broker's reads over REST, with the gateway's answers given: a long answer is parsed in
slices, the event loop running between them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.adapters import broker as broker_mod
from fsm_risk.adapters.broker import Credentials, IncompleteRead, ProjectXBroker, sdk_config
from fsm_risk.core.events import AccountUpdate, Fill

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
WEEK = 1_200  # a busy account's week of trades


def trade(i: int) -> dict[str, Any]:
    return {
        "id": 10_000 + i,
        "accountId": 1001,
        "contractId": "CON.F.US.MNQ.Z26",
        "creationTimestamp": (NOW - timedelta(seconds=WEEK - i)).isoformat(),
        "price": 21000.25,
        "profitAndLoss": None if i % 2 == 0 else -2.5,
        "fees": 0.74,
        "side": i % 2,
        "size": 1,
        "voided": False,
        "orderId": 20_000 + i,
    }


async def test_a_weeks_trades_are_parsed_with_the_loop_running_between_slices() -> None:
    urls = ("http://127.0.0.1:9/api", "http://127.0.0.1:9/hubs/user", "http://127.0.0.1:9/m")
    broker = ProjectXBroker(sdk_config(*urls), Credentials("u", "key-0000"), lambda _: None,
                            now=lambda: NOW)  # fmt: skip
    answers = {
        "/Trade/search": {"trades": [trade(i) for i in range(WEEK)], "success": True},
        "/Account/search": {
            "accounts": [
                {
                    "id": 1001,
                    "name": "A",
                    "balance": 50000,
                    "canTrade": True,
                    "isVisible": True,
                    "simulated": True,
                }
            ],
            "success": True,
        },
    }

    async def post(path: str, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return answers[path]

    broker._post = post  # type: ignore[method-assign]
    parsed: list[int] = []
    trade_of = broker_mod.payloads.trade

    def counting(raw: Any) -> Any:
        parsed.append(raw["id"])
        return trade_of(raw)

    seen_between: list[int] = []
    stop = asyncio.Event()

    async def other_work() -> None:  # what else the loop has to run (a breach, say)
        while not stop.is_set():
            seen_between.append(len(parsed))
            await asyncio.sleep(0)

    broker_mod.payloads.trade = counting  # type: ignore[assignment]
    try:
        ticker = asyncio.ensure_future(other_work())
        await asyncio.sleep(0)
        events = await broker._trades(1001, NOW - timedelta(days=7), ticket=0)
        stop.set()
        await ticker
    finally:
        broker_mod.payloads.trade = trade_of  # type: ignore[assignment]
    assert [e.trade_id for e in events if isinstance(e, Fill)] == [10_000 + i for i in range(WEEK)]
    assert [type(e) for e in events][-1] is AccountUpdate
    during = [n for n in seen_between if 0 < n < WEEK]
    assert during, "the loop did not run while the trades were parsed"
    assert (
        max(b - a for a, b in zip([0, *during], [*during, WEEK], strict=True))
        <= broker_mod.PARSE_SLICE
    )


async def test_a_resize_sends_the_size_alone_its_prices_left_out_as_the_sdk_does() -> None:
    """The gateway's modify changes what it is given: a stop price sent as null could read as
    one taken away. The SDK's own modify leaves out what it does not change; so do we."""
    urls = ("http://127.0.0.1:9/api", "http://127.0.0.1:9/hubs/user", "http://127.0.0.1:9/m")
    broker = ProjectXBroker(sdk_config(*urls), Credentials("u", "key-0000"), lambda _: None,
                            now=lambda: NOW)  # fmt: skip
    sent: list[tuple[str, dict[str, Any]]] = []

    async def post(path: str, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        sent.append((path, data))
        return {"success": True, "errorCode": 0}

    broker._post = post  # type: ignore[method-assign]
    result = await broker.resize(1001, 77, 3)
    assert result.ok
    assert sent == [("/Order/modify", {"accountId": 1001, "orderId": 77, "size": 3})]


async def test_a_position_listing_with_an_entry_refused_is_never_read_as_flat() -> None:
    # `open_position` answered None ("flat") when the listing's only entry was refused: a close
    # refused by the gateway was then taken as already done
    urls = ("http://127.0.0.1:9/api", "http://127.0.0.1:9/hubs/user", "http://127.0.0.1:9/m")
    told: list[Any] = []
    broker = ProjectXBroker(sdk_config(*urls), Credentials("u", "key-0000"), told.append,
                            now=lambda: NOW)  # fmt: skip
    listed = {
        "id": 7,
        "accountId": 1001,
        "contractId": "CON.F.US.MNQ.Z26",
        "creationTimestamp": NOW.isoformat(),
        "type": 1,
        "size": 5,
        "averagePrice": None,
    }

    async def post(path: str, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"positions": [listed], "success": True}

    broker._post = post  # type: ignore[method-assign]
    for _ in range(2):
        with pytest.raises(IncompleteRead, match="'averagePrice' is missing"):
            await broker.open_position(1001, "CON.F.US.MNQ.Z26")
    # counted each time, an alarm once (the first refusal since the listing was whole)
    assert [m.read for m in told] == ["/Position/searchOpen", ""]
    assert [m.account_id for m in told] == [1001, 1001]
    listed["averagePrice"] = 21000.25
    found = await broker.open_position(1001, "CON.F.US.MNQ.Z26")
    assert found is not None and found.size == 5 and not broker.incomplete
    # the price it had holds for a smaller position on the same side (a reduce keeps it)
    listed.update(averagePrice=None, size=3)
    found = await broker.open_position(1001, "CON.F.US.MNQ.Z26")
    assert found is not None and found.size == 3 and found.average_price == Decimal("21000.25")


def test_a_refused_user_record_asks_for_a_read_of_every_account_it_may_belong_to() -> None:
    urls = ("http://127.0.0.1:9/api", "http://127.0.0.1:9/hubs/user", "http://127.0.0.1:9/m")
    told: list[Any] = []
    broker = ProjectXBroker(sdk_config(*urls), Credentials("u", "key-0000"), told.append,
                            now=lambda: NOW)  # fmt: skip
    broker.routed = [1001, 1002]
    broker._monitored = frozenset(broker.routed)
    doubted: list[int] = []
    broker.on_doubt = doubted.append
    on_position = broker._user_callback("position_update")
    on_order = broker._user_callback("order_update")
    on_position({"accountId": 1002, "contractId": "CON.F.US.MNQ.Z26", "type": 1, "size": 5})
    assert doubted == [1002]  # named: that account alone (its averagePrice is missing)
    on_order({"id": 1, "status": 1})  # names none, the login has two: both may own it
    assert doubted == [1002, 1001, 1002]
    on_order({"accountId": 4242, "id": "x"})  # another account of the login: not ours
    on_order("not an object")
    assert doubted == [1002, 1001, 1002, 1001, 1002]
    assert len(told) == 3  # every refusal counted
