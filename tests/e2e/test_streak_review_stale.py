"""Found by a review of RULE-011 firing on a Tick (real SDK, paper gateway): a streak kept
while RULE-011 was off locked the day it was turned on again, with no loss that day.

Day 1: 2 losing round trips under losses = 3 (Trading). The admin turns RULE-011 off (held for
the reset). Two days later, no trade since, he turns it on with losses = 2: the trader, who has
lost nothing that day, must stay Trading and keep his position."""

from __future__ import annotations

import asyncio

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness, run_cli
from tests.e2e.test_reload_review_streak import SECRET, _losing_trip

MNQ = "CON.F.US.MNQ.Z26"


async def test_a_streak_kept_while_off_does_not_lock_the_day_it_is_turned_on(h: Harness) -> None:
    await h.start("[rule.max_consecutive_losses]\nlosses = 3\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    await _losing_trip(h, 1)
    await _losing_trip(h, 2)
    assert h.acct.state is State.Trading
    h.write_settings("[rule.max_consecutive_losses]\nenabled = false\n")
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    for _ in range(4):  # two days on (the resets applied by the service's scheduler)
        await h.advance(hours=12)
        await asyncio.sleep(1.0)
    assert "RULE-011" not in h.svc.engine.swap.book.ids, "off since the reset"
    h.trade("MNQ", "buy", 1)  # today: a position, no round trip
    await h.until(lambda: MNQ in h.acct.positions, "long 1 today")
    h.write_settings("[rule.max_consecutive_losses]\nlosses = 2\n")
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    await asyncio.sleep(3)
    locks = [a for a in h.audit() if a[4] == "RULE-011"]
    assert h.acct.state is State.Trading, (h.acct.state, locks)
    assert h.position("MNQ") == 1, "flattened for a streak of two days ago"
