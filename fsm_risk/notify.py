"""Notifications through apprise: locks, early warnings, failures, feed and service events.

The service tells the `Notifier` what it committed (`observe`, synchronous and cheap): the
notifier turns it into `Notice`s and puts them on its own queue. Its task hands each notice to
every URL that wants it: each URL has a lane of its own (a queue, a task and a thread), which
sends its notices in order through apprise, at most ``per_minute`` a minute, re-sending a
refused one with a doubling wait. Nothing on the enforcement path ever waits for a notification,
and a receiver that hangs, refuses or answers late holds back only its own lane: the others' lock
notices go at once (one after another, a hung receiver held each notice ~23 s from them all).

An attempt that gets no answer within the URL's socket timeout is not sent again: the receiver
may have it (one answering after 20 s got every notice four times), and one that hangs would
only hang again. Each attempt has a daemon thread of its own, waited for `SEND_TIMEOUT` at most
(a receiver answering a byte a second held the lane's one thread, and the process's exit). A
lane keeps at most `LANE_SIZE` notices waiting; past that, its oldest go.

Early warnings follow each rule's usage exactly as `fsm-risk status` computes it: a warning is
sent once per threshold per period (the trading day; the week for the weekly loss limit), so a
price hovering at 80% sends one warning, not one per quote. Warnings are only sent while the
account is trading (a locked account has nothing left to warn about).

Notification URLs hold tokens: they are never logged, only their number and the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from loguru import logger

from fsm_risk import logs, naming, start_told
from fsm_risk.config import NOTIFY_EVENTS, Settings
from fsm_risk.core.effects import Alert, AuditEntry, RecordTransition
from fsm_risk.core.models import strongest
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import LOCK_KINDS, State, Trigger
from fsm_risk.core.verdicts import FIRED
from fsm_risk.errors import FsmRiskError
from fsm_risk.observe import Committed, Enforced, HealthChanged, LoggingIn, Observed, StartFailed

if TYPE_CHECKING:
    from fsm_risk.core.engine import RiskEngine
    from fsm_risk.service import Service

#: the rules whose usage is warned about, and the period a warning is sent once in
WARNED_RULES = {
    "daily_loss_limit": "day",
    "trailing_drawdown": "day",
    "max_trades_per_day": "day",
    "weekly_loss_limit": "week",
}
ENFORCEMENT_REASONS = {
    Reason.CLOSE_NOT_CONFIRMED,
    Reason.CLOSE_FAILING,
    Reason.CLOSE_REJECTED,
    Reason.CLOSE_OVERSHOT,
    Reason.CLOSE_DELIVERED_LATE,
    Reason.CANCEL_NOT_CONFIRMED,
    Reason.FAILSAFE,
    Reason.STATE_LOST,
}
#: the alerts of a request tried again until it goes: their repeats are held (`REPEAT_WINDOW`);
#: an overshoot or a failsafe is news each time
RETRIED = ENFORCEMENT_REASONS - {
    Reason.CLOSE_OVERSHOT,
    Reason.CLOSE_DELIVERED_LATE,
    Reason.FAILSAFE,
    Reason.STATE_LOST,
}


def _repeats(e: Alert) -> tuple[object, ...] | None:
    """What an enforcement alert repeats: one of the same reason, account, contract and level
    (a warning become critical is news); a refused resize names the trader's order to act on,
    so another order's is news too (its text is its key)."""
    if e.reason not in RETRIED:
        return None
    key: tuple[object, ...] = (e.reason, e.account_id, e.contract_id, e.level)
    return (*key, e.message) if e.reason is Reason.CLOSE_REJECTED else key


#: the database refusing the service's writes, and taking them again (event "service")
STORAGE_REASONS = {Reason.STATE_NOT_SAVED, Reason.STATE_SAVED_AGAIN}
QUEUE_SIZE = 1000
#: the audit triggers of a rule firing on a scope already flattening (no second flatten)
_FIRED_WHILE_FLATTENING = {Trigger.breach.value, Trigger.lock.value, FIRED}
#: the database key of the early warnings sent (so a restart does not send them again)
WARNED_KEY = "notify_warned"
#: how long the start may take to reconcile before a notice says nothing is enforced yet (and
#: its login to go through before a notice says it cannot log in)
SLOW_START = 5.0
#: the most one attempt is waited for, whatever the receiver does (apprise's socket timeouts
#: apply to each read: a receiver answering a byte a second defeats them); a thread still
#: sending then is left to end on its own (a daemon: it never holds the process's exit) and the
#: lane's next attempt has a thread of its own
SEND_TIMEOUT = 30.0
#: the most attempts left sending at one URL: past that, its notices are not sent (the receiver
#: still holds the earlier ones) until one of them ends
ABANDONED_MAX = 3
#: the start's steps before which nothing is enforced, as the notice saying one fails names it
STEPS = {"login": "cannot log in", "hubs": "cannot open the feeds"}
#: the database key of the start failures told (each failure's words: when it was told), so a
#: service manager restarting a refused start over and over tells it once per `TOLD_AGAIN`
TOLD_KEY = "notify_start_failed"
TOLD_AGAIN = start_told.TOLD_AGAIN
#: the most notices waiting for one URL (as many as the notifier's own queue holds): a receiver
#: down for hours keeps its latest ones; each dropped one is counted and logged
LANE_SIZE = QUEUE_SIZE
#: what one attempt at one URL came to: sent; refused (an error answer, or no connection:
#: tried again); timed out (no answer in time: it may have arrived, so not tried again)
SENT, REFUSED, TIMED_OUT = "sent", "refused", "timed out"
#: a notice repeating one already sent (a close the gateway keeps refusing, tried again every
#: second, sent one per attempt: 11 in 31 s) is held back this many seconds after the last one
#: sent; the last held goes out then, saying how many were held
REPEAT_WINDOW = 300.0


@dataclass(frozen=True, slots=True)
class Notice:
    event: str  # one of NOTIFY_EVENTS
    title: str
    body: str
    account_id: int | None = None
    level: str = "info"  # apprise's notify type: info, success, warning, failure
    #: notices with one key repeat each other (None: each notice is news)
    repeats: tuple[object, ...] | None = None


