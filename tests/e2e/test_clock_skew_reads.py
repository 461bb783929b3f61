"""The gateway's REST reads with this machine's clock off the gateway's, as far as a start
allows (behind: any amount; ahead: up to `AHEAD_LIMIT`). The reads of the trades ended at this
machine's time and their records were bounded by it: a trader locked on the admin's file who
pointed the service at a new file and set the clock back 5 minutes, just before his losing
trades, got neither the day's lock rebuilt from the trades nor the lost-database alert (the
day read 0 for -600); a position opened in those minutes was refused as stamped in the
future, and its account's positions read failed whole."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.clock import ManualClock
from fsm_risk.adapters.gateway_clock import AHEAD_LIMIT
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness, lock_by_daily_loss

RULES = "[rule.daily_loss_limit]\nlimit = 500\n"


async def swapped_on_a_clock_off(h: Harness, seconds: float) -> None:
    """Locked by a -600 day on the admin's file, the service is started on a new file with
    this machine's clock ``seconds`` ahead of the gateway's (behind: negative); the gateway's
    clock stays right."""
    await h.start(RULES)
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret("the-admins-secret-123")
    h.clock.advance(seconds=10)
    await lock_by_daily_loss(h)  # -600 under a 500 limit: LockedDaily, on the admin's file
    await h.stop()
    settings = h.home / "settings.ini"
    settings.write_text(settings.read_text().replace("var/state.db", "var/mine.db"))
    true = h.clock
    h.gateway.set_clock(true.now)
    h.clock = ManualClock(true.now() + timedelta(seconds=seconds))
    await h.start()
    await h.until(lambda: h.svc._caught_up(ACCOUNT), "the account's trades read")


async def test_a_clock_set_back_5_minutes_reads_the_trades_made_since(h: Harness) -> None:
    await swapped_on_a_clock_off(h, -300)
    assert h.acct.day.realized < -500, "the day's -600 (less fees) not read back"
    assert h.acct.state is State.LockedDaily
    assert ACCOUNT in h.svc.lost_now(), "no lost-database alert"
    assert not any("is in the future" in line for line in h.logs)


async def test_a_clock_ahead_as_far_as_a_start_allows_reads_the_trades(h: Harness) -> None:
    await swapped_on_a_clock_off(h, AHEAD_LIMIT - 5)
    assert h.acct.day.realized < -500, "the day's -600 (less fees) not read back"
    assert h.acct.state is State.LockedDaily
    assert ACCOUNT in h.svc.lost_now(), "no lost-database alert"


async def test_a_position_opened_in_the_minutes_a_clock_is_behind_is_read_and_closed(
    h: Harness,
) -> None:
    """The service stopped; the trader opens 2 MNQ and loses $600 (past the $500 limit); the
    service is started again on a clock set back 5 minutes: its start-up read lists the
    position (stamped 5 minutes after this machine's time) and the loss closes it."""
    await h.start(RULES)
    await h.stop()
    true = h.clock
    h.gateway.set_clock(true.now)
    true.advance(seconds=30)
    h.trade("MNQ", "buy", 2)
    h.gateway.move_price("MNQ", -600)  # -$600 on 2 MNQ
    h.clock = ManualClock(true.now() - timedelta(minutes=5))
    await h.start()
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    assert h.position("MNQ") == 0 and h.closes("MNQ"), "not closed by the service"
    assert not any("is in the future" in line for line in h.logs)
