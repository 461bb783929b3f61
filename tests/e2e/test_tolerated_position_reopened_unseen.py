"""A position RULE-007's lock without flatten tolerates, closed and opened again while the
service hears no position record of it (real SDK, paper gateway, service): the new position
is closed. First with the position feed gone quiet (the trades and orders still flow), then
with the round trip made while the service was down (a deploy, a crash, a reboot)."""

from __future__ import annotations

from fsm_risk.core.states import State
from tests.e2e.service_harness import MNQ, Harness

RULES = """
[rule.max_trades_per_day]
limit = 2
"""


async def locked_with_mnq_tolerated(h: Harness) -> None:
    """Limit 2: MNQ long 1 (entry 1), an MES round trip (entry 2), then MES again (entry 3):
    locked, the MES entry closed, MNQ long 1 tolerated."""
    await h.start(RULES)
    mes = h.gateway.contract("MES").id
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "long 1 MNQ heard")
    h.trade("MES", "buy", 1)
    await h.until(lambda: mes in h.acct.positions, "MES heard")
    h.trade("MES", "sell", 1)
    await h.until(lambda: mes not in h.acct.positions, "MES flat heard")
    h.trade("MES", "buy", 1)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-007")
    await h.gw_until(lambda: h.position("MES") == 0, "the MES entry closed")
    await h.until(lambda: h.acct.tolerated == {MNQ: 1}, "MNQ long 1 tolerated")


async def test_a_reentry_with_the_position_feed_quiet_is_closed(h: Harness) -> None:
    """Found by a hunt: the trader sold the tolerated MNQ long 1 and bought 1 back with the
    position feed quiet: the new long 1 was kept as the old one (tolerated {MNQ: 1}), still
    open at the gateway three minutes and several periodic reads later, no close sent."""
    await locked_with_mnq_tolerated(h)
    h.gateway.silence("GatewayUserPosition")
    out = h.trade("MNQ", "sell", 1)  # the tolerated exit (allowed)
    back = h.trade("MNQ", "buy", 1)  # a new entry while locked, filled at once
    await h.until(
        lambda: h.acct.day.filled(out.order_id) == 1 and h.acct.day.filled(back.order_id) == 1,
        "both trades heard",
    )
    await h.gw_until(lambda: h.position("MNQ") == 0, "the re-entry closed", timeout=5)
    assert h.acct.tolerated == {}
    assert [c.size for c in h.closes("MNQ")] == [1]


async def test_a_reentry_made_while_the_service_was_down_is_closed(h: Harness) -> None:
    """Found by a hunt: the same round trip made while the service was down: at the restart
    the trades are read back, no position record of the round trip ever comes, and the new
    long 1 was kept as the old one (tolerated {MNQ: 1}), never closed."""
    await locked_with_mnq_tolerated(h)
    await h.until(lambda: not h.enforcing(), "enforcement settled")
    await h.stop()
    await h.advance(seconds=60)
    h.trade("MNQ", "sell", 1)  # the tolerated exit
    h.trade("MNQ", "buy", 1)  # a new entry in the locked account
    await h.advance(seconds=60)
    await h.start()
    await h.until(lambda: h.acct.state is State.LockedDaily, "still locked after the restart")
    await h.gw_until(lambda: h.position("MNQ") == 0, "the re-entry closed", timeout=8)
    assert h.acct.tolerated == {}
    assert [c.size for c in h.closes("MNQ")] == [1]
