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
import dataclasses
import gc
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Collection, Container, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from loguru import logger

from fsm_risk import logs, naming, reconciler
from fsm_risk.adapters.account_locks import AccountLocks
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.beats import BEAT, Beats
from fsm_risk.adapters.broker import Inbound, Malformed, ProjectXBroker
from fsm_risk.adapters.clock import Clock, SystemClock
from fsm_risk.adapters.gateway_clock import TOLERANCE
from fsm_risk.adapters.journal import (
    APPLY_STAGED,
    NOTE,
    RESTORE,
    RESUME,
    RULES,
    STAGE,
    THAW,
    THAWED,
    Journal,
)
from fsm_risk.adapters.payloads import Doubted
from fsm_risk.adapters.scheduler import Scheduler
from fsm_risk.adapters.sdnotify import SystemdNotifier
from fsm_risk.adapters.store import (
    FileLost,
    StorageFailed,
    Store,
    StoredAccount,
    describe_storage_error,
    fill_cutoff,
    restore_all,
    storage_error,
)
from fsm_risk.bootstrap import build_engine
from fsm_risk.config import Settings
from fsm_risk.contracts import Contracts
from fsm_risk.core import admin, thaw
from fsm_risk.core.cancels import StuckCancel, unconfirmed_cancels
from fsm_risk.core.caps import CapLevels
from fsm_risk.core.effects import (
    Alert,
    CancelOrder,
    ClosePosition,
    ConfirmReset,
    Effect,
    LearnInstrument,
    Level,
    ReadAccount,
    ReadBalance,
    ReadResetPrices,
    ReadTrades,
    RecordTransition,
    ReducePosition,
    ResizeOrder,
    SettingsApplied,
    WatchContract,
)
from fsm_risk.core.engine import Changes, RiskEngine
from fsm_risk.core.events import (
    AccountUpdate,
    AdminCommand,
    CloseInDoubt,
    CloseWaiting,
    EnforcementAccepted,
    EnforcementRejected,
    Event,
    Fill,
    Listing,
    OrderUpdate,
    PositionUpdate,
    PriceAt,
    PricesAtReset,
    Quote,
    SelfLock,
    Tick,
    TradesSnapshot,
)
from fsm_risk.core.exposure import close_wanted, unconfirmed_closes
from fsm_risk.core.foreseen import foreseen
from fsm_risk.core.lost import (
    META_PREFIX,
    PENDING_PREFIX,
    TAKEN_OVER_KEY,
    UNTRUSTED_KEY,
    LostState,
    TakeOver,
    lost_state,
    lost_view,
    read_take_over,
    shown,
)
from fsm_risk.core.models import AccountModel
from fsm_risk.core.reads import FULL_EVERY, read_since
from fsm_risk.core.reasons import Reason
from fsm_risk.core.restricted import Restriction, restriction, scopes
from fsm_risk.core.states import State
from fsm_risk.core.timers import missed_resets
from fsm_risk.core.unread import read_early, waiting
from fsm_risk.core.waited import handing, judged
from fsm_risk.errors import AlreadyGuarded, FsmRiskError
from fsm_risk.observe import (
    Committed,
    Component,
    Enforced,
    HealthChanged,
    LoggingIn,
    Observed,
    Observer,
    StartFailed,
)
from fsm_risk.pricing import SilentPricer
from fsm_risk.reconciler import AGAIN, Reconciler
from fsm_risk.replay import journal_prices
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown

_LEVEL = {Level.INFO: "INFO", Level.WARNING: "WARNING", Level.CRITICAL: "CRITICAL"}


@contextlib.contextmanager
def _collector_held() -> Iterator[None]:
    """Python's cyclic garbage collector held off for the duration: a batch's events, its
    commit and the requests it starts. A collection triggered by an allocation would
    otherwise run right there, between a breach and its close, for as long as it takes: 0.3
    to 0.9 ms measured when the SDK's HTTP client (whose every response leaves reference
    cycles) had left garbage behind. Nothing is skipped: the collection is due as soon as the
    collector is on again and runs at the next allocation, after the requests are written.
    A collector someone else has turned off stays off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _blind_alert(m: Malformed) -> Alert:
    return Alert(
        Level.CRITICAL,
        Reason.FEED_BLIND,
        f"{m.kind} records refused repeatedly ({m.reason}): the live feed is blind to them; "
        "each one refused has its account read over REST until they pass again",
        m.account_id,
    )


def _incomplete_alert(m: Malformed) -> Alert:
    return Alert(
        Level.CRITICAL,
        Reason.READ_INCOMPLETE,
        f"account {m.account_id}: {m.read} listed an entry the service refused ({m.reason}): "
        "its reads are not used (never taken as flat or as no working order); the account "
        "keeps what the service holds until the gateway lists it whole",
        m.account_id,
    )


def _accounts_in(batch: list[Any], effects: list[Effect]) -> set[int]:
    """The accounts a handled batch names: its events' (and jobs') and its effects'."""
    found = set()
    for it in batch:
        account_id = getattr(getattr(it, "event", it), "account_id", None)
        if account_id is not None:
            found.add(account_id)
    for e in effects:
        account_id = getattr(getattr(e, "entry", e), "account_id", None)
        if account_id is not None:
            found.add(account_id)
    return found


#: seconds the service manager's start timeout is pushed on at each failed try of the login
START_GRACE = 180.0


class StoppedStarting(Exception):
    """The service was stopped before the gateway took its login: a clean stop."""


@dataclass
class _Job:
    """An event whose sender waits for it to be handled (an admin command, a scheduler tick)."""

    event: AdminCommand | SelfLock | Tick
    done: asyncio.Future[str]


@dataclass
class _Reconciled:
    """Queued after a reconciliation's events: once handled, the account's working orders
    are known (enforcement held back since the start may go) and the reconciliation is done."""

    account_id: int
    done: asyncio.Future[None]


@dataclass
class _Thawed:
    """Queued once the accounts were read after a freeze (or their reads gave up): their
    deadline rules judge again (`core.thaw`)."""

    account_ids: tuple[int, ...]
    since: datetime  # the freeze they were read after (a later one waits for its own read)


_Item = Event | Malformed | _Job | _Reconciled | _Thawed


@dataclass(slots=True)
class _CloseTurn:
    """A close's turn in the request budget (`broker.Turn`): the engine is told when it waits
    and when it goes after waiting (`CloseWaiting`: an order reported meanwhile is not taken
    for it), and asked once it has its slot whether it is still wanted (`close_wanted`)."""

    service: Service
    e: ClosePosition | ReducePosition
    waited: bool = False

    def waits(self) -> None:
        self.waited = True
        self.service.submit(CloseWaiting(self.e.account_id, self.e.contract_id, self.e.seq, True))

    def wanted(self) -> bool:
        e = self.e
        wanted = close_wanted(self.service.engine.accounts.get(e.account_id), e.contract_id, e.seq)
        if wanted and self.waited:  # (told before it is written: its order comes after)
            self.service.submit(CloseWaiting(e.account_id, e.contract_id, e.seq, False))
        return wanted


@dataclass(slots=True)
class _OrderTurn:
    """A cancel's (or resize's) turn in the request budget (`broker.Turn`): once it has its
    slot, still wanted while the engine holds the order working (a cancel: and still asks it
    gone, which it no longer does once the lock that asked it has ended). A chaotic trader's
    orders filled while their cancels waited behind a full window; each cancel went anyway,
    was refused, and a read followed: two requests for nothing, in the window closes need."""

    service: Service
    e: CancelOrder | ResizeOrder

    def waits(self) -> None:
        pass

    def wanted(self) -> bool:
        acct = self.service.engine.accounts.get(self.e.account_id)
        o = acct.orders.get(self.e.order_id) if acct is not None else None
        return o is not None and (isinstance(self.e, ResizeOrder) or o.cancel_sent_at is not None)


@dataclass
class _Part:
    """Items of a batch handled, committed and executed together (see `Service._consume`)."""

    now: datetime
    items: list[_Item]
    effects: list[Effect]
    jobs: list[tuple[_Job, str | BaseException]]
    reconciled: list[_Reconciled]
    committed: bool  # something was written
    requests: bool  # it started a request (and ends there, when it was cut)
    stop: bool  # it ends at the queue's end-of-service mark


@dataclass(frozen=True)
class _ReadBegan:
    """What the engine knew of an account when a reconciliation's read of it began: fills,
    positions and orders that arrive live while the gateway is read are newer than what it
    answers, and must not be undone."""

    applied: frozenset[int]  # the trade ids applied (a complete list holds all of these)
    positions: frozenset[str]
    orders: frozenset[int]
    began: datetime  # on the service's clock
    #: the trade ids seen voided: a void applied later makes the read older (see `core.voids`)
    voided: frozenset[int] = frozenset()

    @staticmethod
    def of(acct: Any, began: datetime) -> _ReadBegan:
        # with the contracts the fills say are open though no position was seen (lost update)
        open_by_fills = {c for c, n in acct.net.items() if n}
        return _ReadBegan(
            frozenset(acct.seen_trades),
            frozenset(set(acct.positions) | open_by_fills),
            frozenset(acct.orders),
            began,
            frozenset(acct.voided),
        )

    def read(
        self,
        account_id: int,
        events: list[Event],
        *,
        periodic: bool = False,
        behind: bool = False,
        balance: Decimal | None = None,
    ) -> tuple[list[Event], Listing]:
        """The read's events marked with what was applied when it began, and the `Listing`
        whose difference the engine decides (closed, or ended). A balance is read after the
        trades: it includes those applied before and those listed, and a fill applied later
        (live, meanwhile) makes it possibly older than ours."""
        listed = self.applied | {e.trade_id for e in events if isinstance(e, Fill)}
        voided = self.voided | {e.trade_id for e in events if isinstance(e, Fill) and e.voided}
        marked = [
            dataclasses.replace(e, applied=listed, voided=voided)
            if isinstance(e, (AccountUpdate, PositionUpdate))
            # the engine keeps an order that ends live meanwhile ended (see OrderUpdate.held)
            else dataclasses.replace(e, held=e.order_id in self.orders, read=True)
            if isinstance(e, OrderUpdate)
            else e
            for e in events
        ]
        listing = Listing(
            account_id,
            frozenset(e.contract_id for e in marked if isinstance(e, PositionUpdate)),
            frozenset(e.order_id for e in marked if isinstance(e, OrderUpdate)),
            self.positions,
            self.orders,
            listed,
            periodic,
            behind,
            self.began,
            balance=any(isinstance(e, AccountUpdate) for e in marked),
            listed=balance,
        )
        return marked, listing


_ENFORCEMENT = (ClosePosition, ReducePosition, CancelOrder, ResizeOrder)
_Enforcement = ClosePosition | ReducePosition | CancelOrder | ResizeOrder
#: turns of the loop the consumer gives an enforcement request (httpx and anyio pass about
#: this many scheduling points between the request and its write to the socket)
_REQUEST_STEPS = 4
#: a reconnected account is reconciled once its hub has stayed up this long (at most 10 s on)
RECONNECT_SETTLE_SECONDS = 0.5
#: how many more accounts a doubted position record's search for its owner reads at a time
#: (beyond those whose fills lead to it), once the read ones explain nothing (`_find_owner`)
OWNER_READS_AT_ONCE = 8
#: at most this many prices at a missed reset are read at start-up (one per contract and
#: reset); the rest carry the prices last known before the stop
MAX_RESET_READS = 20
#: and for at most this long in all (seconds): the rest carry the prices last known
RESET_READS_SECONDS = 5.0
#: how long the accounts' deadline rules wait for their read after a freeze (seconds): a read
#: that fails or takes longer lets them judge on what was heard
THAW_READ_SECONDS = 15.0
#: how long an exposed account's enforcing step waits for the balances listed after the
#: subscriptions (`Service._listed_balance`) before its realized P&L waits for its trades
START_BALANCES_WAIT = 5.0
#: how long a balance move no fill explains waits for its fill before it is read (seconds)
BALANCE_GRACE_SECONDS = 1.0
#: how long after a read whose trade list looked wiped by a firm's reset that list is asked
#: for again to confirm it (seconds): a list served stale for a moment is fresh by then
RESET_CONFIRM_SECONDS = 3.0
#: the waits before each try of that read (one that fails is tried again while the engine
#: still waits for it, the last wait repeated until it answers; a restart asks it again too).
#: A wait after a try that failed ends early when another read of the account's trade list
#: is answered: the gateway is back, the read is tried at once
RESET_CONFIRM_RETRIES = (RESET_CONFIRM_SECONDS, 10.0, 30.0, 60.0, 120.0)
#: while the database refuses writes, what is not saved is tried again this often (seconds)
#: even when nothing new happens (a quiet account is saved once the storage is back)
SAVE_RETRY_SECONDS = 3.0
#: an account's reconciliations failed one after another (the gateway answering its reads
#: 429 or 5xx, or not at all) that show it as failing: the feed degraded, naming it, and the
#: account not ready, until one succeeds (one failure alone is retried and says nothing)
READS_FAILING_AFTER = 2
#: reconcile intervals without a read of the account answered that show its reads as failing
#: too (reads held back or hung fail nothing; the usual gap between two periodic reads of an
#: account is at most one and a half intervals: the reads of every account take up to half)
READS_STALE_INTERVALS = 3
#: why an account the settings leave out is monitored: a lock holds until its time, whatever
#: the file says (`Service._still_restricted`)
KEPT = "still monitored although [general] accounts leaves it out"


