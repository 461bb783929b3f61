"""Found by a hunt (the database under a real machine): SQLite's write lock held by another
connection (an admin's sqlite3 shell with a transaction open, a backup tool's checkpoint) when a
breach comes: the commit before the close waited SQLite's whole 5 s busy timeout (the excess
closed 5.02 s after the fill, the event loop stalled meanwhile). The writer waits at most 0.5 s
(as on PostgreSQL), then the close goes and the state is saved when the lock is free."""

from __future__ import annotations

import asyncio
import sqlite3

from tests.e2e.service_harness import Harness

LIMITS = "[rule.max_contracts]\nlimit = 5\n[rule.max_contracts_per_instrument]\nlimits = MNQ: 3\n"


async def test_a_breach_behind_a_held_sqlite_write_lock_is_closed_within_2_s(h: Harness) -> None:
    await h.start(LIMITS)
    other = sqlite3.connect(h.home / "var" / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        h.trade("MNQ", "buy", 7)
        await h.gw_until(lambda: h.position("MNQ") == 3, "closed despite the lock", timeout=20)
        took = loop.time() - started
    finally:
        other.rollback()
        other.close()
    assert took < 2
    await h.until(lambda: h.svc.store.pending is None, "saved once the lock is free", timeout=10)
    # found by a review of 40c70c3: a lock held for a moment (the store's own checkpoint on a
    # slow disk) is no outage: said, not alerted (it was a CRITICAL STATE_NOT_SAVED for nothing)
    assert not [m for m in h.logs if "STATE_NOT_SAVED" in m or "STATE_SAVED_AGAIN" in m]
