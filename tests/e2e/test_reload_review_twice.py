"""A guard written by a review of the reload direction (held before): the Tick after a
tightening, reloaded twice, locks once (the audit says one lock)."""

from __future__ import annotations

import asyncio

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness, run_cli

MNQ = "CON.F.US.MNQ.Z26"
SECRET = "correct horse battery"


async def test_limit_lowered_then_lowered_again_locks_once(h: Harness) -> None:
    await h.start("[rule.max_trades_per_day]\nlimit = 10\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    for n in range(1, 4):
        h.trade("MNQ", "buy", 1)
        await h.until(
            lambda n=n: h.acct.positions.get(MNQ) is not None and h.acct.positions[MNQ].size == n,
            f"entry {n} seen",
        )
    h.write_settings("[rule.max_trades_per_day]\nlimit = 3\n")  # at the count: no lock
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    await asyncio.sleep(2)
    assert h.acct.state is State.Trading, "3 entries within a limit of 3"
    h.write_settings("[rule.max_trades_per_day]\nlimit = 2\n")
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    await asyncio.sleep(2)
    h.write_settings("[rule.max_trades_per_day]\nlimit = 1\n")
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    await asyncio.sleep(2)
    locks = [a for a in h.audit() if a[4] == "RULE-007"]
    assert h.acct.state is State.LockedDaily
    assert h.position("MNQ") == 3, "flatten_existing = false: the open lots stay"
    assert len([a for a in locks if a[2] == "LockedDaily"]) == 1
