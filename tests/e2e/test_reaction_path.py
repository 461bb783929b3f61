"""The path from a breach to its close (the real SDK against the paper gateway): the state is
committed, and visible to any other reader of the database, before the request is started;
nothing is logged in between."""

from __future__ import annotations

import gc
import sqlite3
from typing import Any

from fsm_risk import logs
from fsm_risk.core.events import AdminCommand
from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness

MAX_CONTRACTS = "[rule.max_contracts]\nlimit = 3\n"


async def test_the_reduce_starts_committed_and_before_its_log_lines(h: Harness) -> None:
    await h.start(MAX_CONTRACTS)
    broker: Any = h.svc.broker
    reduce = broker.reduce
    seen: list[tuple[int, list[tuple[str, str]]]] = []

    async def spy(account_id: int, contract_id: str, size: int) -> Any:
        logged = sum(1 for m in h.logs if logs.RULE_EVALUATED in m and "-> Flattening" in m)
        # another connection, as a restarted process would read the file
        with sqlite3.connect(h.svc.store.path) as other:
            rows = other.execute(
                "SELECT from_state, to_state FROM audit WHERE to_state = 'Flattening'"
            ).fetchall()
        seen.append((logged, rows))
        return await reduce(account_id, contract_id, size)

    broker.reduce = spy
    h.trade("MNQ", "buy", 5)
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit")
    assert seen, "no reduce was sent"
    logged, rows = seen[0]
    assert rows, "the breach was not committed before its reduce was started"
    assert logged == 0, "the breach was logged before its reduce was started"
    await h.until(
        lambda: any(logs.RULE_EVALUATED in m and "-> Flattening" in m for m in h.logs),
        "the breach logged after all",
    )


async def test_what_start_up_built_is_out_of_the_collectors_sight(h: Harness) -> None:
    gc.unfreeze()
    await h.start(MAX_CONTRACTS)
    assert gc.get_freeze_count() > 0  # a full collection walks only what came after
    gc.unfreeze()


async def test_an_admin_transition_is_answered_once_it_is_on_the_disk(h: Harness) -> None:
    """Commits leave the disk flush to the flusher's thread (within a second); what a person
    is answered about must not wait for it: a lock answered is a lock that survives a power
    cut."""
    await h.start(MAX_CONTRACTS)
    store: Any = h.svc.store
    flushed: list[list[tuple[str, str]]] = []
    fsync = store.flusher.fsync

    def spy() -> None:
        with sqlite3.connect(store.path) as other:  # what the flush puts on the disk
            flushed.append(
                other.execute(
                    "SELECT from_state, to_state FROM audit WHERE actor LIKE 'admin%'"
                ).fetchall()
            )
        fsync()

    store.flusher.fsync = spy
    store.flusher.quiet = store.flusher.most = 3600.0  # the thread's own flush far away
    await h.svc.admin(AdminCommand(h.acct.account_id, State.LockedDaily, "desk", "ops"))
    assert [("Trading", "LockedDaily")] in flushed, flushed
