"""A trader's market exit that never fills holds the flatten back no longer than our own close
(real SDK, paper gateway, service).

Long 2 MNQ, the trader's market sell of 2 is accepted and parked at the gateway (it works
and does not fill: a halted market, a gateway that sits on it), then the day's loss limit is
touched. The flatten leaves the exit to work (no close beside it: both filled would reverse
the position). It used to wait on it for good: the position stayed open past the limit,
Flattening, with no alert. Now the exit is given the close timeout, the gateway is read, and
the exit still working there is cancelled; once the cancel is confirmed, our close goes.
"""

from __future__ import annotations

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 500
"""
PARKED = 3600.0  # the exit's fill comes an hour on (wall time): it stays working till then


async def test_a_parked_exit_is_cancelled_after_the_close_timeout_and_the_flatten_closes(
    h: Harness,
) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.set_fill_delay(PARKED)
    exit_order = h.trade("MNQ", "sell", 2)  # the trader's exit: accepted, parked
    h.gateway.set_fill_delay(0)  # (only that order is parked: ours fill at once)
    await h.until(lambda: exit_order.order_id in h.acct.orders, "the exit heard working")
    h.gateway.move_price("MNQ", -600)  # -150 points x 2 x $2 = -$600: past the limit
    await h.until(lambda: h.acct.state is State.Flattening, "the account flattens")
    assert h.closes("MNQ") == [] and h.gateway.order(exit_order.order_id).status.name == "OPEN"

    await h.advance(seconds=1)  # within the close timeout (2 s here): the exit is let work
    assert h.closes("MNQ") == [] and not any("our close held back" in m for m in h.logs)
    await h.advance(seconds=1)  # the close timeout: the gateway is read, the exit cancelled
    await h.gw_until(
        lambda: h.gateway.order(exit_order.order_id).status.name == "CANCELLED",
        "the exit cancelled",
    )
    await h.until(lambda: h.acct.state is State.LockedDaily, "flat, then locked")
    assert h.position("MNQ") == 0
    assert [(c.source, c.size) for c in h.closes("MNQ")] == [("close", 2)]
    held = [m for m in h.logs if "our close held back" in m]
    assert held and "WARNING" in held[0] and str(exit_order.order_id) in held[0]
    cancelled = [m for m in h.logs if "still working at the gateway" in m]
    assert cancelled and "CRITICAL" in cancelled[0] and str(exit_order.order_id) in cancelled[0]
    assert all(o.account_id == ACCOUNT for o in h.closes())
