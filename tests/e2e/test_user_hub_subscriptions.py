"""A book's subscriptions on the one user-hub connection (the real SDK against the paper
gateway): every account's orders, positions and trades are subscribed, in few websocket
messages rather than three per account, and again after the connection is reopened."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from fsm_risk.adapters.broker import SUBSCRIBE_BATCH, Credentials, ProjectXBroker, sdk_config
from fsm_risk.paper import PaperAccount, PaperGateway

pytestmark = pytest.mark.e2e

IDS = list(range(1001, 1131))  # 130 accounts: more than two messages' worth
ACCOUNTS = tuple(PaperAccount(i, f"PAPER-{i - 1000}", Decimal("50000.00")) for i in IDS)


def subscribed(gw: PaperGateway) -> list[tuple[list[int], list[int], list[int]]]:
    return [(c["orders"], c["positions"], c["trades"]) for c in gw.connections("user")]


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_books_subscriptions_share_few_websocket_messages(
    paper_gateway: PaperGateway,
) -> None:
    gw = paper_gateway
    user, key = gw.credentials()
    urls = (gw.api_url, gw.user_hub_url, gw.market_hub_url)
    broker = ProjectXBroker(sdk_config(*urls), Credentials(user, key), lambda _: None)
    await broker.start()
    opened: list[int] = []
    try:
        order = list(reversed(IDS))  # the order given, not the gateway's
        await broker.open_realtime(order, on_open=opened.append)
        assert opened == order
        await gw.wait_for(
            lambda: subscribed(gw) == [(IDS, IDS, IDS)],
            timeout=30,
            what="every account subscribed on the one user connection",
        )
        # the SDK's own four (SubscribeAccounts and the first account's three), then the
        # others' 3 x 129 calls in messages of SUBSCRIBE_BATCH accounts (one more: a ping)
        batches = math.ceil((len(IDS) - 1) / SUBSCRIBE_BATCH)
        assert 4 + batches <= gw.received["user"] <= 4 + batches + 1
        assert gw.opened == {"user": 1, "market": 1}

        assert await gw.drop_websockets() == 2
        await gw.wait_for(
            lambda: gw.opened["user"] == 2 and subscribed(gw) == [(IDS, IDS, IDS)],
            timeout=30,
            what="every account subscribed again on the reopened connection",
        )
    finally:
        await broker.stop()
