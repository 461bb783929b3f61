"""Found by a review: the service on the real SDK against the paper gateway. Under
RULE-007's lock without flatten the MNQ long 1 is kept. The trader rests a sell target of 1
and a sell stop-limit of 1 beside it. A stop-limit that triggers without filling (the price
gapped through its limit) rests as a sell limit: two sell limits of 1 beside a long 1. One
price then fills both: the account ends short 1 in the locked scope."""

from __future__ import annotations

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderType
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[rule.max_trades_per_day]
limit = 2
"""


async def _locked_long_1(h: Harness) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 1)  # entry 1
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 1, "long heard")
    mes = h.gateway.contract("MES").id
    h.trade("MES", "buy", 1)  # entry 2
    await h.until(lambda: mes in h.acct.positions, "MES heard")
    h.trade("MES", "sell", 1)
    await h.until(lambda: mes not in h.acct.positions, "MES flat heard")
    h.trade("NQ", "buy", 1)  # entry 3 > limit 2
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-007")
    await h.gw_until(lambda: h.position("NQ") == 0, "the NQ entry closed", timeout=6)
    assert h.acct.tolerated == {MNQ: 1} and h.position("MNQ") == 1


@pytest.mark.paper(profile="simple")  # the real gateway's REST cannot place a stop limit
async def test_a_stop_limit_and_a_target_beside_a_long_1_never_both_work(h: Harness) -> None:
    await _locked_long_1(h)
    q = h.gateway.quote("MNQ")
    tick = h.gateway.contract("MNQ").tick_size
    last = q.last
    tgt = h.trade("MNQ", "sell", 1, type=OrderType.LIMIT, limit_price=last + 40 * tick)
    sl = h.trade(
        "MNQ",
        "sell",
        1,
        type=OrderType.STOP_LIMIT,
        stop_price=last - 20 * tick,
        limit_price=last - 20 * tick,
    )
    await h.until(lambda: tgt.order_id in h.acct.orders and sl.order_id in h.acct.orders, "heard")
    for _ in range(20):
        await h.advance(seconds=0.5)
    both = [h.gateway.order(c).status for c in (tgt.order_id, sl.order_id)]
    # the price gaps through the stop-limit: triggered, not filled (it rests at its limit)
    h.gateway.set_price("MNQ", last - 30 * tick)
    assert h.position("MNQ") == 1  # the stop-limit triggered and rests unfilled, if it works
    for _ in range(20):
        await h.advance(seconds=0.5)
    # one price, both limits: the target and the triggered stop-limit
    h.gateway.set_price("MNQ", last + 45 * tick)
    p = h.gateway.position(ACCOUNT, MNQ)
    after = (None if p is None else (p.type, p.size), both)
    assert p is None or p.size == 0 or p.type == 1, f"reversed in the locked scope: {after}"
