"""The trader's orders placed while our reduce works (real SDK in the service, paper gateway
with a fill delay: orders stay working for 3 s, as a slow gateway keeps them).

Reported by a tester driving `fsm-risk serve`: long 5 MNQ against a limit of 3 (RULE-002),
our reduce (sell 2) working for 3 s. A sell stop of 5 placed meanwhile was never resized and,
reached, left the account short 2; a market sell of 5 (the SDK's close_position) sent
meanwhile filled with ours and left it short 2, silently. Neither may reverse the position,
nor may a restart between our reduce and the trader's exit (the service killed -9 meanwhile)."""

from __future__ import annotations

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderStatus
from fsm_risk.paper.gateway import GatewayEvent, OrderLogEntry
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness
from tests.e2e.test_restart_safety import crash, freeze

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.max_contracts_per_instrument]
limits = MNQ: 3
default_limit = 10
"""
DELAY = 3.0  # wall seconds every fill waits: our reduce works that long
RESTART_DELAY = 6.0  # long enough for both orders to work past a restart


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


async def crashed_with_our_reduce_working_and_the_traders_exit_sent(
    h: Harness, heard: bool
) -> tuple[OrderLogEntry, OrderLogEntry]:
    """Long 8 MNQ, limit 3: our sell 5 working (a fill delay keeps it so), the service killed
    (-9: nothing more reaches its database), the trader's sell 8 sent while it is down, the
    service started again before either fills. ``heard``: it had stored its reduce's order id;
    else it died as the reduce reached the gateway, before hearing of it."""
    await h.start("[broker]\nreconcile_interval_seconds = 0\n[rule.max_contracts]\nlimit = 3\n")
    h.trade("MNQ", "buy", 8)
    h.gateway.set_fill_delay(RESTART_DELAY)

    def die_on_the_reduce(ev: GatewayEvent) -> None:
        if not heard and ev.kind == "order_received" and ev.data.source == "partial_close":
            freeze(h)

    h.gateway.add_listener(die_on_the_reduce)
    await h.gw_until(lambda: h.closes("MNQ"), "our reduce sent", timeout=20)
    h.gateway.remove_listener(die_on_the_reduce)
    [reduce] = h.closes("MNQ")
    assert (reduce.source, reduce.size) == ("partial_close", 5)
    if heard:
        await h.until(lambda: reduce.order_id in h.acct.own_orders, "its reduce's id stored")
    await crash(h)
    exit_order = h.trade("MNQ", "sell", 8)  # the SDK's close_position, while the service is down
    assert h.gateway.order(reduce.order_id).status == OrderStatus.OPEN
    h.clock.advance(seconds=3)  # down 3 s: past the close timeout (2 s), its check is due
    return reduce, exit_order


@pytest.mark.parametrize("heard", [True, False], ids=["id-stored", "died-before-its-id"])
async def test_after_a_crash_our_reduce_beside_the_traders_exit_is_withdrawn(
    h: Harness, heard: bool
) -> None:
    """Reported by a tester who killed `serve` -9 while its reduce worked (fill delay 10 s):
    restarted before either order filled, it logged CLOSE_NOT_CONFIRMED, left its reduce
    working beside the trader's sell 8, and both filled: short 3."""
    reduce, exit_order = await crashed_with_our_reduce_working_and_the_traders_exit_sent(h, heard)
    await h.start()
    await h.gw_until(
        lambda: h.gateway.order(reduce.order_id).status == OrderStatus.CANCELLED, "ours withdrawn"
    )
    assert h.gateway.order(exit_order.order_id).status == OrderStatus.OPEN  # before either filled
    await h.gw_until(
        lambda: h.gateway.order(exit_order.order_id).status == OrderStatus.FILLED,
        "the exit filled",
        timeout=20,
    )
    await h.until(lambda: MNQ not in h.acct.positions, "the service sees the account flat")
    await h.advance(seconds=5)
    assert h.gateway.position(ACCOUNT, MNQ) is None, "our reduce left the trader short"
    assert len(h.closes("MNQ")) == 1  # nothing sent after it


async def test_after_a_crash_when_both_fill_anyway_what_ours_opened_is_closed(h: Harness) -> None:
    """The withdrawal refused after the restart: the overshoot is noticed from the fills by a
    service that was not running when either order was placed beside the other."""
    reduce, exit_order = await crashed_with_our_reduce_working_and_the_traders_exit_sent(h, True)
    h.gateway.fail_rest("/api/Order/cancel", 503, count=100)  # the race lost: ours fills too
    await h.start()
    await h.gw_until(
        lambda: h.gateway.order(exit_order.order_id).status == OrderStatus.FILLED,
        "both filled",
        timeout=20,
    )
    assert h.gateway.order(reduce.order_id).status == OrderStatus.FILLED
    await h.until(
        lambda: any("CLOSE_OVERSHOT" in m and "CRITICAL" in m for m in h.logs), "the alert"
    )
    [alert] = [m for m in h.logs if "ALERT CLOSE_OVERSHOT" in m]
    assert "opened 5" in alert
    h.gateway.set_fill_delay(0)
    await h.gw_until(lambda: h.gateway.position(ACCOUNT, MNQ) is None, "flat again", timeout=20)
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "done")
    assert [c.size for c in h.closes("MNQ")] == [5, 5]  # ours, then the close of the 5