@dataclass
class _Repeats:
    """The notices of one key since the last one sent."""

    sent_at: float  # monotonic
    held: int = 0
    first_held: datetime | None = None
    latest: Notice | None = None


@dataclass
class Target:
    """Where notices go: apprise URLs, the events they want, and the accounts they follow
    (None: every account)."""

    name: str
    urls: tuple[str, ...]
    events: frozenset[str]
    accounts: frozenset[int] | None = None

    def wants(self, n: Notice) -> bool:
        if n.event not in self.events:
            return False
        return self.accounts is None or n.account_id is None or n.account_id in self.accounts


@dataclass(eq=False)
class _Lane:
    """One URL's notices, sent in order by a task of its own, each attempt on a thread of its
    own (``abandoned``: those still sending past `SEND_TIMEOUT`)."""

    url: str
    queue: asyncio.Queue[tuple[Notice, Target]] = field(
        default_factory=lambda: asyncio.Queue(LANE_SIZE)
    )
    abandoned: list[threading.Thread] = field(default_factory=list)
    sent_at: deque[float] = field(default_factory=deque)  # monotonic, the last minute's
    busy: bool = False
    #: the notice being sent (its attempts, waits between them included), and whether an
    #: attempt at it has started
    current: tuple[Notice, Target] | None = None
    tried: bool = False
    task: asyncio.Task[None] | None = None


def apprise_send(url: str, notice: Notice) -> str:
    """One attempt at one URL through apprise: `SENT`, `REFUSED`, or `TIMED_OUT` when it failed
    only after waiting as long as the URL's read timeout (apprise's ``rto``, 4 s unless the URL
    says otherwise): the receiver took the request and said nothing in time. Apprise tells
    only whether it went: an answer refusing it sooner (a 503 after 4.5 s with ``rto=10``) is
    `REFUSED`, sent again; a connect timeout as long as ``rto`` counts as timed out too.
    Apprise sends on the calling thread (its own deadline would send on its thread pool, whose
    workers are joined at exit: a receiver trickling its answer held the process's exit); the
    caller's deadline is `SEND_TIMEOUT`. Apprise never sends it again itself, whatever the
    URL's ``retry=`` says: an attempt given up on must not be answered after the lane's next
    notice, nor a notice that may have arrived sent again (fsm-risk's ``retries`` send again
    only what was refused)."""
    import apprise

    options: dict[str, Any] = {"async_mode": False}
    if hasattr(apprise.AppriseAsset, "_service_timeout"):  # (apprise 2.0 on)
        options["service_timeout"] = 0
    ap = apprise.Apprise(asset=apprise.AppriseAsset(**options))
    if not ap.add(url):
        return REFUSED
    ap[0].retry = 0
    waits = ap[0].socket_read_timeout
    started = time.monotonic()
    if ap.notify(body=notice.body, title=notice.title, notify_type=notice.level):
        return SENT
    return TIMED_OUT if time.monotonic() - started >= waits else REFUSED


@dataclass
class NotifierHealth:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0
    last_sent_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    by_event: dict[str, int] = field(default_factory=dict)


def local_time(moment: datetime, tz: str) -> str:
    """A moment as the trader reads it: 'Fri 2026-12-04 17:00 CST'."""
    import pendulum

    return str(pendulum.instance(moment).in_timezone(tz).format("ddd YYYY-MM-DD HH:mm zz"))


def flat_by(engine: RiskEngine, now: datetime) -> datetime | None:
    """The instant positions must be flat by in the current session (the trading-hours rule's
    stop: the flat-by time, an early close or the window's end), or None."""
    rule = next((r for r in engine.rules if r.name == "trading_hours"), None)
    if rule is None:
        return None
    status = rule.schedule.status(now)  # type: ignore[attr-defined]
    stop: datetime | None = status.stop
    return stop


