"""Replay: the pure engine over what an account saw, on a simulated clock.

Two ways to replay:

- ``replay_exact`` feeds the service's journal verbatim (every event at the instant the live
  engine was given it, the scheduler's ticks included) into a fresh engine: under the same
  settings it reproduces the live audit log and effects exactly. This is the proof that the
  journal is complete.
- ``Replay`` answers "what would these settings have done": it keeps only what the trader and
  the market did (the trader's orders and fills, quotes, balances, instruments) and lets the
  engine under the given settings decide the rest. The scheduler's ticks are re-derived from
  the engine's own deadlines (``next_deadline``), and the live service's enforcement (its close
  orders and their fills) is left out: a simulated broker carries out what the replayed engine
  asks instead. A close fills at the mark of that moment; a cancel cancels; while a scope is
  locked or flattening, the trader's fills that would open or add exposure are not taken (they
  are reported as blocked); exits of positions the replay already closed have nothing left to
  close. Two books run side by side: the P&L actually made (the gateway's fills as they
  happened) and the P&L had the enforcement happened.

Everything here is pure (no I/O, no clock): sources (`fsm_risk.replay_sources`) read the
journal or the gateway's history and hand over ordered ``Entry`` lists.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from fsm_risk.core import thaw
from fsm_risk.core.effects import (
    CancelOrder,
    ClosePosition,
    Effect,
    RecordTransition,
    ReducePosition,
    ResizeOrder,
)
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import (
    AccountUpdate,
    AdminCommand,
    CloseWord,
    EnforcementRejected,
    Event,
    Fill,
    InstrumentWord,
    Listing,
    OrderStatus,
    OrderUpdate,
    PositionType,
    PositionUpdate,
    Quote,
    SelfLock,
    Side,
    Tick,
    TradesSnapshot,
)
from fsm_risk.core.ledger import unlisted
from fsm_risk.core.models import ZERO, AccountModel, Mark
from fsm_risk.core.pnl import MarkMode, booked, mark_price
from fsm_risk.core.states import State
from fsm_risk.core.timers import ResetPrices, missed_resets
from fsm_risk.errors import FsmRiskError
from fsm_risk.rules.base import Rule

#: journal entries of the service's own calls into the engine (no account, no event)
RESTART, RESTORE, RULES, STAGE, APPLY_STAGED, NOTE = (
    "Restart",
    "Restore",
    "Rules",
    "Stage",
    "ApplyStaged",
    "Note",
)
RESUME = "Resume"  # an account's pending closes decided after a restart's reconciliation
#: the service frozen and resumed (its start, the prices at the resets passed), and its
#: accounts read since (see `core.thaw`)
THAW, THAWED = "Thaw", "Thawed"
#: ticks handled between two events before the replay gives up on a deadline that never moves
MAX_TICKS_PER_GAP = 10_000
_FIRING_TRIGGERS = ("breach", "lock")


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing the account saw: an event at the instant it was handled. Without an event:
    the start of monitoring an account named ``name`` or, without an account, one of the
    service's own calls into the engine (``name`` is its kind, ``data`` its arguments)."""

    at: datetime
    account_id: int | None
    event: Event | None
    name: str = ""
    data: tuple[Any, ...] = ()


class Recorded(Protocol):
    """The settings a journal was recorded under: builds engines and rule sets."""

    def engine(self, marks: dict[str, Mark]) -> RiskEngine: ...

    def rules(self, engine: RiskEngine, raw: dict[str, dict[str, str]]) -> list[Rule]: ...


# ==========================================================================================
# exact replay of a journal
# ==========================================================================================


@dataclass
class Exact:
    audit: list[Any] = field(default_factory=list)  # AuditEntry, in order
    effects: list[Effect] = field(default_factory=list)  # every effect but the audit records


