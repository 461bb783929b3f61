"""Found by a review (real SDK, paper gateway, the service): locked by RULE-007 with MNQ long 2
tolerated, the trader's exit of 2 works. 1 of the long 2 is closed by an order
not the trader's exit (the platform's / firm's market close of 1): its position record (long
1) is heard, its order's record and trade are late. The sell limit 2 would now take the long
1 to short 1 in the locked account: a limit is cancelled on sight, a stop cut to the long 1.
Counting the record's drop as the exit's own fill until a trade came (up to the settle
timeout, 10 s), the stop filled short 1 in the locked account."""

from __future__ import annotations

import asyncio

from fsm_risk.core.events import OrderType
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[rule.max_trades_per_day]
limit = 2
"""


async def test_sell_that_would_reverse_after_a_close_of_1_is_cancelled(h: Harness) -> None:
    """The exit a sell limit 2; 1 of the long 2 closed by the platform, its records late."""
    await h.start(RULES)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 1, "long 1 heard")
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 2, "long 2 heard")
    nq = h.gateway.contract("NQ").id
    h.trade("NQ", "buy", 1)  # entry 3 > limit 2
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-007")
    await h.gw_until(lambda: h.position("NQ") == 0, "the NQ entry closed", timeout=6)
    await h.until(lambda: nq not in h.acct.positions and not h.enforcing(), "NQ done")
    assert h.acct.tolerated == {MNQ: 2}

    limit = h.gateway.quote(MNQ).last + 5
    oid = h.trade("MNQ", "sell", 2, type=OrderType.LIMIT, limit_price=limit).order_id
    await h.until(lambda: oid in h.acct.orders, "the exit heard")
    await asyncio.sleep(0.3)
    assert h.acct.orders[oid].cancel_sent_at is None  # an exit: allowed

    h.gateway.silence("GatewayUserOrder")  # the close's order record and trade come late
    h.gateway.silence("GatewayUserTrade")
    h.gateway.close_position(ACCOUNT, MNQ, 1)  # 1 of the long 2 closed, not by the exit
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 1, "long 1 record")
    waited = 0.0
    while (o := h.acct.orders.get(oid)) and o.cancel_sent_at is None and waited < 12:
        await h.advance(seconds=0.5)
        await asyncio.sleep(0.05)
        waited += 0.5
    h.gateway.silence("GatewayUserOrder", False)
    h.gateway.silence("GatewayUserTrade", False)
    assert waited == 0, "the sell limit 2 that would reverse the long 1 was kept working"


async def test_it_fills_short_in_the_locked_account(h: Harness) -> None:
    """The exit a protective sell stop 2 of the long 2; the trader market-closes 1 of it (an
    exit), its order record and trade late; 1 s on the market falls through the stop."""
    await h.start(RULES)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 1, "long 1 heard")
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 2, "long 2 heard")
    nq = h.gateway.contract("NQ").id
    h.trade("NQ", "buy", 1)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-007")
    await h.gw_until(lambda: h.position("NQ") == 0, "the NQ entry closed", timeout=6)
    await h.until(lambda: nq not in h.acct.positions and not h.enforcing(), "NQ done")
    stop = h.gateway.quote(MNQ).last - 5
    oid = h.trade("MNQ", "sell", 2, type=OrderType.STOP, stop_price=stop).order_id
    await h.until(lambda: oid in h.acct.orders, "the exit heard")
    await asyncio.sleep(0.3)
    h.gateway.silence("GatewayUserOrder")
    h.gateway.silence("GatewayUserTrade")
    h.gateway.close_position(ACCOUNT, MNQ, 1)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 1, "long 1 record")
    for _ in range(2):
        await h.advance(seconds=0.5)
        await asyncio.sleep(0.05)
    h.gateway.set_price(MNQ, stop - 1)  # the market falls through the stop
    p0 = h.gateway.position(ACCOUNT, MNQ)
    h.gateway.silence("GatewayUserOrder", False)
    h.gateway.silence("GatewayUserTrade", False)
    assert p0 is None or p0.type == 1, "the stop took the long 1 short in the locked account"
