"""Found by a review of the reload direction (real SDK, paper gateway): RULE-012's loss lowered
below a loss the trader just took watches it (before, his doubled re-entry stayed), and RULE-011's
lock changed from a cooldown to the daily lock, held for the reset, locks until the reset (before:
only for the cooldown in force)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness, run_cli

MNQ = "CON.F.US.MNQ.Z26"
SECRET = "correct horse battery"


async def _losing_trip(h: Harness, points: int) -> None:
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "long 1 MNQ")
    h.gateway.move_price("MNQ", -points)
    h.trade("MNQ", "sell", 1)
    await h.until(lambda: MNQ not in h.acct.positions, "flat")
    await asyncio.sleep(0.5)


async def _reload(h: Harness, rules: str) -> str:
    h.write_settings(rules)
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    await asyncio.sleep(2)
    return out


async def test_revenge_loss_lowered_under_a_loss_just_taken_watches_it(h: Harness) -> None:
    """A round trip losing $80 and fees under loss = 100 (no watch); loss lowered to 50
    (stricter, applied at once); then 2 MNQ bought, twice the losing size, within the watch:
    flattened into a Cooldown by RULE-012."""
    await h.start("[rule.revenge_trading]\nloss = 100\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    await _losing_trip(h, 160)  # 160 ticks of MNQ at $0.50: -$80, and the fees
    net = h.acct.day.trips[-1].net
    assert Decimal(-100) < net < Decimal(-80), net
    assert "watches" not in h.acct.rule_state.get("RULE-012", {})
    out = await _reload(h, "[rule.revenge_trading]\nloss = 50\n")
    assert "loss: 100 -> 50" in out, out
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: h.acct.state is not State.Trading, "the re-entry of 2 MNQ judged")
    assert "RULE-012" in h.acct.holds
    await h.until(lambda: h.position("MNQ") == 0, "the revenge entry closed")


async def test_a_streak_under_a_held_daily_lock_locks_until_the_reset(h: Harness) -> None:
    """lock = cooldown (240 min) -> daily: held for the reset (no known direction); 2 losses
    in a row then lock until the reset, the later of the two, not for 240 minutes."""
    streak = "[rule.max_consecutive_losses]\nlosses = 2\ncooldown_minutes = 240\n"
    await h.start(streak + "lock = cooldown\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    out = await _reload(h, streak + "lock = daily\n")
    assert "lock: cooldown -> daily" in out and "looser from the daily reset" in out, out
    await _losing_trip(h, 20)
    await _losing_trip(h, 20)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-011")
    hold = h.acct.holds["RULE-011"]
    assert hold.until == h.acct.day.end, (hold.until, h.acct.day.end)