def replay_exact(entries: Iterable[Entry], recorded: Recorded) -> Exact:
    """The journal verbatim through a fresh engine built from the recorded settings, the
    service's own calls included: a restart builds a new engine and restores the accounts
    into it from their stored form; settings replaced, staged, applied and noted as they were."""
    out = Exact()
    engine = recorded.engine({})
    stored: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for e in entries:
        if e.event is not None:
            with contextlib.suppress(FsmRiskError):  # an admin request refused live too
                _collect(out, engine.handle(e.event, e.at))
        elif e.account_id is not None:
            engine.add_account(e.account_id, e.name, e.at)
        elif e.name == RESTART:
            stored = [_stored(a) for _, a in sorted(engine.accounts.items())]
            engine = recorded.engine({c: replace(m) for c, m in engine.marks.items()})
        elif e.name == RESTORE:
            # as live: an account holding positions across a missed reset after the others,
            # at the prices read then (see `Service._restore_later`)
            prices = read_prices(e.data)
            if prices is not None:
                cal = engine.calendar
                stored.sort(key=lambda s: bool(missed_resets(cal, s[0], e.at)))  # (stable)
            for snap, contracts in stored:
                _collect(out, engine.restore_account(snap, contracts, e.at, at_reset=prices))
            stored = []
        elif e.name == RULES:
            raw, actor, detail = e.data
            rules = recorded.rules(engine, raw)
            _collect(out, engine.replace_rules(rules, e.at, actor=actor, detail=detail))
        elif e.name == STAGE:
            raw, at, detail = e.data
            if raw is None:
                engine.stage_rules(None, e.at)
            else:
                engine.stage_rules(recorded.rules(engine, raw), datetime.fromisoformat(at), detail)
        elif e.name == APPLY_STAGED:
            _collect(out, engine.apply_staged(e.at))
        elif e.name == NOTE:
            actor, detail = e.data
            _collect(out, engine.note_settings(e.at, actor=actor, detail=detail))
        elif e.name == RESUME:
            account_id, held = e.data
            _collect(out, engine.resume(account_id, set(held), e.at))
        elif e.name == THAW:
            since, prices = datetime.fromisoformat(e.data[0]), read_prices(e.data[1:]) or {}
            _collect(out, thaw.resumed(engine, since, prices, e.at))
        elif e.name == THAWED:
            answers = datetime.fromisoformat(e.data[1]) if len(e.data) > 1 else None
            _collect(out, thaw.thawed(engine, e.data[0], e.at, answers))
        engine.take_changes()
    return out


def journal_prices(prices: ResetPrices) -> dict[str, dict[str, str]]:
    """The prices a restore valued missed resets at, as the journal keeps them (JSON)."""
    return {at.isoformat(): {c: str(p) for c, p in by.items()} for at, by in prices.items()}


def read_prices(data: tuple[Any, ...]) -> ResetPrices | None:
    """A journaled restore's prices (None: journaled before restores were given prices)."""
    if not data:
        return None
    return {
        datetime.fromisoformat(at): {c: Decimal(p) for c, p in by.items()}
        for at, by in data[0].items()
    }


def _stored(acct: AccountModel) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An account as the store keeps it: JSON, the day's fills in time order (as the fill
    table returns them)."""
    snap = json.loads(json.dumps(acct.to_dict(), sort_keys=True))
    snap["day"]["fills"].sort(key=lambda f: (datetime.fromisoformat(f["at"]), f["trade_id"]))
    contracts = [
        json.loads(json.dumps(c.to_dict(), sort_keys=True)) for c in acct.contracts.values()
    ]
    return snap, contracts


def _collect(out: Exact, effects: list[Effect]) -> None:
    for fx in effects:
        if isinstance(fx, RecordTransition):
            out.audit.append(fx.entry)
        else:
            out.effects.append(fx)


# ==========================================================================================
# the counterfactual
# ==========================================================================================


@dataclass(frozen=True, slots=True)
class Firing:
    at: datetime
    account_id: int
    contract_id: str | None
    rule_id: str
    action: str  # flatten, close, reduce, lock
    lock: str | None  # the lock the rule holds (None: close-only)
    until: datetime | None
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "type": "firing",
            "account": self.account_id,
            "rule": self.rule_id,
            "at": self.at.isoformat(),
            "action": self.action,
            "contract": self.contract_id,
            "lock": self.lock,
            "until": self.until.isoformat() if self.until else None,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Blocked:
    """A trader's fill (or its opening part) the replayed enforcement would not have allowed."""

    at: datetime
    contract_id: str
    side: Side
    size: int
    price: Decimal
    trade_id: int
    state: str


