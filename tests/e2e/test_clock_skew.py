"""This machine's clock against the gateway's: quotes stamped by a gateway whose clock is
behind ours were stale the moment they came, and no loss limit saw an open position's loss.
The service measures the difference from the ``Date`` of the gateway's answers, judges the
quotes on the gateway's time and says so (see `fsm_risk.adapters.gateway_clock`)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from fsm_risk.adapters.clock import ManualClock
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from tests.e2e.service_harness import Harness, lock_by_daily_loss

MNQ = "CON.F.US.MNQ.Z26"
DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"


def gateway_behind(h: Harness, seconds: float) -> None:
    """The gateway's clock ``seconds`` behind the service's (its stamps and its Date)."""
    h.gateway.set_clock(lambda: h.clock.now() - timedelta(seconds=seconds))
    for c in h.gateway.contracts():  # (its opening quotes stamped on its clock)
        q = h.gateway.quote(c.id)
        h.gateway.set_price(c.id, q.last, bid=q.bid, ask=q.ask)


async def test_a_loss_is_enforced_with_this_machines_clock_40_s_ahead_of_the_gateways(
    h: Harness,
) -> None:
    gateway_behind(h, 40)  # past the 30 s a quote stays fresh
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 2)
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 1, "quotes watched")
    h.gateway.move_price("MNQ", -600)  # -$600 on 2 MNQ: past the $500 limit
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    assert h.position("MNQ") == 0
    said = [line for line in h.logs if "s ahead of the gateway's (the Date" in line]
    assert said and "ALERT" in said[0], "not said"
    # (the Date is to the second: the difference is known within one)
    skew = h.svc.broker.health.snapshot(h.clock.now(), timedelta(seconds=60), set())
    assert -41.0 <= skew["clock_skew_seconds"] <= -39.0


async def test_clocks_within_two_seconds_change_nothing(h: Harness) -> None:
    gateway_behind(h, 1)
    await h.start(DAILY_LOSS)
    await h.until(lambda: h.svc.broker.gateway_clock.estimate is not None, "clock compared")
    assert h.svc.broker.gateway_clock.skew is None
    assert not any("the gateway's (the Date" in line for line in h.logs)


async def test_records_of_a_gateway_90_s_ahead_are_not_refused_as_from_the_future(
    h: Harness,
) -> None:
    """With the gateway's clock over a minute ahead, its records were refused as stamped in
    the future (FEED_BLIND), and the position they told of was never seen nor closed."""
    gateway_behind(h, -90)
    await h.start(DAILY_LOSS)
    await h.until(lambda: h.svc.broker.gateway_clock.skew is not None, "clock compared")
    h.trade("MNQ", "buy", 2)
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 1, "quotes watched")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    assert h.position("MNQ") == 0
    assert not h.svc.broker.health.blind


def database(path: Path) -> list[str]:
    """Every row of the database, but the running service's own name (pid, host, since)."""
    db = sqlite3.connect(path)
    try:
        return [line for line in db.iterdump() if "service.holder" not in line]
    finally:
        db.close()


async def test_a_start_on_a_clock_a_day_ahead_of_the_gateways_is_refused_and_writes_nothing(
    h: Harness,
) -> None:
    """Reported: the clock moved forward a day and the service restarted released every lock
    (LOCK_EXPIRED before the skew was even measured), wiped the day's loss, applied the
    loosening held for the reset, and all of it stayed after the clock was set right. The
    start is refused, naming the difference, before anything is written."""
    await h.start(DAILY_LOSS)
    await lock_by_daily_loss(h)  # LockedDaily until tonight's reset, the day -600
    loss = h.acct.day_pnl(with_unrealized=True)
    h.write_settings("[rule.daily_loss_limit]\nlimit = 1000\n")
    assert "looser from the daily reset" in await h.svc.reload("admin:ops")
    settings = h.settings
    await h.stop()
    stored = database(settings.database)
    assert any("LockedDaily" in line for line in stored)
    stopped = h.clock.now()

    h.clock.advance(days=1)  # this machine's clock a day ahead; the gateway's is right
    h.gateway.set_clock(lambda: h.clock.now() - timedelta(days=1))
    with pytest.raises(FsmRiskError, match=r"86400 s .*ahead of the gateway's") as refused:
        await h.start()
    assert "synchronise this machine's clock" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert database(settings.database) == stored  # no lock ended, no day rolled, no settings
    assert not any("LOCK_EXPIRED" in line for line in h.logs)

    h.clock = ManualClock(stopped + timedelta(minutes=1))  # the clock set right again
    h.gateway.set_clock(h.clock.now)
    await h.start()
    assert h.acct.state is State.LockedDaily
    assert h.acct.day_pnl(with_unrealized=True) == loss
    assert h.svc.pending is not None  # the looser limit still waits for the reset
    assert ("LockedDaily", "Trading") not in [(a[1], a[2]) for a in h.audit()]
