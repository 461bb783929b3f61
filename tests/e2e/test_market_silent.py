"""The market hub connected but silent (project-x-py issue 97: ticks froze for minutes while
the connection showed healthy) while the account holds a position: the held contract is
priced by reads of the gateway's bars, the breach is enforced, the market hub is subscribed
again then reconnected, and `status`, /readyz and the alerts say the contract is priced by
reads. Found by a hunt: the loss reached -$1,400 against a $500 limit, with one warning."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from fsm_risk.core.states import State
from fsm_risk.status import render
from tests.e2e.service_harness import MNQ, Harness, web
from tests.e2e.test_web import get

RULES = """
[broker]
reconcile_interval_seconds = 1
[rule.daily_loss_limit]
limit = 500
"""
#: the feed's silence limit (``feed_silence_seconds``'s default)
SILENCE = 30


async def test_market_hub_silent_while_the_position_loses(h: Harness) -> None:
    """Long 2 MNQ, the market hub goes silent, the price falls 150 points (-$600, limit $500)
    and keeps falling: flattened and locked within a few seconds of the silence limit."""
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.silence("GatewayMarket")  # no quote, trade or depth record
    h.gateway.move_price("MNQ", -600)  # -150 points x 2 x $2 = -$600 open, limit $500
    flat_at = None
    for s in range(1, 601):  # ten minutes of the service clock, 60 s wall
        h.clock.advance(seconds=1)
        await asyncio.sleep(0.1)
        if h.acct.state is not State.Trading:
            flat_at = s
            break
        if s % 30 == 0:
            h.gateway.move_price("MNQ", -40)  # keeps falling: -10 points more
    assert flat_at is not None, "a -$600+ open loss past a $500 limit was never enforced in 600 s"
    assert flat_at <= SILENCE + 5, f"enforced {flat_at} s after the silence began"
    await h.until(lambda: h.acct.state is State.LockedDaily, "flattened and locked")
    assert h.position("MNQ") == 0
    assert h.gateway.silenced == ["GatewayMarket"]  # no quote ever came: the reads did it


async def test_a_silent_contract_is_priced_by_reads_said_in_status_readyz_and_alerts(
    h: Harness,
) -> None:
    """Long 2 MNQ, -$300 (inside the $500 limit), the market hub silent: the contract is
    priced by reads at the gateway's price, shown in `status` and /readyz, the hub subscribed
    again then reconnected, a CRITICAL alert after `CRITICAL_AFTER`; quotes back, it ends."""
    await h.start(RULES)
    url = web(h).url
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", 1)
    await h.until(lambda: MNQ in h.svc.engine.marks, "MNQ quoted")
    h.gateway.silence("GatewayMarket")
    last = h.gateway.move_price("MNQ", -301).last  # -75 points x 2 x $2 = -$300
    for _ in range(SILENCE + 3):
        h.clock.advance(seconds=1)
        await asyncio.sleep(0.05)
    await h.until(
        lambda: getattr(h.svc.engine.marks.get(MNQ), "last", None) == last,
        "the read's price is the mark",
    )
    assert h.svc.health()["priced_by_reads"][MNQ]["reads"] >= 1
    mark = h.svc.engine.marks[MNQ]
    assert h.clock.now() - mark.at < h.svc.engine.settings.stale_after  # fresh, not stale
    pos = h.acct.positions[MNQ]
    assert pos.upnl == (last - pos.average_price) * 2 * 2 > -500  # at the read's price
    assert h.acct.state is State.Trading
    feed = h.svc.status()["feed"]
    assert feed["silent_contracts"] == [MNQ] and MNQ in feed["priced_by_reads"]
    assert Decimal(str(feed["priced_by_reads"][MNQ]["price"])) == last
    _, _, body = await get(f"{url}readyz")
    assert json.loads(body)["contracts_priced_by_reads"] == 1
    text = render(h.svc.status(), color=False)
    assert f"{MNQ} priced by reads of the gateway's bars" in text, text
    assert any("its price is read from the gateway's bars" in m for m in h.logs)
    # the price moved and no quote said so: subscribed again at once, then (5 s later, by the
    # service's clock) the market websocket is reconnected
    assert any("the market feed is broken; subscribing again" in m for m in h.logs)
    reconnects, waited = h.svc.broker.health.reconnects, 0
    while h.svc.broker.health.reconnects == reconnects and waited < 30:
        h.clock.advance(seconds=1)
        waited += 1
        await asyncio.sleep(0.1)
    assert h.svc.broker.health.reconnects > reconnects, "the market hub never reconnected"
    assert any("no quotes: subscribing CON.F.US.MNQ.Z26 again" in m for m in h.logs)
    assert any("market hub silent: reconnecting it" in m for m in h.logs)
    # still silent after the reconnect: CRITICAL once priced by reads for CRITICAL_AFTER
    from fsm_risk.core.silence import CRITICAL_AFTER

    for _ in range(int(CRITICAL_AFTER.total_seconds())):
        h.clock.advance(seconds=1)
        await asyncio.sleep(0.02)
    await h.until(
        lambda: [m for m in h.logs if "CRITICAL" in m and f"no quote from {MNQ}" in m],
        "the CRITICAL alert",
    )
    # the feed speaks again: priced by its quotes, the reads end
    h.gateway.silence("GatewayMarket", False)
    h.gateway.move_price("MNQ", 4)
    await h.until(lambda: not h.svc.health()["priced_by_reads"], "priced by quotes again")
    assert h.svc.engine.marks[MNQ].last == last + 1
    assert any(f"{MNQ} is priced by its quotes again" in m for m in h.logs)


async def test_while_quotes_flow_no_price_is_read_and_a_quiet_market_is_no_alarm(
    h: Harness,
) -> None:
    """Quotes every 10 s for three silence limits: no bar read, nothing priced by reads.
    Then no quote while the price stands still: priced by reads, no reconnect, no alert."""
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    broker, read = h.svc.broker, h.svc.broker.last_price
    asked: list[str] = []

    async def counted(contract_id: str) -> Decimal | None:
        asked.append(contract_id)
        return await read(contract_id)

    broker.last_price = counted  # type: ignore[method-assign]
    for s in range(1, 3 * SILENCE + 1):
        h.clock.advance(seconds=1)
        if s % 10 == 0:
            h.gateway.move_price("MNQ", 1 if s % 20 else -1)
        await asyncio.sleep(0.05)
    assert h.svc.health()["silent_contracts"] == []
    assert asked == [] and h.svc.health()["priced_by_reads"] == {}
    # the check itself sees a silence: quotes stop, and the reads begin; the price standing
    # still (a quiet market sends no quote either), the feed is not called broken: the hub is
    # not reconnected and no CRITICAL alert is raised
    reconnects = h.svc.broker.health.reconnects
    h.gateway.silence("GatewayMarket")
    for _ in range(SILENCE + 70):
        h.clock.advance(seconds=1)
        await asyncio.sleep(0.03)
    await h.until(lambda: asked, "a read once the quotes stop")
    assert set(asked) == {MNQ}
    assert h.svc.health()["priced_by_reads"][MNQ]["frozen"] is False
    assert h.svc.broker.health.reconnects == reconnects
    assert not [m for m in h.logs if "CRITICAL" in m]
