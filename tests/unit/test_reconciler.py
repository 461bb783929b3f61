"""Reconciliation scheduling: one running and one pending per account, urgent accounts first,
a bounded number in parallel, failures retried while they matter."""

from __future__ import annotations

import asyncio

from fsm_risk import reconciler
from fsm_risk.reconciler import AGAIN, Reconciler


class Gate:
    """A fake reconciliation whose end the test decides."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.release: dict[int, asyncio.Event] = {}
        self.changed = asyncio.Event()

    async def run(self, account_id: int, periodic: bool = False) -> None:
        self.started.append(account_id)
        self.changed.set()
        gate = self.release.setdefault(account_id, asyncio.Event())
        await gate.wait()
        gate.clear()

    def finish(self, account_id: int) -> None:
        self.release.setdefault(account_id, asyncio.Event()).set()

    async def until(self, n: int) -> None:
        async with asyncio.timeout(5):
            while len(self.started) < n:
                self.changed.clear()
                await self.changed.wait()


async def test_a_storm_of_requests_makes_one_running_and_one_pending_per_account() -> None:
    g = Gate()
    r = Reconciler(g.run, lambda a: 0, parallel=4)
    r.start()
    first = r.request(1)
    await g.until(1)
    waits = [r.request(1) for _ in range(50)]  # 50 reconnects while the first runs
    assert len({id(w) for w in waits}) == 1 and r.pending == 1
    g.finish(1)
    await first
    await g.until(2)
    g.finish(1)
    await asyncio.gather(*waits)
    assert g.started == [1, 1]
    assert r.requested == 51 and r.started == 2
    await r.stop()


async def test_enforcing_then_exposed_accounts_go_first() -> None:
    g = Gate()
    urgency = {1: 2, 2: 2, 3: 1, 4: 0, 5: 2}
    r = Reconciler(g.run, urgency.__getitem__, parallel=1)
    r.start()
    r.request(9)  # occupies the only worker
    urgency[9] = 2
    await g.until(1)
    for a in (1, 2, 3, 4, 5):
        r.request(a)
    for n in range(2, 7):
        g.finish(g.started[-1])
        await g.until(n)
    assert g.started == [9, 4, 3, 1, 2, 5]
    g.finish(5)
    await r.stop()


async def test_a_failed_reconciliation_is_retried_while_the_account_needs_it() -> None:
    calls: list[int] = []
    done = asyncio.Event()

    async def run(account_id: int, periodic: bool = False) -> None:
        calls.append(account_id)
        if len(calls) < 3:
            raise ConnectionError("gateway down")
        done.set()

    r = Reconciler(run, lambda a: 0, retry_if=lambda a: True, retry_delay=0.0)
    r.start()
    r.request(7)
    async with asyncio.timeout(5):
        await done.wait()
    assert calls == [7, 7, 7]
    await r.stop()


async def test_start_up_order_locked_and_exposed_then_probes_then_flat_ones() -> None:
    """At start-up: the accounts restored locked or exposed are reconciled first, then each of
    the others gets one cheap read of its positions; one found exposed is reconciled at once,
    and no flat account's full reconciliation starts while an exposed one's runs."""
    restored_urgent = {2, 5}  # 2 locked, 5 holding a position, per the stored state
    at_gateway = {4}  # opened a position while the service was down: the store says flat
    known: set[int] = set()
    probed: dict[int, bool] = {}
    log: list[tuple[str, str, int]] = []
    answered_early: list[int] = []

    def urgency(a: int) -> int:
        return reconciler.urgency(
            enforcing=False,
            exposed=a in restored_urgent or probed.get(a, False),
            known=a in known,
            probed=a in probed,
        )

    async def run(a: int, periodic: bool = False) -> str | None:
        if urgency(a) == reconciler.PROBE:
            log.append(("start", "probe", a))
            await asyncio.sleep(0)  # the read
            probed[a] = a in at_gateway
            log.append(("end", "probe", a))
            if not probed[a]:
                return AGAIN
        log.append(("start", "full", a))
        answered_early.extend([a] if futures[a].done() else [])
        for _ in range(3):
            await asyncio.sleep(0)  # its reads
        known.add(a)
        log.append(("end", "full", a))
        return None

    r = Reconciler(run, urgency, parallel=4)
    r.start()
    futures = {a: r.request(a) for a in range(1, 7)}  # asked in id order, as hubs open
    async with asyncio.timeout(5):
        await asyncio.gather(*futures.values())
    fulls = [a for edge, kind, a in log if edge == "end" and kind == "full"]
    assert fulls[:3] in ([2, 5, 4], [5, 2, 4]) and sorted(fulls[3:]) == [1, 3, 6]
    assert [a for edge, kind, a in log if kind == "probe" and edge == "start"] == [1, 3, 4, 6]
    first_flat = log.index(next(e for e in log if e[1] == "full" and e[2] in (1, 3, 6)))
    assert ("end", "full", 4) in log[:first_flat]  # the exposed one found by its probe
    assert all(e[1] == "full" or e[0] == "end" for e in log[first_flat:])  # probes all done
    # a probed flat account's request is answered only by its full reconciliation
    assert known == set(range(1, 7)) and r.started == 9 and answered_early == []
    await r.stop()


async def test_every_exposed_accounts_enforcing_step_goes_before_any_of_their_trade_reads() -> None:
    """At start-up an exposed account is reconciled in two steps: its working orders and
    positions (then it enforces: here, it starts flattening), and its trades after every
    other exposed account's first step, even though it is now more urgent than they are
    (enforcing); then the flat ones. The second step knows it is the rest of the first."""
    exposed = {1, 2, 3}
    stepped: set[int] = set()
    known: set[int] = set()
    log: list[tuple[str, int, bool]] = []

    def urgency(a: int) -> int:
        return reconciler.urgency(
            behind=a in stepped and a not in known,
            enforcing=a in stepped,  # flattening since its enforcing step
            exposed=a in exposed,
            known=a in known or a in stepped,
            probed=True,
        )

    async def run(a: int, periodic: bool = False) -> str | None:
        await asyncio.sleep(0)  # its reads
        if a in exposed and a not in stepped:
            log.append(("orders+positions", a, r.resumed(a)))
            stepped.add(a)
            return AGAIN
        log.append(("trades" if a in exposed else "full", a, r.resumed(a)))
        known.add(a)
        return None

    r = Reconciler(run, urgency, parallel=1)
    r.start()
    futures = [r.request(a) for a in (1, 2, 3, 4, 5)]
    async with asyncio.timeout(5):
        await asyncio.gather(*futures)
    assert log == [
        ("orders+positions", 1, False),
        ("orders+positions", 2, False),
        ("orders+positions", 3, False),
        ("trades", 1, True),
        ("trades", 2, True),
        ("trades", 3, True),
        ("full", 4, False),
        ("full", 5, False),
    ]
    await r.stop()


async def test_a_request_made_meanwhile_asks_for_the_whole_reconciliation_again() -> None:
    """The rest of a run that answered AGAIN is `resumed`, unless someone asked for the
    account since (a reconnect): then the run must be whole."""
    seen: list[bool] = []

    async def run(a: int, periodic: bool = False) -> str | None:
        seen.append(r.resumed(a))
        if len(seen) == 1:
            r.request(a)  # a reconnect while the first step runs
            return AGAIN
        return None

    r = Reconciler(run, lambda a: 0, parallel=1)
    r.start()
    async with asyncio.timeout(5):
        await r.request(8)
    assert seen == [False, False]
    await r.stop()


async def test_a_pick_asks_few_urgencies_however_many_accounts_wait() -> None:
    """Each pick asks the urgency of the account at the front and of those running, not of
    every account waiting: a start-up line of N accounts costs a number of urgency calls
    linear in N (every pick asking them all made it N squared)."""
    asked = 0

    def urgency(a: int) -> int:
        nonlocal asked
        asked += 1
        return reconciler.EXPOSED if a % 10 == 0 else reconciler.REST

    done: list[int] = []

    async def run(a: int, periodic: bool = False) -> None:
        await asyncio.sleep(0)  # its reads
        done.append(a)

    n = 400
    r = Reconciler(run, urgency, parallel=4)
    r.start()
    futures = [r.request(a) for a in range(1, n + 1)]
    async with asyncio.timeout(10):
        await asyncio.gather(*futures)
    exposed = [a for a in range(1, n + 1) if a % 10 == 0]
    assert done[: len(exposed)] == exposed  # still the urgent ones first, in request order
    assert sorted(done) == list(range(1, n + 1))
    assert asked <= 8 * n, asked
    await r.stop()


async def test_a_waiting_account_whose_urgency_changes_takes_its_new_place() -> None:
    """As if every waiting account were asked its urgency at each pick: one `touch`ed
    (heard exposed live) jumps ahead of those asked for before it; one that became less
    urgent while it waited yields its place when it reaches the front."""
    g = Gate()
    urgency = {9: 0, 1: 3, 2: 3, 3: 4, 4: 1, 5: 4}
    r = Reconciler(g.run, urgency.__getitem__, parallel=1)
    r.start()
    r.request(9)  # occupies the only worker
    await g.until(1)
    for a in (1, 2, 3, 4, 5):
        r.request(a)
    g.finish(9)
    await g.until(2)
    assert g.started == [9, 4]
    urgency[5] = 1  # heard live: a position opened
    r.touch([5])
    g.finish(4)
    await g.until(3)
    urgency[3] = 2
    r.touch([3])
    urgency[1] = 4  # less urgent than its place says: found out at the front, untouched
    for n in range(4, 7):
        g.finish(g.started[-1])
        await g.until(n)
    assert g.started == [9, 4, 5, 3, 2, 1]
    g.finish(1)
    await r.stop()


async def test_an_urgent_request_starts_while_every_worker_is_busy() -> None:
    """A close not confirmed in time waits on a read of the gateway: it starts at once even
    when every worker is busy (each may be waiting in the request budget behind closes and
    cancels), and urgent requests start in the order they were asked."""
    g = Gate()
    r = Reconciler(g.run, lambda a: 0, parallel=2)
    r.start()
    r.request(1)
    r.request(2)
    await g.until(2)  # both workers busy, and stay so
    r.request(3)  # an ordinary request waits for them
    r.request(5, urgent=True)
    r.request(4, settle=30.0, urgent=True)  # urgent: no settling
    await g.until(4)
    assert g.started == [1, 2, 5, 4] and r.state(3) == "queued"
    g.finish(5)  # (as many workers for urgent requests as for the others: one is free)
    periodic = r.request(6, periodic=True)
    r.request(6, urgent=True)  # joined: one full reconciliation, urgent
    await g.until(5)
    assert g.started[-1] == 6 and r.pending == 1  # (3 still waits)
    for a in (1, 2, 4, 6):
        g.finish(a)
    await periodic
    await g.until(6)
    g.finish(3)
    await r.stop()


async def test_each_run_tells_how_it_ended_so_that_failures_in_a_row_can_show() -> None:
    """Failures were only logged: the service could not tell an account whose reads keep
    failing. Each run now reports its end (the error, None when it read the gateway)."""
    heard: list[tuple[int, str | None]] = []
    fail = {1}

    async def run(account_id: int, periodic: bool = False) -> None:
        if account_id in fail:
            raise RuntimeError("429")

    r = Reconciler(run, lambda a: 0, outcome=lambda a, exc: heard.append((a, exc and str(exc))))
    r.start()
    await r.request(1)
    await r.request(1)
    fail.clear()
    await r.request(1)
    assert heard == [(1, "429"), (1, "429"), (1, None)]
    await r.stop()
