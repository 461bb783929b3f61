"""Found by a review: the lost-database check now counts only the trades made before the service
first started on the database, and takes that start from this machine's clock (stored in the
pending marker). A clock behind the gateway's is allowed to start (only one ahead is refused).
A trader who loses and is locked points the service at a new file holding his own admin secret,
sets the machine's clock back an hour, starts the service once with its first read of the
trades failing (a kill in its first second, or a blocked request), sets the clock right and
starts it again: the trades he made before the real first start are all after the stored one,
no STATE_LOST, his secret trusted, and his `transition` ends the admin's LockedDaily."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fsm_risk import runtime
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.broker import Credentials
from fsm_risk.adapters.clock import ManualClock
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness, lock_by_daily_loss, run_cli

ADMIN_SECRET = "the-admins-secret-123"
TRADER_SECRET = "trader-secret-456789"
RULES = "[rule.daily_loss_limit]\nlimit = 500\n"


async def test_a_first_start_on_a_clock_set_back_hides_no_lost_database(h: Harness) -> None:
    await h.start(RULES)
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(ADMIN_SECRET)
    h.clock.advance(seconds=10)
    await lock_by_daily_loss(h)  # -600 under a 500 limit: LockedDaily, on the admin's file
    await h.stop()
    h.clock.advance(seconds=60)
    settings = h.home / "settings.ini"
    settings.write_text(settings.read_text().replace("var/state.db", "var/mine.db"))
    (h.home / "trader.secret").write_text(TRADER_SECRET)
    code, out = await run_cli(
        h.home, "admin", "set-secret", "--secret-file", str(h.home / "trader.secret")
    )
    assert code == 0, out  # (a new, empty file: its first secret)

    # the first start on the new file: this machine's clock an hour behind the gateway's
    true = h.clock
    h.gateway.set_clock(true.now)
    behind = ManualClock(true.now() - timedelta(hours=1))
    h.gateway.fail_rest("/api/Trade/search", 503, 10_000)  # its first read never completes
    user, key = h.gateway.credentials()
    urls = (h.gateway.api_url, h.gateway.user_hub_url, h.gateway.market_hub_url)
    svc = runtime.make_service(h.settings, Credentials(user, key), urls, clock=behind)
    task = asyncio.create_task(svc.run())
    await asyncio.sleep(4)
    assert ACCOUNT in svc.unstored and not svc.lost
    svc.stop()
    await asyncio.wait_for(task, timeout=30)
    svc.store.close()

    # the clock set right, the service started again: its first complete read
    h.gateway.fail_rest("/api/Trade/search", 503, 0)
    true.advance(seconds=30)
    await h.start()
    await h.until(lambda: h.svc._caught_up(ACCOUNT), "the account's trades read")
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "mine",
        secret=TRADER_SECRET,
    )  # fmt: skip
    assert ACCOUNT in h.svc.lost_now(), "a lost database noticed by nothing"
    assert any("STATE_LOST" in m and "CRITICAL" in m for m in h.logs)
    assert code != 0, out  # the trader's secret on the new file is not trusted
    assert h.acct.state is State.LockedDaily
