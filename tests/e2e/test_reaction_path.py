"""The path from a breach to its close (the real SDK against the paper gateway): the state is
committed, and visible to any other reader of the database, before the request is started;
nothing is logged in between."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from typing import Any

from fsm_risk import logs
from fsm_risk.core.events import AccountUpdate, AdminCommand, PositionUpdate, Tick
from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness

MAX_CONTRACTS = "[rule.max_contracts]\nlimit = 3\n"


async def test_the_reduce_starts_committed_and_before_its_log_lines(h: Harness) -> None:
    await h.start(MAX_CONTRACTS)
    broker: Any = h.svc.broker
    reduce = broker.reduce
    seen: list[tuple[int, list[tuple[str, str]]]] = []

    async def spy(account_id: int, contract_id: str, size: int, *rest: Any) -> Any:
        logged = sum(1 for m in h.logs if logs.RULE_EVALUATED in m and "-> Flattening" in m)
        # another connection, as a restarted process would read the file
        with sqlite3.connect(h.svc.store.path) as other:
            rows = other.execute(
                "SELECT from_state, to_state FROM audit WHERE to_state = 'Flattening'"
            ).fetchall()
        seen.append((logged, rows))
        return await reduce(account_id, contract_id, size, *rest)

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


async def test_no_garbage_collection_runs_between_a_breach_and_its_reduce(h: Harness) -> None:
    """A cyclic collection falls due on an allocation, wherever that is; mid-batch, it would
    run between the breach and its close. With a collection due on every allocation, none
    runs from the breach's batch to its reduce being started, and they run again after."""
    await h.start(MAX_CONTRACTS)
    assert await h.svc.broker.wire.ready()
    collections: list[int] = []

    def counted(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    engine: Any = h.svc.engine
    handle = engine.handle
    handled: list[int] = []  # the collections so far, as each event is handled

    def spy_handle(event: Any, now: Any) -> Any:
        handled.append(len(collections))
        return handle(event, now)

    broker: Any = h.svc.broker
    reduce = broker.reduce
    at_reduce: list[tuple[int, int, bool]] = []

    async def spy_reduce(account_id: int, contract_id: str, size: int, *rest: Any) -> Any:
        at_reduce.append((handled[-1], len(collections), gc.isenabled()))
        return await reduce(account_id, contract_id, size, *rest)

    engine.handle, broker.reduce = spy_handle, spy_reduce
    threshold = gc.get_threshold()
    gc.callbacks.append(counted)
    gc.set_threshold(1, *threshold[1:])  # a collection due on every allocation
    try:
        h.trade("MNQ", "buy", 5)
        await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit")
        await h.until(lambda: len(collections) > at_reduce[0][1], "collections after the reduce")
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(counted)
    assert at_reduce, "no reduce was sent"
    last_event, at_start, collecting = at_reduce[0]
    assert at_start == last_event, "a collection ran between the breach and its reduce"
    assert not collecting, "the collector was on while the reduce was started"
    assert gc.isenabled(), "the collector was left off"


async def test_the_reduce_is_written_before_the_events_queued_behind_the_breach_are_handled(
    h: Harness,
) -> None:
    """A fill's burst (orders, trade, position, account) is one batch; the batch is cut
    after the breach: its reduce is on its way before the account update behind it is
    handled, and that update is then handled and committed as well."""
    await h.start(MAX_CONTRACTS)
    svc: Any = h.svc
    queue = svc.queue
    get, put_nowait = queue.get, queue.put_nowait
    burst_queued = asyncio.Event()  # the burst's last record (or a stop's end mark) is queued

    def spy_put_nowait(item: Any) -> None:
        put_nowait(item)
        if isinstance(item, AccountUpdate) or item is None:
            burst_queued.set()

    async def whole_burst() -> Any:  # the consumer takes the burst once all of it is queued
        await burst_queued.wait()
        queue.get = get  # the next batches as they come
        return await get()

    engine: Any = svc.engine
    handle = engine.handle
    handled: list[Any] = []

    def spy_handle(event: Any, now: Any) -> Any:
        handled.append(event)
        return handle(event, now)

    broker: Any = svc.broker
    reduce = broker.reduce
    at_reduce: list[list[Any]] = []

    async def spy_reduce(account_id: int, contract_id: str, size: int, *rest: Any) -> Any:
        at_reduce.append(list(handled))
        return await reduce(account_id, contract_id, size, *rest)

    commits: list[list[Any]] = []
    commit = svc._commit

    def spy_commit(effects: Any, **kw: Any) -> Any:
        commits.append(list(handled))
        return commit(effects, **kw)

    queue.put_nowait = spy_put_nowait
    queue.get, engine.handle, broker.reduce, svc._commit = (
        whole_burst,
        spy_handle,
        spy_reduce,
        spy_commit,
    )
    svc.submit(Tick())  # the consumer waits in the patched `get` from its next batch on
    await h.until(lambda: any(isinstance(e, Tick) for e in handled), "the tick handled")
    h.trade("MNQ", "buy", 5)
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit")
    await h.until(lambda: any(isinstance(e, AccountUpdate) for e in handled), "account handled")
    assert queue.get == get, "the burst did not go through the patched get"
    assert at_reduce, "no reduce was sent"
    before = at_reduce[0]
    kinds = [type(e).__name__ for e in before]
    assert kinds[-1] == "PositionUpdate" and before[-1].size == 5, kinds
    assert "Fill" in kinds, "the burst was not handled as one batch"
    assert not any(isinstance(e, AccountUpdate) for e in before), (
        "the account update behind the breach was handled before the reduce was started"
    )
    # the breach's part was committed, then the rest of the batch in a commit of its own
    assert before in commits, "the breach's part was not committed on its own"
    after = next(c for c in commits if any(isinstance(e, AccountUpdate) for e in c))
    assert len(after) == len(before) + 1


async def test_the_chores_of_a_commit_wait_for_the_one_after_a_breach(h: Harness) -> None:
    """The marks saved for `status` and the journal's expired rows deleted may ride on any
    commit, at most once a second and once an hour; never on the commit a reduce waits for
    (an hour of quotes deleted there would hold the close): they go with the next one."""
    await h.start(MAX_CONTRACTS)
    svc: Any = h.svc
    store = svc.store
    commit = store.commit
    commits: list[tuple[bool, bool]] = []  # (a reduce started since, the chores carried)

    def spy_commit(changes: Any, audit: Any = (), marks: Any = None, journal: Any = (),
                   journal_before: Any = None, **kw: Any) -> Any:  # fmt: skip
        commits.append((bool(reduced), bool(marks) or journal_before is not None))
        return commit(changes, audit, marks, journal, journal_before, **kw)

    broker: Any = svc.broker
    reduce = broker.reduce
    reduced: list[int] = []

    async def spy_reduce(account_id: int, contract_id: str, size: int, *rest: Any) -> Any:
        reduced.append(len(commits))
        return await reduce(account_id, contract_id, size, *rest)

    engine: Any = svc.engine
    handle = engine.handle

    def spy_handle(event: Any, now: Any) -> Any:
        if isinstance(event, PositionUpdate) and event.size == 5:  # the breach
            svc.journal._pruned_at = None  # the journal's hourly prune falls due now
        return handle(event, now)

    store.commit, broker.reduce, engine.handle = spy_commit, spy_reduce, spy_handle
    h.trade("MNQ", "buy", 5)
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit")
    await h.until(lambda: any(after and chores for after, chores in commits), "chores done")
    assert reduced, "no reduce was sent"
    breach = commits[reduced[0] - 1]
    assert breach == (False, False), "the breach's commit carried the chores"


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


async def test_the_reduce_is_written_on_the_connection_kept_for_it(h: Harness) -> None:
    await h.start(MAX_CONTRACTS)
    wire: Any = h.svc.broker.wire
    assert await wire.ready(), "no connection kept open for enforcement"
    h.trade("MNQ", "buy", 5)
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit")
    assert wire.sent == 1


async def test_without_a_kept_connection_the_sdk_sends_the_reduce(h: Harness) -> None:
    await h.start(MAX_CONTRACTS)
    wire: Any = h.svc.broker.wire
    await wire.close()  # none kept open (as when the gateway refused to open one)
    h.trade("MNQ", "buy", 5)
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit")
    assert wire.sent == 0
    await h.until(lambda: h.svc.effects_done == 1, "the reduce answered")


async def test_the_flusher_is_woken_once_the_reduce_is_on_the_socket(h: Harness) -> None:
    """Waking the flusher's thread takes the CPU for a moment: the breach's commit asks for
    its disk flush after its reduce is written, and is flushed all the same."""
    await h.start(MAX_CONTRACTS)
    store: Any = h.svc.store
    wire: Any = h.svc.broker.wire
    assert await wire.ready()
    woken: list[tuple[bool, int]] = []
    request = store.flusher.request

    def spy() -> None:
        with sqlite3.connect(store.path) as other:
            breach = other.execute("SELECT 1 FROM audit WHERE to_state = 'Flattening'").fetchall()
        woken.append((bool(breach), wire.sent))
        request()

    store.flusher.request = spy
    rounds = store.flusher.rounds
    h.trade("MNQ", "buy", 5)
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit")
    await h.until(lambda: any(b for b, _ in woken), "the breach's flush asked for")
    first = next(sent for breach, sent in woken if breach)
    assert first == 1, "the flusher was woken before the reduce was written"
    assert await asyncio.to_thread(store.flusher.wait, rounds + 1, 10), "never flushed"
