"""Found by a review: the lock's cut of a stop too large for the
position it keeps (long 3, bracket stop 3, the trader sells 2) is taken by the gateway, but
its order word never comes (a user feed that stays connected and goes quiet for order
records). Counted as unanswered after its wait, the stop, now the right size at the gateway,
is cancelled: the long 1 kept under the lock is left with no stop."""

from __future__ import annotations

import asyncio

from fsm_risk.paper.engine import OrderStatus
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_exits_kept_under_lock import _lock_with_mnq_bracket


async def test_a_cut_taken_whose_word_is_lost_leaves_the_stop(h: Harness) -> None:
    legs = await _lock_with_mnq_bracket(h, 3)
    stop = next(c for c in legs if h.gateway.order(c).type.name == "STOP")
    h.gateway.silence("GatewayUserOrder")
    h.trade("MNQ", "sell", 2)  # the trader exits 2 of his 3 (allowed under the lock)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 1, "long 1 heard")
    await h.gw_until(lambda: h.gateway.order(stop).size == 1, "the stop cut to 1")
    for _ in range(26):  # the clock moves with wall time: the periodic reads come as due
        await h.advance(seconds=0.5)
        await asyncio.sleep(0.5)
    o = h.gateway.order(stop)
    assert h.position("MNQ") == 1
    assert o.status == OrderStatus.OPEN, f"the long 1 kept under the lock lost its stop: {o}"
