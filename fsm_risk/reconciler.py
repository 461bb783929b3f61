"""Reconciliation scheduling: coalesced per account, the most urgent account first.

A reconnect storm asks for the same account's reconciliation many times; each request only
needs *a* reconciliation that starts after it. So an account has at most one reconciliation
running and one pending behind it (every later request joins the pending one), a bounded
number run in parallel, and the next to start is the most urgent pending account (enforcing,
then exposed, then the rest; ties by request order). A reconciliation that fails is tried again
after a growing delay while ``retry_if`` says the account still needs it; ``outcome`` hears how
each run ended (its error, None when it read the gateway), so that an account whose reads keep
failing is shown, not only logged (see `Service.reads_failing`).

A request made because a hub came back may ask to ``settle``: its reconciliation starts once
the account's hub has stayed up that long (each reconnect pushes it out), but never later than
``max_wait`` after the first such request. During a storm the read budget is therefore not
spent on snapshots that the next drop makes stale; when it ends, every account is reconciled
once. The time from a storm's end to the last account's reconciliation is bounded by
``settle`` plus one snapshot per account (``parallel`` at a time, urgent first), as long as the
reads fit the gateway's budget; a storm costs at most one snapshot per account per ``max_wait``.

The order (`urgency`): accounts enforcing or holding enforcement back, then exposed or locked
ones, then, at start-up, one cheap read per remaining account of whether the gateway holds a
position for it (found: it is exposed), then the rest. Less urgent work does not start while
more urgent work runs: the request budget, not the number of workers, is the scarce thing, and
what starts competes with it for every read.

A run may answer `AGAIN`: it did a first, cheaper step (at start-up, a read of whether the
account is exposed at all, or an exposed account's enforcing step) and the rest can wait. The
request then goes back in line (its future still pending) behind every account that was asked
for before; its urgency decides whether it still jumps ahead of them. `resumed` tells the run
that it is such a rest, with no other request since.

A request may be ``urgent``: enforcement waits on it (a close not confirmed in time is re-sent
only once the gateway is read). Besides the ``parallel`` workers, as many more take only urgent
requests, in the order asked: every ordinary worker may be waiting in the request budget
behind a stream of closes and cancels, and an urgent read must not wait for them to end.

A pick is as if every waiting account were asked its urgency then, but costs a few calls, not
one per account (at 1,000 accounts the start-up line made that a million): an account is asked
when it is placed in line (asked for, back in line, or its run ended) and again when it reaches
the front (less urgent than its place: it moves back); the service `touch`es the accounts a
handled event or effect names, which may have become more urgent (heard exposed live).

At start-up an exposed account is reconciled in two steps. The enforcing step reads its
working orders and its positions (two reads): enough to enforce a lock or a size limit, and
the account enforces as soon as they are applied. The trades since the week began (one read,
and the balances, shared) follow in the `HISTORY` class, after every exposed account's
enforcing step: until then the account is behind (the rules judging realized P&L wait, and the
trades read later move no running size twice; see `exposure.Behind`). Unless its balance, in
one listing of the login's read once every hub subscription was sent, settles what those
trades realized (`core.unread`): the rules judge it at once, and its trades come after the
start-up reads of the rest, with the rest's (a restart of 60 exposed accounts among 150 had
closed 20 at once on a fall through their loss limits, 40 a minute later, for want of reads).
Unless, not settled, its balance's move says a P&L rule would fire (`core.foreseen`): its
trades come in the `FORESEEN` class, after enforcement and before the other exposed accounts'
steps (one -$1,200 by its balance on a $500 limit, among 100 exposed of 500, was closed 50 s
after its enforcing step when its trades waited in `HISTORY`). So does the enforcing step of an
account flat at the stop heard exposed since (`core.unread.read_early`): its rules on realized P&L
wait for it (a position opened while the service was down is in no books), and one -$400 on the
day that opened 2 MES after a restart among 100 exposed waited a minute for its read. And so
does a restored locked account's, not read yet: put behind those it would wait for them, and a
position opened under its lock while the service was down is in no books until that step.

The budget arithmetic, at the shipped 200 requests per 60 s with 50 kept for enforcement
(reads may use 150 a window, the closes sent apart, never past 162 in all): N exposed
accounts need 2N reads (their enforcing steps) and about N closes or reductions, beside the
login, the account list, the contract list and the balances listed after the subscriptions
(4 reads). Reads beyond the first window's 150, or requests beyond its 200, wait for the
window to slide, so (while the reads and the closes before them fit 162):

    lower bound = 60 s x (max(ceil((4 + 2N) / 150), ceil((4 + 3N) / 200)) - 1)

50 exposed of 500 (1 in 10): 104 reads and 50 closes fit the first window, and every exposed
account can be enforced within seconds. 100 exposed of 500 (1 in 5): 204 reads cannot, so the
last ones are enforced just over 60 s after the start whatever the order; before, with three
reads each, they took two windows (about 120 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from loguru import logger

from fsm_risk import logs

#: what a run returns when its first step is done and the rest may wait its turn
AGAIN = "again"

ENFORCING, FORESEEN, EXPOSED, HISTORY, PROBE, REST = 0, 1, 2, 3, 4, 5


def urgency(
    *,
    enforcing: bool,
    exposed: bool,
    known: bool,
    probed: bool,
    behind: bool = False,
    settled: bool = False,
    foreseen: bool = False,
    early: bool = False,
) -> int:
    """An account's place in line (lower first). ``enforcing``: a close or cancel is working
    or held back; ``exposed``: a position or working order, or locked, as far as the service
    knows (restored, heard live, or found by the start-up read); ``known``: reconciled since
    start; ``probed``: the start-up read of its positions was made; ``behind``: its positions
    and working orders are read (it enforces), its trades not yet: after every exposed
    account's first step, whatever it enforces meanwhile; ``settled``: its balance says what
    those trades realized (`core.unread`), the rules judge it already: its trades after the
    start-up reads of the rest, with the rest's; ``foreseen``: not settled, and its balance's
    move says a P&L rule would fire (`core.foreseen`): its trades right after enforcement;
    ``early``: restored flat, exposed since, not read (`core.unread.read_early`), or restored
    locked, not read: its enforcing step right after enforcement."""
    if behind:
        return REST if settled else FORESEEN if foreseen else HISTORY
    if enforcing:
        return ENFORCING
    if early:
        return FORESEEN
    if exposed:
        return EXPOSED
    if not known and not probed:
        return PROBE
    return REST


@dataclass
class _Pending:
    order: int
    future: asyncio.Future[None]
    first: float  # when the first request of a settling series came (monotonic)
    not_before: float  # when it may start (monotonic)
    periodic: bool  # only scheduled reads asked for it (see `Service.reconcile`)
    resumed: bool = False  # the rest of a run that answered AGAIN, nobody asked since
    urgent: bool = False  # enforcement waits on it (see `Reconciler.request`)


class Reconciler:
    def __init__(
        self,
        run: Callable[[int, bool], Awaitable[str | None]],
        urgency: Callable[[int], int],
        *,
        parallel: int = 4,
        retry_if: Callable[[int], bool] = lambda account_id: False,
        retry_delay: float = 0.5,
        retry_max: float = 10.0,
        max_wait: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        outcome: Callable[[int, Exception | None], None] = lambda account_id, exc: None,
    ) -> None:
        self._run = run
        self._outcome = outcome
        self._urgency = urgency
        self._retry_if = retry_if
        self._retry_delay, self._retry_max = retry_delay, retry_max
        self.parallel = parallel
        self.max_wait = max_wait
        self._monotonic = monotonic
        self._pending: dict[int, _Pending] = {}
        self._running: set[int] = set()
        self._failures: dict[int, int] = {}
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.Task[None]] = set()
        self._resumed: set[int] = set()
        # the line, so that a pick costs a few `urgency` calls rather than one per account
        # waiting: (urgency, order, account) for the waiting accounts that may start, checked
        # again when it reaches the top (an entry whose key is not `_key`'s any more is stale);
        # (not_before, order, account) for those settling; `_stale` for those to be placed
        # again (asked for, back in line, finished running, or `touch`ed)
        self._ready: list[tuple[int, int, int]] = []
        self._key: dict[int, tuple[int, int]] = {}
        self._settling: list[tuple[float, int, int]] = []
        self._settle_at: dict[int, tuple[float, int]] = {}  # each one's latest entry there
        self._stale: set[int] = set()
        #: the accounts asked for urgently and not started yet, in the order asked
        self._urgent: dict[int, None] = {}
        self.started = 0  # reconciliations started (for health and tests)
        self.requested = 0

    def start(self) -> None:
        if not self._workers:
            lanes = (False, True)  # ordinary workers, then those for urgent requests only
            self._workers = [
                asyncio.ensure_future(self._worker(urgent_only))
                for urgent_only in lanes
                for _ in range(max(self.parallel, 1))
            ]

    async def stop(self) -> None:
        for task in [*self._workers, *self._timers]:
            task.cancel()
        for task in [*self._workers, *self._timers]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._workers = []
        for p in self._pending.values():
            if not p.future.done():
                p.future.cancel()
        self._pending.clear()
        self._ready.clear()
        self._key.clear()
        self._settling.clear()
        self._settle_at.clear()
        self._stale.clear()
        self._urgent.clear()

    def touch(self, account_ids: Iterable[int]) -> None:
        """Something the accounts' `urgency` reads may have changed (an event heard live, an
        enforcement held back): a waiting one takes its new place at the next pick. Without
        this, a waiting account's urgency is asked again only as it reaches the front (where
        one less urgent than its place yields it), when it is asked for again, and after a
        run of its own."""
        for account_id in account_ids:
            if account_id in self._pending:
                self._stale.add(account_id)

    def request(
        self, account_id: int, settle: float = 0.0, *, periodic: bool = False, urgent: bool = False
    ) -> asyncio.Future[None]:
        """Ask for a reconciliation that starts after now (and, with ``settle``, once the
        account has been quiet that long); the future is done when it is. ``periodic``: a
        scheduled read; joined by any other request, it becomes a full reconciliation.
        ``urgent``: enforcement waits on it; it starts at once (no ``settle``) in a worker
        of its own if every other is busy."""
        self.requested += 1
        now = self._monotonic()
        if urgent:
            settle, periodic = 0.0, False
        found = self._pending.get(account_id)
        if found is None:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            found = self._pending[account_id] = _Pending(
                next(self._order), fut, now, now + settle, periodic, urgent=urgent
            )
            if urgent:
                self._urgent[account_id] = None
            self._stale.add(account_id)
            self._wake.set()
            return fut
        if urgent and not found.urgent:
            found.urgent = True
            self._urgent[account_id] = None
        found.periodic = found.periodic and periodic
        found.resumed = found.resumed and periodic
        if settle <= 0:
            found.not_before = now
        else:
            found.not_before = min(max(found.not_before, now + settle), found.first + self.max_wait)
        self._stale.add(account_id)
        self._wake.set()
        return found.future

    @property
    def pending(self) -> int:
        return len(self._pending)

    def state(self, account_id: int) -> str | None:
        """'running', 'queued' (pending), or None when no reconciliation is asked for."""
        if account_id in self._running:
            return "running"
        return "queued" if account_id in self._pending else None

    def resumed(self, account_id: int) -> bool:
        """Whether the account's running reconciliation is the rest of one that answered
        `AGAIN`, with no other request made since (a new one may need it whole)."""
        return account_id in self._resumed

    @property
    def busy(self) -> bool:
        return bool(self._pending or self._running)

    def _next_urgent(self) -> int | None:
        """The first account asked for urgently that is not running now."""
        return next((a for a in self._urgent if a not in self._running), None)

    def _next(self) -> tuple[int | None, float | None]:
        """The account to reconcile now, else how long until one may start (None: idle):
        the ready one least in `urgency`, then first asked for, as if every waiting account
        were asked its urgency now; each account's is asked when it is placed in line and
        again when it reaches the front."""
        now = self._monotonic()
        self._place(now)
        if (first := self._next_urgent()) is not None:
            return first, None
        aside: list[tuple[int, int, int]] = []  # waiting, but running too (asked meanwhile)
        best: int | None = None
        while self._ready:
            entry = heapq.heappop(self._ready)
            level, order, account_id = entry
            if self._key.get(account_id) != (level, order):
                continue  # stale: the account was placed again, or started
            if account_id in self._running:
                aside.append(entry)
                continue
            now_level = self._urgency(account_id)
            if now_level != level:  # changed while it waited: to its new place
                self._key[account_id] = (now_level, order)
                heapq.heappush(self._ready, (now_level, order, account_id))
                continue
            best = account_id
            aside.append(entry)
            break
        for entry in aside:
            heapq.heappush(self._ready, entry)
        if best is not None:
            running = min((self._urgency(a) for a in self._running), default=None)
            if running is not None and self._key[best][0] > running:
                return None, None  # behind more urgent work: a finished run wakes the workers
            return best, None
        if self._settling:
            return None, self._settling[0][0] - now
        return None, None

    def _place(self, now: float) -> None:
        """Put the accounts asked for (or changed) since the last pick in line: ready ones by
        urgency, settling ones by when they may start; and the settled ones in line."""
        for account_id in self._stale:
            p = self._pending.get(account_id)
            if p is None:
                continue
            if p.not_before > now:
                self._key.pop(account_id, None)
                if self._settle_at.get(account_id) != (p.not_before, p.order):
                    self._settle_at[account_id] = (p.not_before, p.order)
                    heapq.heappush(self._settling, (p.not_before, p.order, account_id))
            else:
                self._enqueue(account_id, p)
        self._stale.clear()
        while self._settling and self._settling[0][0] <= now:
            not_before, order, account_id = heapq.heappop(self._settling)
            if self._settle_at.get(account_id) == (not_before, order):
                del self._settle_at[account_id]
            p = self._pending.get(account_id)
            if p is None or p.order != order or p.not_before != not_before:
                continue  # started since, or settling until later (an entry of its own)
            if account_id not in self._key:
                self._enqueue(account_id, p)

    def _enqueue(self, account_id: int, p: _Pending) -> None:
        key = (self._urgency(account_id), p.order)
        if self._key.get(account_id) != key:
            self._key[account_id] = key
            heapq.heappush(self._ready, (*key, account_id))

    async def _worker(self, urgent_only: bool = False) -> None:
        while True:
            if urgent_only:
                account_id, delay = self._next_urgent(), None
            else:
                account_id, delay = self._next()
            if account_id is None:
                self._wake.clear()
                # woken by a request or a finished run, or when a settling one may start
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            pending = self._pending.pop(account_id)
            self._key.pop(account_id, None)
            self._urgent.pop(account_id, None)
            fut = pending.future
            self._running.add(account_id)
            if pending.resumed:
                self._resumed.add(account_id)
            self.started += 1
            failed = again = False
            error: Exception | None = None
            try:
                again = await self._run(account_id, pending.periodic) == AGAIN
            except asyncio.CancelledError:
                if not fut.done():
                    fut.cancel()
                raise
            except Exception as exc:
                failed, error = True, exc
                logger.error(
                    "{} account {}: reconciliation failed: {!r}", logs.ALERT, account_id, exc
                )
            finally:
                self._running.discard(account_id)
                self._resumed.discard(account_id)
                if account_id in self._pending:  # asked for meanwhile: its urgency moved
                    self._stale.add(account_id)
                if self._pending:
                    self._wake.set()
            if again and not fut.done():
                self._outcome(account_id, None)  # its first step read the gateway
                self._again(account_id, pending)
                continue
            if not fut.done():
                fut.set_result(None)
            if failed:
                self._failed(account_id)
            else:
                self._failures.pop(account_id, None)
            self._outcome(account_id, error)

    def _again(self, account_id: int, pending: _Pending) -> None:
        """Back in line behind every request made so far; a request that came meanwhile is
        answered by the same later run."""
        later = self._pending.get(account_id)
        if later is None:
            pending.order = next(self._order)
            pending.resumed = True
            self._pending[account_id] = pending
            if pending.urgent:
                self._urgent[account_id] = None
            self._stale.add(account_id)
        else:
            later.future.add_done_callback(lambda f: _follow(pending.future, f))
        self._wake.set()

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


def _follow(fut: asyncio.Future[None], done: asyncio.Future[None]) -> None:
    if fut.done():
        return
    if done.cancelled():
        fut.cancel()
    else:  # (a reconciliation's future only ever gets a result)
        fut.set_result(None)
