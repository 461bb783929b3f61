"""One order's records delivered out of order (real SDK, paper gateway, service).

The user hub delivers the trader's sell-1 market order as Filled first, then the Pending it
passed through (the paper gateway's `reverse_orders` fault). That order is over: a breach
right after must send its close at once, not wait for the periodic read to find that the
stale Pending left a phantom exit "still working" (the close waited 10 s and more for it).
"""

from __future__ import annotations

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[rule.daily_loss_limit]
limit = 1000
[rule.max_contracts_per_instrument]
limits = MNQ: 4
"""


def pushed_statuses(h: Harness, order_id: int) -> list[int]:
    return [
        p.payload["status"]
        for p in h.gateway.pushed
        if p.target == "GatewayUserOrder" and p.payload.get("id") == order_id
    ]


async def exit_one_reversed(h: Harness) -> None:
    """Long 3 MNQ; the trader sells 1 at market and its records arrive reversed."""
    await h.start(RULES)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 3, "long 3 heard")
    h.gateway.reverse_orders(ACCOUNT)
    sell = h.trade("MNQ", "sell", 1)
    assert pushed_statuses(h, sell.order_id) == [2, 6]  # Filled, then Pending
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 2, "long 2 heard")
    await h.until(lambda: h.acct.day.filled(sell.order_id) == 1, "its fill heard")
    assert h.acct.orders == {}  # the stale Pending brought nothing back


async def test_a_daily_loss_right_after_reversed_records_closes_at_once(h: Harness) -> None:
    await exit_one_reversed(h)
    h.gateway.move_price("MNQ", -1100)  # 2 x 1100 ticks x $0.50: -$1,100
    # no time passes on the service's clock: no periodic read comes to end a phantom exit
    await h.gw_until(lambda: h.position("MNQ") == 0, "closed at the gateway", timeout=5)
    assert [c.source for c in h.closes("MNQ")] == ["close"]
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")


async def test_a_size_breach_right_after_reversed_records_reduces_at_once(h: Harness) -> None:
    await exit_one_reversed(h)
    h.trade("MNQ", "buy", 3)  # 5 against a limit of 4
    await h.gw_until(lambda: h.position("MNQ") == 4, "reduced at the gateway", timeout=5)
    assert [(c.source, c.size) for c in h.closes("MNQ")] == [("partial_close", 1)]
