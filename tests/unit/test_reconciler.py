"""Reconciliation scheduling: one running and one pending per account, urgent accounts first,
a bounded number in parallel, failures retried while they matter."""

from __future__ import annotations

import asyncio

from fsm_risk.reconciler import Reconciler


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
