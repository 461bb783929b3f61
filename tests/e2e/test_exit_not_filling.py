"""Found by a review of the reduce order that waits for the trader's own exit (real SDK, paper
gateway): a market exit of his that does not fill drew a position limit's cut onto its position.

RULE-001 limit 5. Long 1 ES; ES stops trading (test set-up: the paper engine fills nothing in
ES, its orders stay working, as in a halt); his market sale of 1 ES works; he buys 5 NQ, which
trades: 6 open > 5. The cut went to ES and the account held 6 for as long as ES did not trade
(2 minutes of the service's time in this set-up, every read answered). Now his exit counts as
taking ES off only while young (3 s): then 1 NQ is cut, where it can be."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.service_harness import Harness


async def test_a_halted_exit_does_not_keep_the_account_over_its_limit(
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
    exit_order = h.trade("ES", "sell", 1)  # his exit: working, ES does not trade
    await h.until(lambda: exit_order.order_id in h.acct.orders, "his exit seen working")
    h.trade("NQ", "buy", 5)
    await h.until(lambda: h.gateway.contract("NQ").id in h.acct.positions, "5 NQ seen")
    took = None  # seconds of the service's time until the account held 5
    for s in range(1, 121):  # 2 minutes of the service's time, every read answered
        await h.advance(seconds=1)
        await asyncio.sleep(0.05)
        if took is None and h.position("ES") + h.position("NQ") <= 5:
            took = s
    closes = [(o.contract_id, o.source, o.size) for o in h.closes()]
    assert h.position("ES") + h.position("NQ") <= 5, closes
    assert h.position("NQ") == 4 and took is not None and took <= 4, (took, closes)
