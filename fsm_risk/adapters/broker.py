"""The broker adapter: project-x-py, used the way the notes below describe.

- ``ProjectX(config=...)`` + ``authenticate()`` for REST; one ``ProjectXRealtimeClient``
  (``config=``) for the login: one user-hub websocket subscribed to every monitored account
  (``SubscribeAccounts`` once, ``SubscribeOrders``/``Positions``/``Trades`` per account id,
  sent on the SDK's own hub connection as the SDK sends its own account's) and one
  market-hub websocket for the quotes. Each user record is routed by the account it names,
  parsed once; after every reconnect `resync` subscribes every account again and each is
  reconciled. Never ``TradingSuite`` (it ignores ``config`` and loads bar history).
- An incremental position update may name no account: it belongs to the one account holding
  that contract when only one does; when several do, none is guessed and all are read.
- Every REST call goes through one `RequestBudget` (200 requests per 60 s, as the gateway
  allows per key) in which enforcement keeps a reserve, served by `Priority`: closes, the
  reads a close waits on (`for_enforcement`), cancels, the reads a foreseen breach waits on
  (`for_foreseen`), then every other read. The SDK's own limiter is set out of the way (it
  would queue close orders behind reads for a minute).
  The gateway's window is the API key's: a 429 (another program on the key filled it) holds
  every read back until the window it implies has passed; closes and cancels still go.
- Close, partial close and cancel are written to a connection kept open for them (`wire`),
  the request's bytes on the socket before the call returns, or on one opened for them when
  none is ready; the SDK's HTTP layer only behind a proxy (its connections cannot be reset
  when an answer times out, and the request could arrive late: `wire`). Both
  raise the SDK's errors: ``OrderSubmissionUncertainError`` means "maybe sent", and the
  caller reconciles by querying instead of resending; the position manager would swallow it.
- The SDK's stale-feed watchdog is disabled (``stale_feed_seconds = inf``): after 30 s of
  market silence it forces a reconnect that then fails every 5 s. `FeedHealth` watches instead.
- The realtime token is never refreshed by the SDK, and its REST client logs in again on a
  401 only near the token's expiry: `session` (`fsm_risk.adapters.session`) logs in again
  ahead of expiry and, at once, when the gateway refuses the token earlier (a read answered
  401, a hub refusing to negotiate, an enforcement request answered 401): one login however
  many were refused, backing off while it fails; the new token goes to the realtime client
  (working around the SDK leaving its hub-ready events set across ``disconnect()``), and
  every account is reconciled. A read refused is tried once more with the new token.
- A hub reader that ends is started again at once, then after 1 s, 2 s ... up to 60 s while
  it keeps ending soon after (never in a tight loop); one refused by the gateway waits for
  the new login instead.
- Raw payloads go through `payloads` (the validating boundary) before they reach the core;
  what does not parse is reported as `Malformed`, counted, logged and skipped. A REST listing
  of positions or working orders with an entry refused is not the whole truth: the read
  fails (`IncompleteRead`) and nothing is concluded from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from functools import partial
from types import MethodType
from typing import Any, NoReturn, Protocol

import aiohttp
from loguru import logger
from project_x_py import ProjectX
from project_x_py.exceptions import (
    OrderSubmissionUncertainError,
    ProjectXAuthenticationError,
    ProjectXConnectionError,
    ProjectXError,
    ProjectXRateLimitError,
    ProjectXServerError,
)
from project_x_py.models import ProjectXConfig
from project_x_py.realtime import ProjectXRealtimeClient
from project_x_py.realtime.async_hub import invoke_maybe
from pysignalr.exceptions import AuthorizationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_never,
    wait_exponential,
)

from fsm_risk import logs
from fsm_risk.adapters import login, payloads
from fsm_risk.adapters.gateway_clock import GatewayClock
from fsm_risk.adapters.session import Session
from fsm_risk.adapters.wire import AnsweredInDoubt, RateLimited, TokenRefused, Wire
from fsm_risk.core.events import AccountUpdate, Event, Fill, InstrumentInfo, OrderUpdate
from fsm_risk.core.events import PositionUpdate as PositionEvent
from fsm_risk.errors import FsmRiskError
from fsm_risk.schema import url_secrets

USER_CALLBACKS = ("account_update", "position_update", "order_update", "trade_execution")
#: trades parsed in one go before the loop runs again (each takes some 10-20 µs)
PARSE_SLICE = 64


@dataclass(frozen=True)
class Malformed:
    """A payload the boundary refused: logged, counted, skipped. ``blind`` marks the refusal
    that made its kind blind (refused `BLIND_AFTER` times in a row): an alarm, not a line.
    ``read``: the REST listing (its path) that the refusal left incomplete, on the first such
    refusal of the account's listing since it was last read whole: an alarm too."""

    kind: str
    reason: str
    account_id: int | None = None
    blind: bool = False
    read: str = ""


class IncompleteRead(ProjectXError):
    """A REST listing with an entry the boundary refused: not the whole truth, so nothing is
    concluded from it (never "flat", never "no working order"). The read failed, as one the
    gateway did not answer: the engine keeps what it holds for the account."""

    def __init__(self, account_id: int, path: str, refused: payloads.PayloadError) -> None:
        self.account_id, self.path = account_id, path
        super().__init__(
            f"account {account_id}: {path} listed a {refused.kind} the service refused "
            f"({refused.reason}): the read is incomplete and was not used"
        )


#: refusals of one record kind in a row (no accepted record between) that make it blind
BLIND_AFTER = 3
#: accounts whose three subscribe calls share one websocket message: about 10 KiB, well
#: inside the 32 KiB a SignalR server accepts per message by default
SUBSCRIBE_BATCH = 50
#: the longest a shared balance listing waits for the snapshots under way to ask for it
LISTING_GATHER_SECONDS = 5.0
#: a hub reader that ends is started again at once, then (ending again before it has run
#: `REVIVE_QUIET` seconds) after 1 s, doubling up to `REVIVE_LONGEST`
REVIVE_QUIET = 30.0
REVIVE_LONGEST = 60.0
#: a read the gateway could not answer for the moment (429, 5xx, a lost connection) is sent
#: again, this many sends in all, each one in the request budget; after a 429 it waits what
#: the gateway asked (Retry-After) within `READ_RETRY_WAIT`, after the others 1 s, then 2 s
READ_SENDS = 3
READ_RETRY_WAIT = (1.0, 5.0)
_TRANSIENT = (ProjectXRateLimitError, ProjectXServerError, ProjectXConnectionError)
#: endpoints the gateway limits in a bucket of their own: their 429 says nothing of the
#: key's window (bar history: 30 requests per 30 s)
OWN_LIMIT = frozenset({"/History/retrieveBars"})
#: the SDK's request method without its rate-limit decorator (see `ProjectXBroker.start`)
_MAKE_REQUEST = ProjectX._make_request.__wrapped__  # type: ignore[attr-defined]
#: the longest a read waits for its answer (the SDK's own: 30 s). The gateway answers a read
#: within a second; one unanswered this long went out on a connection gone silent (see
#: `ProjectXBroker.fresh_connections`), and is sent again (`READ_SENDS`) on a fresh one
READ_TIMEOUT = 10.0


Inbound = Event | Malformed


@dataclass(frozen=True)
class Credentials:
    username: str
    api_key: str

    def __repr__(self) -> str:  # never print the key, even by accident
        return f"Credentials(username={self.username!r}, api_key=***)"


class Turn(Protocol):
    """What a close, cancel or resize asks its sender around its turn in the request budget."""

    def waits(self) -> None:
        """It must wait for its turn (told once, before it waits)."""

    def wanted(self) -> bool:
        """Its turn came: is it still to be sent? (True: it is written at once.)"""


class EnforcementResult:
    """What the gateway answered to a close, partial close, cancel or order resize."""

    def __init__(
        self,
        ok: bool,
        message: str = "",
        uncertain: bool = False,
        order_id: int | None = None,
        limited: bool = False,
        superseded: bool = False,
        token_refused: bool = False,
        answered: datetime | None = None,
    ) -> None:
        self.ok = ok
        self.message = message
        self.uncertain = uncertain
        self.order_id = order_id
        #: refused by the gateway's request limit (HTTP 429) before it was taken
        self.limited = limited
        #: never sent: no longer wanted once its turn in the budget came (`_enforce`)
        self.superseded = superseded
        #: refused by the gateway's authentication (HTTP 401) before it was taken
        self.token_refused = token_refused
        #: in doubt, the ``Date`` of the gateway application's own answer (`AnsweredInDoubt`):
        #: it was done with the request then. None: no such answer (a timeout, a lost
        #: connection, a bare or a proxy's 5xx): it may take the request yet
        self.answered = answered


#: how far back the last bar before an instant is looked for (a weekend and a holiday)
PRICE_LOOKBACK = timedelta(days=4)
#: how far back the last price traded is looked for (`last_price`)
LAST_PRICE_LOOKBACK = timedelta(minutes=5)
#: how far past the gateway's time (`GatewayClock.latest`) a read of the trades ends: its end
#: is no bound on what it lists, only what the gateway's API asks for. Ended at this machine's
#: time, with its clock set back 5 minutes it left out the trades of those minutes (a database
#: swapped: the day read 0 for -600, no lock rebuilt, no lost-database alert); a clock behind
#: by more than the answers have told yet (none heard) is covered too
READ_END_AHEAD = timedelta(days=1)


class Priority(IntEnum):
    """Who goes first when the request budget is short: lower first, in the order asked
    within one priority. `READ` is kept out of the enforcement reserve, `CANCEL`,
    `READ_FOR_CLOSE` and `PRICE` out of the room kept for closes (`RequestBudget.close_room`)."""

    CLOSE = 0  #: a close or partial close
    READ_FOR_CLOSE = 1  #: a read enforcement waits on (before re-sending, after an unknown answer)
    CANCEL = 2  #: a cancel, or the resize of a working order
    #: the price of a held contract whose quotes have stopped (`last_price`): after cancels
    #: (five asked after a waiting cancel went before it), before ordinary reads, with their cap
    PRICE = 3
    #: the reads a breach foreseen on a restarted account waits on (`Broker.for_foreseen`):
    #: before ordinary reads, past their share, never into the half of the cancels' room
    #: that is theirs alone (`RequestBudget.lent`): 100 foreseen accounts' reads filled the
    #: window to the cancels' cap, and a locked account's cancel waited 58 s
    FORESEEN = 4
    READ = 5  #: every other read: at most ``limit - reserve`` a window


#: the requests that wait while the gateway says its window is full (`RequestBudget.refused`)
HELD_BACK = frozenset({Priority.READ, Priority.READ_FOR_CLOSE, Priority.PRICE, Priority.FORESEEN})
#: the reads (sent again on a transient failure, once each through the SDK's client)
READS = (Priority.READ, Priority.READ_FOR_CLOSE, Priority.PRICE, Priority.FORESEEN)
#: the shortest wait a 429 imposes on reads, whatever its Retry-After says
HOLD_SHORTEST = 1.0
#: a login (and the SDK's account listing after it): ahead of every other request, since
#: nothing goes without a token, and never held back by a 429 (it holds two slots at once)
LOGIN = Priority.CLOSE


