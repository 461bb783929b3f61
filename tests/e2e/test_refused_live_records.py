"""A user-hub record the service refuses leaves what it said unknown: its account is read over
REST at once, so a breach it carried is enforced within a read, not at the next periodic read
(the real SDK against the paper gateway)."""

from __future__ import annotations

from tests.e2e.service_harness import ACCOUNT, Harness

MNQ = "CON.F.US.MNQ.Z26"
LIMITS = """
[broker]
reconcile_interval_seconds = 0
[rule.max_contracts]
limit = 3
"""


async def test_a_refused_position_record_has_its_account_read_and_the_breach_enforced(
    h: Harness,
) -> None:
    # seen: position records with averagePrice null, 5 MNQ bought against a limit of 3: the
    # reduce came with the periodic read 54 s later (never, with no periodic read)
    await h.start(LIMITS)
    h.gateway.silence("GatewayUserPosition")  # the gateway's own records never arrive whole
    h.trade("MNQ", "buy", 5)
    await h.gw_until(lambda: h.position("MNQ") == 5, "the buy filled")
    [held] = h.gateway.engine.open_positions(ACCOUNT)
    record = {**h.gateway.engine.position_api(held), "averagePrice": None}
    seen = h.svc.malformed
    assert h.gateway.push_record(ACCOUNT, "GatewayUserPosition", record)
    await h.until(lambda: h.svc.malformed > seen, "the record refused")
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit", timeout=10)
    [reduce] = h.closes("MNQ")
    assert reduce.source == "partial_close" and reduce.size == 2
