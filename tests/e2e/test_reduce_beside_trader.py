"""The trader's orders placed while our reduce works (real SDK in the service, paper gateway
with a fill delay: orders stay working for 3 s, as a slow gateway keeps them).

Reported by a tester driving `fsm-risk serve`: long 5 MNQ against a limit of 3 (RULE-002),
our reduce (sell 2) working for 3 s. A sell stop of 5 placed meanwhile was never resized and,
reached, left the account short 2; a market sell of 5 (the SDK's close_position) sent
meanwhile filled with ours and left it short 2, silently. Neither may reverse the position."""

from __future__ import annotations

from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderStatus
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.max_contracts_per_instrument]
limits = MNQ: 3
default_limit = 10
"""
DELAY = 3.0  # wall seconds every fill waits: our reduce works that long


async def long_5_with_our_reduce_working(h: Harness) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: h.acct.positions.get(MNQ) and h.acct.positions[MNQ].size == 3, "3 held")
    h.gateway.set_fill_delay(DELAY)
    h.trade("MNQ", "buy", 2)
    await h.gw_until(lambda: h.closes("MNQ"), "our reduce sent", timeout=20)
    [reduce] = h.closes("MNQ")
    assert (reduce.source, reduce.size) == ("partial_close", 2)
    assert h.gateway.order(reduce.order_id).status == OrderStatus.OPEN  # working, delayed


async def test_a_stop_placed_while_our_reduce_works_is_cut_and_never_reverses(h: Harness) -> None:
    await long_5_with_our_reduce_working(h)
    last = h.gateway.quote("MNQ").last
    stop = h.trade("MNQ", "sell", 5, type=4, stop_price=last - 50)  # protecting the 5 he sees
    await h.gw_until(lambda: h.gateway.order(stop.order_id).size == 3, "the stop cut to 3")
    await h.gw_until(lambda: h.position("MNQ") == 3, "the reduce filled", timeout=20)
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce confirmed")
    assert any("sell stop 5 -> 3" in line for line in h.logs)
    h.gateway.set_fill_delay(0)
    h.gateway.move_price("MNQ", -400)  # 100 points down: through the stop
    await h.gw_until(
        lambda: h.gateway.order(stop.order_id).status == OrderStatus.FILLED, "the stop filled"
    )
    assert h.gateway.position(ACCOUNT, MNQ) is None, "the stop reversed the position"


async def test_the_traders_market_exit_beside_our_reduce_leaves_the_account_flat(
    h: Harness,
) -> None:
    await long_5_with_our_reduce_working(h)
    [reduce] = h.closes("MNQ")
    exit_order = h.trade("MNQ", "sell", 5)  # the SDK's close_position
    await h.gw_until(
        lambda: h.gateway.order(reduce.order_id).status == OrderStatus.CANCELLED, "ours withdrawn"
    )
    await h.until(lambda: any("CLOSE_WITHDRAWN" in m for m in h.logs), "withdrawal logged")
    await h.gw_until(
        lambda: h.gateway.order(exit_order.order_id).status == OrderStatus.FILLED,
        "the exit filled",
        timeout=20,
    )
    await h.until(lambda: MNQ not in h.acct.positions, "the service sees the account flat")
    await h.advance(seconds=5)
    assert h.gateway.position(ACCOUNT, MNQ) is None
    assert len(h.closes("MNQ")) == 1  # nothing sent after it


async def test_when_both_fill_anyway_what_ours_opened_is_closed_with_a_critical_alert(
    h: Harness,
) -> None:
    await long_5_with_our_reduce_working(h)
    [reduce] = h.closes("MNQ")
    h.gateway.fail_rest("/api/Order/cancel", 503, count=100)  # the race lost: ours fills too
    h.trade("MNQ", "sell", 5)
    await h.gw_until(
        lambda: h.gateway.order(reduce.order_id).status == OrderStatus.FILLED,
        "ours filled",
        timeout=20,
    )
    await h.until(
        lambda: any("CLOSE_OVERSHOT" in m and "CRITICAL" in m for m in h.logs), "the alert"
    )
    [alert] = [m for m in h.logs if "ALERT CLOSE_OVERSHOT" in m]
    assert "opened 2" in alert
    h.gateway.set_fill_delay(0)
    await h.gw_until(lambda: h.gateway.position(ACCOUNT, MNQ) is None, "flat again", timeout=20)
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "done")
    assert [c.size for c in h.closes("MNQ")] == [2, 2]  # ours, then the close of the 2
