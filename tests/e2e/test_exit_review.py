"""Found by a review of the young market exits (real SDK, paper gateway): the trader replacing
his halted market exit every 2 s kept the account over RULE-001's limit (each new exit was
young); a new exit now inherits the age of the one it replaces."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.service_harness import ACCOUNT, Harness


async def test_a_halted_exit_replaced_every_2s_does_not_keep_the_account_over(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.start("[rule.max_contracts]\nlimit = 5\n")
    es = h.gateway.contract("ES").id
    h.trade("ES", "buy", 1)
    await h.until(lambda: es in h.acct.positions, "long 1 ES seen")
    engine = h.gateway.engine
    execute = engine._execute
    monkeypatch.setattr(
        engine, "_execute", lambda o, price: [] if o.contract_id == es else execute(o, price)
    )
    mine = h.trade("ES", "sell", 1)  # his exit: working, ES does not trade
    await h.until(lambda: mine.order_id in h.acct.orders, "his exit seen working")
    h.trade("NQ", "buy", 5)
    await h.until(lambda: h.gateway.contract("NQ").id in h.acct.positions, "5 NQ seen")
    over = 0  # seconds of the service's time the account held more than 5
    for s in range(1, 61):  # 1 minute of the service's time, every read answered
        await h.advance(seconds=1)
        await asyncio.sleep(0.05)
        if s % 2 == 0:  # he replaces his exit: a new market sale, then the old one cancelled
            new = h.trade("ES", "sell", 1)
            await h.until(lambda n=new.order_id: n in h.acct.orders, "his new exit seen")
            h.gateway.cancel_order(ACCOUNT, mine.order_id)
            old = mine.order_id
            await h.until(lambda o=old: o not in h.acct.orders, "his old exit seen cancelled")
            mine = new
        if h.position("ES") + h.position("NQ") > 5:
            over += 1
    closes = [(o.contract_id, o.source, o.size) for o in h.closes()]
    held = (h.position("ES"), h.position("NQ"))
    assert h.position("ES") + h.position("NQ") <= 5, (held, over, closes)
