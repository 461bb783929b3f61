"""Found by a review, end to end (real SDK in the service, paper gateway): the trader buys 3
MNQ with the platform's bracket (its stop created with the entry). 3 > 2: RULE-001 flattens
(no lock). The market falls through the stop before our close: the stop
sells the 3, a loss of his. RULE-008 (a loss of $50 or more: 30 min) must cool him down."""

from __future__ import annotations

from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderStatus
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = (
    "[rule.max_contracts]\nlimit = 2\naction = flatten\n"
    "[rule.trade_cooldown]\ntiers = 50: 30\nbasis = trade\n"
)


async def test_bracket_stop_filling_first_during_our_flatten_cools_him_down(h: Harness) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 3, stop_loss_ticks=-8)
    children = [o.order_id for o in h.gateway.order_log(ACCOUNT) if o.source == "bracket"]
    [stop] = [c for c in children if h.gateway.order(c).stop_price is not None]
    h.gateway.move_price("MNQ", -60)  # fast market: through the stop before we act
    assert h.gateway.order(stop).status == OrderStatus.FILLED
    assert h.gateway.position(ACCOUNT, MNQ) is None
    [trade] = [t for t in h.gateway.trades(ACCOUNT) if t.order_id == stop]
    assert trade.profit_and_loss is not None and trade.profit_and_loss < 0  # a loss of his
    await h.until(lambda: any(f.order_id == stop for f in h.acct.day.fills), "the stop seen")
    await h.until(lambda: h.acct.state is not State.Flattening, "the flatten done")
    rec = next(f for f in h.acct.day.fills if f.order_id == stop)
    assert not rec.enforcement, "his stop's fill booked as our close"
    assert h.acct.state is State.Cooldown
