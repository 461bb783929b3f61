"""A REST listing with an entry the service refuses is an incomplete read: nothing is concluded
from it (never "flat", never "no working order"), the account keeps what the service holds, and
one CRITICAL alert names the account, the listing and the field (the real SDK against the paper
gateway, whose listings answer a field null as `null_rest_fields` arms them)."""

from __future__ import annotations

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness

MNQ = "CON.F.US.MNQ.Z26"
POSITIONS = "/api/Position/searchOpen"
ORDERS = "/api/Order/searchOpen"
LIMITS = """
[broker]
reconcile_interval_seconds = 0
[rule.max_contracts]
limit = 5
[rule.daily_loss_limit]
limit = 500
"""


def alerts(h: Harness) -> list[str]:
    return [m for m in h.logs if "READ_INCOMPLETE" in m]


async def test_a_position_listed_without_its_price_is_never_read_as_flat(h: Harness) -> None:
    # seen: every periodic read said "flat" (STATE_DIVERGED, the position closed in the engine
    # at +0), the price moved the day past the loss limit and nothing was flattened
    await h.start(LIMITS)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.null_rest_fields(POSITIONS, "averagePrice")
    h.gateway.silence("GatewayUserPosition")  # the add is not heard live
    h.trade("MNQ", "buy", 1)  # a new average: the listing's price cannot be told
    await h.gw_until(lambda: h.position("MNQ") == 3, "the add filled")
    for _ in range(2):
        await h.svc.reconcile(ACCOUNT, periodic=True)
    assert h.acct.positions[MNQ].size == 2  # what the service held is kept, not closed at +0
    assert h.svc.broker.health.diverged == 0
    [alert] = alerts(h)  # one per outage, however many reads
    assert "CRITICAL" in alert and f"account {ACCOUNT}" in alert
    assert "/Position/searchOpen" in alert and "'averagePrice' is missing" in alert
    h.gateway.silence("GatewayUserPosition", False)
    h.gateway.move_price("MNQ", -600)  # -$600 on the 2 MNQ held
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003", timeout=30)
    assert h.position("MNQ") == 0


async def test_a_listed_position_without_its_price_keeps_the_price_known_when_it_cannot_move(
    h: Harness,
) -> None:
    await h.start(LIMITS)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    price = h.acct.positions[MNQ].average_price
    h.gateway.null_rest_fields(POSITIONS, "averagePrice")
    reads = h.svc.broker.health.reads
    await h.svc.reconcile(ACCOUNT, periodic=True)
    assert h.svc.broker.health.reads == reads + 1  # read whole, and used
    assert h.acct.positions[MNQ].size == 2 and h.acct.positions[MNQ].average_price == price
    assert h.svc.broker.health.diverged == 0 and not alerts(h)


async def test_a_working_order_listed_without_its_time_is_never_read_as_ended(
    h: Harness,
) -> None:
    # seen: a lock's flatten said FLAT_CONFIRMED "no working order in scope" while the
    # trader's stop still worked; it later filled into a naked short in Cooldown
    await h.start(LIMITS)
    h.trade("MNQ", "buy", 2)
    stop = h.trade("MNQ", "sell", 2, type=4, stop_price="20000")
    await h.until(lambda: stop.order_id in h.acct.orders, "the stop reached the service")
    h.gateway.null_rest_fields(ORDERS, "creationTimestamp")
    await h.svc.reconcile(ACCOUNT, periodic=True)
    assert stop.order_id in h.acct.orders  # still working, as the gateway has it
    [alert] = alerts(h)
    assert "/Order/searchOpen" in alert and "'creationTimestamp' is missing" in alert
    h.gateway.move_price("MNQ", -600)  # -$600 on 2 MNQ, the stop far below
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003", timeout=30)
    assert h.position("MNQ") == 0
    assert not h.gateway.orders(ACCOUNT, working=True)  # the trader's stop was cancelled


async def test_a_listing_read_whole_again_is_used_again(h: Harness) -> None:
    await h.start(LIMITS)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.null_rest_fields(POSITIONS, "averagePrice", "creationTimestamp")
    await h.svc.reconcile(ACCOUNT, periodic=True)
    assert len(alerts(h)) == 1
    feed = h.svc.status()["feed"]  # shown as FEED_BLIND is: the feed degraded, and why
    assert feed["incomplete_reads"] == [f"{ACCOUNT} /Position/searchOpen"]
    assert not feed["healthy"]
    h.gateway.null_rest_fields(POSITIONS)
    reads = h.svc.broker.health.reads
    await h.svc.reconcile(ACCOUNT, periodic=True)
    assert h.svc.broker.health.reads == reads + 1
    assert h.svc.status()["feed"]["incomplete_reads"] == []
    assert any("listed whole again" in m for m in h.logs)