@dataclass
class DaySummary:
    day: date
    actual: Decimal = ZERO
    replayed: Decimal = ZERO
    firings: int = 0
    rules: list[str] = field(default_factory=list)
    blocked: int = 0
    closes: int = 0
    limits: dict[str, Decimal] = field(default_factory=dict)

    def as_json(self, account_id: int) -> dict[str, Any]:
        return {
            "type": "day",
            "account": account_id,
            "day": self.day.isoformat(),
            "actual_pnl": f"{self.actual:.2f}",
            "replay_pnl": f"{self.replayed:.2f}",
            "difference": f"{self.replayed - self.actual:.2f}",
            "firings": self.firings,
            "rules": self.rules,
            "blocked_trades": self.blocked,
            "closes": self.closes,
        }


@dataclass
class Explanation:
    """The transition nearest a moment: what led to it and the rules' values then."""

    at: datetime
    transition: str
    events: list[tuple[datetime, str]]
    values: list[tuple[str, str, str, str]]  # rule id, value, limit, unit


@dataclass
class Report:
    account_id: int
    firings: list[Firing] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    days: dict[date, DaySummary] = field(default_factory=dict)
    #: (instant, actual equity change, replayed equity change) since the start
    curve: list[tuple[datetime, Decimal, Decimal]] = field(default_factory=list)
    locks: list[tuple[datetime, datetime | None, str]] = field(default_factory=list)
    day_starts: list[tuple[datetime, Decimal]] = field(default_factory=list)  # replayed equity
    explanation: Explanation | None = None
    events: int = 0
    ticks: int = 0

    @property
    def actual(self) -> Decimal:
        return sum((d.actual for d in self.days.values()), ZERO)

    @property
    def replayed(self) -> Decimal:
        return sum((d.replayed for d in self.days.values()), ZERO)


@dataclass(slots=True)
class _Lot:
    size: int  # signed: positive long
    price: Decimal
    at: datetime


class _Book:
    """Positions (first in, first out lots, so every amount stays exact) and realized P&L of
    one side of the comparison (net P&L: fees included)."""

    def __init__(self) -> None:
        self.lots: dict[str, deque[_Lot]] = {}
        self.realized = ZERO

    def net(self, cid: str) -> int:
        return sum(lot.size for lot in self.lots.get(cid, ()))

    def average(self, cid: str) -> Decimal:
        lots = self.lots[cid]
        size = sum(abs(lot.size) for lot in lots)
        return sum((abs(lot.size) * lot.price for lot in lots), ZERO) / size

    def opened(self, cid: str) -> datetime:
        return min(lot.at for lot in self.lots[cid])

    def snapshot(self, cid: str) -> list[tuple[int, Decimal, datetime]]:
        return [(lot.size, lot.price, lot.at) for lot in self.lots.get(cid, ())]

    def set(self, cid: str, size: int, price: Decimal, at: datetime) -> None:
        self.lots[cid] = deque([_Lot(size, price, at)])

    def apply(
        self, cid: str, delta: int, price: Decimal, at: datetime, point: Decimal | None
    ) -> Decimal:
        """Move ``cid`` by ``delta`` at ``price``; return the gross P&L of the lots closed
        (zero when the point value is unknown)."""
        lots = self.lots.setdefault(cid, deque())
        pnl = ZERO
        left = delta
        while left and lots and (lots[0].size > 0) != (left > 0):
            lot = lots[0]
            k = min(abs(lot.size), abs(left))
            sign = 1 if lot.size > 0 else -1
            if point is not None:
                pnl += (price - lot.price) * point * k * sign
            lot.size -= sign * k
            left += sign * k
            if lot.size == 0:
                lots.popleft()
        if left:
            lots.append(_Lot(left, price, at))
        if not lots:
            del self.lots[cid]
        return pnl

    def open_pnl(self, engine: RiskEngine) -> Decimal:
        total = ZERO
        for cid, lots in self.lots.items():
            price = _price(engine, cid, lots[0].size > 0)
            point = _point(engine, cid)
            if price is not None and point is not None:
                total += sum(((price - lot.price) * point * lot.size for lot in lots), ZERO)
        return total

    def equity(self, engine: RiskEngine) -> Decimal:
        return self.realized + self.open_pnl(engine)


