"""Found by a hunt: settings reloaded by the admin while the service runs (the real SDK, the real
service, the paper gateway): a looser value applied at once, and a stricter limit that does not
judge the account until the trader trades again."""

from __future__ import annotations

import asyncio

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness, run_cli

MNQ = "CON.F.US.MNQ.Z26"
SECRET = "correct horse battery"

# a session that crosses midnight, from 08:00 to 07:00 Chicago (the harness starts at T0,
# Monday 09:00 Chicago, inside it); the daily reset stays 17:00
HOURS = (
    "[rule.trading_hours]\ntimezone = America/Chicago\nwindows = Sun-Thu 08:00-07:00\n"
    "exchange_calendar = none\n"
)


async def _long_one(h: Harness) -> None:
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")


async def test_control_flat_by_10_flattens_at_10(h: Harness) -> None:
    await h.start(HOURS + "flat_by = 10:00\n")
    await _long_one(h)
    await h.advance(minutes=61)  # 10:01 Chicago
    await h.gw_until(lambda: h.position("MNQ") == 0, "flat by 10:00", timeout=10)


async def test_flat_by_moved_later_in_the_session_is_held_for_the_reset(h: Harness) -> None:
    """The admin moves flat_by from 10:00 (2 h into the session) to 06:00 (its last hour):
    the trader may hold 20 h longer. The reload calls it stricter and applies it now."""
    await h.start(HOURS + "flat_by = 10:00\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    await _long_one(h)
    h.write_settings(HOURS + "flat_by = 06:00\n")
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    await h.advance(minutes=61)  # 10:01 Chicago, before the 17:00 reset
    await asyncio.sleep(3)
    assert "stricter now" not in out, "a later flat-by in the session is a loosening"
    assert h.position("MNQ") == 0, "the flat-by in force until the reset must flatten"


async def test_max_trades_lowered_below_the_count_locks_at_once(h: Harness) -> None:
    """4 entries against a limit of 10; the admin lowers the limit to 2. README: a stricter
    value applies at once 'and the rules judge the account again right away'."""
    await h.start("[rule.max_trades_per_day]\nlimit = 10\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    for n in range(1, 5):
        h.trade("MNQ", "buy", 1)
        await h.until(
            lambda n=n: h.acct.positions.get(MNQ) is not None and h.acct.positions[MNQ].size == n,
            f"entry {n} seen",
        )
    h.write_settings("[rule.max_trades_per_day]\nlimit = 2\n")
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    await asyncio.sleep(3)
    # a resting buy order the trader left working is not cancelled either
    assert h.acct.state is State.LockedDaily, "4 entries today > limit 2"


async def test_a_daily_loss_limit_lowered_below_a_realized_loss_locks_at_once(h: Harness) -> None:
    """Flat after a realized -$600 against a $1000 limit; the admin lowers it to $500."""
    await h.start("[rule.daily_loss_limit]\nlimit = 1000\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    h.trade("MNQ", "sell", 2)
    await h.until(
        lambda: MNQ not in h.acct.positions and h.acct.day.realized <= -600,
        "flat, the loss realized",
    )
    h.write_settings("[rule.daily_loss_limit]\nlimit = 500\n")
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    await asyncio.sleep(3)
    assert h.acct.state is State.LockedDaily