class Notifier:
    """A service component: turns what the service committed into notices and sends them."""

    def __init__(
        self,
        settings: Settings,
        *,
        service: Service | None = None,
        backoff: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        send: Callable[[str, Notice], str] = apprise_send,
    ) -> None:
        n = settings.notify
        self.settings = settings
        self.thresholds = n.warn_at
        self.flat_by_lead = n.flat_by_warning
        self.per_minute = n.per_minute
        self.retries = n.retries
        self.backoff = backoff
        self._monotonic = monotonic
        self._send_one = send  # one attempt at one URL, in the URL's own thread
        self.targets: list[Target] = []
        if n.urls:
            self.targets.append(Target("all accounts", n.urls, frozenset(n.events)))
        #: the accounts' own sections before they are resolved (`start`): they hear the
        #: service's notices only (the start's: nothing is enforced on their account either)
        self._early = [
            Target(f"[notify.{key}]", t.urls, frozenset(t.events), frozenset())
            for key, t in settings.notify_accounts.items()
            if t.urls
        ]
        self.targets.extend(self._early)
        self.health = NotifierHealth()
        self.queue: asyncio.Queue[Notice] = asyncio.Queue(QUEUE_SIZE)
        self._lanes: dict[str, _Lane] = {}  # by URL
        self._warned: set[tuple[int, str, int, str]] = set()
        self._started: float | None = None
        self._told: str | None = None  # what the start's notice said: waiting, enforcing
        #: the start's login: its step, its last failure, and the timer of its notice
        #: (`_not_logged_in`); why the start gave up (`StartFailed`), told as it stops
        self._login_step = "login"
        self._login_why: str | None = None
        self._start_failed: str | None = None
        self._guarded = False  # (refused: another service enforces its accounts)
        #: the notices told once per `TOLD_AGAIN` (the start's failure, its "cannot log in"),
        #: each with the key it is told by; and those being sent (`_send`)
        self._marking: list[tuple[Notice, str]] = []
        self._trying: list[Notice] = []
        self._login_timer: asyncio.TimerHandle | None = None
        self._logged_in = False
        self._flat_by_warned: set[tuple[int, str]] = set()
        self._service: Service | None = service
        self._task: asyncio.Task[None] | None = None
        self._check_due = asyncio.Event()
        self._waiters: list[asyncio.Event] = []
        self._repeats: dict[tuple[object, ...], _Repeats] = {}

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return bool(self.targets)

    async def start(self, service: Service) -> None:
        self._service = service
        before = list(self.targets)
        self.targets = [t for t in self.targets if t not in self._early]
        try:
            self._resolve_accounts(service)
        except FsmRiskError:  # (the start fails: told to the targets known before it)
            self.targets = before
            raise
        self._forget_told()
        with contextlib.suppress(ValueError, TypeError):  # (a row of another version: none)
            group = getattr(service, "group", "")
            # (a group's first start after groups: the database's own row, written before)
            meta = service.store.meta
            stored = json.loads(meta(naming.scoped(WARNED_KEY, group)) or meta(WARNED_KEY) or "[]")
            self._warned |= {(int(a), str(r), int(t), str(lb)) for a, r, t, lb in stored}
        if not self.enabled:
            return
        logging.getLogger("apprise").setLevel(logging.CRITICAL)  # failures: logged here
        self._start_sending()
        self._started = time.monotonic()  # the start is told once enforcing (see `_readiness`)
        self._readiness()
        logger.info(
            "{} notifications: {} target(s), {} URL(s)",
            logs.SERVICE_START,
            len(self.targets),
            sum(len(t.urls) for t in self.targets),
        )

    def _start_sending(self) -> None:
        """The notifier's task, and a lane for each URL (those it has not yet: the accounts'
        own are known once logged in)."""
        for url in dict.fromkeys(u for t in self.targets for u in t.urls):
            if url in self._lanes:
                continue
            lane = self._lanes[url] = _Lane(url)
            lane.task = asyncio.ensure_future(self._drain(lane))
            lane.task.set_name(f"notifier lane {len(self._lanes)}")
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
            self._task.set_name("notifier")

    def _logging_in(self, item: LoggingIn) -> None:
        """The start's login: begun, a try failed, or done. Nothing is enforced before it goes
        through; once that takes `SLOW_START`, `_not_logged_in` says so."""
        if self._logged_in:
            return
        if item.done:
            self._logged_in = True
            if self._login_timer is not None:
                self._login_timer.cancel()
            return
        if item.step != self._login_step:  # (the login's failure is not the hubs')
            self._login_step, self._login_why = item.step, None
        self._login_why = item.why or self._login_why
        if self._login_timer is None:
            loop = asyncio.get_running_loop()
            self._login_timer = loop.call_later(SLOW_START, self._not_logged_in)

    def _not_logged_in(self) -> None:
        """The login, or the hubs' opening after it, has not gone through within `SLOW_START`:
        one notice says nothing is enforced, which step fails and why (the gateway's trouble,
        never a secret), to the targets known before the login (``[notify] urls``, and the
        accounts' own sections' URLs); the start's notice follows once enforcing."""
        if self._logged_in or self._told is not None or self._start_failed is not None:
            return
        why = start_told.quoted(self._login_why or "the gateway has not answered it yet")
        step = STEPS.get(self._login_step, STEPS["login"])
        doing = "log in to the gateway" if step == STEPS["login"] else "open the gateway's feeds"
        self._told = "waiting"
        told = self._told_fresh()
        if told:  # a restarted start: its failure (or this notice) told, nothing enforced since
            logger.warning(
                "{} {}: not notified (a failed start told at {})", logs.ALERT, step, max(told)
            )
            return
        self._start_sending()
        notice = Notice(
            "service",
            f"fsm-risk NOT ENFORCING: {step}",
            f"fsm-risk is not enforcing: it cannot {doing} ({why}). It keeps trying; the "
            "stored locks apply as soon as it can, and a notice follows once it enforces.",
            level="failure",
        )
        self._marking.append((notice, f"({step})"))
        self.put(notice)

    def _failed_notice(self) -> Notice | None:
        """The start gave up (`StartFailed`): the notice saying so and why, unless the same
        failure was told less than `TOLD_AGAIN` ago (a service manager restarting it); it is
        marked told once a URL has taken it (`_record`)."""
        if self._start_failed is None:
            return None
        key = start_told.told_key(self._start_failed)
        if self._told_recently(key):
            return None
        notice = failed_notice(self._start_failed, guarded=self._guarded)
        self._marking.append((notice, key))
        return notice

    def _told_key(self) -> str:
        return naming.scoped(TOLD_KEY, getattr(self._service, "group", ""))

    def _told_failures(self) -> dict[str, str]:
        """The start failures told (their words, numbers aside: a clock's seconds ahead vary),
        each with when; {} when the database cannot say (the notice is not held back)."""
        service = self._service
        if service is None or not hasattr(service, "store"):
            return {}
        try:
            told: dict[str, str] = json.loads(service.store.meta(self._told_key()) or "{}")
        except Exception as exc:
            logger.warning("{} start failures told: not read ({!r})", logs.ALERT, exc)
            return {}
        return told

    def _told_fresh(self) -> dict[str, str]:
        """The start failures told less than `TOLD_AGAIN` ago (a row of another version, or a
        clock set back since: none)."""
        if self._service is None:
            return {}
        return start_told.fresh(self._told_failures(), self._service.wall.now())

    def _told_recently(self, key: str) -> bool:
        at = self._told_fresh().get(key)
        if at is None:
            return False
        logger.warning("{} start failure not notified again (told at {})", logs.ALERT, at)
        return True

    def _mark_told(self, key: str) -> None:
        service = self._service
        if service is None or not hasattr(service, "store"):
            return
        now = service.wall.now()
        try:
            told = start_told.fresh(self._told_failures(), now)
            told[key] = now.isoformat()
            service.store.set_meta(self._told_key(), json.dumps(told))
        except Exception as exc:
            logger.warning("{} start failure told: not kept ({!r})", logs.ALERT, exc)

    def _forget_told(self) -> None:
        """The start went through: a later failure, even the same, is news."""
        start_told.forget(self.settings)
        service = self._service
        if service is None or not hasattr(service, "store"):
            return
        with contextlib.suppress(Exception):  # (a database opened read-only: nothing to do)
            if service.store.meta(self._told_key()) is not None:
                service.store.set_meta(self._told_key(), None)

    def _readiness(self) -> None:
        """Tell the start once every account is reconciled and enforced (a close or a cancel
        unconfirmed past a close timeout, still from before a restart, is not: it said
        "enforcing" while `status` said NOT ENFORCING); if that takes longer than
        `SLOW_START`, say first that nothing is enforced yet (it said "enforcing" while no
        account was, for a minute at the real gateway's rate limit), then when it is."""
        service = self._service
        if service is None or self._started is None or self._told == "enforcing":
            return
        ids = ", ".join(map(str, service.account_ids))
        rules = f"{len(service.engine.rules)} rule(s) on account(s) {ids}"
        closes = service.unconfirmed_closes() if service.ready.is_set() else {}
        cancels = service.unconfirmed_cancels() if service.ready.is_set() else {}
        stuck = set(closes) | set(cancels)
        # the rest of /readyz's answer (`Service.verdict`): blind, unsaved, reads failing...
        _, checks = service.verdict() if service.ready.is_set() else (True, {})
        held = [n for n, ok in checks.items() if not ok and not n.endswith("s_confirmed")]
        if service.ready.is_set() and not stuck and not held:
            title = "fsm-risk started" if self._told is None else "fsm-risk enforcing"
            self.put(Notice("service", title, f"fsm-risk is enforcing {rules}.", level="success"))
            self._told = "enforcing"
        elif self._told is None and time.monotonic() - self._started >= SLOW_START:
            waits = (
                f"account(s) {', '.join(map(str, sorted(stuck)))} with a "
                f"{'close' if not cancels else 'cancel' if not closes else 'close or cancel'} "
                "not confirmed in time are enforced once it is"
                if stuck
                else f"not enforcing as it should ({', '.join(held)}) until that ends"
                if held
                else "each account is enforced once its reconciliation with the gateway is done"
            )
            self.put(
                Notice(
                    "service",
                    "fsm-risk started: not enforcing yet",
                    f"fsm-risk started with {rules}; {waits} (a notice follows when all are).",
                    level="warning",
                )
            )
            self._told = "waiting"

    async def stop(self, drain_seconds: float = 5.0) -> None:
        if self._login_timer is not None:  # (stopped while logging in)
            self._login_timer.cancel()
        failed = self._failed_notice() if self.enabled else None
        if failed is not None:  # the start gave up: why is the last word, sent before it exits
            self._start_sending()
        if self._task is None:
            return
        self._held_back(all_now=True)  # what was held back goes before the last word
        if failed is not None:
            self.put(failed)
        elif self._start_failed is None:  # (a failed start told before: never "stopped")
            self.put(
                Notice(
                    "service",
                    "fsm-risk stopped",
                    "fsm-risk stopped: accounts are no longer watched.",
                    level="warning",
                )
            )
        with contextlib.suppress(TimeoutError):  # each lane sends what it can meanwhile
            await asyncio.wait_for(self._drained(), drain_seconds)
        in_flight = [
            (lane, lane.current, lane.tried) for lane in self._lanes.values() if lane.current
        ]
        for notice in list(self._trying):  # still being sent: the receiver may have it
            self._told_now(notice)
        tasks = [self._task, *(lane.task for lane in self._lanes.values() if lane.task)]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        self._unsent_at_stop(in_flight)

    def _unsent_at_stop(self, in_flight: list[tuple[_Lane, tuple[Notice, Target], bool]]) -> None:
        """What the drain at the stop left behind a receiver holding its lane (the notice being
        sent, and those waiting behind it): each counted failed and logged, "not confirmed" (it
        may have arrived) or "not sent", with its URL's place, never the URL."""
        left: list[tuple[str, Notice, Target, str]] = [
            ("not confirmed" if tried else "not sent", notice, target, lane.url)
            for lane, (notice, target), tried in in_flight
        ]
        for lane in self._lanes.values():
            while not lane.queue.empty():
                notice, target = lane.queue.get_nowait()
                lane.queue.task_done()
                left.append(("not sent", notice, target, lane.url))
        for outcome, notice, target, url in left:
            self.health.failed += 1
            logger.error(
                "{} notification to {} {} ({}): {}: the service stopped before {}",
                logs.ALERT,
                _where(target, url),
                outcome,
                notice.event,
                notice.title,
                "its receiver answered (it may have arrived)"
                if outcome == "not confirmed"
                else "it was sent",
            )
        if left:
            logger.error(
                "{} {} notification(s) not sent or not confirmed: the service stopped",
                logs.ALERT,
                len(left),
            )

    async def _drained(self) -> None:
        await self.queue.join()
        for lane in self._lanes.values():
            await lane.queue.join()

    def _resolve_accounts(self, service: Service) -> None:
        """[notify.ACCOUNT] sections name an account by id or name; each must be monitored, but
        one the firm closed (`Service.closed`), which is said loudly."""
        by_key: dict[str, int] = {}
        for aid in service.account_ids:
            acct = service.engine.accounts[aid]
            by_key[str(aid)] = aid
            by_key[acct.name] = aid
        for key, target in self.settings.notify_accounts.items():
            aid = by_key.get(key)
            if aid is None and service.closed([key]):
                logger.critical(
                    "{} [notify.{}]: the gateway no longer lists that account as active "
                    "(closed?): it is not monitored and its alerts are not sent",
                    logs.ALERT,
                    key,
                )
                continue
            if aid is None:
                known = ", ".join(
                    f"{a} {service.engine.accounts[a].name}" for a in service.account_ids
                )
                raise FsmRiskError(
                    f"[notify.{key}]: no monitored account has this id or name (monitored: {known})"
                )
            if target.urls:
                self.targets.append(
                    Target(
                        f"account {aid}",
                        target.urls,
                        frozenset(target.events),
                        frozenset({aid}),
                    )
                )

    # -- what happened -> notices ------------------------------------------------------------

    def put(self, notice: Notice) -> None:
        if not any(t.wants(notice) for t in self.targets):
            return
        if notice.repeats is not None and not self._first_in_a_while(notice):
            return
        self._queue(notice)

    def _queue(self, notice: Notice) -> None:
        try:
            self.queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.health.dropped += 1
            logger.warning("{} notification dropped (queue full): {}", logs.ALERT, notice.title)

    def _first_in_a_while(self, notice: Notice) -> bool:
        """Whether ``notice`` goes now: the first of its key, or the first since the window
        after the last one sent; otherwise it is held (counted, and kept as the latest)."""
        assert notice.repeats is not None
        now = self._monotonic()
        seen = self._repeats.get(notice.repeats)
        if seen is not None and now - seen.sent_at < REPEAT_WINDOW:
            seen.held += 1
            seen.first_held = seen.first_held or self._now()
            seen.latest = notice
            return False
        self._repeats[notice.repeats] = _Repeats(now)
        return True

    def _held_back(self, *, all_now: bool = False) -> None:
        """Each key whose window has passed with notices held (``all_now``: every key, as the
        service stops): its latest one goes, saying how many repeated it (a refused close
        tried 30 times in 5 minutes is one notice then, not thirty)."""
        now = self._monotonic()
        for key, seen in list(self._repeats.items()):
            if now - seen.sent_at < REPEAT_WINDOW and not all_now:
                continue
            del self._repeats[key]
            if seen.latest is None:
                continue
            n, tz = seen.held, self.settings.display_timezone
            since = local_time(seen.first_held, tz) if seen.first_held else "then"
            more = f" (held back: {n} notice(s) like this one since {since}; this is the last)"
            latest = seen.latest
            self._repeats[key] = _Repeats(now)
            self._queue(dataclasses.replace(latest, body=latest.body + more))

    def _now(self) -> datetime:
        assert self._service is not None
        return self._service.clock.now()

    def observe(self, item: Observed) -> None:
        if not self.enabled or self._service is None:
            return
        if isinstance(item, Committed):
            self._committed(item)
        elif isinstance(item, Enforced) and item.failed:
            e = item.effect
            self.put(
                Notice(
                    "enforcement",
                    f"Account {e.account_id}: enforcement request failed",
                    f"Account {self._name(e.account_id)}: {type(e).__name__} of "
                    f"{e.contract_id} failed ({e.reason.name}); reconciling with the gateway.",
                    e.account_id,
                    "failure",
                    ("failed", e.account_id, e.contract_id, type(e).__name__),
                )
            )
        elif isinstance(item, HealthChanged):
            self._feed(item.health)
        elif isinstance(item, LoggingIn):
            self._logging_in(item)
        elif isinstance(item, StartFailed):
            self._start_failed, self._guarded = item.why, item.guarded

    def _name(self, account_id: int | None) -> str:
        assert self._service is not None
        acct = self._service.engine.accounts.get(account_id) if account_id else None
        return f"{account_id} {acct.name}" if acct else str(account_id)

    def _committed(self, item: Committed) -> None:
        assert self._service is not None
        engine = self._service.engine
        tz = self._service.settings.display_timezone  # the zone every surface shows
        # a contract flattening because its account is: one notice, the account's
        whole = {
            e.entry.account_id
            for e in item.effects
            if isinstance(e, RecordTransition)
            and e.entry.contract_id is None
            and e.entry.to_state is State.Flattening
        }
        for e in item.effects:
            if isinstance(e, RecordTransition):
                if e.entry.contract_id is not None and e.entry.account_id in whole:
                    continue
                notice = self._transition(e, engine, tz)
                if notice is not None:
                    self.put(notice)
            elif isinstance(e, Alert) and e.reason in STORAGE_REASONS:
                level = "failure" if e.level.value == "CRITICAL" else "success"
                title = (
                    "fsm-risk: state NOT saved"
                    if e.reason is Reason.STATE_NOT_SAVED
                    else "fsm-risk: state saved again"
                )
                self.put(Notice("service", title, f"{e.message}.", e.account_id, level))
            elif isinstance(e, Alert) and e.reason in ENFORCEMENT_REASONS:
                level = "failure" if e.level.value == "CRITICAL" else "warning"
                self.put(
                    Notice(
                        "enforcement",
                        f"Account {e.account_id}: {e.reason.name}",
                        f"Account {self._name(e.account_id)}: {e.message} "
                        f"({e.reason.description}).",
                        e.account_id,
                        level,
                        _repeats(e),
                    )
                )
        self._check_due.set()  # usage is looked at by the notifier's own task, not here

    @staticmethod
    def _doing(entry: AuditEntry, engine: RiskEngine) -> str:
        """What a flattening scope's close does now, in one sentence."""
        acct = engine.accounts.get(entry.account_id)
        cm = acct.contracts.get(entry.contract_id) if acct and entry.contract_id else None
        if cm is not None and cm.target_size > 0:
            return f"The position is being reduced to {cm.target_size}."
        if cm is not None:
            return "The position is being closed" + (
                " and its working orders cancelled." if cm.cancel_orders else "."
            )
        return "Positions are being closed and working orders cancelled."

    def _transition(self, e: RecordTransition, engine: RiskEngine, tz: str) -> Notice | None:
        entry = e.entry
        scope = f"Account {self._name(entry.account_id)}" + (
            f" contract {entry.contract_id}" if entry.contract_id else ""
        )
        rule = entry.rule_id or "-"
        if entry.trigger == "force":
            what = f" contract {entry.contract_id}" if entry.contract_id else ""
            return Notice(
                "admin",
                f"Account {entry.account_id}{what}: admin moved it to {entry.to_state}",
                f"{scope}: {entry.from_state} -> {entry.to_state} by {entry.actor}: "
                f"{entry.reason}.",
                entry.account_id,
                "warning",
            )
        if entry.to_state is State.Flattening and entry.from_state is State.Flattening:
            # no new flatten: a rule that fired on the scope while it flattens (its hold added,
            # or `fired`: a reduce become a close) is told as that; a hold ended or a settings
            # change meanwhile is no news for this channel
            if entry.trigger not in _FIRED_WHILE_FLATTENING:
                return None
            what = f" contract {entry.contract_id}" if entry.contract_id else ""
            return Notice(
                "flattening",
                f"Account {entry.account_id}{what}: {rule} also fired while flattening",
                f"{scope} was already flattening; {rule} also fired: {entry.reason}. "
                f"{self._doing(entry, engine)}",
                entry.account_id,
                "warning",
            )
        if entry.to_state is State.Flattening:
            doing = self._doing(entry, engine)
            return Notice(
                "flattening",
                f"Account {entry.account_id}: flattening ({rule})",
                f"{scope} is flattening: {rule} {entry.reason}. {doing}",
                entry.account_id,
                "failure",
            )
        if entry.to_state is State.Trading and entry.from_state in LOCK_KINDS:
            # the all-clear: a lock ended (its time, its condition) or was lifted
            return Notice(
                "lock",
                f"Account {entry.account_id}: trading again",
                f"{scope}: {entry.from_state} -> Trading ({entry.trigger}): {entry.reason}.",
                entry.account_id,
                "success",
            )
        if entry.to_state in LOCK_KINDS and entry.from_state != entry.to_state:
            acct = engine.accounts.get(entry.account_id)
            model: Any = acct
            if acct is not None and entry.contract_id:
                model = acct.contracts.get(entry.contract_id)
            hold = strongest(model.holds) if model is not None else None
            if hold is not None and hold.until is not None:
                until = f"until {local_time(hold.until, tz)}"
            elif hold is not None:
                until = "until its condition ends"
            else:
                until = "until further notice"
            if model is not None:  # a weaker lock outlasting it: not free at that end
                from fsm_risk.status import outlasting

                for later in outlasting(model.holds):
                    ends = local_time(later.until, tz) if later.until else "its condition ends"
                    until += f", then {later.kind} until {ends} ({later.source})"
            source = hold.source if hold is not None else rule
            why = hold.reason.name if hold is not None else entry.reason
            detail = f" ({hold.detail})" if hold is not None and hold.detail else ""
            return Notice(
                "lock",
                f"Account {entry.account_id}: {entry.to_state} {until}",
                f"{scope} is {entry.to_state} {until}: {source} {why}{detail}.",
                entry.account_id,
                "failure",
            )
        return None

    def _feed(self, health: dict[str, Any]) -> None:
        if health.get("healthy"):
            self.put(
                Notice("feed", "Feed up", "The gateway's feeds are healthy again.", level="success")
            )
            return
        parts = [f"user hub down for account {a}" for a, up in health["user_hub"].items() if not up]
        if not health.get("market_hub"):
            parts.append("market hub down")
        if health.get("silent_contracts"):
            parts.append(f"no quotes from {', '.join(health['silent_contracts'])}")
        if health.get("authenticated") is False:  # blind until it has logged in again
            parts.append("the gateway refuses the service's login (logging in again)")
        if health.get("blind"):  # records refused repeatedly: read over REST meanwhile
            parts.append(f"blind to {', '.join(health['blind'])} records (refused repeatedly)")
        from fsm_risk.status import reads_detail

        for account, f in (health.get("reads_failing") or {}).items():
            since, name = datetime.fromisoformat(f["since"]), account
            if self._service is not None:
                since = since.astimezone(ZoneInfo(self._service.settings.display_timezone))
                name = self._name(int(account))
            parts.append(
                f"the gateway's reads of account {name} failing: its state not confirmed "
                f"since {since:%H:%M:%S %Z} ({reads_detail(f)})"
            )
        self.put(
            Notice(
                "feed",
                "Feed down",
                "The gateway's feed is degraded: " + "; ".join(parts or ["unknown"]) + ". "
                "Rules that need live data cannot act until it is back.",
                level="failure",
            )
        )

    def check(self, now: datetime) -> None:
        """Early warnings and the flat-by time approaching: called after a batch and once a
        second (the flat-by time comes without any event)."""
        if self._service is None:
            return
        self._readiness()
        if self._started is None:  # (told of the login only: the warnings sent are not read)
            return
        from fsm_risk import status

        engine = self._service.engine
        ids = [a for a in self._service.account_ids if a in engine.accounts]
        if not ids:
            return
        snap = status.snapshot(engine, now, ids, tz=self._service.settings.display_timezone)
        stop = flat_by(engine, now)
        for a in snap["accounts"]:
            if a["state"] != State.Trading.value:
                continue
            self._warn_usage(a)
            if stop is not None and a["positions"] and now < stop <= now + self.flat_by_lead:
                self._warn_flat_by(a, stop, now, snap["timezone"])

    def _warn_usage(self, a: dict[str, Any]) -> None:
        for r in a["rules"]:
            period = WARNED_RULES.get(r["name"])
            if period is None:
                continue
            label = a[period]["label"]
            reached = [t for t in self.thresholds if r["fraction"] * 100 >= t]
            if not reached:
                continue
            top = reached[-1]
            # one warning per threshold per period; jumping past several sends the highest
            if (a["account_id"], r["id"], top, label) in self._warned:
                continue
            for t in reached:
                self._warned.add((a["account_id"], r["id"], t, label))
            self._keep_warned(a[period]["label"])
            self.put(
                Notice(
                    "warning",
                    f"Account {a['account_id']}: {top}% of {r['name']}",
                    f"Account {a['account_id']} {a['name']}: {r['fraction'] * 100:.0f}% "
                    f"used of {r['id']} {r['name']} ({r['value']} {r['unit']} against "
                    f"{r['limit']} {r['unit']}; {r['detail']}). Warning at {top}% for the "
                    f"{period} {label}.",
                    a["account_id"],
                    "warning",
                )
            )

    def _keep_warned(self, label: str) -> None:
        """Store the warnings sent (this period's only): a restart does not send them again
        (the README promises one per threshold per day or week; each restart repeated them)."""
        service = self._service
        if service is None or not hasattr(service, "store"):
            return
        # a period's label is its first day: none older than a week can still be current
        week_ago = (date.fromisoformat(label) - timedelta(days=7)).isoformat()
        self._warned = {w for w in self._warned if w[3] >= week_ago}
        key = naming.scoped(WARNED_KEY, getattr(service, "group", ""))
        service.store.set_meta(key, json.dumps(sorted(self._warned)))

    def _warn_flat_by(self, a: dict[str, Any], stop: datetime, now: datetime, tz: str) -> None:
        key = (a["account_id"], stop.isoformat())
        if key in self._flat_by_warned:
            return
        self._flat_by_warned.add(key)
        minutes = max(1, round((stop - now).total_seconds() / 60))
        held = ", ".join(f"{p['contract']} {p['side']} {p['size']}" for p in a["positions"])
        self.put(
            Notice(
                "flat_by",
                f"Account {a['account_id']}: flat by {local_time(stop, tz)}",
                f"Account {a['account_id']} {a['name']}: flat by {local_time(stop, tz)} "
                f"(in {minutes} min) with position(s) open: {held}. They will be closed then.",
                a["account_id"],
                "warning",
            )
        )

    # -- sending ---------------------------------------------------------------------------

    async def _run(self) -> None:
        """Hand each notice to the lane of every URL that wants it (at once: a lane's sending
        never holds another's)."""
        ticker = asyncio.ensure_future(self._tick())
        try:
            while True:
                notice = await self.queue.get()
                try:
                    for target in [t for t in self.targets if t.wants(notice)]:
                        for url in target.urls:
                            self._to_lane(self._lanes[url], notice, target)
                finally:
                    self.queue.task_done()
        finally:
            ticker.cancel()

    def _to_lane(self, lane: _Lane, notice: Notice, target: Target) -> None:
        if lane.queue.full():  # a receiver failing for long: its oldest notice goes
            old, _ = lane.queue.get_nowait()
            lane.queue.task_done()
            self.health.dropped += 1
            logger.warning(
                "{} notification to {} dropped ({} are waiting for it; the oldest goes): {}",
                logs.ALERT,
                _where(target, lane.url),
                LANE_SIZE,
                old.title,
            )
        lane.queue.put_nowait((notice, target))

    async def _drain(self, lane: _Lane) -> None:
        while True:
            notice, target = await lane.queue.get()
            lane.busy, lane.current = True, (notice, target)
            try:
                await self._send(lane, notice, target)
            except Exception as exc:  # (a bug: this lane's notice is lost, not its later ones)
                logger.error("{} notification to {} failed: {!r}", logs.ALERT, target.name, exc)
            finally:
                lane.busy, lane.current, lane.tried = False, None, False
                lane.queue.task_done()
                waiters, self._waiters = self._waiters, []
                for w in waiters:
                    w.set()

    async def _tick(self) -> None:
        """Look at usage after a batch (at most five times a second) and at least once a
        second (the flat-by warning comes due without any event)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._check_due.wait(), 1.0)
            self._check_due.clear()
            self._held_back()
            if self._service is not None:
                try:
                    self.check(self._service.clock.now())
                except Exception as exc:
                    logger.error("{} notification check failed: {!r}", logs.ALERT, exc)
            await asyncio.sleep(0.2)

    async def _rate_limit(self, sent_at: deque[float]) -> None:
        """Wait until one URL has had fewer than ``per_minute`` notices in the last minute."""
        while True:
            now = self._monotonic()
            while sent_at and now - sent_at[0] >= 60.0:
                sent_at.popleft()
            if len(sent_at) < self.per_minute:
                sent_at.append(now)
                return
            # re-checked at least once a second (the window is measured, not assumed)
            await asyncio.sleep(min(1.0, 60.0 - (now - sent_at[0])))

    async def _send(self, lane: _Lane, notice: Notice, target: Target) -> None:
        await self._rate_limit(lane.sent_at)
        outcome, why, attempt = REFUSED, "", 0
        for attempt in range(self.retries + 1):
            if attempt:
                self.health.retried += 1
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            self._trying.append(notice)  # (while it is: `stop` marks one still being sent)
            try:
                outcome, why = await self._attempt(lane, notice)
            finally:
                self._trying.remove(notice)
            if outcome != REFUSED:  # sent, or it may have been: never sent twice
                break
        self._record(notice, target, lane.url, outcome, why, attempt)

    async def _attempt(self, lane: _Lane, notice: Notice) -> tuple[str, str]:
        """One attempt, on a daemon thread of its own, waited for `SEND_TIMEOUT` at most (a
        receiver trickling its answer held the lane's one thread for good: every later notice
        to it was never sent, and the process could not exit)."""
        lane.tried = True
        lane.abandoned = [t for t in lane.abandoned if t.is_alive()]
        if len(lane.abandoned) >= ABANDONED_MAX:
            return REFUSED, f"the receiver still holds {len(lane.abandoned)} earlier notices"
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[str, str]] = loop.create_future()

        def settle(outcome: tuple[str, str]) -> None:
            if not answer.done():  # (not given up on meanwhile)
                answer.set_result(outcome)

        def run() -> None:
            try:
                outcome = self._send_one(lane.url, notice), ""
            except Exception as exc:
                outcome = REFUSED, type(exc).__name__
            with contextlib.suppress(RuntimeError):  # (the loop closed meanwhile)
                loop.call_soon_threadsafe(settle, outcome)

        thread = threading.Thread(target=run, name="notify", daemon=True)
        thread.start()
        try:
            return await asyncio.wait_for(answer, SEND_TIMEOUT)
        except TimeoutError:
            lane.abandoned.append(thread)
            return TIMED_OUT, ""

    def _record(
        self, notice: Notice, target: Target, url: str, outcome: str, why: str, attempt: int
    ) -> None:
        service = self._service
        at = service.wall.now() if service is not None else None
        if outcome in (SENT, TIMED_OUT):  # (taken, or it may have been)
            self._told_now(notice)
        if outcome == SENT:
            self.health.sent += 1
            self.health.last_sent_at = at
            self.health.by_event[notice.event] = self.health.by_event.get(notice.event, 0) + 1
            logger.info(
                "{} notification sent to {} ({}): {}",
                logs.FEED if notice.event == "feed" else logs.ALERT,
                _where(target, url),
                notice.event,
                notice.title,
            )
            return
        error = (
            "no answer in time; not sent again (it may have arrived)"
            if outcome == TIMED_OUT
            else why or "the receiver refused it or could not be reached"
        )
        self.health.failed += 1
        self.health.last_error, self.health.last_error_at = error, at
        logger.error(
            "{} notification to {} {} after {} attempt(s) ({}): {}: {}",
            logs.ALERT,
            _where(target, url),
            "not confirmed" if outcome == TIMED_OUT else "not sent",
            attempt + 1,
            notice.event,
            notice.title,
            error,
        )

    def _told_now(self, notice: Notice) -> None:
        """A notice told once per `TOLD_AGAIN` reached a URL (the first to take it, or to
        leave it unanswered: it may have it): marked told."""
        for marked in [m for m in self._marking if m[0] is notice]:
            self._marking.remove(marked)
            self._mark_told(marked[1])

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy, re-checked after every send ends."""
        async with asyncio.timeout(timeout):
            while not (result := predicate()):
                done = asyncio.Event()
                self._waiters.append(done)
                await done.wait()
        return result

    @property
    def queued(self) -> int:
        """Notices not yet done: waiting for the notifier's task, and each URL's waiting or
        being sent (one notice for three URLs is three)."""
        lanes = sum(lane.queue.qsize() + lane.busy for lane in self._lanes.values())
        return self.queue.qsize() + lanes

    def snapshot(self) -> dict[str, Any]:
        h = self.health
        return {
            "enabled": self.enabled,
            "targets": [t.name for t in self.targets],
            "queued": self.queued,
            "sent": h.sent,
            "failed": h.failed,
            "retried": h.retried,
            "dropped": h.dropped,
            "last_sent_at": h.last_sent_at.isoformat() if h.last_sent_at else None,
            "last_error": h.last_error,
            "last_error_at": h.last_error_at.isoformat() if h.last_error_at else None,
            "healthy": h.last_error_at is None
            or (h.last_sent_at is not None and h.last_sent_at > h.last_error_at),
        }


