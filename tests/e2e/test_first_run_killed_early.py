"""Found by a crash hunt (real SDK, paper gateway; first seen with `serve` killed by SIGKILL):
the very first run on a new database, the admin secret set, the trader trading at once, killed
before its first read of the account's trades was done (its check of a lost database left
pending). The next start took the trades made under the first run's watch for a lost
database: a CRITICAL STATE_LOST alert for the week, and the admin secret marked untrusted, so
the admin's `transition` was refused and whoever first ran `admin set-secret --take-over`
(no current secret asked) became the admin and ended the lock. Only trades made before the
service first started on the database tell of a lost one."""

from __future__ import annotations

import pytest

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from fsm_risk.service import Service
from tests.e2e.service_harness import ACCOUNT, Harness, lock_by_daily_loss, run_cli
from tests.e2e.test_restart_safety import crash

SECRET = "the-admins-secret-123"
RULES = "[rule.daily_loss_limit]\nlimit = 500\n"


async def test_a_first_run_killed_before_its_first_read_leaves_no_lost_database(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(Service, "_lost", lambda self, account_id: None)  # killed before it decides
        await h.start(RULES)  # a new database
        AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
        h.clock.advance(seconds=10)
        await lock_by_daily_loss(h)  # traded (and locked) under the first run's watch
        await crash(h)
    h.clock.advance(seconds=30)
    await h.start()
    await h.until(lambda: h.svc._caught_up(ACCOUNT), "the account's trades read")
    assert not [m for m in h.logs if "STATE_LOST" in m]
    assert h.svc.lost_now() == {}
    assert AdminAuth(h.svc.store, h.clock.now, delay=0).untrusted is None
    assert h.acct.state is State.LockedDaily
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "checked",
        secret=SECRET,
    )  # fmt: skip
    assert code == 0 and "LockedDaily -> Trading" in out, out


async def test_a_trade_made_before_the_first_run_still_tells_of_a_lost_database(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.trade("MNQ", "buy", 1)  # before any service ran on this (new) database
    h.clock.advance(seconds=10)
    with monkeypatch.context() as m:
        m.setattr(Service, "_lost", lambda self, account_id: None)
        await h.start(RULES)
        await crash(h)
    await h.start()
    await h.until(lambda: h.svc._caught_up(ACCOUNT), "the account's trades read")
    assert ACCOUNT in h.svc.lost_now()
