"""The async runtime: broker -> engine -> commit -> execute effects.

One queue carries every inbound event (SDK callbacks enqueue synchronously, so the events of
one account keep their arrival order); one consumer applies them to the engine, commits the
changed state and the audit records in one transaction, and only then executes the effects.
A crash at any point loses nothing: what was committed is restored at start-up, and what was
not had not been acted on.

Enforcement runs beside the consumer: each close, partial close or cancel is a task that
reports back through the queue (a refusal becomes an `EnforcementRejected` event; an uncertain
outcome triggers a reconciliation query, never a blind resend). The scheduler turns stored
deadlines into `Tick`s; a watchdog follows the feeds, re-authenticates ahead of token expiry
and reconciles every account whose hub came back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from loguru import logger

from fsm_risk import logs
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.broker import Inbound, Malformed, ProjectXBroker
from fsm_risk.adapters.clock import Clock, SystemClock
from fsm_risk.adapters.scheduler import Scheduler
from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.bootstrap import build_engine
from fsm_risk.config import Settings
from fsm_risk.core import admin
from fsm_risk.core.effects import (
    Alert,
    CancelOrder,
    ClosePosition,
    Effect,
    Level,
    RecordTransition,
    ReducePosition,
    WatchContract,
)
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import (
    AccountUpdate,
    AdminCommand,
    EnforcementRejected,
    Event,
    Fill,
    OrderStatus,
    OrderUpdate,
    PositionType,
    PositionUpdate,
    Quote,
    Tick,
    TradesSnapshot,
)
from fsm_risk.errors import FsmRiskError

_LEVEL = {Level.INFO: "INFO", Level.WARNING: "WARNING", Level.CRITICAL: "CRITICAL"}


@dataclass
class _Job:
    """An event whose sender waits for it to be handled (an admin command, a scheduler tick)."""

    event: AdminCommand | Tick
    done: asyncio.Future[str]


class Service:
    def __init__(
        self,
        settings: Settings,
        broker_factory: Callable[[Callable[[Inbound], None]], ProjectXBroker],
        store: Store,
        clock: Clock,
        *,
        auth: AdminAuth | None = None,
        control_path: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.auth = auth
        self.control_path = control_path
        self.queue: asyncio.Queue[Event | Malformed | _Job | None] = asyncio.Queue()
        self.broker = broker_factory(self._enqueue)
        self.broker.on_reconnect = self._reconnected
        self.engine: RiskEngine = build_engine(settings, marks=store.marks())
        self.scheduler = Scheduler(self.engine, clock, self._tick)
        b = settings.sections["broker"]
        self.feed_silence = timedelta(seconds=b["feed_silence_seconds"])
        self.token_margin = timedelta(seconds=b["token_refresh_seconds"])
        self.wall = SystemClock()  # token expiry is real time
        self.ready = asyncio.Event()
        self._waiters: list[asyncio.Event] = []
        self.stopping = asyncio.Event()
        self.events_seen = 0
        self.malformed = 0
        self.effects_done = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._marks_saved_at: datetime | None = None
        self._control: Any = None
        self.account_ids: list[int] = []

    # -- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start, serve until `stop()`, shut down cleanly. Raises on a broken start."""
        logger.info("{} pid-lock {}", logs.SERVICE_START, self.store.path)
        self.store.acquire_service_lock()
        try:
            await self._start()
            await self.stopping.wait()
        finally:
            await self._shutdown()

    def stop(self) -> None:
        self.stopping.set()

    async def _start(self) -> None:
        s = self.settings
        rules = ", ".join(f"{r.id} {r.name}" for r in self.engine.rules)
        logger.info("{} {} rules: {}", logs.SETTINGS_LOADED, len(self.engine.rules), rules)
        now = self.clock.now()
        effects, restored = restore_all(self.store, self.engine, now)
        logger.info("{} {} account(s) restored", logs.MACHINES_RESTORED, len(restored))
        accounts = await self.broker.start()
        self._all_named(self.broker.listed)
        if not accounts:
            raise FsmRiskError("the gateway lists no active account to monitor")
        self.account_ids = [a.account_id for a in accounts]
        names = ", ".join(f"{a.account_id} {a.name}" for a in accounts)
        logger.info("{} monitoring {}", logs.GATEWAY_CONNECTED, names)
        for a in accounts:
            if a.account_id not in self.engine.accounts:
                self.engine.add_account(a.account_id, a.name, now)
        self._commit(effects)
        self._execute(effects)
        consumer = self._spawn(self._consume(), "consumer")
        consumer.add_done_callback(self._consumer_died)
        await self.broker.open_realtime(self.account_ids)
        for account_id in self.account_ids:
            await self.reconcile(account_id)
        self._spawn(self.scheduler.run(), "scheduler")
        self._spawn(self._watchdog(), "watchdog")
        if self.control_path:
            from fsm_risk.adapters.control import ControlServer

            self._control = ControlServer(self, self.control_path)
            await self._control.start()
        logger.info(
            "{} {} account(s), {} rule(s), database {}",
            logs.EVENT_LOOP_RUNNING,
            len(self.account_ids),
            len(self.engine.rules),
            s.database,
        )
        self.ready.set()

    def _all_named(self, listed: list[AccountUpdate]) -> None:
        """Every account the settings name must be at the gateway: none is silently unwatched."""
        named: tuple[str, ...] = tuple(self.settings.get("general", "accounts"))
        missing = [n for n in named if not any(n in (str(a.account_id), a.name) for a in listed)]
        if missing:
            there = ", ".join(f"{a.account_id} ({a.name})" for a in listed) or "none"
            raise FsmRiskError(
                f"[general] accounts names {', '.join(missing)}, which the gateway does not "
                f"list as an active account; the gateway lists: {there}"
            )

    def _consumer_died(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self.stopping.is_set():
            return
        exc = task.exception()
        # a broken main loop stops the service rather than running degraded
        logger.critical("{} the event loop failed: {!r}; stopping", logs.ALERT, exc)
        self.stopping.set()

    async def _shutdown(self) -> None:
        logger.info("{} shutting down", logs.SERVICE_STOP)
        self.scheduler.stop()
        if self._control is not None:
            await self._control.stop()
        await self.queue.put(None)
        for task in list(self._tasks):
            if task.get_name() != "consumer":
                task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        with contextlib.suppress(Exception):
            self.store.save_marks(self.engine.marks)
        await self.broker.stop()
        self.store.release_service_lock()

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- inbound ----------------------------------------------------------------------------------

    def _reconnected(self, account_id: int) -> None:
        logger.warning("{} account {}: reconciling after the reconnect", logs.FEED, account_id)
        self._spawn(self.reconcile(account_id), f"reconcile:{account_id}")

    def _enqueue(self, item: Inbound) -> None:
        self.queue.put_nowait(item)

    def submit(self, event: Event) -> None:
        self.queue.put_nowait(event)

    async def admin(self, command: AdminCommand) -> str:
        """Run an (already authenticated) admin command through the queue; return the result."""
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(command, done))
        return await done

    async def _consume(self) -> None:
        """Handle every event already queued, commit them in one transaction, then act.

        Batching keeps one commit (one fsync) per burst: a fill arrives as order, trade,
        position and account events together. The state is always committed before any
        effect of the batch is executed."""
        while True:
            item = await self.queue.get()
            batch = [item]
            while not self.queue.empty() and len(batch) < 256:
                batch.append(self.queue.get_nowait())
            effects: list[Effect] = []
            jobs: list[tuple[_Job, list[Effect] | BaseException]] = []
            stop = False
            for it in batch:
                if it is None:
                    stop = True
                    break
                if isinstance(it, Malformed):
                    self.malformed += 1
                elif isinstance(it, _Job):
                    try:
                        found = self._apply(it.event)
                    except FsmRiskError as exc:
                        jobs.append((it, exc))
                    else:
                        effects.extend(found)
                        jobs.append((it, found))
                else:
                    effects.extend(self._apply(it))
            self._commit(effects, now=self.clock.now())
            self._execute(effects)
            for job, result in jobs:
                self._answer(job, result)
            if effects or any(not isinstance(it, Quote) for it in batch):
                self.scheduler.poke()
            self._changed()
            if stop:
                return

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 10.0, what: str | None = None
    ) -> Any:
        """Wait until ``predicate()`` is truthy, re-checked after every handled event."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (result := predicate()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"service: not met within {timeout}s: {what or predicate}")
            changed = asyncio.Event()
            self._waiters.append(changed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return result

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.set()

    def _apply(self, event: Event) -> list[Effect]:
        """The engine's part of a unit of work (committed and executed by the caller)."""
        if self.events_seen == 0:
            logger.info("{} {}", logs.FIRST_EVENT, type(event).__name__)
            logger.info("{} rules run on every event", logs.RULE_EVALUATED)
        self.events_seen += 1
        return self.engine.handle(event, self.clock.now())

    def _answer(self, item: _Job, result: list[Effect] | BaseException) -> None:
        if isinstance(result, BaseException):
            item.done.set_exception(result)
            return
        cmd = item.event
        if not isinstance(cmd, AdminCommand):
            item.done.set_result("done")
            return
        text = admin.summary(self.engine, cmd, result)
        item.done.set_result(text)

    async def _tick(self, now: datetime) -> None:
        # through the queue, like every other event: one consumer touches the engine
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(Tick(), done))
        await done

    # -- commit and execute -----------------------------------------------------------------------

    def _commit(self, effects: list[Effect], *, now: datetime | None = None) -> None:
        changes = self.engine.take_changes()
        audit = [e.entry for e in effects if isinstance(e, RecordTransition)]
        marks = None
        if now is not None and (
            self._marks_saved_at is None or now - self._marks_saved_at >= timedelta(seconds=1)
        ):
            marks = self.engine.marks  # for `status` from the database; at most once a second
            self._marks_saved_at = now
        if changes or audit or marks:
            self.store.commit(changes, audit, marks)

    def _execute(self, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, RecordTransition):
                entry = e.entry
                scope = f"{entry.account_id}" + (
                    f" {entry.contract_id}" if entry.contract_id else ""
                )
                marker = (
                    logs.ENFORCEMENT_CONFIRMED
                    if entry.trigger == "flat_confirmed"
                    else logs.RULE_EVALUATED
                )
                logger.info(
                    "{} {} {} -> {} ({}, {}) {}",
                    marker,
                    scope,
                    entry.from_state,
                    entry.to_state,
                    entry.trigger,
                    entry.rule_id or "-",
                    entry.reason,
                )
            elif isinstance(e, Alert):
                logger.log(
                    _LEVEL[e.level],
                    "{} {} account {}: {}",
                    logs.ALERT,
                    e.reason.name,
                    e.account_id,
                    e.message,
                )
            elif isinstance(e, WatchContract):
                self._spawn(self._watch(e), f"watch:{e.contract_id}")
            elif isinstance(e, ClosePosition | ReducePosition | CancelOrder):
                self._spawn(self._enforce(e), f"enforce:{e.account_id}")

    async def _watch(self, e: WatchContract) -> None:
        try:
            if e.on and self.engine.instruments.get(e.contract_id) is None:
                info = await self.broker.instrument(e.contract_id)
                if info is not None:
                    self.submit(info)
            await self.broker.watch(e.contract_id, e.on)
        except Exception as exc:
            logger.warning(
                "{} quotes for {} not (un)subscribed: {!r}", logs.FEED, e.contract_id, exc
            )

    async def _enforce(self, e: ClosePosition | ReducePosition | CancelOrder) -> None:
        if isinstance(e, ClosePosition):
            what = f"close {e.contract_id} (attempt {e.attempt}, {e.rule_id}: {e.reason.name})"
            result = await self.broker.close(e.account_id, e.contract_id)
            contract, order_id = e.contract_id, None
        elif isinstance(e, ReducePosition):
            what = f"reduce {e.contract_id} by {e.size} ({e.rule_id}: {e.reason.name})"
            result = await self.broker.reduce(e.account_id, e.contract_id, e.size)
            contract, order_id = e.contract_id, None
        else:
            what = f"cancel order {e.order_id} in {e.contract_id} ({e.reason.name})"
            result = await self.broker.cancel(e.account_id, e.order_id)
            contract, order_id = e.contract_id, e.order_id
        self.effects_done += 1
        if result.ok:
            logger.info("{} account {}: {}", logs.ENFORCEMENT_SENT, e.account_id, what)
            return
        if result.uncertain:
            # the request may have reached the gateway: ask it, never resend blindly
            logger.warning(
                "{} account {}: {}: {}; reconciling", logs.ALERT, e.account_id, what, result.message
            )
            await self.reconcile(e.account_id)
            return
        logger.error(
            "{} account {}: {} refused: {}", logs.ALERT, e.account_id, what, result.message
        )
        self.submit(EnforcementRejected(e.account_id, contract, order_id, result.message))
        await self.reconcile(e.account_id)

    # -- reconciliation and health ----------------------------------------------------------------

    async def reconcile(self, account_id: int) -> None:
        """Bring the engine in line with the gateway: trades since the week began, positions,
        open orders. What the engine holds that the gateway no longer lists is closed."""
        acct = self.engine.accounts.get(account_id)
        if acct is None:
            return
        since = min(acct.week.start, acct.day.start)
        try:
            events = await self.broker.snapshot(account_id, since)
        except Exception as exc:
            logger.error("{} account {}: reconciliation failed: {!r}", logs.ALERT, account_id, exc)
            return
        listed_positions = {e.contract_id for e in events if isinstance(e, PositionUpdate)}
        listed_orders = {e.order_id for e in events if isinstance(e, OrderUpdate)}
        now = self.clock.now()
        for cid in sorted(set(acct.positions) - listed_positions):
            events.append(
                PositionUpdate(
                    account_id,
                    cid,
                    PositionType.LONG,
                    0,
                    acct.positions[cid].average_price,
                    now,
                    snapshot=True,
                )
            )
        for oid in sorted(set(acct.orders) - listed_orders):
            o = acct.orders[oid]
            events.append(
                OrderUpdate(
                    account_id,
                    oid,
                    o.contract_id,
                    OrderStatus.CANCELLED,
                    o.type,
                    o.side,
                    o.size,
                    o.created_at,
                )
            )
        fills = tuple(e for e in events if isinstance(e, Fill))
        events.append(TradesSnapshot(account_id, since, fills))  # after the fills it checks
        for ev in events:
            self.submit(ev)
        logger.info("{} account {}: reconciled ({} events)", logs.FEED, account_id, len(events))

    async def _watchdog(self) -> None:
        """Feed health, token refresh, reconciliation after a reconnect. Polls once a second."""
        was_healthy = True
        while not self.stopping.is_set():
            # infrastructure health runs on wall time, whatever clock the rules use
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=1.0)
            if self.stopping.is_set():
                return
            self.broker.poll_connections()
            health = self.health()
            if health["healthy"] != was_healthy:
                level = "INFO" if health["healthy"] else "WARNING"
                logger.log(
                    level,
                    "{} feed {}: {}",
                    logs.FEED,
                    "healthy" if health["healthy"] else "degraded",
                    health,
                )
                was_healthy = health["healthy"]
            expiry = self.broker.token_expiry()
            if expiry is not None and expiry - self.token_margin <= self.wall.now():
                try:
                    await self.broker.refresh_token()
                except Exception as exc:
                    logger.error("{} token refresh failed: {!r}", logs.ALERT, exc)

    def health(self) -> dict[str, Any]:
        snap = self.broker.health.snapshot(
            self.clock.now(), self.feed_silence, set(self.broker.watched)
        )
        snap["events"] = self.events_seen
        snap["malformed_skipped"] = self.malformed
        snap["enforcement_requests"] = self.effects_done
        snap["budget_used"] = self.broker.budget.used
        return snap

    def status(self, account_ids: list[int] | None = None) -> dict[str, Any]:
        from fsm_risk import status

        tz = self.settings.display_timezone
        snap = status.snapshot(self.engine, self.clock.now(), account_ids, tz=tz)
        snap["feed"] = self.health()
        return snap