def send_now(
    settings: Settings,
    notice: Notice,
    *,
    send: Callable[[str, Notice], str] = apprise_send,
    pause: Callable[[float], None] = time.sleep,
) -> tuple[list[str], list[str]]:
    """Send one notice from a command, in its own thread, with no service to hand it to (an
    admin action the control channel cannot carry: the take-over of the admin secret): to
    every URL, of [notify] and of each [notify.ACCOUNT], whose events include the notice's,
    each once, a refused attempt re-sent as the notifier does. Returns where it went and
    where it did not (each as logs name it, never the URL), both logged."""
    targets = [Target("all accounts", settings.notify.urls, frozenset(settings.notify.events))]
    targets += [
        Target(f"[notify.{key}]", t.urls, frozenset(t.events))
        for key, t in settings.notify_accounts.items()
    ]
    sent: list[str] = []
    failed: list[str] = []
    done: set[str] = set()
    for target in targets:
        if not target.wants(notice):
            continue
        for url in target.urls:
            if url in done:
                continue
            done.add(url)
            where = _where(target, url)
            outcome, attempt = REFUSED, 0
            for attempt in range(settings.notify.retries + 1):
                if attempt:
                    pause(2 ** (attempt - 1))
                outcome = _within(send, url, notice)
                if outcome != REFUSED:
                    break
            if outcome == SENT:
                sent.append(where)
                logger.info(
                    "{} notification sent to {} ({}): {}",
                    logs.ALERT,
                    where,
                    notice.event,
                    notice.title,
                )
            else:
                failed.append(where)
                logger.error(
                    "{} notification to {} {} after {} attempt(s) ({}): {}",
                    logs.ALERT,
                    where,
                    "not confirmed" if outcome == TIMED_OUT else "not sent",
                    attempt + 1,
                    notice.event,
                    notice.title,
                )
    return sent, failed