@dataclass
class ReadsFailing:
    """An account whose reads of the gateway keep failing: since when its state is not
    confirmed (its last reconciliation that read the gateway, else its first failure; the
    rules' clock, as `status` shows times), the reconciliations failed since, and the last
    one's error kind (its class name: the message is in the log; None: none failed, the
    reads wait unanswered)."""

    since: datetime
    failures: int
    error: str | None


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
        control_options: dict[str, Any] | None = None,
        account_locks: AccountLocks | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        #: one service per gateway account on this machine, whatever its database
        self.account_locks = account_locks
        #: the account group this service is: what a shared database keeps per service
        self.group = naming.group(settings.general.accounts, store.shared)
        self.clock = clock
        self.auth = auth
        self.control_path = control_path
        self.control_options = control_options or {}
        self.queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self.broker = broker_factory(self._enqueue)
        self.broker.on_reconnect = self._reconnected
        self.broker.on_doubt = self._doubt
        self.broker.on_unowned = self._unowned
        self.broker.on_start_failed = self._start_waits
        self.engine: RiskEngine = build_engine(settings, marks=store.marks())
        #: the gateway's contracts' tick sizes and values, for the engine (see `contracts`)
        self.contracts = Contracts(
            self.broker, self.engine.instruments, lambda: self.engine.calendar, self.submit, clock
        )
        self.scheduler = Scheduler(self.engine, clock, self._tick)
        #: the beats that show a freeze of the process (`_beat`, `_thaw`)
        self.beats = Beats(clock.now)
        self.journal = Journal(settings.journal.enabled, settings.journal.retention_days)
        b = settings.broker
        self.feed_silence = b.feed_silence
        #: held contracts whose quotes have stopped: priced by reads of their last bar
        self.pricer = SilentPricer(
            self.broker, lambda: self.engine, self.submit, clock, self.feed_silence
        )
        self.broker.linger = b.quote_linger
        self._linger_wake = asyncio.Event()
        self.poll_interval = b.reconcile_interval.total_seconds()
        self.token_margin = b.token_refresh
        self.wall = SystemClock()  # token expiry is real time
        #: every monitored account reconciled (each enforces as soon as its own is done)
        self.ready = asyncio.Event()
        #: the start's login and account list went through (nothing is enforced before)
        self.logged_in = False
        #: the start's hubs opened after it (nothing is enforced before either)
        self.hubs_opened = False
        #: serving: feeds open, control API and components started (accounts may still wait)
        self.serving = asyncio.Event()
        self._waiters: list[asyncio.Event] = []
        self.stopping = asyncio.Event()
        self.events_seen = 0
        self.malformed = 0
        self.effects_done = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._marks_saved_at: datetime | None = None
        self._control: Any = None
        self.account_ids: list[int] = []
        self.failure: BaseException | None = None  # what broke the main loop, if anything
        #: since when the database has refused the service's commits (None: state is saved)
        self.unsaved_since: datetime | None = None
        #: since when commits were refused for SQLite's write lock held elsewhere, not alerted
        #: yet (`_not_saved`), and the reason they said
        self.held_since: tuple[float, str] | None = None
        #: the settings in force (and a held loosening) the database refused: tried again
        self._settings_unsaved: tuple[Any, Any, Any] | None = None
        # after a (re)start nothing is sent for an account until its reconciliation has shown
        # the gateway's working orders: a close re-sent beside one still working reverses
        self.known: set[int] = set()
        #: the accounts started with no stored state, until their trades are read (`_lost`);
        #: stored as pending (`PENDING_PREFIX`) with the commit that first stores the account,
        #: and read back at a start until decided
        self.unstored: set[int] = set()
        #: when the service first started on each of them (`lost_state`'s ``first``)
        self._first_start: dict[int, datetime] = {}
        #: the database held the checked state of an account at this start: it is not a new
        #: file, so a secret it holds is the one its history was kept under (see `_lost`)
        self._had_state = False
        #: meta rows for the next commit, written in its transaction (`Changes.meta`)
        self._meta_due: dict[str, str] = {}
        #: the starts with no stored state found while the gateway lists trades this week,
        #: by account (kept in the database: shown until that week has ended)
        self.lost: dict[int, LostState] = {}
        self.held_back: dict[int, set[str]] = {}
        #: the cancels sent and not answered yet, by (account, order): one waiting for the
        #: request budget (or the gateway) is not sent again beside it
        self.cancelling: set[tuple[int, int]] = set()
        #: the firm's resets whose confirming read is waited for or under way (`_confirm_reset`)
        self.confirming: set[tuple[int, datetime, datetime]] = set()
        #: per account, the waits of those confirming reads that failed: each ends when a read
        #: of the account's trade list is answered (`_listed`), the gateway back
        self._relisting: dict[int, set[asyncio.Event]] = {}
        #: at start-up, whether the gateway holds a position, per account read so far
        self.probed: dict[int, bool] = {}
        #: set once the account's user events are subscribed (its snapshot waits for it)
        self._subscribed: dict[int, asyncio.Event] = {}
        self.reconciler = Reconciler(
            self._reconcile_now,
            self._urgency,
            retry_if=lambda account_id: not self._caught_up(account_id),
            outcome=self._read_outcome,
        )
        #: per account, its reconciliations failed since the last that read the gateway (the
        #: first's time, how many, the last's error kind), and when that last one ended
        self._reads_failed: dict[int, tuple[datetime, int, str]] = {}
        self._read_ok: dict[int, tuple[datetime, float]] = {}
        #: tells the service manager (systemd) when this service is ready, alive and stopping
        self.notifier = SystemdNotifier()
        self._read_dropped: set[int] = set()
        #: per account, the periodic reads of recent trades used since one of the whole window
        self._recent_reads: dict[int, int] = {}
        #: told of every committed batch, enforcement request and feed change (never awaited)
        self.observers: list[Observer] = []
        #: observers started once the service enforces and stopped when it shuts down
        self.components: list[Component] = []
        self.pending: Any = None  # a held loosening (fsm_risk.reload.Pending)
        self._staged: Settings | None = None
        #: what the settings file means for this run, applied to every read of it (``serve
        #: --demo``: its overrides, which a reload must not drop)
        self.adjust: Callable[[Settings], Settings] = lambda settings: settings
        #: why the start was refused before it wrote anything (the gateway's clock contradicts
        #: this machine's): the stop writes nothing either
        self.start_refused: str | None = None
        #: the accounts said to stay monitored although [general] accounts leaves them out
        self._told_kept: set[int] = set()
        #: names in [general] accounts of accounts the gateway did not list at the start
        #: (`closed`): if one is listed again, it is active and not monitored (`relisted`)
        self.unlisted_at_start: list[str] = []
        self._told_relisted: set[str] = set()
        #: the balances listed once every hub subscription was sent at start-up, and the
        #: feeds' reconnects then (see `_listed_balance`)
        self._start_balances: asyncio.Task[tuple[dict[int, Decimal], tuple[int, int]]] | None
        self._start_balances = None

    # -- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start, serve until `stop()`, shut down cleanly. Raises on a broken start, and after
        the shutdown when the main loop failed (a supervisor must see a failure, not exit 0)."""
        logger.info("{} pid-lock {}", logs.SERVICE_START, self.store.where)
        self.store.acquire_service_lock()
        try:
            await self._start()
            await self.stopping.wait()
        except StoppedStarting:
            logger.info("{} stopped before the gateway took the login", logs.SERVICE_STOP)
        except Exception as exc:
            if not self.serving.is_set():  # (the notifier tells it as it stops, below)
                why = logs.mask(str(exc) or repr(exc))
                self.observe(StartFailed(why, guarded=isinstance(exc, AlreadyGuarded)))
            raise
        finally:
            await self._shutdown()
        if self.failure is not None:
            raise FsmRiskError(f"the event loop failed: {self.failure!r}")

    def stop(self) -> None:
        self.stopping.set()

    def _start_waits(self, why: str) -> None:
        """A try of the login failed (the gateway in trouble): the service manager hears that
        the start goes on, and why, instead of timing the start out (``TimeoutStartSec``)."""
        self.notifier.extend_start(START_GRACE)
        self.notifier.status(f"NOT ENFORCING: {why}; logging in again")
        if not self.hubs_opened:  # (the hubs' opening after it is tried again the same way)
            self.observe(LoggingIn(why, step="hubs" if self.logged_in else "login"))

    async def _unless_stopped[T](self, step: Awaitable[T]) -> T:
        """A step of the start that waits out a gateway in trouble, given up (`StoppedStarting`)
        when the service is stopped meanwhile."""
        start = asyncio.ensure_future(step)
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({start, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not start.done():
                start.cancel()
                await asyncio.gather(start, return_exceptions=True)
        if start.cancelled():
            raise StoppedStarting
        return start.result()

    def _compact_fills(self, now: datetime) -> None:
        """Drop the fills older than ``[general] fill_retention_days`` (none when 0)."""
        days = self.settings.general.fill_retention_days
        cutoff = fill_cutoff(self.engine.calendar, now, days)
        if cutoff is not None:
            dropped = self.store.compact_fills(cutoff)
            if dropped:
                logger.info("{} fill(s) before {} compacted", dropped, cutoff.isoformat())

    async def _restore_later(
        self, later: list[StoredAccount], now: datetime, effects: list[Effect], restored: list[int]
    ) -> tuple[list[Effect], list[int]]:
        """Restore the accounts held back for a reset missed while stopped, that reset valued
        at the gateway's prices at it (`_reset_prices`), after the others; journal the restore
        with those prices (a replay restores in the same order, at the same prices)."""
        prices = await self._reset_prices(later, now) if later else {}
        more, ids = restore_all(self.store, self.engine, now, stored=later, at_reset=prices)
        self.journal.call(now, RESTORE, journal_prices(prices))
        return [*effects, *more], [*restored, *ids]

    async def _reset_prices(
        self, stored: list[StoredAccount], now: datetime
    ) -> dict[datetime, dict[str, Decimal]]:
        """The price of each contract held across a reset missed while stopped, at that
        reset: the close of the gateway's last one-minute bar ending at or before it, one read
        per contract and reset (shared by every account holding it), through the read budget.
        A price not read leaves the positions valued at the prices last known before the stop,
        with a warning naming the contract and the reset."""
        cal = self.engine.calendar
        wanted = sorted({pair for s in stored for pair in missed_resets(cal, s.snapshot, now)})
        return await self._read_prices(
            wanted, now, "the positions held across it carry their open P&L at the prices last "
            "known before the stop",
        )  # fmt: skip

    async def _prices_at_reset(self, account_id: int, fills: Sequence[Fill]) -> list[Event]:
        """For an account a restore caught up with resets missed while stopped, at its start-up
        read: the gateway's price at each of them of the contracts the read's trades (``fills``)
        say it held then, though it held none at the stop (opened while stopped), as the event
        to apply before those trades (see `core.missed`). Read as `_reset_prices` reads them;
        one not read values that position at its last trade before the reset."""
        acct = self.engine.accounts.get(account_id)
        missed = None if acct is None else acct.missed
        if acct is None or missed is None:
            return []
        wanted = missed.wanted(acct, fills)
        if not wanted:
            return []
        prices = await self._read_prices(
            wanted, self.clock.now(), f"account {account_id}'s position opened while stopped "
            "and held across it carries its open P&L at its last trade before the reset",
        )  # fmt: skip
        found = [PriceAt(at, c, p) for at, by in sorted(prices.items()) for c, p in by.items()]
        return [PricesAtReset(account_id, tuple(found))] if found else []

    async def _live_reset_prices(self, e: ReadResetPrices) -> None:
        """The gateway's price at a live reset of each contract an account held across it
        that the engine learned of only after it (see `core.uncarried`), as the engine's
        answer (always one, so that it asks again; a price not read is left out of it)."""
        prices: dict[datetime, dict[str, Decimal]] = {}
        try:
            prices = await self._read_prices(
                list(e.wanted), self.clock.now(), f"account {e.account_id}'s position learned "
                "of after the reset carries its open P&L at the price last known if a gain, "
                "else nothing",
            )  # fmt: skip
        finally:
            found = [PriceAt(at, c, p) for at, by in sorted(prices.items()) for c, p in by.items()]
            self.submit(PricesAtReset(e.account_id, tuple(found)))

    def _read_from(self, account_id: int) -> datetime:
        """Where a reconciliation's trades begin: the week's start (or the day's, if earlier)
        and, while the trades made since a stop across a missed reset are to be read (see
        `core.missed`), the stop, so that every trade made while stopped is listed."""
        acct = self.engine.accounts[account_id]
        since = min(acct.week.start, acct.day.start)
        missed = acct.missed
        if missed is not None and missed.stop is not None:
            since = min(since, missed.stop)
        return since

    async def _read_prices(
        self, wanted: list[tuple[datetime, str]], now: datetime, fallback: str
    ) -> dict[datetime, dict[str, Decimal]]:
        """The gateway's price at each (reset, contract) ``wanted``, within `MAX_RESET_READS`
        reads and `RESET_READS_SECONDS`; each one not read is a warning naming the contract,
        the reset, why, and what stands in for it (``fallback``)."""
        cal = self.engine.calendar
        weekly = cal.last_weekly_reset(now)
        prices: dict[datetime, dict[str, Decimal]] = {}
        loop = asyncio.get_running_loop()
        # nothing is enforced until these are done: a read the gateway refuses (the SDK
        # sleeps a minute on a 429) or that is slow must not hold every account
        deadline = loop.time() + RESET_READS_SECONDS
        stopped: str | None = None
        for n, (at, cid) in enumerate(wanted):
            which = "weekly" if at == weekly else "daily"
            price, why = None, "the gateway has no bar before it"
            left = deadline - loop.time()
            if n >= MAX_RESET_READS:
                why = f"more than {MAX_RESET_READS} prices to read at start-up"
            elif stopped is not None:
                why = stopped
            elif left <= 0:
                why = f"the reads at start-up took over {RESET_READS_SECONDS:g} s"
            else:
                try:
                    price = await asyncio.wait_for(self.broker.price_before(cid, at), left)
                except TimeoutError:
                    why = stopped = f"no answer within {RESET_READS_SECONDS:g} s"
                except Exception as exc:  # a read like any other: the fallback is safe
                    why = stopped = f"the read failed: {exc}"
            if price is None:
                logger.warning(
                    "{} the price of {} at the {} reset {} is unknown ({}): {}",
                    logs.FEED, cid, which, at.isoformat(), why, fallback,
                )  # fmt: skip
                continue
            prices.setdefault(at, {})[cid] = price
            logger.info(
                "{} {} was {} at the {} reset {} missed while stopped",
                logs.FEED, cid, price, which, at.isoformat(),
            )  # fmt: skip
        return prices

    async def _start(self) -> None:
        from fsm_risk import reload

        now = self.clock.now()
        self.journal.restart(now)
        file = self.settings
        startup_note, effective, held = self._settings_in_force(now)
        # the rules in force (a looser file waits for the reset: the stricter stored ones run)
        rules = ", ".join(f"{r.id} {r.name}" for r in self.engine.rules)
        logger.info("{} {} rules: {}", logs.SETTINGS_LOADED, len(self.engine.rules), rules)
        self._note_unknown_roots(file)
        if self.auth is not None and not self.auth.configured:
            # a lock only the admin ends is only as strong as the admin secret: with none,
            # whoever sets one first is the admin (the trader, where they can run fsm-risk)
            logger.warning(
                "{} no admin secret is set: whoever runs 'fsm-risk admin set-secret' first "
                "becomes the admin and can end any lock; set it now",
                logs.ALERT,
            )
        # a shared server holds other services' accounts too: restore only ours, once leased.
        # Otherwise the stored accounts are read back on a thread while the broker logs in:
        # nothing else touches the engine or the store until both are done
        # (an account holding positions across a reset missed while stopped waits for the
        # gateway's price at that reset: `_restore_later`). Nothing is written before the
        # login's answers have shown the gateway's clock (`_clock_agrees`): the restore's
        # catch-up (locks ended, a new day, a loosening applied) is this machine's clock's
        later: list[StoredAccount] = []
        restoring = (
            None
            if self.store.shared
            else asyncio.ensure_future(
                asyncio.to_thread(restore_all, self.store, self.engine, now, later=later)
            )
        )
        self.observe(LoggingIn())  # (the notifier tells a login that takes long)
        try:
            # its login, tried again while the gateway is in trouble, and the account list
            accounts = await self._unless_stopped(self.broker.start())
        except BaseException:
            if restoring is not None:  # the thread ends before the login's failure is raised
                await asyncio.wait([restoring])
                if not restoring.cancelled():
                    restoring.exception()  # (read: the failure raised is the login's)
            raise
        self.logged_in = True
        self.observe(LoggingIn(step="hubs"))  # (nothing enforced until the hubs open)
        effects: list[Effect] = []
        restored: list[int] = []
        if restoring is not None:
            effects, restored = await restoring
        self._clock_agrees()
        # (a database opened read-only refuses it: said, and the service enforces all the same)
        self._keep_settings(reload.raw_of(effective), held, file.calendar())
        self._compact_fills(now)
        if restoring is not None:
            effects, restored = await self._restore_later(later, now, effects, restored)
            logger.info("{} {} account(s) restored", logs.MACHINES_RESTORED, len(restored))
        self._all_named(self.broker.listed)
        if not accounts:
            raise FsmRiskError("the gateway lists no active account to monitor")
        self.account_ids = [a.account_id for a in accounts]
        if self.store.shared:
            self.store.acquire_leases(self.account_ids)
        if self.account_locks is not None:  # before anything is sent for these accounts
            self.account_locks.take(self.account_ids)
        # an account left out of the file while locked stays monitored: its lock holds
        kept = self._still_restricted(accounts, now)
        self.broker.also_monitor(a.account_id for a in kept)
        accounts = [*accounts, *kept]
        self.account_ids = [a.account_id for a in accounts]
        if self.store.shared:
            only = self.account_ids
            effects, restored = restore_all(self.store, self.engine, now, only, later=later)
            effects, restored = await self._restore_later(later, now, effects, restored)
            logger.info("{} {} account(s) restored", logs.MACHINES_RESTORED, len(restored))
            self._spawn(self._keep_leases(), "leases")
        names = ", ".join(f"{a.account_id} {a.name}" for a in accounts)
        logger.info("{} monitoring {}", logs.GATEWAY_CONNECTED, names)
        self._lost_before()
        self._had_state = any(a not in self.unstored for a in self.engine.accounts)
        # the first start, on the later of the two clocks: one set back before it hides no trade
        behind = -(self.broker.gateway_clock.ahead() or 0.0)
        first = now + timedelta(seconds=behind if behind > TOLERANCE else 0.0)
        for a in accounts:
            if a.account_id not in self.engine.accounts:
                self.engine.add_account(a.account_id, a.name, now)
                self.journal.start(a.account_id, a.name, now)
                self.unstored.add(a.account_id)  # its trades this week say whether it is new
                self._meta_due[PENDING_PREFIX + str(a.account_id)] = first.isoformat()
                self._first_start[a.account_id] = first
        if startup_note:
            self.journal.call(now, NOTE, "system", startup_note)
            effects.extend(self.engine.note_settings(now, actor="system", detail=startup_note))
        effects = self._gate(effects)
        self._commit(effects)
        self._execute(effects)
        self._spawn(self._beat(), "beats")
        consumer = self._spawn(self._consume(), "consumer")
        consumer.add_done_callback(self._consumer_died)
        # the contract list first (one read, at once: ahead of the start-up reads in the
        # budget), so that a listed contract is known when its first position is read
        self._spawn(self.contracts.keep(self.stopping), "contracts", at_once=True)
        self.reconciler.start()
        # every account is in line at once, the urgent ones first (the start-up read of the
        # others' positions needs no hub); each account's snapshot is taken once its hubs are
        # subscribed (nothing falls between the snapshot and the live feed), and each enforces
        # as soon as its own reconciliation is done: the service does not wait for all of them
        # (at the gateway's request budget that takes minutes)
        order = sorted(self.account_ids, key=self._start_order)
        subscribed = asyncio.Event()  # every account's (the balances are listed after)
        self._start_balances = self._spawn(self._list_balances(subscribed), "balances")
        for account_id in order:
            self._subscribed.setdefault(account_id, asyncio.Event())
            self.reconciler.request(account_id)
        await self._unless_stopped(
            self.broker.open_realtime(
                order,
                on_open=lambda account_id: self._subscribed[account_id].set(),
            )
        )
        self.hubs_opened = True
        self.observe(LoggingIn(done=True, step="hubs"))
        subscribed.set()
        self._sync_watches()  # quotes for what is held, now that the market hub exists
        self._spawn(self._all_reconciled(), "readiness")
        self._spawn(self.scheduler.run(), "scheduler")
        self._spawn(self._keep_saving(), "saving")
        self._spawn(self._linger(), "linger")
        self._spawn(self._watchdog(), "watchdog")
        self._spawn(self.pricer.run(self.stopping), "pricer")
        if self.poll_interval > 0:
            self._spawn(self._poll_state(), "poll")
        if self.control_path:
            from fsm_risk.adapters.control import ControlServer

            self._control = ControlServer(self, self.control_path, **self.control_options)
            await self._control.start()
        logger.info(
            "{} {} account(s), {} rule(s), database {}",
            logs.EVENT_LOOP_RUNNING,
            len(self.account_ids),
            len(self.engine.rules),
            self.store.where,
        )
        for component in self.components:
            await component.start(self)
        self.serving.set()
        # the service manager hears "started" now (a slow reconciliation must not time the
        # start out); which accounts enforce is per account, in `status` and /readyz
        self.notifier.ready(self._readiness_text())
        if self.notifier.watchdog_interval is not None:
            self._spawn(self._pet_watchdog(self.notifier.watchdog_interval), "sd-watchdog")

    def _readiness_text(self) -> str:
        n, total = len(self.known & set(self.account_ids)), len(self.account_ids)
        if n == total:
            return f"enforcing {total} account(s)"
        return f"enforcing {n} of {total} account(s), reconciling the rest"

    async def _all_reconciled(self) -> None:
        """Set `ready` once every monitored account is reconciled (an account whose
        reconciliation failed is retried until it is)."""
        began = asyncio.get_running_loop().time()
        while not all(self._caught_up(a) for a in self.account_ids):
            changed = asyncio.Event()
            self._waiters.append(changed)  # woken after every handled batch (see `_changed`)
            await changed.wait()
        seconds = asyncio.get_running_loop().time() - began
        logger.info(
            "{} all {} account(s) reconciled in {:.1f} s",
            logs.FEED,
            len(self.account_ids),
            seconds,
        )
        self._warn_rebuilt_peaks()
        # what start-up built (the SDK, the restored state) lives as long as the process: out
        # of the collector's sight, a full collection no longer walks it (one took 70-260 ms,
        # landing in front of whichever close was being handled)
        gc.freeze()
        self.ready.set()
        if self.serving.is_set():
            self.notifier.status(self._readiness_text())

    def _warn_rebuilt_peaks(self) -> None:
        """RULE-004's peaks seeded at this start with no stored peak and no starting balance,
        from the week's trades the gateway lists: the firm's own peak may be higher."""
        for rule in self.engine.rules:
            if not isinstance(rule, TrailingDrawdown) or rule.config.starting_balance is not None:
                continue
            for account_id in self.account_ids:
                acct = self.engine.accounts.get(account_id)
                memo = acct.rule_state.get(rule.id) if acct is not None else None
                if memo is not None and "rebuilt" in memo:
                    logger.warning(
                        "{} account {}: {}'s peak {} was rebuilt from the week's trades (no "
                        "stored peak, starting_balance empty): the firm's own may be higher; "
                        "set starting_balance",
                        logs.ALERT,
                        account_id,
                        rule.id,
                        f"{Decimal(memo['peak']):.2f}",
                    )

    def readiness(
        self,
        account_id: int,
        stuck: Container[int] | None = None,
        failing: Container[int] | None = None,
        cancels: Container[int] | None = None,
    ) -> str:
        """'ready' (reconciled: enforcing), 'enforcing' (its positions and working orders
        are reconciled and enforced, its trades are still to be read: the limits on realized
        P&L wait for them), else what it waits for: 'reconciling' (running now), 'queued' or
        'retrying' (its last try failed); 'login refused' while the gateway refuses the
        service's token (it is logging in again); reconciled but not enforcing as it should:
        'close not confirmed' (a close unconfirmed longer than a close timeout, see
        `unconfirmed_closes`), 'cancel not confirmed' (a cancel of an order that would open
        or add to a position in a locked scope, see `unconfirmed_cancels`) or 'reads
        failing' (see `reads_failing`). Live events of an
        account not enforcing yet are applied as they come; only its enforcement waits (see
        `_gate`). 'feed down' while its user hub or the market hub is disconnected (once the
        feeds were opened): its records and quotes are not heard (/readyz says so too).
        What holds the whole service back holds each account back, as /readyz says it
        (`verdict`): 'stopping' (the event loop's consumer ended or stopping), 'feed blind' (a
        record kind refused one after another: the rules judging it see nothing), 'state not
        saved' (the database refuses writes: what it enforces would not survive a restart).
        ``stuck``, ``failing`` and ``cancels``: those, when the caller has them already."""
        health = self.broker.health
        if not health.authenticated:
            return "login refused"  # blind: nothing it reads or hears is true any more
        if self.serving.is_set() and not (
            health.market_connected and health.user_connected.get(account_id, True)
        ):
            return "feed down"  # reconnecting: its records and quotes are not heard meanwhile
        # what holds every account back (/readyz's checks of the whole service, `verdict`)
        if self._stopped():
            return "stopping"
        if health.blind:
            return "feed blind"
        if self.unsaved_since is not None:
            return "state not saved"
        if account_id in self.known:
            if account_id in (self.unconfirmed_closes() if stuck is None else stuck):
                return "close not confirmed"
            if account_id in (self.unconfirmed_cancels() if cancels is None else cancels):
                return "cancel not confirmed"
            if account_id in (self.reads_failing() if failing is None else failing):
                return "reads failing"
            return "ready" if self._caught_up(account_id) else "enforcing"
        found = self.reconciler.state(account_id)
        if found == "running":
            return "reconciling"
        return "queued" if found == "queued" else "retrying"

    def verdict(self) -> tuple[bool, dict[str, bool]]:
        """Whether the service enforces as it should, and each check of it: the one answer of
        /readyz, `status` (text and ``--json``'s ``enforcing``), /metrics' ``ready`` and the
        dashboard. Connected to every feed, its session token accepted by the gateway (while
        it is refused the service is blind: not enforcing), no record kind blind (its records
        refused one after another: the rules judging them see nothing), its state saved (a
        database refusing writes: what it enforces would not survive a restart), every
        account reconciled since start (an account still waiting is not enforced yet), every
        close confirmed within a close timeout (one going unconfirmed longer, waiting for the
        request budget or for the read that decides whether to re-send it, is not enforcing),
        every cancel of an order that would open or add to a position in a locked scope
        confirmed within a close timeout (one refused or unanswered longer: it may fill),
        every account's reads answered (its reconciliations failing one after another: its
        state at the gateway unconfirmed, see `reads_failing`), enforcing (the event loop's
        consumer alive and not stopping), every account the settings name that the gateway
        lists monitored (`relisted`). A contract without quotes for a while is not in
        it: a market standing still or closed is quiet too."""
        health = self.health()
        connected = bool(health["market_hub"]) and all(health["user_hub"].values())
        authenticated = bool(health["authenticated"])
        checks = {
            "connected": connected,
            "authenticated": authenticated,
            "feed_complete": not health["blind"],
            "state_saved": self.unsaved_since is None,
            "reconciled": self.ready.is_set(),
            "closes_confirmed": not self.unconfirmed_closes(),
            "cancels_confirmed": not self.unconfirmed_cancels(),
            "reads_answered": not self.reads_failing(),
            "enforcing": self._consuming() and authenticated,
            "named_monitored": not self.relisted(),
        }
        return all(checks.values()), checks

    def _consumer(self) -> asyncio.Task[Any] | None:
        return next((t for t in self._tasks if t.get_name() == "consumer"), None)

    def _consuming(self) -> bool:
        """The event loop's consumer alive and the service not stopping."""
        consumer = self._consumer()
        return consumer is not None and not consumer.done() and not self.stopping.is_set()

    def _stopped(self) -> bool:
        """Stopping, or the event loop's consumer ended (not: not started yet)."""
        consumer = self._consumer()
        return self.stopping.is_set() or (consumer is not None and consumer.done())

    def enforcing(self) -> set[int]:
        """The monitored accounts enforcing as they should (`readiness` 'ready' or
        'enforcing'): one truth for `status`, /readyz, /metrics and the dashboard."""
        stuck, failing = self.unconfirmed_closes(), self.reads_failing()
        cancels = self.unconfirmed_cancels()
        return {
            a
            for a in self.account_ids
            if self.readiness(a, stuck, failing, cancels) in ("ready", "enforcing")
        }

    def _read_outcome(self, account_id: int, error: Exception | None) -> None:
        """A reconciliation ended (None: it read the gateway): count the failures in a row
        and keep the last success (see `reads_failing`); the end of the alarm is logged."""
        if error is None:
            self._lost(account_id)
            was = self.reads_failing().get(account_id)
            self._reads_failed.pop(account_id, None)
            self._read_ok[account_id] = (self.clock.now(), time.monotonic())
            if was is not None:
                logger.info(
                    "{} account {}: the gateway's reads answered again (not confirmed since {})",
                    logs.FEED,
                    account_id,
                    was.since.isoformat(timespec="seconds"),
                )
            return
        first, n, _ = self._reads_failed.get(account_id, (self.clock.now(), 0, ""))
        self._reads_failed[account_id] = (first, n + 1, type(error).__name__)
        acct = self.engine.accounts.get(account_id)
        if acct is not None and waiting(acct):  # its trades unread: the engine's grace runs
            self.submit(Tick(account_id, unread=True))
        if n + 1 == READS_FAILING_AFTER:
            logger.error(
                "{} account {}: the gateway's reads have failed {} times in a row ({}): its "
                "state at the gateway is not confirmed",
                logs.ALERT,
                account_id,
                n + 1,
                type(error).__name__,
            )

    def _lost_before(self) -> None:
        """The starts with no stored state an earlier run found (still shown: their week has
        not ended), and those it stored without deciding (`PENDING_PREFIX`: decided at this
        run's first complete read of their trades)."""
        now = self.clock.now()
        for key in self.store.meta_keys(PENDING_PREFIX):
            try:
                account_id = int(key[len(PENDING_PREFIX) :])
                self.unstored.add(account_id)
                first = datetime.fromisoformat(self.store.meta(key) or "")
                if first.tzinfo is None:  # (no offset: no instant to compare the trades with)
                    raise ValueError(key)
                self._first_start[account_id] = first
            except ValueError:
                logger.error("{} unreadable {} note in the database", logs.ALERT, key)
        for key in self.store.meta_keys(META_PREFIX):
            raw = self.store.meta(key)
            try:
                note = LostState.from_dict(json.loads(raw or ""))
            except (ValueError, KeyError, TypeError):
                logger.error("{} unreadable {} note in the database", logs.ALERT, key)
                continue
            if shown(note, now):
                self.lost[note.account_id] = note

    def lost_now(self) -> dict[int, LostState]:
        """The starts with no stored state still shown (`_lost`), by account."""
        now = self.clock.now()
        return {a: note for a, note in self.lost.items() if shown(note, now)}

    def _taken_over(self) -> TakeOver | None:
        """The last take-over of the admin secret (`admin set-secret --take-over`, run by a
        command while this service may run): read when `status` shows a lost state."""
        try:
            return read_take_over(self.store.meta(TAKEN_OVER_KEY))
        except Exception as exc:  # (a database refusing the read: status says what it knew)
            logger.warning("the admin secret's take-over could not be read: {}", exc)
            return None

    def _lost(self, account_id: int) -> None:
        """An account started with no stored state, its trades this week now read: when the
        gateway lists any, its database was lost or replaced (see `fsm_risk.core.lost`): a
        CRITICAL alert, kept in the database and shown by `status` until the week ends."""
        acct = self.engine.accounts.get(account_id)
        if account_id not in self.unstored or acct is None or not self._caught_up(account_id):
            return
        self.unstored.discard(account_id)
        pending = PENDING_PREFIX + str(account_id)
        try:
            held = self.store.admin() is not None and not self._had_state
        except Exception:  # (unreadable: taken as held, the safe side)
            held = True
        first = self._first_start.get(account_id)
        note = lost_state(acct, self.clock.now(), secret_held=held, first=first)
        try:
            if note is not None:
                self.store.set_meta(META_PREFIX + str(account_id), json.dumps(note.to_dict()))
                if held:  # (maybe set on the new file before we ever opened it)
                    self.store.set_meta(UNTRUSTED_KEY, note.at.isoformat())
            self._meta_due.pop(pending, None)
            if self.store.pending is not None:  # (a commit still waiting to be written)
                self.store.pending.meta.pop(pending, None)
            self.store.set_meta(pending, None)  # decided (the note first: never neither)
        except Exception as exc:  # a database refusing it: shown in this run all the same
            logger.error("{} the lost-state check is not saved: {}", logs.ALERT, exc)
        if note is None:
            return
        self.lost[account_id] = note
        alert = Alert(Level.CRITICAL, Reason.STATE_LOST, note.text, account_id)
        logger.critical("{} {}: {}", logs.ALERT, Reason.STATE_LOST.name, note.text)
        self.observe(Committed([], [alert], self.clock.now()))

    def reads_failing(self) -> dict[int, ReadsFailing]:
        """The accounts whose reads of the gateway keep failing: `READS_FAILING_AFTER`
        reconciliations failed in a row, or, with periodic reads on, none answered for
        `READS_STALE_INTERVALS` reconcile intervals (held back by a full request window, or
        hung: nothing fails, nothing is confirmed). Their state at the gateway is not
        confirmed: the feed shows degraded naming them, and they are not ready (/readyz,
        metrics, `status`, the dashboard)."""
        ids = set(self.account_ids)
        out: dict[int, ReadsFailing] = {}
        for a, (first, n, error) in self._reads_failed.items():
            if a in ids and n >= READS_FAILING_AFTER:
                ok = self._read_ok.get(a)
                out[a] = ReadsFailing(ok[0] if ok else first, n, error)
        if self.poll_interval > 0:
            stale = time.monotonic() - READS_STALE_INTERVALS * self.poll_every()
            for a, (at, mono) in self._read_ok.items():
                if a in ids and a not in out and mono < stale:
                    failed = self._reads_failed.get(a)
                    n, error = (failed[1], failed[2]) if failed else (0, None)
                    out[a] = ReadsFailing(at, n, error)
        return out

    def _caught_up(self, account_id: int) -> bool:
        """Reconciled since start, trades included (not `behind`)."""
        acct = self.engine.accounts.get(account_id)
        return account_id in self.known and not (acct is not None and acct.behind is not None)

    async def _keep_leases(self, every: float = 5.0) -> None:
        """On a shared server, check the account leases; losing one to another service stops
        this one (two services never enforce on one account)."""
        while True:
            await asyncio.sleep(every)
            try:
                # off the loop: a server that does not answer holds the check up, not the
                # enforcement (a connection made again waits up to its connect timeout)
                await asyncio.to_thread(self.store.renew_leases)
            except FsmRiskError as exc:
                logger.critical("{} {}; stopping", logs.ALERT, exc)
                self.stopping.set()
                return
            except Exception as exc:  # the server is unreachable: keep trying, say so
                logger.error("{} the account leases cannot be checked: {!r}", logs.ALERT, exc)

    async def _keep_saving(self, every: float = SAVE_RETRY_SECONDS) -> None:
        """While the database refuses writes, write what waits every ``every`` seconds (each
        unit of work meanwhile joins what waits, `Store.commit`): an account with nothing new
        is saved once it is back."""
        while True:
            await asyncio.sleep(every)
            lost = self.store.file_lost()
            if lost is not None and self.unsaved_since is None:  # said even with nothing new
                self._not_saved(StorageFailed(self.store.where, str(FileLost(lost))))
            if self.store.pending is not None:
                self._commit([])
            elif lost is None and self.unsaved_since is not None:
                self._saved_again()  # the file is back, and nothing waited to be written
            if self._settings_unsaved is not None:
                self._keep_settings(*self._settings_unsaved)

    async def _pet_watchdog(self, every: float) -> None:
        """Pet the service manager's watchdog from the event loop while the consumer keeps up:
        a blocked loop, or events waiting on a stuck consumer, stop the pets and systemd
        restarts the service."""
        seen = -1
        while True:
            handled = self.events_seen + self.malformed
            if self.queue.empty() or handled != seen:
                self.notifier.watchdog()
            seen = handled
            await asyncio.sleep(every)

    def _unexplained_close(self, ev: PositionUpdate) -> bool:
        """A live update closing a position that no fill explains (yet): it is confirmed over
        REST before monitoring of that position ends (a forged record must not end it)."""
        if ev.snapshot or ev.signed != 0:
            return False
        acct = self.engine.accounts.get(ev.account_id)
        return (
            acct is not None
            and ev.contract_id in acct.positions
            and bool(acct.net.get(ev.contract_id, 0))
        )

    def _all_named(self, listed: list[AccountUpdate]) -> None:
        """Every account the settings name must be at the gateway: none is silently unwatched.
        A name no account ever had (a typo) refuses the start; one of an account the firm
        closed (`closed`) is said loudly and the others are monitored."""
        named = self.settings.general.accounts
        closed = self.closed(named)
        problem = _unlisted(named, listed, closed)
        if problem:
            raise FsmRiskError(problem)
        self.unlisted_at_start = closed
        for name in closed:
            logger.critical(
                "{} [general] accounts names {}, which the gateway no longer lists as an active "
                "account (closed?): it is not monitored; the others are",
                logs.ALERT,
                name,
            )

    def relisted(self) -> list[str]:
        """The names of `unlisted_at_start` the gateway lists as active again (each listing
        of the accounts, as the reconciliations read them, says): a listing that missed an
        active account at the start leaves it unmonitored, its lock unenforced, until a
        restart. Not enforcing as it should (`verdict`), and said once (`_tell_relisted`)."""
        if not self.unlisted_at_start:
            return []
        listed = self.broker.listed
        return [n for n in self.unlisted_at_start if n not in _missing([n], listed)]

    def _tell_relisted(self) -> None:
        for name in self.relisted():
            if name not in self._told_relisted:
                self._told_relisted.add(name)
                logger.critical(
                    "{} [general] accounts names {}, which the gateway lists as an active "
                    "account again: it is NOT monitored; restart fsm-risk to monitor it",
                    logs.ALERT,
                    name,
                )

    def closed(self, names: Sequence[str]) -> list[str]:
        """Those of ``names`` (accounts' ids or names, as configured) of an account the database
        holds that the gateway no longer lists as active (the firm closed it). Refusing the
        start for one would leave every other account's lock unenforced. A name of a stored
        account the gateway still lists under another name (renamed) is not: left
        unmonitored, that active account would trade unwatched."""
        listed, known = self.broker.listed, self.store.account_names()
        active = {a.account_id for a in listed}

        def gone(n: str) -> bool:
            ids = {i for i, m in known if n in (str(i), m)}
            return bool(ids) and not ids & active

        return [n for n in _missing(names, listed) if gone(n)]

    def _still_restricted(
        self, monitored: Sequence[AccountUpdate], now: datetime
    ) -> list[AccountUpdate]:
        """The accounts the database holds under a restriction not ended yet (a lock, a
        cooldown, a flatten: `restricted.restriction`) that ``monitored`` (what
        ``[general] accounts`` names) leaves out, as the gateway lists them: they stay
        monitored until it ends (a start after it may leave them out), each said once. On a
        shared database, only those no other live service holds (that one enforces them),
        each leased here. One the gateway no longer lists cannot be monitored: said too."""
        ours = {a.account_id for a in monitored}
        listed = {a.account_id: a for a in self.broker.listed}
        if self.store.shared:
            names = dict(self.store.account_names())
            others = [i for i in names if i not in ours]
            held = set(self.store.leased(others))  # another service enforces those
            machines = self.store.machines(i for i in others if i not in held)
        else:  # every stored account is restored already, its ended locks released
            names = {i: a.name for i, a in self.engine.accounts.items()}
            machines = {i: scopes(a) for i, a in self.engine.accounts.items() if i not in ours}
        kept = []
        for account_id, found in sorted(machines.items()):
            held_under = restriction(found, now)
            if held_under is None:
                continue
            name = listed[account_id].name if account_id in listed else names.get(account_id)
            what = self._restricted_text(account_id, name, held_under)
            if account_id not in listed:
                logger.warning(
                    "{} {}: the gateway no longer lists it as an active account, so it cannot "
                    "be monitored",
                    logs.ALERT,
                    what,
                )
                continue
            refused = self._take_kept(account_id)
            if refused is not None:  # another service monitors it: that one enforces it
                logger.warning("{} {}: not monitored here: {}", logs.ALERT, what, refused)
                continue
            logger.warning("{} {}: {}", logs.ALERT, what, KEPT)
            self._told_kept.add(account_id)
            kept.append(listed[account_id])
        return kept

    def _take_kept(self, account_id: int) -> str | None:
        """Take an account kept for its restriction as the service's own (this machine's
        account lock, a shared database's lease); None, or why another service has it."""
        locks = self.account_locks
        try:
            if locks is not None:
                locks.take([account_id])
            self.store.acquire_leases([account_id])  # (nothing to take on SQLite)
        except FsmRiskError as exc:
            if locks is not None:
                locks.give_back(account_id)
            return str(exc)
        return None

    def _restricted_text(self, account_id: int, name: str | None, held: Restriction) -> str:
        """'account 1002 (PAPER-2) is LockedDaily until Fri 2026-12-04 17:00 CST'."""
        named = f" ({name})" if name else ""
        return f"account {account_id}{named} is {held.describe(self.engine.settings.when)}"

    def _kept_at_reload(self, file: Settings, now: datetime) -> list[str]:
        """The monitored accounts a reloaded file's ``[general] accounts`` leaves out that are
        under a restriction not ended yet: the next start keeps them monitored too (said
        once in the log, in every reply)."""
        named = {a.strip() for a in file.general.accounts if a.strip()}
        lines = []
        for account_id in self.account_ids if named else []:
            acct = self.engine.accounts.get(account_id)
            if acct is None or {str(account_id), acct.name} & named:
                continue
            held = restriction(scopes(acct), now)
            if held is None:
                continue
            line = f"{self._restricted_text(account_id, acct.name, held)}: {KEPT}"
            if account_id not in self._told_kept:
                logger.warning("{} {}", logs.ALERT, line)
                self._told_kept.add(account_id)
            lines.append(line)
        return lines

    def _startable(self, file: Settings) -> None:
        """Refuse a reloaded file the next start would refuse (an account the gateway does not
        list, alerts for an account that would not be monitored): a reload that answers "read
        at the next start" must not leave a file the service cannot start with after a reboot."""
        listed = self.broker.listed
        named = file.general.accounts
        closed = self.closed([*named, *file.notify_accounts])
        problems = [p for p in (_unlisted(named, listed, closed),) if p]
        would = [a for a in listed if not named or {str(a.account_id), a.name} & set(named)]
        keys = {str(a.account_id) for a in would} | {a.name for a in would}
        there = ", ".join(f"{a.account_id} {a.name}" for a in would) or "none"
        problems += [
            f"[notify.{key}]: no account the service would monitor has this id or name "
            f"(it would monitor: {there})"
            for key in file.notify_accounts
            if key not in keys and key not in closed
        ]
        if problems:
            text = "; ".join(problems)
            logger.error("{} reload refused, nothing changed: {}", logs.ALERT, text)
            raise FsmRiskError(
                f"settings not reloaded, nothing changed: {text} (the next start would refuse it)"
            )

    # -- settings in force: stricter at once, looser at the next daily reset ---------------------

    def _settings_in_force(self, now: datetime) -> tuple[str | None, Settings, Any]:
        """At start-up: enforce the stored settings, with the file's stricter values; its looser
        ones are staged for the next daily reset. Returns the audit text of a change, and the
        settings in force and the held loosening for `_keep_settings` (written once the
        gateway's clock has not contradicted ``now``)."""
        from fsm_risk import reload

        before = reload.Keeper(self.store, self.group).pending()
        effective, held, plan = reload.resolve(self.settings, self.store, now)
        self._use(effective, held, now, detail="start-up")  # no account loaded yet: no audit
        if plan is None or not (plan.tightened or plan.held or plan.apart):
            return None, effective, held
        text = reload.describe(plan, held, self.settings.display_timezone)
        logger.warning("{} settings at start-up: {}", logs.SETTINGS_LOADED, text)
        if plan.apart:  # the records of the groups its accounts were in disagree
            logger.critical("{} settings at start-up: {}", logs.ALERT, text)
        again = (
            before is not None
            and held is not None
            and not plan.tightened
            and (before.held, before.applies_at) == (held.held, held.applies_at)
        )
        if again:  # the same loosening, held as before: audited when it was held
            return None, effective, held
        reason = Reason.SETTINGS_TIGHTENED if plan.tightened else Reason.SETTINGS_LOOSENED
        return f"{reason.name}: at start-up: {text}", effective, held

    def _clock_agrees(self) -> None:
        """Refuse the start when this machine's clock is far ahead of the gateway's (by the
        Date of the login's answers; see `gateway_clock.AHEAD_LIMIT`). Checked before anything
        is written: the restore's catch-up (locks ended, a new trading day, a held loosening
        applied) stays in memory, and the stop writes nothing (`refused`)."""
        why = self.broker.gateway_clock.refusal()
        if why is None:
            return
        self.start_refused = why
        logger.critical("{} start refused: {}", logs.ALERT, why)
        raise FsmRiskError(why)

    def _use(
        self, effective: Settings, held: Any, now: datetime, *, actor: str = "system", detail: str
    ) -> list[Effect]:
        """Enforce ``effective``'s rules from now on (audited) and stage ``held`` for its reset."""
        ctx = RiskEngine.context(self.engine.settings, self.engine.instruments, self.engine.marks)
        self.settings = effective
        self._stage(held, now)
        self.journal.call(now, RULES, effective.raw_rules, actor, detail)
        return self.engine.replace_rules(
            effective.build_rules(ctx), now, actor=actor, detail=detail
        )

    def _stage(self, held: Any, now: datetime) -> None:
        """Stage a held loosening (a `reload.Pending`) for its daily reset; None: nothing."""
        from fsm_risk import config

        self.pending = held
        if held is None:
            self.journal.call(now, STAGE, None, None, "")
            self.engine.stage_rules(None, now)
            self._staged = None
            return
        ctx = RiskEngine.context(self.engine.settings, self.engine.instruments, self.engine.marks)
        target = config.with_rules(self.settings, held.rules)
        detail = f"{Reason.SETTINGS_LOOSENED.name}: " + "; ".join(held.held)
        self.journal.call(now, STAGE, target.raw_rules, held.applies_at, detail)
        self.engine.stage_rules(target.build_rules(ctx), held.applies_at, detail)
        self._staged = target

    async def reload(self, actor: str) -> str:
        """Re-read the settings file: stricter values at once, looser ones at the next daily
        reset (audited either way). An invalid file changes nothing."""
        from fsm_risk import config, reload
        from fsm_risk.errors import SettingsError

        try:
            file = self.adjust(config.load(self.settings.path))
        except SettingsError as exc:
            problems = "; ".join(str(p) for p in exc.problems)
            logger.error("{} reload refused, nothing changed: {}", logs.ALERT, problems)
            raise FsmRiskError(f"settings not reloaded, nothing changed: {problems}") from None
        self._startable(file)
        now = self.clock.now()
        self.journal.call(now, APPLY_STAGED)
        applied = self.engine.apply_staged(now)  # a reset that came before this reload
        self._commit(applied)
        self._settings_applied(applied)
        self._execute(applied)
        plan = reload.plan(self.settings, file)
        current = config.with_rules(self.settings, plan.now)
        held = None
        if plan.held:
            # never sooner than the calendar in force or a loosening already held allows (a
            # daily reset moved by a restart does not bring a held loosening forward)
            at = reload.Keeper(self.store, self.group).next_reset(file, self.pending, now)
            held = reload.Pending(plan.target, at, tuple(str(c) for c in plan.held))
        text = reload.describe(plan, held, self.settings.display_timezone)
        if self.pending is not None and held is None:
            withdrawn = "the looser values held for the reset are withdrawn"
            text = withdrawn if text == reload.NO_CHANGE else f"{text} | {withdrawn}"
        if plan.tightened:
            detail = f"{Reason.SETTINGS_TIGHTENED.name}: {text}"
            effects = self._use(current, held, now, actor=actor, detail=detail)
        else:
            changed = held is not None or self.pending is not None
            self.settings = current
            self._stage(held, now)
            effects = []
            if changed:
                reason = Reason.SETTINGS_LOOSENED if held is not None else Reason.SETTINGS_TIGHTENED
                detail = f"{reason.name}: {text}"
                self.journal.call(now, NOTE, actor, detail)
                effects = self.engine.note_settings(now, actor=actor, detail=detail)
        self._keep_settings(reload.raw_of(current), held)
        self._commit(effects)
        self._execute(effects)
        self.scheduler.poke()
        self._changed()
        logger.info("{} settings reloaded by {}: {}", logs.SETTINGS_LOADED, actor, text)
        if plan.tightened:
            for account_id in self.account_ids:  # fresh events: the stricter rules judge now
                # (a Tick too: a rule that judges on a fill or a deadline, such as the trades
                # per day, would otherwise wait for the trader's next entry)
                self.submit(Tick(account_id))
                self._spawn(self.reconcile(account_id), f"reconcile:{account_id}")
        others = reload.other_changes(self.settings, file)
        if others:
            text += f" | read at the next start only: {', '.join(others)}"
        for line in self._kept_at_reload(file, now):
            text += f" | {line}"
        for line in self._note_unknown_roots(file):
            text += f" | {line}"
        return text

    def _note_unknown_roots(self, settings: Settings) -> list[str]:
        """Log each root the settings name that the service does not know (a typo, or a real
        root its table lacks: accepted either way); returns the lines."""
        from fsm_risk import config

        lines = config.unknown_roots(settings)
        for line in lines:
            logger.warning("{} {}", logs.SETTINGS_LOADED, line)
        return lines

    def _settings_applied(self, effects: list[Effect]) -> None:
        """Staged rules took effect (the daily reset): they are the settings in force now."""
        if not any(isinstance(e, SettingsApplied) for e in effects) or self._staged is None:
            return
        from fsm_risk import reload

        self.settings, self._staged, self.pending = self._staged, None, None
        self._keep_settings(reload.raw_of(self.settings), None)
        logger.info("{} held settings applied at the daily reset", logs.SETTINGS_LOADED)

    def _consumer_died(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self.stopping.is_set():
            return
        exc = task.exception()
        self.failure = exc or RuntimeError("the event loop ended")
        # a broken main loop stops the service rather than running degraded
        logger.critical("{} the event loop failed: {!r}; stopping", logs.ALERT, exc)
        self.stopping.set()

    async def _shutdown(self) -> None:
        logger.info("{} shutting down", logs.SERVICE_STOP)
        self.notifier.stopping()
        self.scheduler.stop()
        if self._control is not None:
            await self._control.stop()
        await self.reconciler.stop()
        await self.queue.put(None)
        for task in list(self._tasks):
            if task.get_name() != "consumer":
                task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        if self.start_refused is None:  # (a refused start wrote nothing, and writes nothing now)
            with contextlib.suppress(Exception):
                self.store.save_marks(self.engine.marks)
            with contextlib.suppress(Exception):
                self.store.commit(Changes([], []), journal=self.journal.take(None, force=True))
        unsaved = self.store.pending
        if unsaved is not None:
            logger.critical(
                "{} stopping with state NOT saved since {} (database {}: {}): {} audit, fill and "
                "journal row(s) lost; the next start reads positions and orders from the gateway",
                logs.ALERT,
                self.unsaved_since.isoformat() if self.unsaved_since else "the last commit",
                self.store.where,
                unsaved.reason,
                unsaved.size,
            )
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception as exc:
                logger.error("{} {} did not stop cleanly: {!r}", logs.ALERT, component, exc)
        await self.broker.stop()
        if self.account_locks is not None:
            self.account_locks.release()
        self.store.release_service_lock()

    def _spawn(
        self, coro: Awaitable[Any], name: str, *, at_once: bool = False
    ) -> asyncio.Task[Any]:
        """A task of the service. ``at_once``: it runs now, up to its first real wait, and so
        do the tasks it starts meanwhile (the SDK sends each request from a task of its own):
        an enforcement request is built and on its way before this returns, not behind
        whatever else is ready on the loop (the log lines, the next batch)."""
        if not at_once:
            task = asyncio.ensure_future(coro)
        else:
            loop = asyncio.get_running_loop()
            factory = loop.get_task_factory()
            loop.set_task_factory(asyncio.eager_task_factory)
            try:
                task = asyncio.ensure_future(coro)
            finally:
                loop.set_task_factory(factory)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- inbound ----------------------------------------------------------------------------------

    def _reconnected(self, account_id: int) -> None:
        logger.warning("{} account {}: reconciling after the reconnect", logs.FEED, account_id)
        self.reconciler.start()
        # coalesced (one pending per account), and started once the hub has stayed up a moment:
        # in a storm of drops, snapshots the next drop would make stale are not taken
        self.reconciler.request(account_id, settle=RECONNECT_SETTLE_SECONDS)
        self._sync_watches()

    def _doubt(self, account_id: int) -> None:
        """A live record left the account's state in doubt: read it from the gateway."""
        self._read(account_id)

    def _read(self, account_id: int) -> asyncio.Future[None]:
        """Read the account from the gateway (coalesced); the future is done once it was."""
        self.reconciler.start()
        return self.reconciler.request(account_id)

    def _read_others(
        self, account_id: int, contract_id: str, own: Awaitable[Any] | None = None
    ) -> None:
        """The account doubts a live position record in ``contract_id`` (larger than its
        fills make, or closing what no fill closed; ``own``: its read, asked): when the record
        was given to it by its fills alone, it may be another account's whose trade is not
        heard yet (a copier's exit on B led to A by a fill of A's counted still), so whose it
        is, is looked for (`_find_owner`: B would keep a position it closed, counted by the
        rules, until the periodic read)."""
        doubted = self._others(account_id, contract_id)
        if doubted is not None:
            self._spawn(self._find_owner(doubted, own), f"owner:{account_id}")

    def _unowned(self, doubted: Doubted) -> None:
        """A position record that names no account and that none is proven to own (several
        hold its contract, or none does): whose it is, is looked for (`_find_owner`), not read
        of every account that may own it at once (in a copier's book of 1,000 accounts all
        holding the contract, one record asked 1,000 reads)."""
        self._spawn(self._find_owner(doubted, None), f"owner:{doubted.contract}")

    def _others(self, account_id: int, contract_id: str) -> Doubted | None:
        """The last record in ``contract_id`` given to ``account_id`` by its fills alone
        (`PositionShapes.others`; none off one connection's inference)."""
        shapes = getattr(self.broker, "positions", None)
        return shapes.others(account_id, contract_id) if shapes else None

    async def _find_owner(self, doubted: Doubted, own: Awaitable[Any] | None) -> None:
        """Read the accounts a doubted record may be of until one explains it: with the
        account it was given to (``own``, its read), those whose fills lead to it or else the
        first `OWNER_READS_AT_ONCE` of the candidates (with fills in its contract, holding or
        having held it); then, each time the reads asked are done and nothing explains it,
        those whose fills lead to it now (the owner's trade, heard since) or else the next
        `OWNER_READS_AT_ONCE` of the candidates, then of every other account. One doubt
        never asks the whole login at once (a read is three requests of a budget of 200 a
        minute: at 1,000 accounts, every other read would wait minutes behind it), and it is
        not given up while unexplained: each account it may be of is read in turn until one
        is found (or none is left). A record given to no account (`_unowned`) has one more
        account read in the first batch in place of its own: a book of 9 is read at once, as
        before."""
        shapes = self.broker.positions
        asked = set() if doubted.led is None else {doubted.led}
        at_once = OWNER_READS_AT_ONCE + (doubted.led is None)
        rest = set(doubted.rest)
        line = [*doubted.candidates, *doubted.rest]
        waits: list[Awaitable[Any]] = [own] if own is not None else []
        first, spread = True, False
        given = "to none" if doubted.led is None else f"to account {doubted.led}"
        while True:
            fresh = [a for a in shapes.fills_lead(doubted) if a not in asked]
            more: list[int] = []
            if not fresh:
                more = [
                    a
                    for a in line
                    if a not in asked and a not in fresh and not shapes.read_since(a, doubted)
                ]
                more = [a for a in more if not (first and a in rest)][:at_once]
            if first and not fresh and not more and not waits:
                first = False
                continue  # (no read of its own asked, no candidate: the others next)
            first = False
            if not fresh and not more and not waits:
                logger.warning(
                    "{} a position update in {} given {}: no account read explains it ({} read)",
                    logs.FEED,
                    doubted.contract,
                    given,
                    len(asked),
                )
                return
            if not spread and any(a in rest for a in more):
                spread = True
                logger.warning(
                    "{} a position update in {} given {}: none of the {} accounts that may own "
                    "it explains it; reading the {} others, {} at a time",
                    logs.FEED,
                    doubted.contract,
                    given,
                    len(doubted.candidates) + (doubted.led is not None),
                    len(doubted.rest),
                    OWNER_READS_AT_ONCE,
                )
            asked.update(fresh, more)
            at_once = OWNER_READS_AT_ONCE
            waits.extend(self._read(a) for a in [*fresh, *more])
            await asyncio.gather(*waits, return_exceptions=True)
            waits = []
            if shapes.explained(doubted):
                return

    def _led_astray(self, ev: PositionUpdate) -> bool:
        """A live record the account's fills do not make (fewer contracts than they make, say:
        taken as the gateway's word, its fills on their way), given to it by its fills alone:
        it may be another account's (a copier's partial exit on B led to A by a fill of A's
        counted still), so the account is read at once and whose the record is, is looked for
        (`_find_owner`). True: the record says less than the fills make (A long 1 while its
        fills make long 2): it is not applied, the account keeps what its fills make until
        its read says otherwise (valued by the record, A lost $564 on a $500 limit unseen
        while its read waited its turn)."""
        acct = self.engine.accounts.get(ev.account_id)
        if ev.snapshot or acct is None:
            return False
        net = acct.net.get(ev.contract_id, 0)
        if ev.signed == net:
            return False
        doubted = self._others(ev.account_id, ev.contract_id)
        if doubted is None:
            return False
        own = self._read(ev.account_id)
        self._spawn(self._find_owner(doubted, own), f"owner:{ev.account_id}")
        if ev.signed * net < 0 or abs(ev.signed) >= abs(net):
            return False
        logger.warning(
            "{} account {}: {} reported {:+d} while its fills make {:+d}, and given to it by "
            "its fills alone (it may be another account's): kept at {:+d} until it is read",
            logs.FEED,
            ev.account_id,
            ev.contract_id,
            ev.signed,
            net,
            net,
        )
        return True

    def _urgency(self, account_id: int) -> int:
        """Reconciliation order: enforcing accounts (or with enforcement held back), then a
        restored account flat at the stop heard exposed since (`read_early`) or restored
        locked, neither read yet, then exposed or
        locked ones (as restored, as heard live since, or as the gateway answered `_probe`),
        then, at start-up, the probes of the rest, then the rest."""
        acct = self.engine.accounts.get(account_id)
        if acct is None:
            return reconciler.REST + 1
        behind = acct.behind is not None and account_id in self.known
        return reconciler.urgency(
            behind=behind,
            settled=acct.behind is not None and not waiting(acct),
            foreseen=behind and self._foreseen(acct),
            # (a restored lock not read yet goes no later: a position opened while the
            # service was down, in no books until its enforcing step, is to close at once)
            early=account_id not in self.known
            and (read_early(acct) or acct.state is not State.Trading),
            enforcing=bool(self.held_back.get(account_id))
            or acct.state is State.Flattening
            or any(cm.state is State.Flattening for cm in acct.contracts.values()),
            exposed=acct.exposed()
            or acct.state is not State.Trading
            or (bool(self.probed.get(account_id)) and account_id not in self.known),
            known=account_id in self.known,
            probed=account_id in self.probed,
        )

    def _foreseen(self, acct: AccountModel) -> bool:
        """Whether the account's balance's move, its trades unread, says a P&L rule would fire
        (`core.foreseen`): its trades are read first, after closes and cancels (an error
        asking counts as yes: a read out of turn is the safe side)."""
        try:
            return foreseen(acct, self.engine.book.rules, self.clock.now())
        except Exception as exc:
            logger.error("{} account {}: foreseen: {!r}", logs.ALERT, acct.account_id, exc)
            return True

    def _quoted_behind(self, batch: list[Any]) -> set[int]:
        """The accounts holding a contract a handled quote moved whose trades are unread and
        not settled: their open P&L may now make the balance's move foresee a breach."""
        quoted = {it.contract_id for it in batch if isinstance(it, Quote)}
        holders = self.engine.holders
        return {
            a.account_id
            for cid in quoted
            for a in holders.get(cid, ())
            if a.behind is not None and waiting(a)
        }

    def _start_order(self, account_id: int) -> tuple[int, float]:
        """Start-up order: by urgency, then the most recently traded first (an account that
        traded lately is the likelier to have traded while the service was down)."""
        acct = self.engine.accounts.get(account_id)
        last = acct.seen_trades.latest() if acct is not None else None
        return self._urgency(account_id), -last.timestamp() if last is not None else 0.0

    async def _probe(self, account_id: int) -> bool:
        """At start-up, for an account neither exposed nor locked as far as the service knows:
        one read of whether the gateway holds a position for it. True: it was flat, the rest
        of its reconciliation waits behind the exposed accounts' (the reads are the scarce
        thing: the full reconciliation costs three, and these accounts are most of a book).
        An account that places or fills an order meanwhile is heard live and jumps ahead."""
        if self._urgency(account_id) != reconciler.PROBE:
            return False
        exposed = self.probed[account_id] = await self.broker.exposure(account_id)
        if exposed:
            logger.warning(
                "{} account {}: the gateway holds a position the stored state did not; "
                "reconciling it first",
                logs.FEED,
                account_id,
            )
        return not exposed

    def _gate(self, effects: list[Effect]) -> list[Effect]:
        """Hold back enforcement for accounts whose working orders are not known yet."""
        out: list[Effect] = []
        for e in effects:
            if isinstance(e, _ENFORCEMENT) and e.account_id not in self.known:
                held = self.held_back.setdefault(e.account_id, set())
                if e.contract_id not in held:
                    logger.warning(
                        "{} account {}: {} {} held back until the gateway's working orders "
                        "are known",
                        logs.ALERT,
                        e.account_id,
                        type(e).__name__,
                        e.contract_id,
                    )
                held.add(e.contract_id)
                self.reconciler.touch((e.account_id,))  # enforcing: first in line
                continue
            out.append(e)
        return out

    def _resume(self, account_id: int) -> list[Effect]:
        if account_id in self.known:
            return []
        self.known.add(account_id)
        held = self.held_back.pop(account_id, set())
        now = self.clock.now()
        self.journal.call(now, RESUME, account_id, sorted(held))
        return self.engine.resume(account_id, held, now)

    def _sync_watches(self) -> None:
        """Quotes for exactly what is held (derived from the holders, whatever happened to the
        watch effects): wanted ones are subscribed once the market hub takes them."""
        held = {cid for cid, holders in self.engine.holders.items() if holders}
        for cid in sorted(held - self.broker.watched):
            self._spawn(self._watch(WatchContract(cid, True)), f"watch:{cid}")
        for cid in sorted(self.broker.watched - held):
            self._spawn(self._watch(WatchContract(cid, False)), f"watch:{cid}")
        if held == self.broker.watched and not self.broker.quotes_settled():
            self._spawn(self.broker.sync_quotes(), "quotes")

    async def _linger(self) -> None:
        """A contract nobody holds any more keeps its quotes subscribed for a while (a trader
        coming back needs no new subscription); each is dropped once its time is up, on the
        service's clock."""
        while not self.stopping.is_set():
            self._linger_wake.clear()
            await self.clock.wait(self.broker.linger_ends(), self._linger_wake)
            ends = self.broker.linger_ends()
            if ends is not None and ends <= self.clock.now():
                try:
                    await self.broker.sync_quotes()  # drops what is due, whatever the hub's state
                except Exception as exc:  # the watchdog's next sync tries again
                    logger.warning("{} lingering quotes not unsubscribed: {!r}", logs.FEED, exc)

    def _enqueue(self, item: Inbound) -> None:
        self.queue.put_nowait(item)

    def submit(self, event: Event) -> None:
        self.queue.put_nowait(event)

    def monitored(self, account_id: int) -> None:
        """Refuse an account this service does not monitor (a database may hold accounts an
        earlier run watched): a lock or status answered for it here would say enforced while
        nothing enforces it."""
        if not self.account_ids or account_id in self.account_ids:
            return
        from fsm_risk import naming

        acct = self.engine.accounts.get(account_id)
        name = f" ({acct.name})" if acct is not None and acct.name else ""
        watched = [(i, self.engine.accounts[i].name) for i in self.account_ids]
        raise FsmRiskError(
            f"account {account_id}{name} is not monitored by the running service, so nothing "
            f"would enforce it here ([general] accounts; it monitors "
            f"{naming.choices(watched).removeprefix('one of: ')})"
        )

    async def admin(self, command: AdminCommand | SelfLock) -> str:
        """Run an (already authenticated) admin command, or a self-lock (which needs no
        secret), through the queue; return the result."""
        self.monitored(command.account_id)
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(command, done))
        answer = await done
        note = self.unsaved_note()
        if note is not None:  # (its commit failed, and none has succeeded since)
            return f"{answer} | {note}"
        await asyncio.to_thread(self.store.sync)  # answered once it survives a power cut
        return answer

    def unsaved_note(self) -> str | None:
        """What an answer to a person adds while the database refuses writes (None: what was
        done is saved): it holds in this run only."""
        unsaved = self.store.pending
        if unsaved is None:
            return None
        return (
            f"NOT SAVED: the database {self.store.where} cannot be written ({unsaved.reason}): "
            "this holds in the running service only and would not survive a restart; run it "
            "again once the database is writable"
        )

    async def _consume(self) -> None:
        """Handle every event already queued, commit them in one transaction, then act.

        Batching keeps one commit per burst: a fill arrives as order, trade, position and
        account events together. The state is always committed before any effect of the
        batch is executed; its requests are started first, its log lines after them.

        A batch is cut after its first item that starts a request (a close, a reduce, a
        cancel): what was handled up to it is committed and its requests are written before
        the items behind it are handled, and those make one more part with its own commit (a
        burst of orders each cancelled costs two commits, not one per order). No cyclic
        garbage collection runs from the batch's first event to its last request being
        written (`_collector_held`)."""
        while True:
            item = await self.queue.get()
            batch = [item]
            since = self.beats.take()
            if since is not None:  # frozen till now: that first, before anything heard since
                await self._thaw(since)
            while not self.queue.empty() and len(batch) < 256:
                batch.append(self.queue.get_nowait())
            # quotes that waited together: a few per contract, at the turns of their prices,
            # those of contracts held together one by one; taken as the batch is handled, so
            # each run is told who holds what (`_beside`) when its turn comes
            valuation = self.engine.valuation
            fields = judged(valuation.liquidation)
            caps = CapLevels(valuation, self.engine.book)  # (where holders' peaks reach caps)
            handed = handing(batch, valuation.marks, fields, self._beside, valuation.holdings, caps)
            parts: list[_Part] = []
            with _collector_held():  # until the requests are on their way
                part, rest = self._part(handed, cut=True)
                parts.append(part)
                if rest:  # the items behind the first request, in one more part
                    parts.append(self._part(rest, cut=False)[0])
            if any(p.committed for p in parts):  # (after the requests: it wakes the flusher)
                self.store.flush_soon()
            for part in parts:
                self.observe(Committed(part.items, part.effects, part.now))
                for job, result in part.jobs:
                    self._answer(job, result)
                for r in part.reconciled:
                    if not r.done.done():
                        r.done.set_result(None)
            if any(p.effects for p in parts) or any(not isinstance(it, Quote) for it in batch):
                self.scheduler.poke()
            self._changed()
            if any(p.stop for p in parts):
                return
            if any(p.requests for p in parts):
                await self._let_requests_out()

    def _beside(self, contract_id: str) -> Collection[str]:
        """The contracts held beside the contract by any of its holders, where a quote rule
        judges more than a position (none where every quote rule judges the quoted contract's
        position alone: the order of two contracts' quotes is nothing to them)."""
        engine = self.engine
        return engine.valuation.beside(contract_id) if engine.book.whole else ()

    def _part(
        self, items: Iterator[_Item | None], *, cut: bool
    ) -> tuple[_Part, Iterator[_Item | None] | None]:
        """Handle items up to the first that starts a request (``cut``) or all of them,
        commit what they changed and execute their effects; returns that part and the items
        left (None: none), not taken yet."""
        handled: list[_Item] = []
        effects: list[Effect] = []
        jobs: list[tuple[_Job, str | BaseException]] = []
        reconciled: list[_Reconciled] = []
        requests = stop = False
        rest: Iterator[_Item | None] | None = None
        for it in items:
            if it is None:
                stop = True
                break
            handled.append(it)
            found: list[Effect] = []
            if isinstance(it, Malformed):
                self.malformed += 1
                if it.blind:
                    found.append(_blind_alert(it))
                if it.read:
                    found.append(_incomplete_alert(it))
            elif isinstance(it, _Reconciled):
                found = self._resume(it.account_id)
                reconciled.append(it)
            elif isinstance(it, _Thawed):
                now = self.clock.now()
                self.journal.call(now, THAWED, list(it.account_ids), it.since.isoformat())
                found = self._gate(thaw.thawed(self.engine, it.account_ids, now, it.since))
            elif isinstance(it, _Job):
                try:
                    done, answer = self._job(it.event)
                except FsmRiskError as exc:
                    jobs.append((it, exc))
                else:
                    found = self._gate(done)
                    jobs.append((it, answer))
            elif isinstance(it, PositionUpdate) and self._unexplained_close(it):
                logger.warning(
                    "{} account {}: {} reported closed without fills; confirming over REST",
                    logs.FEED,
                    it.account_id,
                    it.contract_id,
                )
                self._read_others(it.account_id, it.contract_id, self._read(it.account_id))
            elif not (isinstance(it, PositionUpdate) and self._led_astray(it)):
                found = self._gate(self._apply(it))
            effects.extend(found)
            if any(isinstance(e, _ENFORCEMENT) for e in found):
                requests = True
                if cut:
                    for after in items:  # (any left: the first, then the others)
                        rest = itertools.chain((after,), items)
                        break
                    break
        now = self.clock.now()
        # while the database refuses writes the requests go first: they wait for no write
        # that would likely fail too (after a restart nothing is sent before the gateway is
        # read again, so a close whose state was not saved is never sent twice)
        unsaved = self.store.pending is not None
        committed = False if unsaved else self._commit(effects, now=now, urgent=requests)
        if self.reconciler.pending:  # what was heard may move a waiting account in line
            self.reconciler.touch(_accounts_in(handled, effects) | self._quoted_behind(handled))
        self._settings_applied(effects)
        self._execute(effects)
        if unsaved:  # (joins what waits, not tried: the retry timer tries, `_keep_saving`)
            committed = self._commit(effects, now=now, urgent=requests, attempt=False)
        part = _Part(now, handled, effects, jobs, reconciled, committed, requests, stop)
        return part, rest

    async def _beat(self) -> None:
        """Take a beat every `BEAT` seconds: one that shows the process did not run for far
        longer (frozen: the loop and the beats' thread alike) pokes the consumer, which hands
        the freeze to the engine first. The loop alone stalled is only told. With no thread
        (it could not start), the loop beats alone and each of its gaps is a freeze."""
        try:
            self.beats.start()
        except RuntimeError as e:  # (a limit on threads): the safe side, as before the thread
            logger.error(
                "{} the beats' thread did not start ({}): a stall counts as a freeze", logs.ALERT, e
            )
        try:
            while not self.stopping.is_set():
                await asyncio.sleep(BEAT)
                if self.beats.beat() is not None:
                    self.submit(Tick())  # (the consumer takes the freeze before it)
                if self.beats.stalled is not None:
                    logger.warning(
                        "{} the event loop did not run for {:.1f} s (the process ran: no freeze; "
                        "a slow disk or database, or a loaded machine)",
                        logs.ALERT, self.beats.stalled,
                    )  # fmt: skip
                    self.beats.stalled = None
        finally:
            self.beats.stop()

    async def _thaw(self, since: datetime) -> None:
        """The process was frozen from ``since`` until now (`Beats`): the gateway's price at
        each reset passed meanwhile of the contracts held is read (as a restart reads those
        of the resets it missed; nothing is handled meanwhile), the engine applies those
        resets at them and holds its deadline rules (`core.thaw`), and every account is read
        again; once read, its deadline rules judge (`_Thawed`)."""
        now = self.clock.now()
        logger.warning(
            "{} the service was frozen (the machine asleep or the process stopped) from {} "
            "to {}: reading every account again; deadlines wait for the read",
            logs.ALERT, since.isoformat(), now.isoformat(),
        )  # fmt: skip
        wanted = thaw.passed(self.engine, now)
        prices = await self._read_prices(
            wanted, now, "the positions held across it carry their open P&L at the prices "
            "last known before the freeze",
        ) if wanted else {}  # fmt: skip
        now = self.clock.now()
        self.journal.call(now, THAW, since.isoformat(), journal_prices(prices))
        effects = self._gate(thaw.resumed(self.engine, since, prices, now))
        self._commit(effects)
        self._execute(effects)
        ids = tuple(self.engine.accounts)
        self._spawn(self._read_after_thaw(ids, since), "thaw")

    async def _read_after_thaw(self, account_ids: tuple[int, ...], since: datetime) -> None:
        try:  # (not cancelled at the timeout: the reads are the reconciler's)
            await asyncio.wait([self._read(a) for a in account_ids], timeout=THAW_READ_SECONDS)
        finally:
            self.queue.put_nowait(_Thawed(account_ids, since))

    async def _let_requests_out(self) -> None:
        """Step aside before the next batch so that the requests just started reach the
        gateway first: the HTTP client passes a few scheduling points of its own on its way
        to the socket, and a batch waiting in the queue would otherwise run before each."""
        for _ in range(_REQUEST_STEPS):
            await asyncio.sleep(0)  # one turn of the loop, not a wait

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
        return self.engine.handle(event, self._record(event))

    def _record(self, event: Event) -> datetime:
        """Count and journal an event about to be handled; returns the instant it is at."""
        if self.events_seen == 0:
            logger.info("{} {}", logs.FIRST_EVENT, type(event).__name__)
            logger.info("{} rules run on every event", logs.RULE_EVALUATED)
        self.events_seen += 1
        now = self.clock.now()
        self.journal.record(event, now)
        return now

    def _job(self, event: AdminCommand | SelfLock | Tick) -> tuple[list[Effect], str]:
        """A job's effects and its answer; an admin override takes the one force path."""
        if not isinstance(event, AdminCommand):
            return self._apply(event), "done"
        now = self._record(event)
        forced = admin.force(self.engine, event, now)
        return forced.effects, forced.text

    def _answer(self, item: _Job, result: str | BaseException) -> None:
        if isinstance(result, BaseException):
            item.done.set_exception(result)
        else:
            item.done.set_result(result)

    async def _tick(self, now: datetime) -> None:
        # through the queue, like every other event: one consumer touches the engine
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(Tick(), done))
        await done

    # -- commit and execute -----------------------------------------------------------------------

    def _commit(
        self,
        effects: list[Effect],
        *,
        now: datetime | None = None,
        urgent: bool = False,
        attempt: bool = True,
    ) -> bool:
        """Commit what the engine changed (True: something was written). The consumer's
        commits (``now`` given) leave the disk flush to the caller, after the requests.
        ``urgent``: requests wait for this commit; the chores that may ride on any commit
        (the marks saved for `status`, the journal's expired rows deleted) wait for the next."""
        changes = self.engine.take_changes()
        if self._meta_due:  # (with the rows they concern: kept with them if this one fails)
            changes.meta.update(self._meta_due)
            self._meta_due.clear()
        audit = [e.entry for e in effects if isinstance(e, RecordTransition)]
        marks = None
        if (
            now is not None
            and not urgent
            and (self._marks_saved_at is None or now - self._marks_saved_at >= timedelta(seconds=1))
        ):
            marks = self.engine.marks  # for `status` from the database; at most once a second
            self._marks_saved_at = now
        journal = self.journal.take(now, force=bool(changes or audit or marks))
        expired = None if urgent else self.journal.prune_before(now)
        if changes or audit or marks or journal or expired or self.store.pending is not None:
            try:
                self.store.commit(
                    changes, audit, marks, journal, expired, flush=now is None, attempt=attempt
                )
            except StorageFailed as exc:  # kept by the store for the next commit
                self._not_saved(exc)
                return False
            self.held_since = None
            if self.unsaved_since is not None:
                self._saved_again()
            return True
        return False

    def _not_saved(self, exc: StorageFailed) -> None:
        """A commit the database refused: the service goes on enforcing from memory (failing
        closed: its closes and cancels still go out); alerted once per outage."""
        if self.unsaved_since is not None:
            logger.debug("{} still not saved: {}", logs.ALERT, exc.reason)
            return
        now, mono = self.clock.now(), time.monotonic()
        # a write lock held elsewhere for less than two retries (the store's own checkpoint on
        # a slow disk holds it while it flushes; the writer waits half a second for it) is said,
        # not alerted: it was a CRITICAL and a STATE_SAVED_AGAIN 3 s later, for nothing
        held = self.held_since
        if exc.gave_way or (held is not None and exc.reason == held[1]):
            if held is None:
                self.held_since = held = mono, exc.reason
            if mono - held[0] < 2 * SAVE_RETRY_SECONDS:  # (the retries' own wall clock)
                # (a commit joined, not tried, says nothing new: once per try, not per batch)
                say = logger.warning if exc.gave_way else logger.debug
                say("{} not saved yet: {}; tried again", logs.ALERT, exc.reason)
                return
        self.held_since = None
        self.unsaved_since = now
        self._storage_alert(
            Level.CRITICAL,
            Reason.STATE_NOT_SAVED,
            f"the database {exc.where} cannot be written ({exc.reason}): the state is NOT "
            "being saved; enforcement goes on from memory, and what is not saved is written "
            f"as soon as the database takes it (tried every {SAVE_RETRY_SECONDS:g} s); a "
            "restart now would lose it",
        )

    def _saved_again(self) -> None:
        since, self.unsaved_since = self.unsaved_since, None
        assert since is not None
        seconds = max(0, round((self.clock.now() - since).total_seconds()))
        self._storage_alert(
            Level.WARNING,
            Reason.STATE_SAVED_AGAIN,
            f"the database {self.store.where} is written again: the state held in memory for "
            f"{seconds} s is saved",
        )

    def _storage_alert(self, level: Level, reason: Reason, message: str) -> None:
        logger.log(_LEVEL[level], "{} {}: {}", logs.ALERT, reason.name, message)
        self.observe(Committed([], [Alert(level, reason, message)], self.clock.now()))

    def _keep_settings(self, raw: Any, held: Any, calendar: Any = None) -> None:
        """Store the settings in force (and a held loosening); a database refusing the write
        leaves them in force in this run only, said so (never a stopped service)."""
        from fsm_risk import reload

        failed_before = self._settings_unsaved is not None
        try:
            reload.Keeper(self.store, self.group).save(raw, held, calendar)
        except Exception as exc:
            if not storage_error(exc):
                raise
            # kept, and written once the database takes it (`_keep_saving`): a stricter
            # limit not saved would be loosened by the next start's comparison
            self._settings_unsaved = (raw, held, calendar)
            if failed_before:
                return
            logger.critical(
                "{} the settings in force are NOT saved (database {}: {}): they hold in the "
                "running service only until the database takes them",
                logs.ALERT,
                self.store.where,
                describe_storage_error(exc),
            )
            return
        self._settings_unsaved = None
        if failed_before:
            logger.warning("{} the settings in force are saved again", logs.ALERT)

    def _execute(self, effects: list[Effect]) -> None:
        effects = self._gate(effects)  # (already gated in the consumer: a no-op there)
        # the requests first, each on its way to the gateway before this returns; then the
        # log lines and the rest: nothing stands between a committed close and its request
        for e in effects:
            if isinstance(e, _ENFORCEMENT):
                if isinstance(e, CancelOrder):
                    if (e.account_id, e.order_id) in self.cancelling:
                        # the engine re-sends a cancel unanswered after its timeout; one still
                        # waiting in the budget, sent beside it, is a request spent for nothing
                        # (a locked trader's orders queued five cancels each): its answer decides
                        continue
                    self.cancelling.add((e.account_id, e.order_id))
                started = asyncio.get_running_loop().time()
                task = self._spawn(self._enforce(e), f"enforce:{e.account_id}", at_once=True)
                task.add_done_callback(self._enforced(e, started))
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
            elif isinstance(e, LearnInstrument):  # a position waits on the answer
                self._spawn(self.contracts.learn(e.contract_id), f"learn:{e.contract_id}")
            elif isinstance(e, ReadResetPrices):  # a position a live reset did not carry
                self._spawn(self._live_reset_prices(e), f"read:{e.account_id}")
            elif isinstance(e, ReadBalance):
                self._spawn(self._confirm_balance(e.account_id), f"read:{e.account_id}")
            elif isinstance(e, ReadAccount):
                # a close waits on this read (not confirmed in time, or held back by the
                # trader's exit): it goes ahead of cancels and other reads in the budget
                read = self._spawn(
                    self.reconcile(e.account_id, for_enforcement=True), f"read:{e.account_id}"
                )
                self._read_others(e.account_id, e.contract_id, read)
            elif isinstance(e, ConfirmReset):
                self._spawn(self._confirm_reset(e), f"read:{e.account_id}")
            elif isinstance(e, ReadTrades):
                # the engine decides again once the read is applied (its `Listing`); its
                # balance comes from one `/Account/search` shared by the reads under way
                self._spawn(self.reconcile(e.account_id), f"read:{e.account_id}")

    def _enforced(self, e: _Enforcement, started: float) -> Callable[[asyncio.Task[Any]], None]:
        def done(task: asyncio.Task[Any]) -> None:
            if isinstance(e, CancelOrder):
                self.cancelling.discard((e.account_id, e.order_id))
            failed = task.cancelled() or task.exception() is not None
            seconds = asyncio.get_running_loop().time() - started
            # (a close no longer wanted when its turn came was never sent: `_enforce` says so)
            self.observe(Enforced(e, seconds, failed, sent=failed or task.result() is not False))
            self._changed()  # `wait_for` re-checks after an enforcement request ends too

        return done

    def observe(self, item: Observed) -> None:
        """Tell every observer; one that fails is logged and never stops the service."""
        for o in self.observers:
            try:
                o.observe(item)
            except Exception as exc:
                logger.error("{} observer {} failed: {!r}", logs.ALERT, o, exc)

    async def _watch(self, e: WatchContract) -> None:
        try:
            await self.broker.watch(e.contract_id, e.on)
            if not e.on:
                self._linger_wake.set()  # its linger may end first
        except Exception as exc:
            logger.warning(
                "{} quotes for {} not (un)subscribed: {!r}", logs.FEED, e.contract_id, exc
            )

    async def _enforce(self, e: _Enforcement) -> bool:
        """Send one enforcement request and tell the engine its answer. Returns whether it was
        sent: False for a close no longer wanted once its turn in the request budget came."""
        if isinstance(e, ClosePosition):
            what = f"close {e.contract_id} (attempt {e.attempt}, {e.rule_id}: {e.reason.name})"
            result = await self.broker.close(e.account_id, e.contract_id, _CloseTurn(self, e))
            contract, order_id = e.contract_id, None
        elif isinstance(e, ReducePosition):
            what = f"reduce {e.contract_id} by {e.size} ({e.rule_id}: {e.reason.name})"
            turn = _CloseTurn(self, e)
            result = await self.broker.reduce(e.account_id, e.contract_id, e.size, turn)
            contract, order_id = e.contract_id, None
        elif isinstance(e, ResizeOrder):
            # the trader's order our reduce left larger than the position (core/brackets)
            left = f", {e.filled} filled: {e.was - e.filled} -> {e.size - e.filled} left"
            what = (
                f"resize order {e.order_id} in {e.contract_id}: {e.label} {e.was} -> {e.size} "
                f"({e.rule_id}: {e.reason.name}{left if e.filled else ''})"
            )
            result = await self.broker.resize(e.account_id, e.order_id, e.size, _OrderTurn(self, e))
            contract, order_id = e.contract_id, e.order_id
        else:
            what = f"cancel order {e.order_id} in {e.contract_id} ({e.reason.name})"
            result = await self.broker.cancel(e.account_id, e.order_id, _OrderTurn(self, e))
            contract, order_id = e.contract_id, e.order_id
        self.effects_done += 1
        resize, was = (e.size, e.was) if isinstance(e, ResizeOrder) else (None, None)
        seq = e.seq if isinstance(e, ClosePosition | ReducePosition) else None
        if result.superseded and order_id is not None:
            # the order ended while the cancel (or resize) waited for the budget, or the lock
            # that asked the cancel did (the order the trader's again): nothing to do
            acct = self.engine.accounts.get(e.account_id)
            held = acct is not None and order_id in acct.orders
            logger.info(
                "{} account {}: {} not sent: {} while it waited for its turn in the request budget",
                logs.ENFORCEMENT_SENT,
                e.account_id,
                what,
                "the lock that asked it ended" if held else "the order ended",
            )
            return False
        if result.superseded:
            # judged done, or replaced by a newer close, while it waited for the budget: the
            # engine ends it as a race lost, said as not sent (a newer one's number is not
            # its: ignored)
            logger.info(
                "{} account {}: {} not sent: no longer wanted when its turn in the request "
                "budget came (the position moved meanwhile, or a newer close replaced it)",
                logs.ENFORCEMENT_SENT,
                e.account_id,
                what,
            )
            unsent = EnforcementRejected(
                e.account_id, contract, None, result.message, seq=seq, sent=False
            )
            self.submit(unsent)
            return False
        if result.ok:
            logger.info("{} account {}: {}", logs.ENFORCEMENT_SENT, e.account_id, what)
            if isinstance(e, ClosePosition | ReducePosition):  # the engine learns its close
                self.submit(EnforcementAccepted(e.account_id, e.contract_id, result.order_id, seq))
            if isinstance(e, ResizeOrder):  # taken: its word may never come (a quiet feed),
                # and a lock's cut unanswered is cancelled (`shrink`): read back, on its own
                self._spawn(self._resized(e), f"resized:{e.account_id}")
            return True
        # the reads after a close's refusal go at a close's read priority; those after a
        # cancel's or a resize's, as ordinary reads: at the close's priority, refused cancels of
        # a chaotic trader's orders (each a race lost to a fill) once took the window from the
        # closes themselves (96-106 such reads a minute at the shipped 200)
        closing = isinstance(e, ClosePosition | ReducePosition)
        # a resize turned away by the request limit is read back (a refused one is not sent
        # again); a close or cancel so turned away is a refusal below (nothing was done)
        if result.uncertain or (result.limited and isinstance(e, ResizeOrder)):
            # the request may have reached the gateway: ask it, never resend blindly
            logger.warning(
                "{} account {}: {}: {}; reconciling", logs.ALERT, e.account_id, what, result.message
            )
            read_ok = self._read_ok.get(e.account_id)
            await self.reconcile(e.account_id, for_enforcement=closing)
            unread = self._read_ok.get(e.account_id) == read_ok  # no read answered since
            if result.uncertain and unread and isinstance(e, ClosePosition | ReducePosition):
                # its read failed too: the engine decides whether it goes again unread
                # (`core.blind`: a close of the whole position does, once an order is heard
                # that the gateway took after the Date of its own answer to ours; a timeout's
                # or a proxy's answer has none: it waits for its read, as a reduce does)
                self.submit(CloseInDoubt(e.account_id, e.contract_id, e.seq, result.answered))
            return True
        found = None
        if not result.limited:  # (the window is full: that read would wait on it too)
            urgent = (
                self.broker.for_enforcement(e.account_id) if closing else contextlib.nullcontext()
            )
            with urgent:
                found = await self._overtaken(e)
        if found is not None:
            # a race lost to a fill or to the trader, not a failure: say so plainly and let
            # the engine take the gateway's word (no full reconciliation needed)
            logger.info(
                "{} account {}: {}: already done at the gateway ({})",
                logs.ENFORCEMENT_SENT,
                e.account_id,
                what,
                result.message,
            )
            for ev in found:
                self.submit(ev)
            self.submit(
                EnforcementRejected(
                    e.account_id,
                    contract,
                    order_id,
                    result.message,
                    overtaken=True,
                    resize=resize,
                    was=was,
                    seq=seq,
                )
            )
            return True
        logger.error(
            "{} account {}: {} refused: {}{}",
            logs.ALERT,
            e.account_id,
            what,
            result.message,
            " (another program using the same API key?)"
            if result.limited and not result.token_refused
            else "",
        )
        self.submit(
            EnforcementRejected(
                e.account_id,
                contract,
                order_id,
                result.message,
                resize=resize,
                was=was,
                limited=result.limited,
                seq=seq,
            )
        )
        await self.reconcile(e.account_id, for_enforcement=closing)
        return True

    async def _resized(self, e: ResizeOrder) -> None:
        """A resize the gateway took: its order read back and handed to the engine, which
        takes the size as the resize's answer (one read; the word on the hub may be lost)."""
        try:
            order = await self.broker.order(e.account_id, e.order_id)
        except Exception as exc:
            logger.warning("{} account {}: order not read back: {!r}", logs.FEED, e.account_id, exc)
            return
        if order is not None:
            self.submit(dataclasses.replace(order, read=True))

    async def _overtaken(self, e: _Enforcement) -> list[Event] | None:
        """After a refusal, ask the gateway whether what the request was for is already
        done: the order to cancel no longer working (or the order to resize, or already the
        size asked or beyond: no larger for a shrink, no smaller for an order given back), the
        position to close gone (or already smaller than a reduce asked).
        Returns the gateway's current word, or None."""
        try:
            if isinstance(e, CancelOrder | ResizeOrder):
                order = await self.broker.order(e.account_id, e.order_id)
                if order is not None and (
                    not order.status.working
                    or (
                        isinstance(e, ResizeOrder)
                        and (order.size >= e.size if e.size > e.was else order.size <= e.size)
                    )
                ):
                    return [dataclasses.replace(order, read=True)]
                return None
            pos = await self.broker.open_position(e.account_id, e.contract_id)
        except Exception as exc:
            logger.warning("{} account {}: state not read back: {!r}", logs.FEED, e.account_id, exc)
            return None
        if pos is None:
            return []
        if isinstance(e, ReducePosition) and pos.size < e.size:
            return [pos]
        return None

    # -- reconciliation and health ----------------------------------------------------------------

    async def _confirm_balance(self, account_id: int) -> None:
        """A balance move no fill explains yet is read over REST, unless the fill it is for
        explains it first: the gateway may send the balance a moment ahead of its trade
        record, and a full read per fill would spend the request budget of every account."""
        await asyncio.sleep(BALANCE_GRACE_SECONDS)
        acct = self.engine.accounts.get(account_id)
        if acct is not None and acct.unexplained:
            await self.reconcile(account_id)

    async def _confirm_reset(self, e: ConfirmReset) -> None:
        """A read's trade list looked wiped by a firm's reset (told): a moment later, the list
        is asked for again over [since, until] alone (one request in the budget) and handed to
        the engine, which decides (see `core.firm_reset`). A read that fails, or lists an entry
        refused, confirms nothing: the books stay as they are, and it is asked again a while
        later (`RESET_CONFIRM_RETRIES`) while the engine still waits for that answer. One
        such wait at a time for one question (each full read asks it again)."""
        key = (e.account_id, e.since, e.until)
        if key in self.confirming:
            return
        self.confirming.add(key)
        try:
            await self._confirm_tries(e)
        finally:
            self.confirming.discard(key)

    async def _confirm_tries(self, e: ConfirmReset) -> None:
        """Each try after its wait (`RESET_CONFIRM_RETRIES`, the last one again and again):
        while the engine waits for the answer, it is asked until one comes. Periodic reads
        that agree with the engine are not applied and ask nothing: a gateway that failed
        every try of a few minutes left the wiped profit cushioning the loss limits."""
        last_wait = RESET_CONFIRM_RETRIES[-1]
        waits = itertools.chain(RESET_CONFIRM_RETRIES, itertools.repeat(last_wait))
        for tried, wait in enumerate(waits):
            if tried:  # a try failed: tried again after the wait, or once the gateway is back
                await self._relisted(e.account_id, wait)
            else:  # (a list served stale for a moment is fresh by then)
                await asyncio.sleep(wait)
            acct = self.engine.accounts.get(e.account_id)
            held = None if acct is None else acct.resetting
            if held is None or (held.since, held.until) != (e.since, e.until):
                return  # answered already, or a newer suspect replaced it
            try:
                fills = await self.broker.trades_between(e.account_id, e.since, e.until)
            except Exception as exc:
                fills, why = None, repr(exc)
            else:
                why = "an entry was refused"
            if fills is not None:
                self.submit(TradesSnapshot(e.account_id, e.since, tuple(fills), until=e.until))
                return
            logger.warning(
                "{} account {}: the trade list was not read again to confirm the reset ({}): "
                "the books stay as they are for now; asked again shortly",
                logs.ALERT,
                e.account_id,
                why,
            )

    async def _relisted(self, account_id: int, seconds: float) -> None:
        """Returns after ``seconds``, or before, once a read of the account's trade list is
        answered (`_listed`): after an outage, a confirming read that failed is not left
        waiting minutes while the wiped profit cushions the loss limits."""
        answered = asyncio.Event()
        waits = self._relisting.setdefault(account_id, set())
        waits.add(answered)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answered.wait(), seconds)
        finally:
            waits.discard(answered)
            if not waits:
                self._relisting.pop(account_id, None)

    def _listed(self, account_id: int) -> None:
        """A read of the account's trade list was answered: the confirming reads that failed
        are tried again now (`_relisted`)."""
        for answered in self._relisting.get(account_id, ()):
            answered.set()

    async def reconcile(
        self, account_id: int, *, periodic: bool = False, for_enforcement: bool = False
    ) -> None:
        """Bring the engine in line with the gateway; returns once a reconciliation that
        started after this call has been applied. Coalesced: however many ask, an account has
        at most one reconciliation running and one pending (see `_reconcile_now`).

        ``for_enforcement``: a close or cancel waits on it (a close not confirmed in time, an
        enforcement request refused or answered with no clear outcome): it starts at once
        and, until it is applied, the account's reads go ahead of cancels and of every other
        read in the request budget (`Priority.READ_FOR_CLOSE`)."""
        self.reconciler.start()
        if not for_enforcement:
            await self.reconciler.request(account_id, periodic=periodic)
            return
        with self.broker.for_enforcement(account_id):
            await self.reconciler.request(account_id, urgent=True)

    async def _reconcile_now(self, account_id: int, periodic: bool = False) -> str | None:
        """Trades since the week began, positions, open orders. What the engine holds that the
        gateway no longer lists is closed. Raises when the gateway could not be read.

        ``periodic``: the scheduled read (see `_poll_state`). A read that live user events
        overtook is dropped (it may be older than what they said; the next read comes within
        one interval); what it finds that the engine did not know is a divergence: logged,
        counted and applied at once, so the rules enforce it like any other event."""
        acct = self.engine.accounts.get(account_id)
        if acct is None:
            return None
        if not periodic and await self._probe(account_id):
            return AGAIN  # flat at the gateway: back in line behind the exposed accounts
        subscribed = self._subscribed.get(account_id)
        if subscribed is not None:
            await subscribed.wait()  # at start-up: the live feed first, then the snapshot
        if account_id not in self.known and self._urgency(account_id) <= reconciler.EXPOSED:
            await self._enforcing_step(account_id)
            return AGAIN  # its trades after every exposed account's enforcing step
        if acct.behind is not None and self.reconciler.resumed(account_id):
            foreseen = self._foreseen(acct)  # (its reads after closes and cancels, then)
            with self.broker.for_foreseen(account_id) if foreseen else contextlib.nullcontext():
                await self._history_step(account_id)
            return None
        since = self._read_from(account_id)
        # a periodic read lists the recent trades, and the whole window now and then (see
        # `reads.read_since`); any other reconciliation, the whole window
        whole = not periodic or self._recent_reads.get(account_id, FULL_EVERY) >= FULL_EVERY
        listed_from = read_since(acct, since, whole=whole)
        before = _ReadBegan.of(acct, self.clock.now())
        heard = self.broker.health.last_user_event.get(account_id)
        events = await self.broker.snapshot(account_id, listed_from)  # the reconciler retries
        self._listed(account_id)
        if periodic:
            with contextlib.suppress(TimeoutError):  # compare with every queued event applied
                await self.wait_for(self.queue.empty, timeout=5.0, what="the queue drained")
            overtaken = self.broker.health.last_user_event.get(account_id) != heard
            if overtaken and account_id not in self._read_dropped:
                # live events arrived meanwhile: this read may be older than what they said;
                # the next one is used whatever happens, so a busy feed cannot starve it
                self._read_dropped.add(account_id)
                return None
            self._read_dropped.discard(account_id)
            self.broker.health.reads += 1
            self._recent_reads[account_id] = (
                0 if listed_from == since else self._recent_reads.get(account_id, 0) + 1
            )
            alerts = self.engine.diverged(account_id, events)  # the engine decides
            if not alerts:
                # the balance the read lists (after its trades, all applied) is taken: a
                # balance update the feed lost or garbled is put right within an interval
                marked, _ = before.read(account_id, events, periodic=True)
                for ev in marked:
                    if isinstance(ev, AccountUpdate):
                        self.submit(ev)
                self._changed()
                return None
            self.broker.health.diverged += 1
            self._execute(alerts)
            if listed_from != since:
                # applied, a read lists the whole window: its trades rebuild the realized P&L
                before = _ReadBegan.of(acct, self.clock.now())
                events = await self.broker.snapshot(account_id, since)
        else:
            self._recent_reads[account_id] = 0
        events, listing = before.read(account_id, events, periodic=periodic)
        events.append(listing)  # what the read did not list is for the engine to decide
        fills = tuple(e for e in events if isinstance(e, Fill))
        trades = TradesSnapshot(account_id, since, fills, before.applied, before.voided)
        events.append(trades)  # after its fills
        if not periodic:  # a missed reset's prices the trades call for, before them
            events[:0] = await self._prices_at_reset(account_id, fills)
        for ev in events:
            # a behind account books its trades from the TradesSnapshot (`exposure.catch_up`)
            if not (isinstance(ev, Fill) and acct.behind is not None):
                self.submit(ev)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Reconciled(account_id, done))
        await done
        logger.info("{} account {}: reconciled ({} events)", logs.FEED, account_id, len(events))
        return None

    async def _enforcing_step(self, account_id: int) -> None:
        """An exposed account's first step (see `fsm_risk.reconciler`): its working orders and
        positions, applied behind a `Listing` that marks it behind; once handled, its held
        enforcement goes. What the read did not list is closed or ended, as in a whole one."""
        before = _ReadBegan.of(self.engine.accounts[account_id], self.clock.now())
        read = await self.broker.enforcing_snapshot(account_id)
        # (its trades settled by it? `unread`) A locked account does not wait for it: its lock
        # closes what it holds whatever its books say (a slow listing held a locked account's
        # close 5 s a wave of steps, 11 s for 12 accounts)
        locked = self.engine.accounts[account_id].state is not State.Trading
        listed = await self._listed_balance(account_id, wait=not locked)
        events, listing = before.read(account_id, read, behind=True, balance=listed)
        for ev in (listing, *events):
            self.submit(ev)
        await self._handled(account_id)
        logger.info(
            "{} account {}: enforcing ({} positions and orders read); its trades are read next",
            logs.FEED,
            account_id,
            len(events),
        )

    async def _list_balances(
        self, subscribed: asyncio.Event
    ) -> tuple[dict[int, Decimal], tuple[int, int]]:
        """Every account's balance, listed once (one read) after every hub subscription was
        sent at start-up (``subscribed``): what an exposed account traded before its
        subscription is in it, what it trades after is heard live (`core.unread`). Empty when
        the read fails."""
        await subscribed.wait()
        health = self.broker.health
        feeds = (health.reconnects, health.readers_restarted)
        try:
            listed = await self.broker.accounts()
        except Exception as exc:  # the trades settle it, as without this read
            logger.warning("{} the balances after the subscriptions: {!r}", logs.FEED, exc)
            return {}, feeds
        if feeds == (health.reconnects, health.readers_restarted):  # (as `_listed_balance`)
            # every restored account's first read: one it settles flat waits no more (it has
            # no enforcing step: its whole read comes last)
            for a in listed:
                acct = self.engine.accounts.get(a.account_id)
                if acct is not None and acct.unjudged is not None and acct.unjudged.restored:
                    self.submit(Tick(a.account_id, listed=a.balance))
        return {a.account_id: a.balance for a in listed}, feeds

    async def _listed_balance(self, account_id: int, wait: bool = True) -> Decimal | None:
        """The account's balance in the start-up listing (`_list_balances`), waited for at
        most `START_BALANCES_WAIT` seconds (not at all unless ``wait``); None when there is
        none, or a hub reconnected since it was read (what the account traded while it was
        down was heard by neither)."""
        task = self._start_balances
        if task is None or not (wait or task.done()):
            return None
        with contextlib.suppress(TimeoutError):
            found, feeds = await asyncio.wait_for(asyncio.shield(task), START_BALANCES_WAIT)
            health = self.broker.health
            if feeds == (health.reconnects, health.readers_restarted):
                return found.get(account_id)
        return None

    async def _history_step(self, account_id: int) -> None:
        """An exposed account's second step: its trades since the week began (booked by the
        engine from the `TradesSnapshot`, which ends its being behind) and its balance, then a
        `Tick`: the limits on realized P&L judge it from now on."""
        acct = self.engine.accounts[account_id]
        since = self._read_from(account_id)
        applied, voided = frozenset(acct.seen_trades), frozenset(acct.voided)
        read = await self.broker.history(account_id, since)
        self._listed(account_id)
        fills = tuple(e for e in read if isinstance(e, Fill))
        listed = applied | {f.trade_id for f in fills}
        gone = voided | {f.trade_id for f in fills if f.voided}
        events = await self._prices_at_reset(account_id, fills)  # before the trades
        events.append(TradesSnapshot(account_id, since, fills, applied, voided))
        events += [
            dataclasses.replace(e, applied=listed, voided=gone)
            for e in read
            if isinstance(e, AccountUpdate)
        ]
        events.append(Tick(account_id))
        for ev in events:
            self.submit(ev)
        await self._handled(account_id)
        logger.info("{} account {}: reconciled ({} events)", logs.FEED, account_id, len(events))

    async def _handled(self, account_id: int) -> None:
        """Returns once every event queued so far is handled (the account's enforcement, held
        since the start, then goes)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Reconciled(account_id, done))
        await done

    def poll_every(self) -> float:
        """Seconds between two periodic reads of every account: the configured interval, or
        longer when that would take more than half of what reads may use of the request
        budget (each read of an account costs four requests)."""
        budget = self.broker.budget
        share = (budget.limit - budget.reserve) / 2 / budget.window  # requests per second
        return max(self.poll_interval, 4 * len(self.account_ids) / share)

    async def _poll_state(self) -> None:
        """Live for events, poll for state: re-read every account's trades, positions and
        working orders on a schedule, whatever the feeds say (a feed can stay connected and
        silent, or deliver a shape nobody foresaw). Reads wait behind enforcement in the
        request budget."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=self.poll_every())
            for account_id in list(self.account_ids):
                if self.stopping.is_set():
                    return
                if account_id not in self.known:
                    continue  # its first reconciliation is still to come (or retried)
                await self.reconcile(account_id, periodic=True)

    async def _watchdog(self) -> None:
        """Feed health, token refresh, reconciliation after a reconnect. Polls once a second."""
        was_healthy, was_authenticated, was_failing = True, True, set[str]()
        while not self.stopping.is_set():
            # infrastructure health runs on wall time, whatever clock the rules use
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=1.0)
            if self.stopping.is_set():
                return
            await self.broker.revive_readers()
            self.broker.poll_connections()
            self._tell_relisted()
            self._sync_watches()
            health = self.health()
            authenticated, failing = health["authenticated"], set(health["reads_failing"])
            if (
                health["healthy"] != was_healthy
                or authenticated != was_authenticated
                or failing - was_failing  # one more account's reads failing: said (the
                # end of one while others fail is said by their end: no notice per account)
            ):
                level = "INFO" if health["healthy"] else "WARNING"
                logger.log(
                    level,
                    "{} feed {}: {}",
                    logs.FEED,
                    "healthy" if health["healthy"] else "degraded",
                    health,
                )
                was_healthy, was_authenticated = health["healthy"], authenticated
                self.observe(HealthChanged(health))
            was_failing = failing
            expiry = self.broker.token_expiry()
            if expiry is not None and expiry - self.token_margin <= self.wall.now():
                # one login in the background (joined while under way, backing off when it
                # fails); a token refused earlier is renewed at once by whoever was refused
                self.broker.renew_token()

    def health(self) -> dict[str, Any]:
        snap = self.broker.health.snapshot(
            self.clock.now(), self.feed_silence, set(self.broker.watched)
        )
        #: the held contracts priced by reads of their last bar, their quotes having stopped
        snap["priced_by_reads"] = self.pricer.view()
        snap["events"] = self.events_seen
        snap["malformed_skipped"] = self.malformed
        snap["enforcement_requests"] = self.effects_done
        snap["budget_used"] = self.broker.budget.used
        snap["reads_held_back"] = round(self.broker.budget.held_for())  # (a 429: see broker)
        failing = self.reads_failing()
        snap["reads_failing"] = {
            str(a): {"since": f.since.isoformat(), "failures": f.failures, "error": f.error}
            for a, f in sorted(failing.items())
        }
        snap["healthy"] = bool(snap["healthy"]) and not failing
        return snap

    def unconfirmed_closes(self) -> dict[int, dict[str, datetime]]:
        """Per account, the contracts whose close has gone unconfirmed longer than a close
        timeout (see `exposure.unconfirmed_closes`): not enforcing as it should."""
        now, engine = self.clock.now(), self.engine
        timeout, held = engine.settings.close_timeout, engine.pursuit.held_since
        found = {
            a: unconfirmed_closes(acct, now, timeout, held)
            for a, acct in engine.accounts.items()
            if acct.contracts
        }
        return {a: closes for a, closes in found.items() if closes}

    def unconfirmed_cancels(self) -> dict[int, list[StuckCancel]]:
        """Per account, the orders that would open or add to a position in a locked or
        flattening scope whose cancel has gone unconfirmed longer than a close timeout (see
        `cancels.unconfirmed_cancels`): filled, each opens what the lock forbids, so the
        account is not enforcing as it should."""
        now, engine = self.clock.now(), self.engine
        timeout = engine.settings.close_timeout
        found = {
            a: unconfirmed_cancels(acct, now, timeout)
            for a, acct in engine.accounts.items()
            if acct.orders
        }
        return {a: cancels for a, cancels in found.items() if cancels}

    def status(self, account_ids: list[int] | None = None) -> dict[str, Any]:
        from fsm_risk import status

        tz = self.settings.display_timezone
        if account_ids is None and self.account_ids:
            account_ids = list(self.account_ids)  # not the accounts an earlier run watched
        snap = status.snapshot(self.engine, self.clock.now(), account_ids, tz=tz)
        stuck, failing = self.unconfirmed_closes(), self.reads_failing()
        cancels, lost_now = self.unconfirmed_cancels(), self.lost_now()
        take = self._taken_over() if lost_now else None
        anchored = self.auth is not None and self.auth.anchor is not None
        for a in snap["accounts"]:
            a["readiness"] = self.readiness(a["account_id"], stuck, failing, cancels)
            a["closes_unconfirmed"] = {
                cid: since.isoformat() for cid, since in stuck.get(a["account_id"], {}).items()
            }
            a["cancels_unconfirmed"] = status.cancels_view(cancels.get(a["account_id"], []))
            lost = lost_now.get(a["account_id"])
            a["lost_state"] = lost_view(lost, take, anchored) if lost is not None else None
            a["lost_check_pending"] = a["account_id"] in self.unstored
        ok, checks = self.verdict()
        snap["enforcing"] = ok  # as /readyz answers it
        snap["service"] = {"ready": ok, **checks}
        authenticated = self.broker.health.authenticated
        reconciled = len(self.known & set(self.account_ids)) if authenticated else 0
        enforcing = sum(
            self.readiness(a, stuck, failing, cancels) in ("ready", "enforcing")
            for a in self.account_ids
        )
        snap["readiness"] = {
            "ready": enforcing,  # enforcing as they should
            "reconciled": reconciled,  # reconciled since start (the rest are starting)
            "accounts": len(self.account_ids),
            "authenticated": authenticated,
            "closes_unconfirmed": len(stuck),
            "cancels_unconfirmed": len(cancels),
            "reads_failing": len(failing),
        }
        snap["budget_waiting"] = {p.name.lower(): n for p, n in self.broker.budget.queued.items()}
        snap["feed"] = self.health()
        unsaved = self.store.pending
        snap["storage"] = {  # a database refusing writes: enforcing from memory
            "saved": self.unsaved_since is None,
            "since": self.unsaved_since.isoformat() if self.unsaved_since else None,
            "reason": unsaved.reason if unsaved is not None else None,
        }
        snap["pending_settings"] = self.pending.view() if self.pending is not None else None
        snap["state_lost"] = [a["account_id"] for a in snap["accounts"] if a.get("lost_state")]
        return snap


def _missing(named: Sequence[str], listed: Sequence[AccountUpdate]) -> list[str]:
    """Those of ``named`` the gateway does not list (by id or name)."""
    return [n for n in named if not any(n in (str(a.account_id), a.name) for a in listed)]


def _unlisted(
    named: Sequence[str], listed: Sequence[AccountUpdate], closed: Sequence[str]
) -> str | None:
    """What is wrong with [general] accounts naming an account the gateway does not list,
    other than one it ``closed`` (`Service.closed`)."""
    missing = [n for n in _missing(named, listed) if n not in closed]
    if not missing:
        return None
    there = ", ".join(f"{a.account_id} ({a.name})" for a in listed) or "none"
    return (
        f"[general] accounts names {', '.join(missing)}, which the gateway does not "
        f"list as an active account; the gateway lists: {there}"
    )
