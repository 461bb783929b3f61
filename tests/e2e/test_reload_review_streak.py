"""Found by a review of the reload direction: RULE-011's losses lowered to the trader's streak
locks at once (real SDK, paper gateway; before, the account stayed Trading and bought 3 MNQ)."""

from __future__ import annotations

import asyncio

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness, run_cli

MNQ = "CON.F.US.MNQ.Z26"
SECRET = "correct horse battery"


async def _losing_trip(h: Harness, n: int) -> None:
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, f"trip {n}: long")
    h.gateway.move_price("MNQ", -20)
    h.trade("MNQ", "sell", 1)
    await h.until(lambda: MNQ not in h.acct.positions, f"trip {n}: flat")
    await asyncio.sleep(0.5)


async def test_control_losses_2_locks_at_the_second_loss(h: Harness) -> None:
    await h.start("[rule.max_consecutive_losses]\nlosses = 2\n")
    await _losing_trip(h, 1)
    await _losing_trip(h, 2)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-011")


async def test_losses_lowered_to_the_streak_locks_at_once(h: Harness) -> None:
    """2 losing round trips in a row under losses = 3; the admin lowers it to 2 (stricter:
    applied at once, 'and the rules judge the account again right away')."""
    await h.start("[rule.max_consecutive_losses]\nlosses = 3\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    await _losing_trip(h, 1)
    await _losing_trip(h, 2)
    assert h.acct.state is State.Trading
    h.write_settings("[rule.max_consecutive_losses]\nlosses = 2\n")
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    await asyncio.sleep(3)
    # the trader buys again: 2 losses in a row already, the limit is now 2
    h.trade("MNQ", "buy", 3)
    await asyncio.sleep(3)
    assert h.acct.state is not State.Trading, "2 losses in a row >= losses = 2"
    assert h.position("MNQ") == 0, "a new entry after the streak reached the limit"