def failed_notice(why: str, *, guarded: bool = False) -> Notice:
    """The notice of a start that gave up (`start_told.failed_words`)."""
    title, body, level = start_told.failed_words(why, guarded=guarded)
    return Notice("service", title, body, level=level)


def tell_start_failed(
    settings: Settings,
    why: str,
    *,
    guarded: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    send: Callable[[str, Notice], str] = apprise_send,
) -> bool:
    """Tell a start that gave up before its service ran, so with no notifier nor database
    (nothing enforced; or, ``guarded``, another service already enforces its accounts), with
    `send_now`: once per `TOLD_AGAIN`, marked told in a file once a URL took it or did not
    answer in time (it may have it). Returns whether it was sent."""
    if not (settings.notify.urls or any(t.urls for t in settings.notify_accounts.values())):
        return False
    path, key, at = start_told.mark_path(settings), start_told.told_key(why), now()
    told = start_told.fresh(start_told.read_marks(path), at)
    if key in told:
        logger.warning("{} start failure not notified again (told at {})", logs.ALERT, told[key])
        return False
    outcomes: list[str] = []
    tries = [0]
    lock = threading.Lock()

    def counted(url: str, n: Notice) -> str:
        with lock:
            tries[0] += 1
        outcome = send(url, n)
        with lock:
            outcomes.append(outcome)
        return outcome

    send_now(settings, failed_notice(why, guarded=guarded), send=counted)
    if SENT in outcomes or tries[0] > len(outcomes):  # (an attempt never answered)
        told[key] = at.isoformat()
        start_told.keep(path, told)
    return True


def _within(send: Callable[[str, Notice], str], url: str, notice: Notice) -> str:
    """One attempt from a command, on a daemon thread waited for `SEND_TIMEOUT` at most (a
    receiver trickling its answer held the command for good)."""
    outcome: list[str] = []

    def run() -> None:
        try:
            outcome.append(send(url, notice))
        except Exception:
            outcome.append(REFUSED)

    thread = threading.Thread(target=run, name="notify", daemon=True)
    thread.start()
    thread.join(SEND_TIMEOUT)
    return outcome[0] if outcome else TIMED_OUT


def _where(target: Target, url: str) -> str:
    """A URL as logs name it: its target, and its place there (never the URL: it holds
    tokens)."""
    if len(target.urls) == 1:
        return target.name
    return f"{target.name} (URL {target.urls.index(url) + 1} of {len(target.urls)})"


__all__ = [
    "NOTIFY_EVENTS",
    "Notice",
    "Notifier",
    "Target",
    "flat_by",
    "local_time",
    "send_now",
    "tell_start_failed",
]
