"""Found by a review: the pending marker's time is now read back (`_lost_before`) and used in
`lost_state`. A time without an offset parses (no ValueError) but cannot be compared with the
trades' aware stamps: what does the next start do?"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from fsm_risk.core.states import State
from fsm_risk.service import Service
from tests.e2e.service_harness import ACCOUNT, Harness, lock_by_daily_loss
from tests.e2e.test_restart_safety import crash

RULES = "[rule.daily_loss_limit]\nlimit = 500\n"


async def test_a_pending_marker_without_an_offset(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(Service, "_lost", lambda self, account_id: None)  # killed before it decides
        await h.start(RULES)
        h.clock.advance(seconds=10)
        await lock_by_daily_loss(h)
        await crash(h)
    db = sqlite3.connect(h.home / "var" / "state.db")
    rows = db.execute("select key, value from meta where key like 'lost_pending:%'").fetchall()
    assert rows, "the first run left its pending check"
    db.execute("update meta set value = '2026-11-23T14:00:00' where key like 'lost_pending:%'")
    db.commit()
    db.close()
    h.clock.advance(seconds=30)
    await h.start()
    await asyncio.sleep(5)
    bad = [m for m in h.logs if "TypeError" in m or "can't compare" in m or "subtract" in m]
    dead = [t for t in h.svc.reconciler._workers if t.done()]
    # after this: a loss must still be read and locked by the periodic reads / reconciliations
    assert not dead, "reconciliation workers died"
    assert any("unreadable lost_pending:1001" in m for m in h.logs)  # said, as any unreadable
    assert ACCOUNT in h.svc.lost_now()  # no first start known: every trade this week counts
    assert not bad
    assert h.svc._caught_up(ACCOUNT)
    assert h.acct.state is State.LockedDaily
