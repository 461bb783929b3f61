"""Found by a hunt (hbracket), e2e: the service on the real SDK against the paper gateway in
its production profile. RULE-007's lock without flatten (the default) lets the trader keep
the position he held and exit it; its sweep cancelled the exits of that position that could
only reduce it: the second leg of the platform's native bracket (a stop and a take-profit
linked one-cancels-other, judged as two exits of a long 1), and, after a partial exit, the
bracket's stop sized for more than was left (cancelled whole where a cut to what is held was
all it needed), leaving the position with no stop for the rest of the day."""

from __future__ import annotations

from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderStatus
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[rule.max_trades_per_day]
limit = 2
"""


async def _lock_with_mnq_bracket(h: Harness, size: int) -> list[int]:
    """MNQ long ``size`` with the gateway's native bracket, then two MES/NQ entries: the
    third entry of the day locks the account (RULE-007), the MNQ long tolerated. The
    bracket's two leg ids."""
    await h.start(RULES)
    h.trade("MNQ", "buy", size, stop_loss_ticks=-40, take_profit_ticks=40)  # entry 1
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == size, "long heard")
    legs = [o.order_id for o in h.gateway.order_log(ACCOUNT) if o.source == "bracket"]
    assert len(legs) == 2
    await h.gw_until(
        lambda: all(h.gateway.order(c).status == OrderStatus.OPEN for c in legs), "legs live"
    )
    await h.until(lambda: all(c in h.acct.orders for c in legs), "the legs heard")
    mes = h.gateway.contract("MES").id
    h.trade("MES", "buy", 1)  # entry 2
    await h.until(lambda: mes in h.acct.positions, "MES heard")
    h.trade("MES", "sell", 1)
    await h.until(lambda: mes not in h.acct.positions, "MES flat heard")
    assert h.acct.state is State.Trading
    h.trade("NQ", "buy", 1)  # entry 3 > limit 2
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-007")
    await h.gw_until(lambda: h.position("NQ") == 0, "the NQ entry closed", timeout=6)
    assert h.acct.tolerated == {MNQ: size} and h.position("MNQ") == size
    return legs


async def test_native_bracket_legs_survive_a_lock_that_keeps_the_position(h: Harness) -> None:
    legs = await _lock_with_mnq_bracket(h, 1)
    await h.advance(seconds=5)
    for _ in range(20):
        await h.advance(seconds=0.5)
    rows = [(c, h.gateway.order(c).type.name, h.gateway.order(c).status.name) for c in legs]
    assert all(h.gateway.order(c).status == OrderStatus.OPEN for c in legs), rows
    assert [h.gateway.order(c).size for c in legs] == [1, 1]


async def test_a_partial_exit_under_the_lock_keeps_the_rest_stopped(h: Harness) -> None:
    legs = await _lock_with_mnq_bracket(h, 3)
    stop = next(c for c in legs if h.gateway.order(c).type.name == "STOP")
    assert h.gateway.order(stop).status == OrderStatus.OPEN  # the stop kept (it reduces)
    h.trade("MNQ", "sell", 2)  # the trader exits 2 of his 3 (allowed under the lock)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 1, "long 1 heard")
    for _ in range(20):
        await h.advance(seconds=0.5)
    o = h.gateway.order(stop)
    assert h.position("MNQ") == 1
    assert o.status == OrderStatus.OPEN, f"the long 1 left under the lock has no stop: {o}"
    await h.gw_until(lambda: h.gateway.order(stop).size == 1, "the stop cut to 1")
    # reached, it sells the 1 held: the account ends flat, neither naked nor reversed
    h.gateway.move_price("MNQ", -60)
    await h.gw_until(lambda: h.gateway.order(stop).status == OrderStatus.FILLED, "stop filled")
    assert h.gateway.position(ACCOUNT, MNQ) is None