def read_priority(urgent: bool, foreseen: bool) -> Priority:
    """An account's reads' priority: `READ_FOR_CLOSE` when enforcement waits on them, `FORESEEN`
    when a breach its balance foresees does, else `READ`."""
    if urgent:
        return Priority.READ_FOR_CLOSE
    return Priority.FORESEEN if foreseen else Priority.READ


def _bars(raw: dict[str, Any], contract_id: str) -> list[tuple[datetime, Decimal]]:
    """A `/History/retrieveBars` answer's bars as (opening, close), those with a positive
    finite close; a bar that cannot be read is skipped and said. Refused: `ProjectXError`."""
    if not raw.get("success", True):
        raise ProjectXError(f"/History/retrieveBars: {raw.get('errorMessage') or 'refused'}")
    bars: list[tuple[datetime, Decimal]] = []
    for bar in raw.get("bars") or []:
        try:
            opened = payloads.parse_time("bar", bar["t"], "t")
            close = Decimal(str(bar["c"]))
        except (KeyError, TypeError, ArithmeticError, ValueError, payloads.PayloadError):
            logger.warning("bar of {} skipped: {!r}", contract_id, bar)
            continue
        if close.is_finite() and close > 0:
            bars.append((opened, close))
    return bars


class RequestBudget:
    """A sliding-window request budget shared by every REST call, served by `Priority`.

    Reads may use ``limit - reserve`` requests per window, cancels and the reads a close
    waits on ``limit - close_room``, closes all of it. The closes sent are what the reserve
    is kept for: those of the window (and the login, sent at their priority) do not count
    against the reads' share, but let reads past it by `lent` at most, never into the room
    kept for closes, nor all of the cancels' (at a
    restart, 50 exposed accounts' 101 reads beside 50 closes and a login did not fit a share that
    counted the closes, and 2 accounts' reductions waited 60 s). A locked trader's stream of
    orders, each cancelled, once filled the window, and a loss limit's close then waited 52 s
    for a slot (190 orders in 6 s, at 200 a minute); so did the reads a chaotic trader's races
    asked for (96-106 a minute), closes waiting up to 54 s. A request waits in line behind
    every request of its priority or a higher one asked before it (a newcomer never takes a
    freed slot from one waiting), so cancels waiting cannot hold a close back, nor reads a
    cancel.

    A slot counts from `acquire` until `release` as in flight, then for one window from the
    moment the request was answered (or failed): the gateway counted it on arrival, never
    later than that, so its own window of the same length has always let it go first and a
    request sent when ours has room is never over the gateway's limit (stamped when it was
    sent, the next one went the instant the gateway still counted the old one: refused 429).

    The gateway's window is the API key's, not ours: another program on the same key (the
    trader's own bot) fills it unseen. A 429 says so (`refused`): until the window it implies
    has passed (its Retry-After, within `HOLD_SHORTEST` and one window; one window when it
    gives none) the reads (`HELD_BACK`) wait, whatever our own window says, while closes and
    cancels still go (the service sends a close or cancel turned away again a second later).
    Then one read goes alone: answered, reads go as usual again; answered 429, they wait
    again. Any request answered (not 429) once the wait is over ends it the same way.
    """

    def __init__(
        self,
        limit: int = 200,
        window: float = 60.0,
        reserve: int = 50,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= reserve < limit:
            raise ValueError("the enforcement reserve must be below the limit")
        self.limit, self.window, self.reserve = limit, window, reserve
        #: what cancels and the reads a close waits on leave to closes: a quarter of the window,
        #: never more than half the reserve: the other half is theirs alone, so neither waits
        #: where a read would go (the same cap as reads, a restart's start-up reads of 151
        #: accounts held a locked account's cancel, and the read a close answered 503 waited
        #: on, 60 s)
        self.close_room = min(limit // 4, reserve // 2)
        #: how far the closes sent let reads past their share: half the room the rest of the
        #: reserve keeps for cancels and the reads enforcement waits on, the other half theirs
        #: whatever reads took (all of it lent, 30 closes at a restart let the start-up reads
        #: fill the window to 175, and a locked account's cancel, and the read a close answered
        #: 503 waited on, waited 59 s)
        self.lent = (reserve - self.close_room) // 2
        self._monotonic = monotonic
        self._answered: deque[float] = deque()  # when each request of the window ended
        #: when each request at the closes' priority of the window was let through: each of
        #: them is in ``_answered`` or in flight for at least as long (answered after that)
        self._closes: deque[float] = deque()
        self.in_flight = 0
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = tuple(deque() for _ in Priority)
        #: the account each waiting read is for (see `promote`)
        self._tags: dict[asyncio.Future[None], int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.waited = 0.0
        #: the gateway's window is full (a 429) until then: reads wait (None: not known full)
        self.full_until: float | None = None
        #: when the gateway first said so, and how many 429s it has answered since
        self._full_since = 0.0
        self.refusals = 0
        #: the wait is over and one read was let through: its answer decides
        self._probe = False

    def _trim(self, now: float) -> None:
        while self._answered and now - self._answered[0] >= self.window:
            self._answered.popleft()
        while self._closes and now - self._closes[0] >= self.window:
            self._closes.popleft()

    def wait_for(self, priority: Priority, now: float | None = None) -> float | None:
        """Seconds until the window has room for a request of this priority (0: now; None:
        not before a request in flight is answered), whoever waits."""
        now = self._monotonic() if now is None else now
        self._trim(now)
        cap = self.limit - (0 if priority is Priority.CLOSE else self.close_room)
        if priority is Priority.FORESEEN:
            cap -= self.lent
        room = self._reads_room(now) if priority is Priority.READ else self._room(cap, now)
        if priority not in HELD_BACK or self.full_until is None:
            return room
        if now < self.full_until:
            return None if room is None else max(room, self.full_until - now)
        return None if self._probe else room  # the read sent alone is answered first

    def _reads_room(self, now: float) -> float | None:
        """Seconds until an ordinary read fits: fewer than the reads' share in the window, the
        closes apart, and fewer than that share and what the closes lend (`lent`) in all (None:
        not before one in flight is answered): when the first request of the window to leave
        that makes room leaves (the moment the window held fewer than the share in all, taken
        for it, woke the reads 10 s after a window of reads 0.4 s apart and 25 closes had room
        for one)."""
        share = self.limit - self.reserve
        most = share + self.lent
        answered, closes, gone = self._answered, self._closes, 0
        for left in range(-1, len(answered)):  # (-1: now, before any leaves)
            t = now if left < 0 else max(now, answered[left] + self.window)
            while gone < len(closes) and t - closes[gone] >= self.window:
                gone += 1
            total = self.in_flight + len(answered) - left - 1
            if total < most and total - len(closes) + gone < share:
                return t - now
        return None

    def _room(self, cap: int, now: float) -> float | None:
        """Seconds until fewer than ``cap`` requests are in flight or answered within the
        window (None: not before one in flight is answered)."""
        over = self.in_flight + len(self._answered) - cap  # slots to free before it fits
        if over < 0:
            return 0.0
        if over >= len(self._answered):
            return None
        return max(0.0, self._answered[over] + self.window - now)

    def held_for(self, now: float | None = None) -> float:
        """How much longer reads wait for the gateway's window (a 429), in seconds (0: not)."""
        if self.full_until is None:
            return 0.0
        return max(0.0, self.full_until - (self._monotonic() if now is None else now))

    def held(self, priority: Priority, now: float) -> bool:
        """Whether requests of this priority wait for the gateway's word (a 429), not ours."""
        if priority not in HELD_BACK or self.full_until is None:
            return False
        return now < self.full_until or self._probe

    def refused(self, retry_after: float | None, now: float | None = None) -> float | None:
        """The gateway answered a request 429 (``retry_after``: its Retry-After in seconds,
        None when it gave none): its window is full. Reads wait until the window it implies
        has passed. Returns how long they wait when this is news (the gateway was not known
        full: say so once), else None."""
        now = self._monotonic() if now is None else now
        wait = self.window if retry_after is None else retry_after
        wait = min(max(wait, HOLD_SHORTEST), self.window)
        # (a wait over a window ago that nothing answered since ended is an old story)
        news = self.full_until is None or now - self.full_until >= self.window
        if news:
            self._full_since, self.refusals = now, 0
        self.refusals += 1
        self.full_until = now + wait if news else max(self.full_until or now, now + wait)
        self._probe = False
        self._serve()
        return wait if news else None

    def _answered_now(self, now: float) -> float | None:
        """A request was answered (not 429): once the wait is over, the gateway takes requests
        again. Returns how long it was known full when this ends it, else None."""
        if self.full_until is None or now < self.full_until:
            return None
        self.full_until, self._probe = None, False
        return now - self._full_since

    async def acquire(
        self,
        priority: Priority = Priority.READ,
        tag: int | None = None,
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        """Take a slot; the caller sends its request and then calls `release` (see `slot`).
        ``tag``: the account a read is for, so that `promote` can move it up while it waits;
        ``on_wait``: called when it must wait for its turn, before it waits."""
        waiting = self._waiting
        now = self._monotonic()
        ahead = any(waiting[p] and not self.held(Priority(p), now) for p in range(priority + 1))
        if not ahead and self.wait_for(priority, now) == 0:
            self._grant(priority)  # room, and nobody of its rank or above before it: no await
            return
        if on_wait is not None:
            on_wait()
        turn = asyncio.get_running_loop().create_future()
        waiting[priority].append(turn)
        if tag is not None:
            self._tags[turn] = tag
        began = self._monotonic()
        self._serve()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # given a slot as it was cancelled
                self.in_flight -= 1
                if priority is Priority.CLOSE and self._closes:
                    self._closes.pop()
                self._probe = False  # (if it was the read sent alone, another goes)
                self._serve()
            raise
        finally:
            self._tags.pop(turn, None)
            self.waited += self._monotonic() - began

    def _grant(self, priority: Priority) -> None:
        self.in_flight += 1
        if priority is Priority.CLOSE:
            self._closes.append(self._monotonic())
        if priority in HELD_BACK and self.full_until is not None:
            self._probe = True  # the wait is over: this read goes alone, its answer decides

    def promote(self, tag: int, priority: Priority) -> None:
        """Move the reads waiting for account ``tag`` in a lower line up to ``priority`` (at
        its end): a read a close now waits on may already be waiting as an ordinary one, and
        the read the close asked for is not started beside it (one read of an account at a
        time)."""
        for line in self._waiting[priority + 1 :]:
            moved = [t for t in line if self._tags.get(t) == tag and not t.done()]
            for turn in moved:
                line.remove(turn)
                self._waiting[priority].append(turn)
        self._serve()

    def give_back(self, priority: Priority = Priority.READ) -> None:
        """A slot `acquire` gave (at ``priority``) is not used after all (nothing sent):
        free at once."""
        self.in_flight -= 1
        if priority is Priority.CLOSE and self._closes:
            self._closes.pop()  # (the latest: never one older than the slot it stood for)
        self._serve()

    def release(self) -> None:
        """The request `acquire` let through was answered (or failed) now; one answered 429
        is told first (`refused`)."""
        now = self._monotonic()
        self.in_flight -= 1
        self._answered.append(now)
        was = self._answered_now(now)
        if was is not None:
            logger.info(
                "{} the gateway takes requests again: reads go as usual (held back {:.0f} s "
                "by its request limit, {} request(s) answered 429)",
                logs.FEED,
                was,
                self.refusals,
            )
        self._serve()

    @contextlib.asynccontextmanager
    async def slot(self, priority: Priority = Priority.READ) -> AsyncIterator[None]:
        """One request's slot: taken before it is sent, stamped once it is answered."""
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()

    def _serve(self) -> None:
        """Give slots to those waiting, highest priority first, first come first: the first
        that does not fit stops the line (those behind it fit no better), unless it waits
        for the gateway's word (`held`): closes and cancels below it still go. Woken by a
        release, or when the window next has room."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._monotonic()
        wake: float | None = None
        for priority, line in zip(Priority, self._waiting, strict=True):
            while line:
                if line[0].done():  # its caller was cancelled while it waited
                    line.popleft()
                    continue
                delay = self.wait_for(priority, now)
                if delay == 0:
                    line.popleft().set_result(None)
                    self._grant(priority)
                    continue
                if delay is not None:
                    wake = delay if wake is None else min(wake, delay)
                if not self.held(priority, now):
                    self._wake(wake)
                    return  # a release (or the timer) wakes the line
                break
        self._wake(wake)

    def _wake(self, delay: float | None) -> None:
        if delay is not None:
            self._timer = asyncio.get_running_loop().call_later(delay, self._serve)

    @property
    def queued(self) -> dict[Priority, int]:
        """How many requests wait, by priority (those not waiting left out)."""
        lines = zip(Priority, self._waiting, strict=True)
        counted = ((p, sum(not turn.done() for turn in line)) for p, line in lines)
        return {p: n for p, n in counted if n}

    @property
    def used(self) -> int:
        self._trim(self._monotonic())
        return self.in_flight + len(self._answered)


@dataclass
class FeedHealth:
    """What the service knows about its feeds, for logs and `status`."""

    user_connected: dict[int, bool] = field(default_factory=dict)
    market_connected: bool = False
    last_user_event: dict[int, datetime] = field(default_factory=dict)
    last_quote: dict[str, datetime] = field(default_factory=dict)
    malformed: int = 0
    reconnects: int = 0
    #: hub readers found dead (their task ended) and started again
    readers_restarted: int = 0
    since: dict[str, datetime] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    refused_in_a_row: dict[str, int] = field(default_factory=dict)
    diverged: int = 0
    #: position updates naming no account that several accounts could own (those were read)
    unattributed: int = 0
    reads: int = 0  # periodic REST reads of the state compared with the engine
    #: False while the gateway refuses the session token (the service is blind)
    authenticated: bool = True
    #: the REST listings, by (account, path), last read with an entry refused, and why
    incomplete: dict[tuple[int, str], str] = field(default_factory=dict)
    #: the gateway's clock minus this machine's, in seconds, once beyond the tolerance
    #: (`gateway_clock`); None: they agree
    clock_skew: float | None = None

    def refuse(self, kind: str) -> bool:
        """Count a refused record; True when this refusal makes its kind blind."""
        self.malformed += 1
        self.refused[kind] = self.refused.get(kind, 0) + 1
        run = self.refused_in_a_row[kind] = self.refused_in_a_row.get(kind, 0) + 1
        return run == BLIND_AFTER

    def accept(self, kind: str) -> bool:
        """A record of this kind passed the boundary; True when that ends its blindness."""
        return self.refused_in_a_row.pop(kind, 0) >= BLIND_AFTER

    @property
    def blind(self) -> list[str]:
        return sorted(k for k, n in self.refused_in_a_row.items() if n >= BLIND_AFTER)

    def silent(self, now: datetime, silence: timedelta, watched: Iterable[str]) -> list[str]:
        """The watched contracts with no quote for longer than ``silence`` (since the start,
        for one never quoted)."""
        start = self.since.get("start", now)
        return sorted(c for c in watched if now - self.last_quote.get(c, start) > silence)

    def snapshot(self, now: datetime, silence: timedelta, watched: set[str]) -> dict[str, Any]:
        quiet = self.silent(now, silence, watched)
        return {
            "user_hub": {str(k): v for k, v in sorted(self.user_connected.items())},
            "market_hub": self.market_connected,
            "silent_contracts": quiet,
            "malformed_payloads": self.malformed,
            "refused_by_kind": dict(sorted(self.refused.items())),
            "blind": self.blind,
            "state_reads": self.reads,
            "diverged": self.diverged,
            "unattributed": self.unattributed,
            "reconnects": self.reconnects,
            "readers_restarted": self.readers_restarted,
            "authenticated": self.authenticated,
            "incomplete_reads": [f"{a} {path}" for a, path in sorted(self.incomplete)],
            "clock_skew_seconds": self.clock_skew,
            "healthy": self.market_connected
            and all(self.user_connected.values())
            and not quiet
            and not self.blind
            and self.authenticated
            and not self.incomplete,
        }


def quiet_sdk_logging() -> None:
    """The SDK logs JSON at INFO to stdout from every module: keep warnings and errors, masked
    (an error page that echoes the login's request carries the API key into its message)."""
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith(("project_x_py", "pysignalr", "websockets")):
            logging.getLogger(name).setLevel(logging.WARNING)
    logs.mask_library_logging()


def sdk_config(api_url: str, user_hub_url: str, market_hub_url: str) -> ProjectXConfig:
    """The SDK configuration, with its client-side limiter out of the way (see module doc)."""
    return ProjectXConfig(
        api_url=api_url,
        user_hub_url=user_hub_url,
        market_hub_url=market_hub_url,
        requests_per_minute=100_000,
    )


class ProjectXBroker:
    def __init__(
        self,
        config: ProjectXConfig,
        credentials: Credentials,
        sink: Callable[[Inbound], None],
        *,
        budget: RequestBudget | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        accounts: tuple[str, ...] = (),
        login_attempts: int | None = None,
        on_reconnect: Callable[[int], None] = lambda account_id: None,
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.sink = sink
        self.budget = budget or RequestBudget()
        self.now = now
        #: the gateway's clock against ours, from its answers' Date (see `gateway_clock`)
        self.gateway_clock = GatewayClock(now)
        self._clock_heard_on: object = None  # the SDK's HTTP client told of its answers
        self.account_filter = accounts
        self.on_reconnect = on_reconnect
        #: tries of the first login (and its account listing) while the gateway is in
        #: trouble; None: until it answers (see `fsm_risk.adapters.login`)
        self.login_attempts = login_attempts
        #: called with an account whose state a live record left in doubt: read it over REST
        self.on_doubt: Callable[[int], None] = lambda account_id: None
        #: called with a position record that names no account and that none is proven to
        #: own: whose it is, is looked for (a few accounts at a time, never the login at once)
        self.on_unowned: Callable[[payloads.Doubted], None] = lambda doubted: None
        #: called with each failed try of the start's login (or account list), in plain words
        self.on_start_failed: Callable[[str], None] = lambda why: None
        self.client: ProjectX | None = None
        #: the connections enforcement requests are written to (see the module doc)
        self.wire: Wire | None = None
        #: the one realtime client: its user hub carries every account, its market hub quotes
        self.hubs: ProjectXRealtimeClient | None = None
        self.market: ProjectXRealtimeClient | None = None
        #: the monitored accounts, in the order they are subscribed
        self.routed: list[int] = []
        self._monitored: frozenset[int] = frozenset()
        self._subscribe_user: Callable[[], Awaitable[bool]] | None = None
        #: the websockets the subscriptions were last made on (a new one needs them again)
        self._user_ws: Any = None
        self._market_ws: Any = None
        self._resync_lock = asyncio.Lock()
        self.health = FeedHealth()
        #: the contracts whose quotes are wanted (whatever the market hub's state)
        self.watched: set[str] = set()
        #: those subscribed on the current market connection (cleared when it reconnects)
        self.subscribed: set[str] = set()
        #: contracts nobody holds any more whose subscription is kept until then: a trader
        #: coming back needs no new subscription (their quotes still reach nothing)
        self.lingering: dict[str, datetime] = {}
        self.linger = timedelta(0)
        self._sync_lock = asyncio.Lock()
        self.listed: list[AccountUpdate] = []  # every active account the gateway last listed
        self.positions = payloads.PositionShapes()
        #: the listings, by (account, path), last read with an entry refused, and why
        self.incomplete = self.health.incomplete
        #: the shared balance listings not sent yet, by the priority they go at (`balances`)
        self._listings: dict[Priority, asyncio.Future[list[AccountUpdate]] | None] = {
            p: None for p in READS
        }
        #: accounts whose reads enforcement waits on, with how many wait (`for_enforcement`)
        self.reads_for_enforcement: dict[int, int] = {}
        #: accounts whose reads a breach their balance foresees waits on (`for_foreseen`)
        self.reads_foreseen: dict[int, int] = {}
        #: snapshots under way that have not asked for their balance yet
        self._unlisted: set[int] = set()
        self._unlisted_shrank = asyncio.Event()
        self._snapshots = itertools.count()
        self._closing: set[asyncio.Future[None]] = set()  # old HTTP clients being closed
        self.session = Session(
            self._login_again,
            self._hand_over,
            self._session_token,
            restored=self._read_all,
            changed=self._authenticated,
        )
        #: per hub, when its reader was last started again and the wait before the next
        self._revived: dict[str, tuple[float, float]] = {}
        self.monotonic: Callable[[], float] = time.monotonic
        self._refusal_told = False
        logs.register_secret(credentials.api_key)
        for url in (config.api_url, config.user_hub_url, config.market_hub_url):
            for secret in url_secrets(url):  # a gateway URL may carry a password
                logs.register_secret(secret)

    # -- connection -----------------------------------------------------------------------------

    async def start(self) -> list[AccountUpdate]:
        """Log in and list the monitored accounts (retried with backoff)."""
        quiet_sdk_logging()
        client = ProjectX(self.credentials.username, self.credentials.api_key, config=self.config)
        # SDK trap: its request method sleeps a minute on a 429 (whatever Retry-After says)
        # before its one retry. What still goes through it (the login and its account listing,
        # the SDK's fallback for an enforcement request, which never retries) raises instead,
        # and is tried again at our pace (the login's backoff); reads never go through it
        client._make_request = MethodType(_MAKE_REQUEST, client)  # type: ignore[method-assign]
        await client.__aenter__()
        self.client = client
        # the login's answers tell the gateway's clock too: the start checks it (`gateway_clock`)
        self._hear_clock(client)
        await self._until_answered("the login", partial(self._first_login, client))
        self.health.since["start"] = self.now()
        self.wire = Wire(
            self.config.api_url,
            self._wire_headers,
            self.config.timeout_seconds,
            on_refused=self._wire_refused,
        )
        self.wire.warm()
        return await self._until_answered("the account list", self.accounts)

    async def _first_login(self, client: ProjectX) -> None:
        try:
            # the login and the SDK's account listing after it: two requests, two slots held
            # at once, so never at a priority a 429 holds back (the read let through alone
            # after it would wait on the other: `LOGIN`)
            async with self.budget.slot(LOGIN), self.budget.slot(LOGIN):
                await client.authenticate()
        except ProjectXAuthenticationError:
            # the SDK says only "Authentication failed": ask for the gateway's own answer
            # (a refusal is final, retrying cannot change it; its own trouble is not one)
            raise await self._login_failure() from None
        except ProjectXError as exc:
            if login.not_found(exc):
                raise FsmRiskError(login.no_login_at(self.config.api_url)) from None
            if type(exc) is ProjectXError and not str(exc).startswith("Unexpected "):
                # the SDK's word for a 4xx (its status dropped): ask for the gateway's own
                raise await self._login_failure(listed=False) from None
            raise

    async def _login_failure(self, listed: bool = True) -> Exception:
        """The gateway's own answer to the login, sorted: a refusal (final), or its trouble
        of the moment (`login.LoginNotAnswered`, tried again). ``listed``: the SDK's failure
        may have been the account listing after the login (a login taken now is final)."""
        status, code, message = await self._login_answer()
        user = self.credentials.username
        if login.refused(status, code) and (listed or status != 200):
            return FsmRiskError(logs.mask(login.refusal(user, status, code, message)))
        return login.LoginNotAnswered(logs.mask(login.not_answered(status, code, message)))

    async def _until_answered[T](self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` (a step of the start), tried again while the gateway is in trouble
        (`login.passing`), backing off, each failure said; a final failure raises at once,
        as does the last of `login_attempts` (for a command a person waits on)."""
        try:
            return await self._retried(what, call)
        except Exception as exc:
            if not login.passing(exc):
                raise
            raise FsmRiskError(
                f"{what} of {self.credentials.username!r} failed {self.login_attempts} times: "
                f"{logs.mask(login.what(exc))}; try again later"
            ) from None

    async def _retried[T](self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        async for attempt in AsyncRetrying(
            stop=stop_never
            if self.login_attempts is None
            else stop_after_attempt(self.login_attempts),
            wait=wait_exponential(multiplier=login.FIRST, max=login.LONGEST),
            retry=retry_if_exception(login.passing),
            before_sleep=partial(self._start_failed, what),
            reraise=True,
        ):
            with attempt:
                return await call()
        raise AssertionError("unreachable: the last try raises")  # pragma: no cover

    def _start_failed(self, what: str, state: RetryCallState) -> None:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        why = logs.mask(login.what(exc) if exc is not None else "no answer")
        self.on_start_failed(f"{what} failed: {why}")
        logger.warning(
            "{} {} of {!r} failed: {}; trying again in {:.1f} s (try {} failed). NOT "
            "ENFORCING until the gateway answers; the stored locks stay in force and apply "
            "as soon as it does",
            logs.ALERT,
            what,
            self.credentials.username,
            why,
            state.upcoming_sleep,
            state.attempt_number,
        )

    async def _login_refusal(self) -> str:
        """Why the gateway refused the login, in its own words and code (never the key)."""
        status, code, message = await self._login_answer()
        return logs.mask(login.refusal(self.credentials.username, status, code, message))

    async def _login_answer(self) -> tuple[int, int, str]:
        """The gateway's answer to one login of ours: its HTTP status (0: none came), its
        errorCode and errorMessage (0 and "" when it carried none)."""
        url = self.config.api_url.rstrip("/") + "/Auth/loginKey"
        body = {"userName": self.credentials.username, "apiKey": self.credentials.api_key}
        status = 0
        try:
            async with (
                self.budget.slot(),
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
                http.post(url, json=body) as reply,
            ):
                status = reply.status
                text = await reply.text()
            raw = json.loads(text) if text.strip() else {}
            if not isinstance(raw, dict):
                raw = {}
            return status, int(raw.get("errorCode") or 0), str(raw.get("errorMessage") or "")
        except Exception:  # the answer could not be read (no JSON: a page of the gateway's)
            return status, 0, ""

    def also_monitor(self, account_ids: Iterable[int]) -> None:
        """Monitor these accounts too, although ``[general] accounts`` leaves them out (a
        restriction of theirs has not ended): the listings (`accounts`, `balances`) keep them."""
        if self.account_filter:
            self.account_filter = (*self.account_filter, *(str(a) for a in account_ids))

    async def accounts(self, *, budgeted: bool = False) -> list[AccountUpdate]:
        """The monitored accounts as the gateway lists them (``budgeted``: the caller has
        already taken this read from the request budget)."""
        raw = await self._post("/Account/search", {"onlyActiveAccounts": True}, budgeted=budgeted)
        found = []
        listed = []
        for item in raw.get("accounts", []):
            try:
                acct = payloads.bounded(payloads.account(item), self.now())
            except payloads.PayloadError as exc:
                self._malformed(exc)
                continue
            listed.append(acct)
            if self.account_filter and not (
                str(acct.account_id) in self.account_filter or acct.name in self.account_filter
            ):
                continue
            found.append(acct)
        self.listed = listed
        return found

    async def open_realtime(
        self, account_ids: list[int], on_open: Callable[[int], None] = lambda account_id: None
    ) -> None:
        """One realtime client for the login: one user-hub connection subscribed to every
        account (in the order given) and one market-hub connection for the quotes.
        ``on_open(account_id)`` as soon as that account's user events are subscribed."""
        assert self.client is not None
        if not account_ids:
            return
        self.routed = list(dict.fromkeys(account_ids))
        self._monitored = frozenset(self.routed)
        rt = ProjectXRealtimeClient(
            self.client.get_session_token(), str(self.routed[0]), config=self.config
        )
        rt.stale_feed_seconds = float("inf")  # see the module docstring
        for name in USER_CALLBACKS:
            await rt.add_callback(name, self._user_callback(name))
        # the SDK hands quotes on latest-wins: a quote that comes while the one before it of
        # that contract waits to be handed on replaces it. A quote carries only the fields
        # that changed, so the one dropped can be the only word of a new bid or a new print
        # (a bid 5 ticks down, then a print in the same message: the bid was never seen).
        # Every record is handed on here, in order (`_on_quote` parses and queues, no more)
        rt._forward_quote_update = self._every_quote(rt)  # type: ignore[method-assign]

        async def connect() -> None:
            if not await rt.connect():
                raise ConnectionError("the user and market hubs did not open")

        # a gateway in trouble after the login is waited out as at the login (`_retried`)
        await self._retried("the hubs' opening", connect)
        self.hubs = self.market = rt
        self.health.market_connected = True
        self._subscribe_user = rt.subscribe_user_updates
        # after every reconnect the SDK re-subscribes by calling the instance's
        # ``subscribe_user_updates``: it goes through `resync`, which subscribes every account
        # again on a new user connection and reconciles them (nothing falls between the
        # snapshot and the live feed)
        rt.subscribe_user_updates = self.resync  # type: ignore[method-assign]
        async with self._resync_lock:
            await self._subscribe_accounts(rt, on_open)
            self._market_ws = websocket(rt.market_connection)
        await self.sync_quotes()

    async def _subscribe_accounts(
        self, rt: ProjectXRealtimeClient, on_open: Callable[[int], None]
    ) -> bool:
        """Subscribe every account on the current user connection, the way the SDK subscribes
        its own: ``SubscribeAccounts`` (every account of the login) and, per account,
        ``SubscribeOrders``, ``SubscribePositions`` and ``SubscribeTrades`` with its id."""
        ws = websocket(rt.user_connection)
        assert self._subscribe_user is not None
        if not await self._subscribe_user():  # SubscribeAccounts and the first account
            return False
        first, *others = self.routed
        self._subscribed(first, on_open)
        hub = rt.user_connection
        if hub is None:
            return False
        try:
            for batch in _batches(others, SUBSCRIBE_BATCH):
                await _send_together(
                    hub,
                    [
                        (target, [account_id])
                        for account_id in batch
                        for target in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades")
                    ],
                )
                for account_id in batch:
                    self._subscribed(account_id, on_open)
        except Exception as exc:  # the connection went away: its reopening subscribes again
            logger.warning("{} user hub subscriptions interrupted: {!r}", logs.FEED, exc)
            return False
        self._user_ws = ws
        return True

    def _subscribed(self, account_id: int, on_open: Callable[[int], None]) -> None:
        self.health.user_connected[account_id] = True
        on_open(account_id)

    async def resync(self) -> bool:
        """Bring the subscriptions back after a hub reopened (the SDK calls this after every
        reconnect; the watchdog too, in case a subscription did not go through): a new user
        connection subscribes every account again and each is reconciled; a new market
        connection subscribes the watched quotes again. True when the user hub is subscribed."""
        rt = self.hubs
        if rt is None:
            return False
        async with self._resync_lock:
            market_ws = websocket(rt.market_connection)
            if market_ws is not None and market_ws is not self._market_ws:
                self._market_ws = market_ws
                self.health.reconnects += 1
                self.fresh_connections("the market hub reconnected")
                self.subscribed.clear()  # a reopened market hub knows no subscription
                await self.sync_quotes()
                logger.warning("{} market hub back; quotes subscribed again", logs.FEED)
            user_ws = websocket(rt.user_connection)
            if user_ws is None or user_ws is self._user_ws:
                return user_ws is not None
            self.fresh_connections("the user hub reconnected")
            if not await self._subscribe_accounts(rt, lambda account_id: None):
                return False
            self.health.reconnects += 1
            logger.warning(
                "{} user hub back; {} account(s) re-subscribed", logs.FEED, len(self.routed)
            )
        for account_id in self.routed:
            self.on_reconnect(account_id)
        return True

    async def stop(self) -> None:
        await self.session.stop()
        wire, self.wire = self.wire, None
        if wire is not None:
            await wire.close()
        rt, self.hubs, self.market = self.hubs, None, None
        if rt is not None:
            try:
                await asyncio.wait_for(rt.disconnect(), timeout=10)
            except Exception as exc:  # shutting down: note it, carry on
                logger.warning("realtime client did not disconnect cleanly: {}", exc)
        self.subscribed.clear()
        self._user_ws = self._market_ws = None
        if self.client is not None:
            await self.client.__aexit__(None, None, None)
            self.client = None

    # -- inbound ----------------------------------------------------------------------------------

    def _user_callback(self, name: str) -> Callable[[Any], None]:
        """One handler per record kind for every account: each record is routed by the account
        it names to that account alone, and parsed once."""
        converters: dict[str, tuple[str, Callable[[Any, int], Event]]] = {
            "account_update": ("account", lambda d, a: payloads.account(d)),
            "position_update": ("position", lambda d, a: self.positions.hub(d, a, self.now())),
            "order_update": (
                "order",
                lambda d, a: payloads.order(payloads.subscribed("order", d, a)),
            ),
            "trade_execution": (
                "trade",
                lambda d, a: payloads.trade(payloads.subscribed("trade", d, a)),
            ),
        }
        kind, convert = converters[name]

        def on_event(data: Any) -> None:
            # synchronous: the event reaches the queue in the order the SDK delivers it
            account_id: int | None = None
            try:
                account_id = self._owner(kind, data)
                if account_id is None:
                    return  # another account of the login, not monitored here
                self.health.last_user_event[account_id] = self.now()
                event = payloads.bounded(
                    convert(data, account_id), self.gateway_clock.latest(self.now())
                )
            except payloads.PayloadError as exc:
                self._malformed(exc, _named(kind, data))
                self._refused_live(kind, data, account_id)
                return
            except Exception as exc:  # an exception here would end the SDK's hub reader
                self._malformed(payloads.PayloadError(name, f"not understood: {exc!r}"))
                self._refused_live(kind, data, account_id)
                return
            if isinstance(event, Fill):
                self.positions.filled(event)  # to tell whose position update follows
            if self.health.accept(kind):
                logger.warning("{} {} records are accepted again", logs.FEED, kind)
            self.sink(event)

        return on_event

    def _refused_live(self, kind: str, data: Any, owner: int | None = None) -> None:
        """A user-hub record was refused: what it said is unknown, so the account it belongs
        to (named, or ``owner``: proven its owner, `_owner`) is read over REST at once
        (`on_doubt`: coalesced, one read running and one pending per account, in the request
        budget), not at the next periodic read. One that names no account, when the login has
        several: a position record saying its contract, size and side has its owner looked for
        (`on_unowned`: those that may own it first, then the others a few at a time; a first
        position in a contract nobody holds has no candidate), any other has every account it
        may belong to read."""
        named = _named(kind, data) if owner is None else owner
        if named is not None:
            doubted = [named] if named in self._monitored else []
        elif kind == "position" and len(self.routed) > 1:
            try:
                unowned = self.positions.unowned(data, self._monitored)
            except payloads.PayloadError:
                doubted = list(self.routed)
            else:
                self.on_unowned(unowned)
                return
        else:
            doubted = list(self.routed)
        for account_id in doubted:
            self.on_doubt(account_id)

    def _owner(self, kind: str, data: Any) -> int | None:
        """The monitored account a user-hub record belongs to (None: one not monitored).
        PayloadError when it cannot be told."""
        named = payloads.named_account(kind, data)
        if named is not None:
            return named if named in self._monitored else None
        if len(self.routed) == 1:
            return self.routed[0]  # the only account subscribed on the connection
        if kind != "position":
            raise payloads.PayloadError(kind, "'accountId' is missing")
        # an incremental position update may name no account: the one proven to own it;
        # otherwise whose it is, is looked for over REST (and none is guessed): the candidates
        # first, a few at a time (in a copier's book every account holds the contract)
        owners, proven = self.positions.owners(data, self._monitored)
        if proven:
            return owners[0]
        contract = payloads.unwrap(data).get("contractId")
        if not owners:
            raise payloads.PayloadError(kind, f"names no account, and none holds {contract}")
        unowned = self.positions.unowned(data, self._monitored)
        self.health.unattributed += 1
        logger.warning(
            "{} a position update in {} names no account; {} accounts may own it: looking for "
            "its owner",
            logs.FEED,
            contract,
            len(owners),
        )
        self.on_unowned(unowned)
        return None

    def _every_quote(self, rt: ProjectXRealtimeClient) -> Callable[..., None]:
        """The market hub's ``GatewayQuote`` handler: each record to `_on_quote`, none dropped
        (``[contract id, quote]``, or the two packed in one list)."""

        def forward(*args: Any) -> None:
            rt._mark_hub_message("market")
            if len(args) == 1 and isinstance(args[0], list | tuple):
                args = tuple(args[0])
            if len(args) < 2:
                self._malformed(payloads.PayloadError("quote", f"not understood: {args!r}"))
                return
            try:
                self._on_quote({"contract_id": args[0], "data": args[1]})
            except Exception as exc:  # pysignalr re-raises it: the market hub's reader would end
                self._malformed(payloads.PayloadError("quote", f"not understood: {exc!r}"))

        return forward

    def _on_quote(self, data: Any) -> None:
        cid = data.get("contract_id") if isinstance(data, dict) else None
        if not isinstance(cid, str) or cid not in self.watched:  # (a list is no key: no raise)
            if isinstance(cid, str) and cid in self.lingering:
                # nobody holds it: only the feed's freshness is noted, for whoever comes back
                self.health.last_quote[cid] = self.now()
            return  # a quote for a contract nobody holds costs nothing
        now = self.now()
        clock = self.gateway_clock
        try:
            event = payloads.bounded(
                payloads.quote(data.get("contract_id"), data.get("data"), now), clock.latest(now)
            )
            if clock.skew is not None and event.at is not now:  # (`now`: it came unstamped)
                clock.lag(now, event.at)  # its freshness judged on our time (`gateway_clock`)
                event = dataclasses.replace(event, at=clock.local(event.at))
        except payloads.PayloadError as exc:
            self._malformed(exc)
            return
        except Exception as exc:  # an exception here would end the market hub's reader
            self._malformed(payloads.PayloadError("quote", f"not understood: {exc!r}"))
            return
        self.health.last_quote[event.contract_id] = now
        if self.health.refused_in_a_row and self.health.accept("quote"):
            logger.warning("{} quote records are accepted again", logs.FEED)
        self.sink(event)

    def _malformed(
        self, exc: payloads.PayloadError, account_id: int | None = None, read: str = ""
    ) -> None:
        blind = self.health.refuse(exc.kind)
        logger.warning("{} skipped: {}", logs.FEED, exc)
        self.sink(Malformed(exc.kind, str(exc), account_id, blind, read))

    # -- quotes ----------------------------------------------------------------------------------

    async def watch(self, contract_id: str, on: bool) -> None:
        """Want (or no longer want) quotes for a contract; subscribed as soon as the market
        hub can take it (now, or once it is open or back)."""
        if on:
            self.watched.add(contract_id)
            self.lingering.pop(contract_id, None)
            if contract_id in self.subscribed:
                return  # still subscribed (it lingered): nothing to ask the hub
        else:
            self.watched.discard(contract_id)
            if self.linger > timedelta(0):
                self.lingering[contract_id] = self.now() + self.linger
                return  # dropped once the linger ends (`sync_quotes` then)
        await self.sync_quotes()

    def linger_ends(self) -> datetime | None:
        """When the first lingering subscription is due to be dropped (None: none lingers)."""
        return min(self.lingering.values(), default=None)

    def quotes_settled(self) -> bool:
        """The market hub has every wanted contract, and no other but lingering ones."""
        return self.watched <= self.subscribed <= self.watched | self.lingering.keys()

    async def sync_quotes(self) -> bool:
        """Make the market hub's subscriptions what is wanted (the watched contracts, and the
        lingering ones while their time lasts). True when they are."""
        now = self.now()
        for cid in [c for c, until in self.lingering.items() if until <= now]:
            del self.lingering[cid]
        market = self.market
        if market is None or not market.market_connected:
            return False
        async with self._sync_lock:
            for cid in sorted(self.watched - self.subscribed):
                if await market.subscribe_market_data([cid]):
                    self.subscribed.add(cid)
                else:
                    logger.warning("{} quotes for {} not subscribed yet", logs.FEED, cid)
            for cid in sorted(self.subscribed - self.watched - self.lingering.keys()):
                if cid in self.watched:
                    continue  # wanted again while an earlier one was dropped
                self.subscribed.discard(cid)
                await market.unsubscribe_market_data([cid])
            return self.quotes_settled()

    async def instrument(self, contract_id: str) -> InstrumentInfo | None:
        """The contract's tick size and value (``/Contract/searchById``); None when the gateway
        has no such contract (it refuses the request, or answers with no contract or one that
        cannot be valued). A position waits on this answer before it is closed (see
        `core.unpriced`): a read enforcement waits on, never ahead of a close. Raises when the
        gateway does not answer."""
        raw = await self._post(
            "/Contract/searchById", {"contractId": contract_id}, priority=Priority.READ_FOR_CLOSE
        )
        if not raw.get("success", True) or raw.get("contract") is None:
            logger.warning(
                "{} contract {}: the gateway has no such contract ({})",
                logs.FEED,
                contract_id,
                raw.get("errorMessage") or f"errorCode {raw.get('errorCode')}",
            )
            return None
        try:
            return payloads.bounded(payloads.contract(raw.get("contract")), self.now())
        except payloads.PayloadError as exc:
            logger.warning("{} contract {}: {}", logs.FEED, contract_id, exc)
            return None

    async def contracts(self) -> list[InstrumentInfo]:
        """Every contract the gateway lists (``/Contract/available``, ``live`` false: the
        contracts of the accounts' own data feed), with its tick size and value: one read,
        at `Priority.READ`. An entry that cannot be valued is left out, counted in a warning.
        Raises when the gateway does not answer or refuses."""
        raw = await self._post("/Contract/available", {"live": False})
        if not raw.get("success", True):
            raise ProjectXError(f"/Contract/available: {raw.get('errorMessage') or 'refused'}")
        listed = raw.get("contracts")
        if not isinstance(listed, list):
            raise ProjectXError("/Contract/available: no list of contracts")
        found: list[InstrumentInfo] = []
        refused: list[str] = []
        now = self.now()
        for entry in listed:
            try:
                found.append(payloads.bounded(payloads.contract(entry), now))
            except payloads.PayloadError as exc:
                refused.append(str(exc))
        if refused:
            logger.warning(
                "{} /Contract/available: {} of {} contract(s) left out (first: {})",
                logs.FEED,
                len(refused),
                len(listed),
                refused[0],
            )
        return found

    async def price_before(self, contract_id: str, at: datetime) -> Decimal | None:
        """The close of the last one-minute bar ending at or before ``at`` (the last trade
        before it: the market may be closed at that instant, e.g. the 16:00-17:00 Chicago
        break, or over a weekend), from the gateway's bar history; None when it has no such
        bar. One read from the budget; a refusal raises `ProjectXError`."""
        raw = await self._post(
            "/History/retrieveBars",
            {
                "contractId": contract_id,
                "live": False,
                "startTime": (at - PRICE_LOOKBACK).isoformat(),
                "endTime": at.isoformat(),
                "unit": 2,  # minutes
                "unitNumber": 1,
                "limit": 5,  # the newest bars up to the end: the one wanted is among them
                "includePartialBar": False,
            },
        )
        best: tuple[datetime, Decimal] | None = None
        for opened, close in _bars(raw, contract_id):
            if opened + timedelta(minutes=1) <= at and (best is None or opened > best[0]):
                best = (opened, close)
        return None if best is None else best[1]

    async def last_price(self, contract_id: str) -> Decimal | None:
        """The last price traded (the close of the newest one-minute bar, the one still
        forming included) from the gateway's bar history: what prices a held contract whose
        quotes have stopped. None when it has no bar in the last `LAST_PRICE_LOOKBACK`. One
        read, at `Priority.PRICE` (a breach may wait on it, but a cancel waiting goes first); a
        refusal raises `ProjectXError`. Its window is on the gateway's time (`GatewayClock.
        latest`): on this machine's, with its clock minutes behind, the bars of those minutes
        were never asked for and the price was minutes old."""
        now = self.gateway_clock.latest(self.now())
        raw = await self._post(
            "/History/retrieveBars",
            {
                "contractId": contract_id,
                "live": False,
                "startTime": (now - LAST_PRICE_LOOKBACK).isoformat(),
                "endTime": (now + timedelta(minutes=1)).isoformat(),
                "unit": 2,  # minutes
                "unitNumber": 1,
                "limit": 2,
                "includePartialBar": True,
            },
            priority=Priority.PRICE,
            tagged=False,
        )
        best: tuple[datetime, Decimal] | None = None
        for opened, close in _bars(raw, contract_id):
            if best is None or opened > best[0]:
                best = (opened, close)
        return None if best is None else best[1]

    async def requote(self, contract_ids: Iterable[str], reconnect: bool) -> None:
        """The market hub is connected and silent for these contracts: subscribe their quotes
        again (unsubscribe, subscribe), or (``reconnect``) close the market websocket, which
        the SDK opens again (its subscriptions are made again by `resync`)."""
        market = self.market
        if market is None or not market.market_connected:
            return  # not connected: the reader's restart reopens it (`revive_readers`)
        if reconnect:
            logger.warning("{} market hub silent: reconnecting it", logs.FEED)
            await close_transport(market.market_connection)
            return
        wanted = sorted(contract_ids)
        logger.warning("{} no quotes: subscribing {} again", logs.FEED, ", ".join(wanted))
        async with self._sync_lock:
            for cid in sorted(set(wanted) & self.subscribed):
                await market.unsubscribe_market_data([cid])
                self.subscribed.discard(cid)
        await self.sync_quotes()

    # -- reconciliation ---------------------------------------------------------------------------

    async def snapshot(self, account_id: int, since: datetime) -> list[Event]:
        """The gateway's truth for one account, as events in the order to apply them:
        every trade since ``since`` (oldest first), the balance (read after the trades, so it
        includes every trade listed), then open positions and open orders (the engine closes
        what it holds that is no longer listed)."""
        ticket = next(self._snapshots)
        self._unlisted.add(ticket)
        try:
            return await self._snapshot(account_id, since, ticket)
        finally:
            self._asked(ticket)

    async def _snapshot(self, account_id: int, since: datetime, ticket: int) -> list[Event]:
        # the working orders are read first: a close that fills after this read shows in the
        # positions read next, so a close still working is never mistaken for none
        raw_orders = await self._open_orders(account_id)
        events: list[Event] = [*await self._trades(account_id, since, ticket)]
        events.extend(await self._positions(account_id))
        events.extend(self._orders(account_id, raw_orders))
        return events

    async def enforcing_snapshot(self, account_id: int) -> list[Event]:
        """The part of `snapshot` that enforcement needs, in two reads: open positions, then
        open orders (read first, as there). The trades and the balance are `history`."""
        raw_orders = await self._open_orders(account_id)
        return [*await self._positions(account_id), *self._orders(account_id, raw_orders)]

    async def history(self, account_id: int, since: datetime) -> list[Event]:
        """The rest of `snapshot`: every trade since ``since`` (oldest first), then the
        balance (one read, and the shared listing)."""
        ticket = next(self._snapshots)
        self._unlisted.add(ticket)
        try:
            return await self._trades(account_id, since, ticket)
        finally:
            self._asked(ticket)

    async def _open_orders(self, account_id: int) -> list[Any]:
        raw = await self._post("/Order/searchOpen", {"accountId": account_id})
        orders: list[Any] = raw.get("orders", [])
        return orders

    async def _trades(self, account_id: int, since: datetime, ticket: int) -> list[Event]:
        end = self.gateway_clock.latest(self.now()) + READ_END_AHEAD
        fills, _ = await self._trade_search(account_id, since, end)
        events: list[Event] = [*fills]
        urgent = account_id in self.reads_for_enforcement
        foreseen = account_id in self.reads_foreseen
        listed = await self.balances(ticket, urgent=urgent, foreseen=foreseen)
        events.extend(a for a in listed if a.account_id == account_id)
        return events

    async def trades_between(
        self, account_id: int, start: datetime, end: datetime
    ) -> list[Fill] | None:
        """The account's trades from ``start`` to ``end`` alone, oldest first: one
        ``/Trade/search`` in the request budget, no balance (a firm's reset's confirming read).
        None when an entry was refused: what it lists is not known whole."""
        fills, refused = await self._trade_search(account_id, start, end)
        return None if refused else fills

    def _received(self) -> datetime:
        """What a REST answer's records are bounded by (`payloads.bounded`): this machine's
        time, moved on by the gateway's lead (`GatewayClock.latest`), as for the live feed's:
        a record is refused as stamped in the future only when it is ahead of the gateway's
        time too (this machine's clock 5 minutes behind refused the trades and positions of
        those minutes, and a positions read with an entry refused fails whole)."""
        return self.gateway_clock.latest(self.now())

    async def _trade_search(
        self, account_id: int, start: datetime, end: datetime
    ) -> tuple[list[Fill], int]:
        """The trades listed from ``start`` to ``end``, oldest first, and how many entries
        were refused (counted as any malformed payload)."""
        raw = await self._post(
            "/Trade/search",
            {
                "accountId": account_id,
                "startTimestamp": start.isoformat(),
                "endTimestamp": end.isoformat(),
            },
        )
        fills: list[Fill] = []
        refused = 0
        for i, t in enumerate(raw.get("trades", [])):
            if i and i % PARSE_SLICE == 0:
                # a week of trades (every periodic read) is parsed in slices, the loop running
                # between them: a breach heard meanwhile is not held behind the whole parse
                await asyncio.sleep(0)
            try:
                fills.append(payloads.bounded(payloads.trade(t), self._received()))
            except payloads.PayloadError as exc:
                refused += 1
                self._malformed(exc)
        fills.sort(key=lambda f: (f.at, f.trade_id))
        return fills, refused

    async def _positions(self, account_id: int) -> list[Event]:
        """The open positions listed, each remembered (`PositionShapes.seen`), and what the
        listing shows stale forgotten (`PositionShapes.whole`). A listing with an entry
        refused raises `IncompleteRead`."""
        path = "/Position/searchOpen"
        positions: list[Event] = []
        before = self.positions.mark(account_id)
        for p in (await self._post(path, {"accountId": account_id})).get("positions", []):
            try:
                found = payloads.bounded(self.positions.listed(p), self._received())
            except payloads.PayloadError as exc:
                self._incomplete(account_id, path, exc)
            position = self.positions.seen(found)
            positions.append(dataclasses.replace(position, snapshot=True))
        self._whole(account_id, path)
        listed = {p.contract_id for p in positions if isinstance(p, PositionEvent)}
        self.positions.whole(account_id, listed, before)
        return positions

    def _orders(self, account_id: int, raw_orders: list[Any]) -> list[Event]:
        """The working orders listed. A listing with an entry refused raises `IncompleteRead`."""
        path = "/Order/searchOpen"
        orders: list[Event] = []
        for o in raw_orders:
            try:
                orders.append(payloads.bounded(payloads.order(o), self._received()))
            except payloads.PayloadError as exc:
                self._incomplete(account_id, path, exc)
        self._whole(account_id, path)
        return orders

    def _incomplete(self, account_id: int, path: str, exc: payloads.PayloadError) -> NoReturn:
        """An entry of the account's listing ``path`` was refused: counted as any refusal, an
        alarm the first time since the listing was last read whole, and the read fails."""
        first = (account_id, path) not in self.incomplete
        self.incomplete[(account_id, path)] = exc.reason
        self._malformed(exc, account_id, read=path if first else "")
        raise IncompleteRead(account_id, path, exc)

    def _whole(self, account_id: int, path: str) -> None:
        if self.incomplete.pop((account_id, path), None) is not None:
            logger.warning(
                "{} account {}: {} is listed whole again; its reads are used", logs.FEED,
                account_id, path,
            )  # fmt: skip

    async def balances(
        self, ticket: int | None = None, *, urgent: bool = False, foreseen: bool = False
    ) -> list[AccountUpdate]:
        """Every monitored account's balance from one ``/Account/search``, shared: whoever asks
        while a listing is not sent yet gets that listing. It is sent after each of them asked,
        so it is as new as a read of their own (it includes every trade they read before
        asking), and N accounts reconciled together cost one read instead of N. Before it is
        sent it waits (at most `LISTING_GATHER_SECONDS`) for the snapshots already under way
        (``ticket``: the asker's own) to ask too: they do after their trades. ``urgent``: for
        a read enforcement waits on (see `for_enforcement`): a listing of their own, sent at
        once in that priority; ``foreseen``: for one a breach foreseen waits on (see
        `for_foreseen`): the same, at `Priority.FORESEEN`."""
        if ticket is not None:
            self._asked(ticket)
        priority = read_priority(urgent, foreseen)
        waiting = self._listings[priority]
        if waiting is not None:
            return list(await asyncio.shield(waiting))
        listing = self._listings[priority] = asyncio.get_running_loop().create_future()
        try:
            try:
                if priority is Priority.READ:
                    await self._gather(set(self._unlisted))
                await self.budget.acquire(priority)
            finally:
                self._listings[priority] = None  # sent (or never): later askers need a later one
            found = await self.accounts(budgeted=True)
        except BaseException as exc:
            # those who joined fail like a read of their own (never as if cancelled themselves)
            failed = exc if isinstance(exc, Exception) else ProjectXError("listing cancelled")
            listing.set_exception(failed)
            listing.exception()  # (retrieved: no joiner is needed to see it)
            raise
        listing.set_result(found)
        return list(found)

    def _asked(self, ticket: int) -> None:
        if ticket in self._unlisted:
            self._unlisted.discard(ticket)
            self._unlisted_shrank.set()

    async def _gather(self, others: set[int]) -> None:
        """Wait until none of ``others`` is a snapshot still to ask for its balance."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LISTING_GATHER_SECONDS
        while others & self._unlisted and (remaining := deadline - loop.time()) > 0:
            self._unlisted_shrank.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._unlisted_shrank.wait(), remaining)

    async def exposure(self, account_id: int) -> bool:
        """Whether the gateway holds an open position for the account (one read): what
        decides, at start-up, whether its full reconciliation jumps ahead. A position it
        cannot parse counts as one (urgent is the safe side)."""
        raw = await self._post("/Position/searchOpen", {"accountId": account_id})
        for p in raw.get("positions", []):
            try:
                if self.positions.seen(payloads.position(p)).size > 0:
                    return True
            except payloads.PayloadError as exc:
                self._malformed(exc)
                return True
        return False

    # -- enforcement ------------------------------------------------------------------------------

    async def close(
        self, account_id: int, contract_id: str, turn: Turn | None = None
    ) -> EnforcementResult:
        """Close the whole position; ``turn``: told when the close waits for its slot in the
        budget, and asked once it has it whether it is still to be sent (see `_enforce`)."""
        return await self._enforce(
            "/Position/closeContract",
            {"accountId": account_id, "contractId": contract_id},
            Priority.CLOSE,
            turn,
        )

    async def reduce(
        self,
        account_id: int,
        contract_id: str,
        size: int,
        turn: Turn | None = None,
    ) -> EnforcementResult:
        """Close ``size`` contracts of the position; ``turn`` as `close`'s."""
        return await self._enforce(
            "/Position/partialCloseContract",
            {"accountId": account_id, "contractId": contract_id, "size": size},
            Priority.CLOSE,
            turn,
        )

    async def order(self, account_id: int, order_id: int) -> OrderUpdate | None:
        """One order as the gateway has it now (None: unknown or unreadable): the read after
        a refused cancel or resize, an ordinary read even while a close's read of the account
        makes its reads urgent (`for_enforcement`), and never moved up with them. At a close's
        read priority, with a chaotic trader, 48 of them took the window in a flood."""
        data = {"accountId": account_id, "orderId": order_id}
        raw = await self._post("/Order/searchById", data, priority=Priority.READ, tagged=False)
        try:
            return payloads.order(raw.get("order"))
        except payloads.PayloadError:
            return None

    async def open_position(self, account_id: int, contract_id: str) -> PositionEvent | None:
        """The gateway's open position in one contract now (None: flat). A listing with an
        entry refused raises `IncompleteRead`: that entry may be this position."""
        path = "/Position/searchOpen"
        raw = await self._post(path, {"accountId": account_id})
        held = None
        for p in raw.get("positions", []):
            try:
                listed = payloads.bounded(self.positions.listed(p), self._received())
                found = self.positions.seen(listed)
            except payloads.PayloadError as exc:
                self._incomplete(account_id, path, exc)
            if found.contract_id == contract_id and found.size > 0:
                held = found
        self._whole(account_id, path)
        return held

    async def cancel(
        self, account_id: int, order_id: int, turn: Turn | None = None
    ) -> EnforcementResult:
        """Cancel an order; ``turn`` as `close`'s (an order that ended while the cancel
        waited for the budget needs none: sent, it is refused, and a read follows)."""
        data = {"accountId": account_id, "orderId": order_id}
        return await self._enforce("/Order/cancel", data, Priority.CANCEL, turn)

    async def resize(
        self, account_id: int, order_id: int, size: int, turn: Turn | None = None
    ) -> EnforcementResult:
        """Change a working order's size, its prices as they are. The fields not changed are
        left out, as the SDK's own modify leaves them: a price sent as null could read as one
        taken away from a stop. ``turn`` as `cancel`'s."""
        return await self._enforce(
            "/Order/modify",
            {"accountId": account_id, "orderId": order_id, "size": size},
            Priority.CANCEL,
            turn,
        )

    async def _enforce(
        self,
        path: str,
        data: dict[str, Any],
        priority: Priority,
        turn: Turn | None = None,
    ) -> EnforcementResult:
        """Send one enforcement request in the budget. ``turn`` is told when it waits for its
        slot (`Turn.waits`), and asked once it has it (`Turn.wanted`): False, it is not sent
        (`EnforcementResult.superseded`). A close that waited for the budget may have been
        judged done meanwhile (the trader's own exit got there first) or replaced by a newer
        one: sent, it would take the position past its target (seen: five reduces of 1 queued
        behind a full window went out within 24 ms, long 3 ended short 1; a stop's close,
        judged done when he sold himself, closed his next trade); a cancel's order may have
        ended (sent, it is refused, and a read follows)."""
        await self.budget.acquire(priority, on_wait=None if turn is None else turn.waits)
        if turn is not None and not turn.wanted():
            self.budget.give_back(priority)
            return EnforcementResult(False, f"{path}: not sent: no longer wanted", superseded=True)
        try:
            raw = await self._post(path, data, priority=priority, budgeted=True)
        except RateLimited as exc:
            return EnforcementResult(False, str(exc), limited=True)
        except TokenRefused as exc:
            # turned away, as a 429: again a second after the service has logged in again
            # (the login under way, started by the refusal; answered only once it succeeds:
            # sent again meanwhile, each refused the same, one a second while logins failed)
            await self.session.wait()
            return EnforcementResult(False, str(exc), limited=True, token_refused=True)
        except AnsweredInDoubt as exc:
            return EnforcementResult(
                False, f"{path}: outcome unknown ({exc})", uncertain=True, answered=exc.answered
            )
        except OrderSubmissionUncertainError as exc:
            return EnforcementResult(False, f"{path}: outcome unknown ({exc})", uncertain=True)
        except ProjectXError as exc:
            return EnforcementResult(False, f"{path}: {exc}")
        if raw.get("success", False):
            order_id = raw.get("orderId")
            return EnforcementResult(True, order_id=int(order_id) if order_id else None)
        return EnforcementResult(
            False, f"{path}: {raw.get('errorMessage') or 'refused'} (code {raw.get('errorCode')})"
        )

    # -- plumbing ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def for_enforcement(self, account_id: int) -> Iterator[None]:
        """While this lasts, the account's reads go at `Priority.READ_FOR_CLOSE`: enforcement
        waits on them (a close not confirmed in time is re-sent only once the gateway is read;
        an enforcement request answered with no clear outcome is followed by a read)."""
        with self._reads_at(self.reads_for_enforcement, account_id, Priority.READ_FOR_CLOSE):
            yield

    @contextlib.contextmanager
    def for_foreseen(self, account_id: int) -> Iterator[None]:
        """While this lasts, the account's reads go at `Priority.FORESEEN` (after closes, the
        reads a close waits on and cancels, before every other read, past the reads' share):
        a breach its balance's move foresees waits on them (`core.foreseen`)."""
        with self._reads_at(self.reads_foreseen, account_id, Priority.FORESEEN):
            yield

    @contextlib.contextmanager
    def _reads_at(
        self, waiting: dict[int, int], account_id: int, priority: Priority
    ) -> Iterator[None]:
        """The account's reads at ``priority`` while this lasts (counted in ``waiting``: nested
        uses end with the last); a read of it already waiting is promoted too."""
        waiting[account_id] = waiting.get(account_id, 0) + 1
        self.budget.promote(account_id, priority)
        try:
            yield
        finally:
            if (n := waiting.pop(account_id) - 1) > 0:
                waiting[account_id] = n

    async def _post(
        self,
        path: str,
        data: dict[str, Any],
        *,
        priority: Priority | None = None,
        budgeted: bool = False,
        tagged: bool = True,
    ) -> dict[str, Any]:
        """One request in the budget (``budgeted``: the caller has taken its slot), its slot
        released once it is answered. A read goes at `Priority.READ`, or `READ_FOR_CLOSE` for
        an account `for_enforcement` names; one the gateway could not answer for the moment
        goes again (`READ_SENDS`), each send in the budget. ``tagged``: an ordinary read
        waiting moves up when its account's reads become urgent (`RequestBudget.promote`).

        The SDK's own policy for reads is not used: it sends a read up to three times on a
        5xx or a lost connection and, on a 429, sleeps a minute (whatever Retry-After says)
        and sends it again, all of it inside one slot of ours. The gateway counted three
        requests where the budget counted one, and a read a close waits on stood still for
        a minute."""
        if priority is None:
            account_id = data.get("accountId")
            urgent = account_id in self.reads_for_enforcement
            priority = read_priority(urgent, account_id in self.reads_foreseen)
        if priority not in READS:
            return await self._post_once(path, data, priority, budgeted, tagged)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(READ_SENDS),
            wait=_read_wait,
            retry=retry_if_exception_type(_TRANSIENT),
            before_sleep=partial(_read_again, path),
            reraise=True,
        ):
            with attempt:
                first = attempt.retry_state.attempt_number == 1
                return await self._post_once(path, data, priority, budgeted and first, tagged)
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    async def _post_once(
        self,
        path: str,
        data: dict[str, Any],
        priority: Priority,
        budgeted: bool,
        tagged: bool = True,
    ) -> dict[str, Any]:
        if not budgeted:
            account = data.get("accountId")
            ordinary = tagged and priority is Priority.READ and isinstance(account, int)
            await self.budget.acquire(priority, account if ordinary else None)
        held = True  # its slot, until it is answered
        try:
            client = self.client
            if client is None:
                raise ProjectXError("not connected")
            token = client.session_token
            self._hear_clock(client)
            try:
                raw = await self._send(client, path, data, priority)
            except ProjectXAuthenticationError:
                # the gateway refuses the token (a mutating request never raises this: the
                # wire answers it `TokenRefused`, the SDK behind a proxy "maybe sent"): answered,
                # its slot goes back (the login needs one: a slot held while waiting for it
                # could leave none), and once logged in again the read is tried once more
                held = False
                self.budget.release()
                if not await self.session.renewed(token, f"{path} answered 401"):
                    raise
                async with self.budget.slot(priority):
                    raw = await _read_once(client, path, data)
        except (ProjectXRateLimitError, RateLimited) as exc:
            self._window_full(path, exc)
            raise
        finally:
            if held:
                self.budget.release()
        if not isinstance(raw, dict):
            raise ProjectXError(f"{path}: unexpected answer {type(raw).__name__}")
        return raw

    def _hear_clock(self, client: ProjectX) -> None:
        """Have the SDK's HTTP client tell `gateway_clock` the Date of every answer (once per
        client: the SDK makes one at its first request, and again after a login)."""
        http = getattr(client, "_client", None)
        if http is None or http is self._clock_heard_on:
            return
        self._clock_heard_on = http

        async def heard(response: Any) -> None:
            said = self.gateway_clock.heard(
                response.headers.get("date"), response.headers.get("age")
            )
            if said is None:
                return
            clock = self.gateway_clock
            self.health.clock_skew = None if clock.skew is None else clock.skew.total_seconds()
            if clock.skew is None:
                logger.info("{} {}", logs.FEED, said)
            else:
                logger.warning("{} {}", logs.ALERT, said)

        hooks = dict(http.event_hooks)
        http.event_hooks = {**hooks, "response": [*hooks.get("response", []), heard]}

    def _window_full(self, path: str, exc: ProjectXError) -> None:
        """A request answered 429: the gateway's window for the API key is full (another
        program on the same key, unseen by our budget). The budget holds the reads back
        (`RequestBudget.refused`); said once, when it learns it. The bars' own, smaller
        limit says nothing of that window."""
        if path in OWN_LIMIT:
            return
        asked = exc.retry_after if isinstance(exc, RateLimited) else _asked_wait(exc)
        wait = self.budget.refused(asked)
        if wait is not None:
            logger.warning(
                "{} {} answered 429: the gateway's request window for this API key is full "
                "(another program using the same API key?); reads wait {:.0f} s ({}), closes "
                "and cancels still go",
                logs.ALERT,
                path,
                wait,
                "its Retry-After" if asked is not None else "one window: no Retry-After given",
            )

    async def _send(
        self, client: ProjectX, path: str, data: dict[str, Any], priority: Priority
    ) -> Any:
        """Send a request whose slot is taken: an enforcement request on the wire (on a ready
        connection, else on one opened for it: never the SDK's, whose sockets cannot be reset
        when it times out; the SDK only when the wire is not used, behind a proxy); a read
        once (`_read_once`), given `READ_TIMEOUT` to be answered."""
        if priority in READS:
            try:
                return await asyncio.wait_for(_read_once(client, path, data), READ_TIMEOUT)
            except TimeoutError:
                # its connection may have gone silent (a NAT or load balancer dropped it
                # unsaid): the SDK's pool goes, so the next read opens a fresh one
                self.fresh_connections(f"{path} unanswered after {READ_TIMEOUT:.0f} s")
                raise ProjectXConnectionError(
                    f"{path}: no answer in {READ_TIMEOUT:.0f} s"
                ) from None
        # written before the first await (`Wire.send`) when a connection is ready
        answer = await self.wire.request(path, data) if self.wire is not None else None
        return answer if answer is not None else await client._make_request("POST", path, data=data)

    def fresh_connections(self, why: str) -> None:
        """Drop the SDK's pooled REST connections (and the wire's idle ones): a hub
        reconnected or a read went unanswered, and a connection may have gone silent without
        a reset; the SDK kept it up to 60 s and waited 30 s on each request sent on it."""
        client = self.client
        old = getattr(client, "_client", None)
        if client is not None and old is not None:
            client._client = None  # the SDK opens a new one at its next request
            task = asyncio.ensure_future(old.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        if self.wire is not None:
            self.wire.renew()
        logger.info("{} REST connections renewed: {}", logs.FEED, why)

    def _wire_headers(self) -> dict[str, str]:
        """What the SDK's client sends with a request: its headers and the current token."""
        assert self.client is not None
        return {
            "Accept": "application/json",
            "User-Agent": "ProjectX-Python-SDK/4.4.1",
            **self.client.headers,
            "Authorization": f"Bearer {self.client.session_token}",
        }

    def token_expiry(self) -> datetime | None:
        if self.client is None:
            return None
        expiry: datetime | None = getattr(self.client, "token_expiry", None)
        return expiry

    def renew_token(self) -> None:
        """Log in again ahead of the token's expiry (in the background; one login at a time)."""
        self.session.renew()

    def _session_token(self) -> str | None:
        return None if self.client is None else self.client.session_token

    async def _login_again(self) -> str | None:
        """One login (`session`'s): the new token, in the client for REST and the enforcement
        connections. A failed one leaves the client as it was (the SDK would have dropped its
        token, one that may still be good)."""
        client = self.client
        if client is None:
            raise ProjectXError("not connected")
        kept = (client.session_token, dict(client.headers), client.token_expiry)
        try:
            # the login and the SDK's account listing after it, ahead of every other request
            # (and uncapped): nothing goes without a token (see `LOGIN`)
            async with self.budget.slot(LOGIN), self.budget.slot(LOGIN):
                await client.authenticate()
        except Exception as exc:
            client.session_token, headers, client.token_expiry = kept
            client.headers.clear()
            client.headers.update(headers)
            if isinstance(exc, ProjectXAuthenticationError) and not self._refusal_told:
                self._refusal_told = True  # the gateway's own words, once per outage
                raise FsmRiskError(await self._login_refusal()) from None
            raise
        self._refusal_told = False
        logger.info("{} logged in; token expiry {}", logs.FEED, self.token_expiry())
        return client.get_session_token()

    async def _hand_over(self, token: str | None) -> None:
        """Give the realtime client the new token (it reopens both hubs with it and, through
        `resync`, subscribes every account again and reconciles them)."""
        rt = self.hubs
        if rt is not None and token:
            # SDK trap: disconnect() leaves the hubs' "ready" events set, so the connect()
            # inside update_jwt_token returns at once and fails; clear them first
            rt.user_hub_ready.clear()
            rt.market_hub_ready.clear()
            self._revived.clear()  # new connections: no restart to back off from
            if not await rt.update_jwt_token(token):
                logger.error("{} the hubs did not reopen with the new token", logs.ALERT)
        logger.info("{} token refreshed; next expiry {}", logs.FEED, self.token_expiry())

    def _read_all(self) -> None:
        """Logged in again after a refusal: read every account (what the trader did while the
        service was blind is enforced; coalesced with the reads the hubs' reopening asked)."""
        for account_id in self.routed:
            self.on_doubt(account_id)

    def _wire_refused(self, authorization: str | None) -> None:
        """An enforcement request was answered 401 (``authorization``: the header it carried)."""
        token = (authorization or "").removeprefix("Bearer ") or None
        self.session.rejected(token, "an enforcement request answered 401")

    def _authenticated(self, ok: bool) -> None:
        self.health.authenticated = ok

    def _hub_refused(self, name: str) -> None:
        rt = self.hubs
        token = None if rt is None else rt.jwt_token
        if token != self._session_token():
            # the hub ran on an older token than REST's (its hand-over failed): a new login
            # hands both hubs a token (backing off like any login)
            self.session.renew()
            return
        self.session.rejected(token, f"the {name} hub refused to negotiate")

    def poll_connections(self) -> None:
        """Refresh the connection flags shown in `status` from what is true: an account counts
        as connected only while the user hub's reader task runs on an open websocket on which
        its subscriptions were made (the SDK's own flags stay set when the reader dies of a
        record it cannot parse)."""
        rt = self.hubs
        if rt is None:
            return
        user = reader_alive(rt.user_connection) and websocket(rt.user_connection) is self._user_ws
        for account_id in self.routed:
            self.health.user_connected[account_id] = user
        self.health.market_connected = reader_alive(rt.market_connection)

    async def revive_readers(self) -> list[str]:
        """Start again every hub reader whose task has ended (it never restarts by itself);
        once open it re-subscribes, and every account is reconciled. Then make sure the
        subscriptions are those of the open connections. Returns the hubs restarted.

        A reader ending again soon after its restart is started again after a wait that
        doubles (1 s up to `REVIVE_LONGEST`); one the gateway refused (its token) is not:
        the service logs in again, and the new token reopens both hubs."""
        rt = self.hubs
        if rt is None:
            return []
        revived = []
        for name, hub in (("user", rt.user_connection), ("market", rt.market_connection)):
            task = getattr(hub, "_run_task", None)
            if hub is None or task is None:
                continue
            now = self.monotonic()
            started, wait = self._revived.get(name, (float("-inf"), 0.0))
            if not task.done():
                if now - started >= REVIVE_QUIET:
                    self._revived.pop(name, None)  # it stayed up: the next restart goes at once
                continue
            exc = None if task.cancelled() else task.exception()
            if not self.session.authenticated or self.session.handing_over:
                continue  # logging in again: its new token reopens both hubs
            if refused(exc):
                self._hub_refused(name)
                continue
            if now < started + wait:
                continue
            self._revived[name] = (now, min(max(2 * wait, 1.0), REVIVE_LONGEST))
            logger.critical(
                "{} the {} hub reader ended ({}); starting it again",
                logs.ALERT,
                name,
                "cancelled" if task.cancelled() else repr(exc),
            )
            await close_transport(hub)
            try:
                await hub.start()
            except Exception as exc:
                logger.error("{} the {} hub did not start: {!r}", logs.ALERT, name, exc)
                continue
            self.health.readers_restarted += 1
            revived.append(name)
        await self.resync()
        return revived


def refused(exc: BaseException | None) -> bool:
    """Whether a hub reader ended because the gateway refused its token: the negotiation
    answered 401 (``AuthorizationError``), or the websocket's opening did."""
    if isinstance(exc, AuthorizationError):
        return True
    response = getattr(exc, "response", None)  # websockets' InvalidStatus
    return getattr(response, "status_code", None) == 401


def _batches(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _send_together(hub: Any, calls: list[tuple[str, list[Any]]]) -> None:
    """Send several hub invocations in one websocket message. The JSON hub protocol ends every
    record with 0x1E, so records may share a message; each is encoded by the SDK's own
    protocol, as its ``send`` would (no invocationId: nothing is answered), and the message is
    sent under the hub's send lock. A hub without that transport sends them one by one."""
    client = getattr(hub, "_client", None)
    transport = getattr(client, "_transport", None)
    protocol = getattr(transport, "_protocol", None)
    ws = getattr(transport, "_ws", None)
    lock = getattr(hub, "_send_lock", None)
    if protocol is None or ws is None or lock is None:
        for target, arguments in calls:
            await invoke_maybe(hub.send, target, arguments)
        return
    from pysignalr.messages import InvocationMessage

    headers = getattr(client, "_headers", None) or {}
    text = "".join(
        protocol.encode(InvocationMessage(None, target, arguments, headers))
        for target, arguments in calls
    )
    async with lock:
        await ws.send(text)


def websocket(hub: Any) -> Any:
    """The websocket an SDK hub runs on now (None when it has none): a new one after every
    reconnect."""
    transport = getattr(getattr(hub, "_client", None), "_transport", None)
    return getattr(transport, "_ws", None)


def _named(kind: str, data: Any) -> int | None:
    """The account a record names, if it names one readably."""
    try:
        return payloads.named_account(kind, data)
    except payloads.PayloadError:
        return None


def reader_alive(hub: Any) -> bool:
    """True while the SDK hub's reader task runs on an open websocket."""
    task = getattr(hub, "_run_task", None)
    if task is None or task.done():
        return False
    ws = websocket(hub)
    return ws is not None and getattr(ws.state, "name", "") == "OPEN"


async def close_transport(hub: Any) -> None:
    """Close the websocket a dead reader left open (the gateway would keep it forever)."""
    transport = getattr(getattr(hub, "_client", None), "_transport", None)
    ws = getattr(transport, "_ws", None)
    if ws is not None:
        try:
            await asyncio.wait_for(ws.close(), timeout=2)
        except Exception as exc:  # it is being replaced anyway
            logger.debug("old hub websocket not closed cleanly: {!r}", exc)


async def _read_once(client: ProjectX, path: str, data: dict[str, Any]) -> Any:
    """One send of a read through the SDK's client, with no retry of its own: a 401 raises
    `ProjectXAuthenticationError` (the session logs in again), a 429 `ProjectXRateLimitError`,
    a 5xx or a lost connection `ProjectXServerError` / `ProjectXConnectionError`
    (``retry_count=1`` tells the SDK the token was already refreshed once)."""
    return await client._execute_http_request("POST", path, data=data, retry_count=1)


def _asked_wait(exc: BaseException) -> float | None:
    """The Retry-After a read's 429 carried, in seconds, as the SDK words it (it says 60 when
    the gateway gave none: one window of the gateway's)."""
    found = re.search(r"retry after (\d+)\s*s", str(exc))
    return float(found.group(1)) if found else None


def _read_wait(state: RetryCallState) -> float:
    """How long before a read goes again: what a 429 asked (its Retry-After, within
    `READ_RETRY_WAIT`), else 1 s, then 2 s. (After a 429 the budget holds it back too, until
    the gateway's window has room: `RequestBudget.refused`.)"""
    low, high = READ_RETRY_WAIT
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    if isinstance(exc, ProjectXRateLimitError):
        asked = _asked_wait(exc)
        return float(min(max(low if asked is None else asked, low), high))
    return min(low * 2 ** (state.attempt_number - 1), high)


def _read_again(path: str, state: RetryCallState) -> None:
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    logger.debug(  # (the caller says so if the last send fails too; a full window is many)
        "{} {} not answered ({}): sent again in {:.0f} s (send {} of {})",
        logs.FEED,
        path,
        exc,
        state.upcoming_sleep,
        state.attempt_number + 1,
        READ_SENDS,
    )