def _point(engine: RiskEngine, cid: str) -> Decimal | None:
    inst = engine.instruments.get(cid)
    return None if inst is None else inst.tick_value / inst.tick_size


def _price(engine: RiskEngine, cid: str, long: bool) -> Decimal | None:
    m = engine.marks.get(cid)
    if m is None:
        return None
    p = mark_price(m, long, engine.settings.mark_mode)
    if p is None and engine.settings.mark_mode is MarkMode.LIQUIDATION:
        p = m.last
    return p if p is not None else (m.bid if long else m.ask)


class Replay:
    """One account's counterfactual: feed ``Entry``s in order, then ``finish``."""

    def __init__(
        self,
        engine: RiskEngine,
        account_id: int,
        *,
        own_trades: Iterable[int] = (),
        own_orders: Iterable[int] = (),
        curve: bool = False,
        explain_at: datetime | None = None,
        start: datetime | None = None,
    ) -> None:
        self.engine = engine
        self.start = start
        self.account_id = account_id
        self.cal = engine.calendar
        self.own_trades = set(own_trades)
        self.own_orders = set(own_orders)
        self.want_curve = curve
        self.explain_at = explain_at
        self.report = Report(account_id)
        self.actual = _Book()
        self.replayed = _Book()
        self.base: Decimal | None = None  # the balance before the window's first fill
        self.can_trade = True
        self.cancelled: set[int] = set()
        self.fee_rate: dict[str, Decimal] = {}
        self.last_price: dict[str, Decimal] = {}
        self.started: set[str] = set()  # contracts with a fill or a position seen
        self.seen: set[int] = set()  # trade ids applied (a reconciliation lists them again)
        self._ids = 0
        self._day: date | None = None
        self._day_span: tuple[datetime, datetime] | None = None
        self._day_actual = ZERO
        self._day_replayed = ZERO
        self._recent: deque[tuple[datetime, str]] = deque(maxlen=12)
        self._lock_open: tuple[datetime, str] | None = None
        self._best: timedelta | None = None

    # -- driving ---------------------------------------------------------------------------

    def feed(self, e: Entry) -> None:
        self._advance(e.at)
        self._roll_day(e.at)
        ev = e.event
        self.report.events += 1
        if ev is None:  # an account's start, or a restart of the service: the engine goes on
            if e.account_id == self.account_id and self.account_id not in self.engine.accounts:
                self.engine.add_account(self.account_id, e.name, e.at)
            return
        if isinstance(ev, Quote):
            held = ev.contract_id in self.actual.lots or ev.contract_id in self.replayed.lots
            if held and self.explain_at is not None:
                self._remember(e.at, f"quote {ev.contract_id}: last {ev.last}", ev.contract_id)
            self._handle(ev, e.at)
            if held and self.want_curve:
                self._point(e.at)
            return
        if isinstance(ev, InstrumentWord):  # its ticks, or no such contract (`core.unpriced`)
            self._handle(ev, e.at)
            return
        if isinstance(ev, Tick | EnforcementRejected | CloseWord):
            return  # the live service's own business: re-derived here
        if getattr(ev, "account_id", None) != self.account_id:
            return
        if isinstance(ev, TradesSnapshot):
            # the trades a restart or a reconnect read back: those not seen live (a close
            # that filled while the service was down) are fills as the engine books them
            for trade in sorted(ev.trades, key=lambda t: (t.at, t.trade_id)):
                self._fill(trade, e.at)
            return
        if self.explain_at is not None:
            self._remember(e.at, _describe_event(ev))
        if isinstance(ev, AccountUpdate):
            if self.base is None:
                self.base = ev.balance - self.actual.realized  # before the window's fills
            self.can_trade = ev.can_trade
            self._handle(self._balance(ev.name), e.at)
        elif isinstance(ev, PositionUpdate):
            self._position(ev, e.at)
        elif isinstance(ev, OrderUpdate):
            self._order(ev, e.at)
        elif isinstance(ev, Fill):
            self._fill(ev, e.at)
        elif isinstance(ev, AdminCommand | SelfLock):
            self._handle(ev, e.at)
        elif isinstance(ev, Listing):  # a reconciliation's difference, as the engine derives it
            acct = self.engine.accounts.get(self.account_id)
            for derived in unlisted(acct, ev, e.at) if acct is not None else ():
                if isinstance(derived, PositionUpdate):
                    self._position(derived, e.at)
                elif isinstance(derived, OrderUpdate):
                    self._order(derived, e.at)

    def finish(self, end: datetime | None = None) -> Report:
        """Run the clock on to ``end`` (exclusive: a window ends at a reset, which belongs to
        the next trading day) and close the books."""
        if end is not None:
            last = end - timedelta(microseconds=1)
            self._advance(last)
            self._roll_day(last)
        self._close_day()
        if self._lock_open is not None:
            start, kind = self._lock_open
            self.report.locks.append((start, None, kind))
            self._lock_open = None
        return self.report

    def _advance(self, t: datetime) -> None:
        """Scheduler ticks at every deadline up to ``t``, as the live scheduler would."""
        last: datetime | None = None
        for _ in range(MAX_TICKS_PER_GAP):
            d = self.engine.next_deadline()
            if d is None or d > t or d == last:
                return
            self._roll_day(d)
            self.report.ticks += 1
            self._handle(Tick(), d)
            last = d

    # -- the engine and the simulated broker -------------------------------------------------

    def _handle(self, ev: Event, at: datetime) -> None:
        queue: deque[Event] = deque([ev])
        for _ in range(1000):
            if not queue:
                break
            event = queue.popleft()
            try:
                effects = self.engine.handle(event, at)
            except FsmRiskError:
                continue  # e.g. an admin request that is illegal in the replayed state
            for fx in effects:
                if isinstance(fx, RecordTransition):
                    self._transition(fx, effects, at)
                elif getattr(fx, "account_id", None) != self.account_id:
                    continue
                elif isinstance(fx, ClosePosition | ReducePosition):
                    queue.extend(self._close(fx, at))
                elif isinstance(fx, CancelOrder):
                    queue.extend(self._cancel(fx))
                elif isinstance(fx, ResizeOrder):
                    queue.extend(self._resize(fx))
        self.engine.take_changes()

    def _balance(self, name: str = "") -> AccountUpdate:
        base = self.base if self.base is not None else ZERO
        return AccountUpdate(self.account_id, name, base + self.replayed.realized, self.can_trade)

    def _close(self, fx: ClosePosition | ReducePosition, at: datetime) -> list[Event]:
        cid = fx.contract_id
        held = self.replayed.net(cid)
        if held == 0:
            return [self._position_event(cid, at)]
        size = abs(held) if isinstance(fx, ClosePosition) else min(fx.size, abs(held))
        long = held > 0
        price = _price(self.engine, cid, long) or self.last_price.get(cid)
        if price is None:
            price = self.replayed.average(cid)
        side = Side.SELL if long else Side.BUY
        self._ids -= 1
        fees = self.fee_rate.get(cid, ZERO) * size
        fill = self._book_fill(self._ids, self._ids, cid, side, size, price, fees, at, None)
        day = self._today()
        if day is not None:
            day.closes += 1
        out: list[Event] = [fill, self._position_event(cid, at)]
        if self.base is not None:  # no balance seen yet: none is invented
            out.append(self._balance())
        return out

    def _cancel(self, fx: CancelOrder) -> list[Event]:
        self.cancelled.add(fx.order_id)
        return self._order_now(fx.order_id, OrderStatus.CANCELLED, None)

    def _resize(self, fx: ResizeOrder) -> list[Event]:
        """The trader's order takes the size our reduce asked (the gateway's modify)."""
        return self._order_now(fx.order_id, None, fx.size)

    def _order_now(
        self, order_id: int, status: OrderStatus | None, size: int | None
    ) -> list[Event]:
        """The order event the simulated broker sends for an order it changed."""
        acct = self.engine.accounts.get(self.account_id)
        o = acct.orders.get(order_id) if acct is not None else None
        if o is None:
            return []
        return [
            OrderUpdate(
                self.account_id,
                o.order_id,
                o.contract_id,
                o.status if status is None else status,
                o.type,
                o.side,
                o.size if size is None else size,
                o.created_at,
                o.limit_price,
                o.stop_price,
                fill_volume=o.fill_volume,
                custom_tag=o.custom_tag,
            )
        ]

    def _book_fill(
        self,
        trade_id: int,
        order_id: int,
        cid: str,
        side: Side,
        size: int,
        price: Decimal,
        fees: Decimal,
        at: datetime,
        pnl: Decimal | None,
    ) -> Fill:
        """A fill in the replayed book; ``pnl`` given: the gateway's, else computed."""
        delta = size if side is Side.BUY else -size
        before = self.replayed.net(cid)
        gross = self.replayed.apply(cid, delta, price, at, _point(self.engine, cid))
        closing = before != 0 and (before > 0) != (delta > 0)
        if pnl is None and closing:
            pnl = booked(gross)  # to the cent, as the gateway books a trade (ZN: 15.625 -> 15.62)
        net = (pnl or ZERO) - fees
        self.replayed.realized += net
        self._day_replayed += net
        return Fill(self.account_id, trade_id, cid, order_id, side, size, price, pnl, fees, at)

    def _position_event(self, cid: str, at: datetime) -> PositionUpdate:
        n = self.replayed.net(cid)
        if n == 0:
            return PositionUpdate(self.account_id, cid, PositionType.UNDEFINED, 0, ZERO, at)
        return PositionUpdate(
            self.account_id,
            cid,
            PositionType.LONG if n > 0 else PositionType.SHORT,
            abs(n),
            self.replayed.average(cid),
            self.replayed.opened(cid),
        )

    # -- what the trader did ---------------------------------------------------------------

    def _position(self, ev: PositionUpdate, at: datetime) -> None:
        """Positions follow the fills; only a position held from before the replay began (a
        snapshot of a contract with no fill yet) is taken as it is, on both sides."""
        cid = ev.contract_id
        if cid in self.started or not ev.snapshot:
            return
        self.started.add(cid)
        if ev.size > 0 and ev.type is not PositionType.UNDEFINED:
            n = ev.size if ev.type is PositionType.LONG else -ev.size
            for book in (self.actual, self.replayed):
                book.set(cid, n, ev.average_price, ev.opened_at)
            self._handle(self._position_event(cid, at), at)

    def _order(self, ev: OrderUpdate, at: datetime) -> None:
        if ev.order_id in self.own_orders or ev.order_id in self.cancelled:
            return  # the live service's close, or an order the replay already cancelled
        self._handle(ev, at)

    def _fill(self, ev: Fill, at: datetime) -> None:
        self._fill_books(ev, at)
        if self.want_curve:
            self._point(at)

    def _fill_books(self, ev: Fill, at: datetime) -> None:
        if ev.voided or ev.trade_id in self.seen:
            return  # voided, or listed again by a reconciliation
        if self.start is not None and ev.at < self.start:
            # before the window (a reconciliation lists the whole week): the position it left
            # is known from the snapshot that follows
            return
        self.seen.add(ev.trade_id)
        cid = ev.contract_id
        self.started.add(cid)
        if ev.size:
            self.fee_rate[cid] = ev.fees / ev.size
        self.last_price[cid] = ev.price
        delta = ev.size if ev.side is Side.BUY else -ev.size
        before = self.actual.net(cid)
        lots_before = self.actual.snapshot(cid)
        # the actual book: the gateway's fills as they happened, the service's closes included
        self.actual.apply(cid, delta, ev.price, ev.at, _point(self.engine, cid))
        actual_net = (ev.pnl or ZERO) - ev.fees
        self.actual.realized += actual_net
        self._day_actual += actual_net
        if ev.trade_id in self.own_trades or ev.order_id in self.own_orders:
            return  # the live service's enforcement: the replay enforces by itself
        exit_ = min(abs(before), ev.size) if before and (before > 0) != (delta > 0) else 0
        entry = ev.size - exit_
        held = self.replayed.net(cid)
        in_sync = self.replayed.snapshot(cid) == lots_before
        exits = min(exit_, abs(held)) if held and (held > 0) == (before > 0) else 0
        entries = entry
        acct = self.engine.accounts.get(self.account_id)
        state = _scope_state(acct, cid)
        if entry and (state is not State.Trading or ev.order_id in self.cancelled):
            entries = 0
            self.report.blocked.append(
                Blocked(at, cid, ev.side, entry, ev.price, ev.trade_id, state.value)
            )
            day = self._today()
            if day is not None:
                day.blocked += 1
        size = exits + entries
        if size == 0:
            return
        whole = size == ev.size and (in_sync or exit_ == 0)
        fees = ev.fees if size == ev.size else ev.fees * size / ev.size
        fill = self._book_fill(
            ev.trade_id,
            ev.order_id,
            cid,
            ev.side,
            size,
            ev.price,
            fees,
            ev.at,
            ev.pnl if whole else None,
        )
        self._handle(fill, at)
        self._handle(self._position_event(cid, at), at)
        if self.base is not None:
            self._handle(self._balance(), at)

    # -- reporting ---------------------------------------------------------------------------

    def _remember(self, at: datetime, text: str, quote_of: str | None = None) -> None:
        """The recent events for an explanation; a run of quotes of one contract is one line."""
        if (
            quote_of is not None
            and self._recent
            and self._recent[-1][1].startswith(f"quote {quote_of}:")
        ):
            self._recent.pop()
        self._recent.append((at, text))

    def _point(self, at: datetime) -> None:
        self.report.curve.append(
            (at, self.actual.equity(self.engine), self.replayed.equity(self.engine))
        )

    def _today(self) -> DaySummary | None:
        return None if self._day is None else self.report.days.get(self._day)

    def _roll_day(self, t: datetime) -> None:
        if self._day_span is not None and self._day_span[0] <= t < self._day_span[1]:
            return  # the same trading day (asked on every event: no calendar maths)
        start = self.cal.last_daily_reset(t)
        self._day_span = (start, self.cal.next_daily_reset(t))
        day = self.cal.trading_day(t)
        if day == self._day:
            return
        if self._day is not None:
            self._close_day()
        self._day = day
        self.report.days[day] = DaySummary(day)
        self._day_actual = -self.actual.open_pnl(self.engine)
        self._day_replayed = -self.replayed.open_pnl(self.engine)
        self.report.day_starts.append((start, self.replayed.equity(self.engine)))
        acct = self.engine.accounts.get(self.account_id)
        if acct is not None:
            for rule in self.engine.rules:
                if rule.id in ("RULE-003", "RULE-005"):
                    u = rule.usage(acct, t)
                    if u is not None:
                        self.report.days[day].limits[rule.id] = u.limit

    def _close_day(self) -> None:
        if self._day is None:
            return
        d = self.report.days[self._day]
        d.actual = self._day_actual + self.actual.open_pnl(self.engine)
        d.replayed = self._day_replayed + self.replayed.open_pnl(self.engine)

    def _transition(self, fx: RecordTransition, effects: list[Effect], at: datetime) -> None:
        entry = fx.entry
        if entry.account_id != self.account_id:
            return
        if entry.contract_id is None:
            self._track_lock(entry.to_state, at)
        if entry.trigger not in _FIRING_TRIGGERS or not entry.rule_id:
            return
        acct = self.engine.accounts[self.account_id]
        if entry.contract_id is not None and acct.state is not State.Trading:
            return  # the account's flatten or lock reaching this contract: not a rule firing
        model = acct if entry.contract_id is None else acct.contracts.get(entry.contract_id)
        reduce = any(isinstance(x, ReducePosition) for x in effects)
        if entry.trigger == "lock":
            action = "lock"
        elif entry.contract_id is None:
            action = "flatten"
        else:
            action = "reduce" if reduce else "close"
        day = self._today()
        for rule_id in entry.rule_id.split(","):
            hold = model.holds.get(rule_id) if model is not None else None
            self.report.firings.append(
                Firing(
                    at,
                    self.account_id,
                    entry.contract_id,
                    rule_id,
                    action,
                    hold.kind.value if hold else None,
                    hold.until if hold else None,
                    entry.reason,
                )
            )
            if day is not None:
                day.firings += 1
                if rule_id not in day.rules:
                    day.rules.append(rule_id)
        if self.explain_at is not None:
            gap = abs(at - self.explain_at)
            if self._best is None or gap < self._best:
                self._best = gap
                values = []
                for rule in self.engine.rules:
                    u = rule.usage(acct, at)
                    if u is not None:
                        values.append((rule.id, str(u.value), str(u.limit), u.unit))
                scope = f" {entry.contract_id}" if entry.contract_id else ""
                self.report.explanation = Explanation(
                    at,
                    f"{entry.from_state.value} -> {entry.to_state.value}{scope} "
                    f"({entry.trigger}, {entry.rule_id}): {entry.reason}",
                    list(self._recent),
                    values,
                )

    def _track_lock(self, state: State, at: datetime) -> None:
        if self._lock_open is not None and state is State.Trading:
            start, kind = self._lock_open
            self.report.locks.append((start, at, kind))
            self._lock_open = None
        elif self._lock_open is None and state is not State.Trading:
            self._lock_open = (at, state.value)
        elif self._lock_open is not None and state is not State.Flattening:
            start, kind = self._lock_open
            if kind == State.Flattening.value:
                self._lock_open = (start, state.value)


def _scope_state(acct: AccountModel | None, cid: str) -> State:
    if acct is None:
        return State.Trading
    if acct.state is not State.Trading:
        return acct.state
    cm = acct.contracts.get(cid)
    return cm.state if cm is not None else State.Trading


def _describe_event(ev: Event) -> str:
    if isinstance(ev, Fill):
        side = "buy" if ev.side is Side.BUY else "sell"
        pnl = "" if ev.pnl is None else f" pnl {ev.pnl}"
        return f"fill #{ev.trade_id}: {side} {ev.size} {ev.contract_id} @ {ev.price}{pnl}"
    if isinstance(ev, OrderUpdate):
        side = "buy" if ev.side is Side.BUY else "sell"
        return (
            f"order #{ev.order_id} {ev.status.name.lower()}: {ev.type.name.lower()} {side} "
            f"{ev.size} {ev.contract_id}"
        )
    if isinstance(ev, PositionUpdate):
        return f"position {ev.contract_id}: {ev.type.name.lower()} {ev.size} @ {ev.average_price}"
    if isinstance(ev, AccountUpdate):
        return f"account: balance {ev.balance}, can trade {ev.can_trade}"
    return type(ev).__name__
