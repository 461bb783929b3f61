"""Reconciliation scheduling: coalesced per account, the most urgent account first.

A reconnect storm asks for the same account's reconciliation many times; each request only
needs *a* reconciliation that starts after it. So an account has at most one reconciliation
running and one pending behind it (every later request joins the pending one), a bounded
number run in parallel, and the next to start is the most urgent pending account (enforcing,
then exposed, then the rest; ties by request order). A reconciliation that fails is tried again
after a growing delay while ``retry_if`` says the account still needs it.

The work after a storm is therefore bounded by the number of accounts, not the number of drops:
at most one pending reconciliation per account, started urgent-first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable

from loguru import logger

from fsm_risk import logs


class Reconciler:
    def __init__(
        self,
        run: Callable[[int], Awaitable[None]],
        urgency: Callable[[int], int],
        *,
        parallel: int = 4,
        retry_if: Callable[[int], bool] = lambda account_id: False,
        retry_delay: float = 0.5,
        retry_max: float = 10.0,
    ) -> None:
        self._run = run
        self._urgency = urgency
        self._retry_if = retry_if
        self._retry_delay, self._retry_max = retry_delay, retry_max
        self.parallel = parallel
        self._pending: dict[int, tuple[int, asyncio.Future[None]]] = {}
        self._running: set[int] = set()
        self._failures: dict[int, int] = {}
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.Task[None]] = set()
        self.started = 0  # reconciliations started (for health and tests)
        self.requested = 0

    def start(self) -> None:
        if not self._workers:
            self._workers = [
                asyncio.ensure_future(self._worker()) for _ in range(max(self.parallel, 1))
            ]

    async def stop(self) -> None:
        for task in [*self._workers, *self._timers]:
            task.cancel()
        for task in [*self._workers, *self._timers]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._workers = []
        for _, fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()

    def request(self, account_id: int) -> asyncio.Future[None]:
        """Ask for a reconciliation that starts after now; the future is done when it is."""
        self.requested += 1
        found = self._pending.get(account_id)
        if found is None:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            found = self._pending[account_id] = (next(self._order), fut)
            self._wake.set()
        return found[1]

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def busy(self) -> bool:
        return bool(self._pending or self._running)

    def _next(self) -> int | None:
        ready = [a for a in self._pending if a not in self._running]
        if not ready:
            return None
        return min(ready, key=lambda a: (self._urgency(a), self._pending[a][0]))

    async def _worker(self) -> None:
        while True:
            account_id = self._next()
            if account_id is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            _, fut = self._pending.pop(account_id)
            self._running.add(account_id)
            self.started += 1
            failed = False
            try:
                await self._run(account_id)
            except asyncio.CancelledError:
                if not fut.done():
                    fut.cancel()
                raise
            except Exception as exc:
                failed = True
                logger.error(
                    "{} account {}: reconciliation failed: {!r}", logs.ALERT, account_id, exc
                )
            finally:
                self._running.discard(account_id)
                if self._pending:
                    self._wake.set()
            if not fut.done():
                fut.set_result(None)
            if failed:
                self._failed(account_id)
            else:
                self._failures.pop(account_id, None)

    def _failed(self, account_id: int) -> None:
        if not self._retry_if(account_id):
            return
        n = self._failures[account_id] = self._failures.get(account_id, 0) + 1
        delay = min(self._retry_delay * (1 << min(n - 1, 16)), self._retry_max)

        async def later() -> None:
            await asyncio.sleep(delay)  # back off before asking the gateway again
            self.request(account_id)

        task = asyncio.ensure_future(later())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)
