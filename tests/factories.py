"""Builders shared by the tests: events, engines and a small driver that moves time."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk.config import build_rule
from fsm_risk.core.effects import (
    Alert,
    CancelOrder,
    ClosePosition,
    Effect,
    ReadAccount,
    ReadBalance,
    ReadTrades,
    RecordTransition,
    ReducePosition,
)
from fsm_risk.core.engine import EngineSettings, RiskEngine
from fsm_risk.core.events import (
    AccountUpdate,
    Event,
    Fill,
    Listing,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionType,
    PositionUpdate,
    Quote,
    Side,
    Tick,
    TradesSnapshot,
)
from fsm_risk.core.models import AccountModel, FillRecord, InstrumentBook, Mark
from fsm_risk.core.reasons import Reason
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import State
from fsm_risk.core.timers import ResetPrices
from fsm_risk.rules.base import Action, Rule, RuleContext, Verdict

#: Monday 2026-11-23 09:00 in Chicago (CST, UTC-6): mid-session, far from any reset.
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
ACC = 1001
MNQ = "CON.F.US.MNQ.Z26"
NQ = "CON.F.US.NQ.Z26"
ES = "CON.F.US.ES.Z26"
MES = "CON.F.US.MES.Z26"
CL = "CON.F.US.CL.F27"
M2K = "CON.F.US.M2K.Z26"
MNQ_H27 = "CON.F.US.MNQ.H27"

D = Decimal


def account(balance: str = "50000", can_trade: bool = True, acc: int = ACC) -> AccountUpdate:
    return AccountUpdate(acc, f"PRAC-{acc}", D(balance), can_trade)


def position(
    contract: str, size: int, avg: str, *, long: bool = True, acc: int = ACC, at: datetime = T0
) -> PositionUpdate:
    kind = PositionType.LONG if long else PositionType.SHORT
    return PositionUpdate(acc, contract, kind, size, D(avg), at)


def flat(contract: str, acc: int = ACC, at: datetime = T0) -> PositionUpdate:
    return PositionUpdate(acc, contract, PositionType.LONG, 0, D(0), at)


def order(
    order_id: int,
    contract: str,
    side: Side,
    size: int,
    *,
    type: OrderType = OrderType.LIMIT,
    status: OrderStatus = OrderStatus.OPEN,
    limit: str | None = None,
    stop: str | None = None,
    acc: int = ACC,
    tag: str | None = None,
    at: datetime = T0,
) -> OrderUpdate:
    return OrderUpdate(
        acc,
        order_id,
        contract,
        status,
        type,
        side,
        size,
        at,
        D(limit) if limit else None,
        D(stop) if stop else None,
        custom_tag=tag,
    )


def market(oid: int, side: Side, size: int, status: OrderStatus, volume: int = 0) -> OrderUpdate:
    """A market order on MNQ as the gateway tells it (``volume``: what of it has filled)."""
    return OrderUpdate(ACC, oid, MNQ, status, OrderType.MARKET, side, size, T0, fill_volume=volume)


_trade_ids = iter(range(1, 10**9))
_close_ids = iter(range(900_000, 10**9))


def our_close_filled(
    contract: str,
    side: Side,
    size: int,
    price: str,
    *,
    pnl: str | None = None,
    at: datetime = T0,
) -> tuple[OrderUpdate, Fill]:
    """The service's close as the gateway reports it filled: its market order, final (by
    which the service knows it as its close), then its trade."""
    oid = next(_close_ids)
    done = OrderUpdate(
        ACC, oid, contract, OrderStatus.FILLED, OrderType.MARKET, side, size, at, fill_volume=size
    )
    return done, fill(contract, side, size, price, pnl=pnl, order_id=oid, at=at)


def fill(
    contract: str,
    side: Side,
    size: int,
    price: str,
    *,
    pnl: str | None = None,
    fees: str = "0",
    order_id: int = 1,
    acc: int = ACC,
    at: datetime = T0,
    trade_id: int | None = None,
    voided: bool = False,
) -> Fill:
    return Fill(
        acc,
        trade_id if trade_id is not None else next(_trade_ids),
        contract,
        order_id,
        side,
        size,
        D(price),
        D(pnl) if pnl is not None else None,
        D(fees),
        at,
        voided,
    )


def quote(
    contract: str, last: str, at: datetime = T0, bid: str | None = None, ask: str | None = None
) -> Quote:
    return Quote(contract, at, D(last), D(bid) if bid else D(last), D(ask) if ask else D(last))


def make_engine(
    rules: dict[type[Rule], dict[str, str]] | None = None,
    extra: Iterable[Callable[[RuleContext], Rule]] = (),
    calendar: SessionCalendar | None = None,
    **settings: Any,
) -> RiskEngine:
    """An engine with the given real rules (raw settings per rule) and scripted ones."""
    es = EngineSettings(calendar or SessionCalendar(), **settings)
    instruments, marks = InstrumentBook(), dict[str, Mark]()
    ctx = RiskEngine.context(es, instruments, marks)
    built = [build_rule(cls, ctx, raw) for cls, raw in (rules or {}).items()]
    built.extend(make(ctx) for make in extra)
    return RiskEngine(es, built, instruments, marks)


class Scripted(Rule):
    """A test rule: returns whatever ``script(view, event, now)`` returns."""

    id = "RULE-T01"
    name = "scripted"
    fires_when = "the test says so"
    default_action = "whatever the test says"
    fields = ()
    reacts_to = frozenset({Quote, Fill, PositionUpdate, OrderUpdate, AccountUpdate, Tick})

    def __init__(
        self,
        ctx: RuleContext,
        script: Callable[[Any, Event, datetime], Sequence[Verdict]],
        rule_id: str = "RULE-T01",
        level_triggered: bool = True,
    ) -> None:
        super().__init__(None, ctx)
        self.script = script
        self.id = rule_id  # type: ignore[misc]
        self.level_triggered = level_triggered  # type: ignore[misc]

    def evaluate(self, view: Any, event: Event, now: datetime) -> Sequence[Verdict]:
        return self.script(view, event, now)


def trip_on(kind: type, verdict: Verdict) -> Any:
    """A scripted rule that returns ``verdict`` whenever an event of ``kind`` arrives."""

    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        return (verdict,) if isinstance(event, kind) else ()

    return lambda ctx: Scripted(ctx, script)


#: a daily lock until 17:00 Chicago, as a scripted rule gives it (see `trip_on`)
DAILY = Verdict(
    "RULE-T01",
    Reason.DAILY_LOSS_LIMIT,
    Action.FLATTEN,
    lock=State.LockedDaily,
    until=datetime(2026, 11, 23, 23, 0, tzinfo=T0.tzinfo),
)


class Driver:
    """Feeds events to an engine at a controlled ``now`` and keeps every effect."""

    def __init__(self, engine: RiskEngine, now: datetime = T0, acc: int = ACC) -> None:
        self.engine = engine
        self.now = now
        self.acc = acc
        self.effects: list[Effect] = []

    def send(self, *events: Event) -> list[Effect]:
        out: list[Effect] = []
        for ev in events:
            out.extend(self.engine.handle(ev, self.now))
        self.effects.extend(out)
        return out

    def advance(self, **delta: float) -> list[Effect]:
        """Move time forward and wake every account whose deadline passed."""
        self.now += timedelta(**delta)
        return self.send(Tick())

    def at(self, when: datetime) -> list[Effect]:
        self.now = when
        return self.send(Tick())

    @property
    def acct(self) -> AccountModel:
        return self.engine.accounts[self.acc]


def rule_engine(rule: type[Rule], **raw: str) -> RiskEngine:
    """An engine with one real rule, configured from raw settings (defaults for the rest)."""
    return make_engine({rule: raw})


def rule_driver(rule: type[Rule], now: datetime = T0, balance: str = "50000", **raw: str) -> Driver:
    """A driver around `rule_engine` that has already seen the account (``balance``)."""
    d = Driver(rule_engine(rule, **raw), now=now)
    d.send(account(balance))
    return d


def the_rule[R: Rule](d: Driver, cls: type[R]) -> R:
    """The driven engine's rule of this class."""
    return next(r for r in d.engine.rules if isinstance(r, cls))


def gateway_read(
    d: Driver,
    *listed: Event,
    began: datetime | None = None,
    trades: Sequence[Fill] | None = None,
    since: datetime | None = None,
) -> list[Effect]:
    """A reconciliation as the service applies it: what the gateway listed (its trades, its
    balance, its positions and working orders), the `Listing` of them, of a read that began
    at ``began`` (now), then its trade list (`TradesSnapshot`, since ``since``: the day's
    start): ``trades``, by default (None) every trade of the day the engine applied and those
    listed (the gateway agrees; `gateway_trades`); a wiped or capped list is given."""
    acct = d.acct
    if trades is None:
        trades = gateway_trades(d, *listed)
    # as `service._ReadBegan`: with the contracts the fills say are open (a record dropped)
    held = set(acct.positions) | {c for c, n in acct.net.items() if n}
    before = frozenset(held), frozenset(acct.orders), frozenset(acct.seen_trades)
    # the balance is read after the trades: it includes those applied and those listed
    applied = before[2] | {e.trade_id for e in listed if isinstance(e, Fill)}
    voided = frozenset(acct.voided)  # (and those it lists voided: its balance is after them)
    gone = voided | {e.trade_id for e in listed if isinstance(e, Fill) and e.voided}
    listed = tuple(
        dataclasses.replace(e, applied=applied, voided=gone) if isinstance(e, AccountUpdate) else e
        for e in listed
    )
    out = d.send(*listed)
    positions = frozenset(e.contract_id for e in listed if isinstance(e, PositionUpdate))
    orders = frozenset(e.order_id for e in listed if isinstance(e, OrderUpdate))
    balance = any(isinstance(e, AccountUpdate) for e in listed)
    listing = Listing(
        d.acc, positions, orders, *before[:2], applied, began=began or d.now, balance=balance
    )
    out += d.send(listing)
    start = acct.day.start if since is None else since
    return out + d.send(TradesSnapshot(d.acc, start, tuple(trades), before[2], voided))


def gateway_trades(d: Driver, *listed: Event) -> tuple[Fill, ...]:
    """The gateway's trade list of the day, as a read gives it (`TradesSnapshot`): every trade
    the engine applied, and the fills among ``listed``, oldest first."""
    made = {f.trade_id: _as_listed(d.acc, f) for f in d.acct.day.fills}
    made |= {e.trade_id: e for e in listed if isinstance(e, Fill)}
    return tuple(sorted(made.values(), key=lambda f: (f.at, f.trade_id)))


def _as_listed(acc: int, f: FillRecord) -> Fill:
    return Fill(
        acc, f.trade_id, f.contract_id, f.order_id, f.side, f.size, f.price, f.pnl, f.fees, f.at
    )


def start_up_read(d: Driver, *listed: Event) -> list[Effect]:
    """A restart's first read as the service applies it: the gateway's positions (read back,
    with its open times) and working orders, then the account resumes (see `restart`)."""
    read = [
        dataclasses.replace(e, snapshot=True) if isinstance(e, PositionUpdate) else e
        for e in listed
    ]
    out = gateway_read(d, *read)
    resumed = d.engine.resume(d.acc, set(), d.now)
    d.effects.extend(resumed)
    return out + resumed


def settled_read(d: Driver) -> list[Effect]:
    """A restored account's enforcing step as the service applies it when nothing was traded
    while it was down: its positions and working orders listed as stored, the balance listed
    after the subscriptions the stored one plus the fills booked since (it settles the trades
    not read yet: `core.unread`), then the account resumes. Its trades come later."""
    acct = d.acct
    held = frozenset(acct.positions) | {c for c, n in acct.net.items() if n}
    orders = frozenset(acct.orders)
    listed = None if acct.balance is None else acct.balance + acct.pending_realized
    applied = frozenset(acct.seen_trades)
    listing = Listing(d.acc, held, orders, held, orders, applied, behind=True, began=d.now)
    out = d.send(dataclasses.replace(listing, listed=listed))
    resumed = d.engine.resume(d.acc, set(), d.now)
    d.effects.extend(resumed)
    return out + resumed


def start_listed(d: Driver, balance: str | None = None) -> list[Effect]:
    """The balances listed once every hub was subscribed at start-up, handed to a restored
    account as the service does (`Tick.listed`): ``balance``, by default (None) the stored one
    plus the fills booked since (nothing traded while down: it settles, `core.unread`)."""
    acct = d.acct
    assert acct.balance is not None
    listed = acct.balance + acct.pending_realized if balance is None else Decimal(balance)
    return d.send(Tick(d.acc, listed=listed))


def balance_read(d: Driver, balance: str) -> list[Effect]:
    """The gateway's balance read back (`ReadBalance`), nothing applied since it began."""
    listed = dataclasses.replace(account(balance, acc=d.acc), applied=frozenset(d.acct.seen_trades))
    return d.send(listed)


def balance_reads(effects: Iterable[Effect]) -> list[ReadBalance]:
    return [e for e in effects if isinstance(e, ReadBalance)]


def trade_reads(effects: Iterable[Effect]) -> list[ReadTrades]:
    return [e for e in effects if isinstance(e, ReadTrades)]


def reads(effects: Iterable[Effect]) -> list[ReadAccount]:
    return [e for e in effects if isinstance(e, ReadAccount)]


def closes(effects: Iterable[Effect]) -> list[ClosePosition]:
    return [e for e in effects if isinstance(e, ClosePosition)]


def reduces(effects: Iterable[Effect]) -> list[ReducePosition]:
    return [e for e in effects if isinstance(e, ReducePosition)]


def cancels(effects: Iterable[Effect]) -> list[CancelOrder]:
    return [e for e in effects if isinstance(e, CancelOrder)]


def alerts(effects: Iterable[Effect]) -> list[Alert]:
    return [e for e in effects if isinstance(e, Alert)]


def transitions(effects: Iterable[Effect]) -> list[tuple[str | None, str, str, str]]:
    """(contract, from, to, trigger) of every audited transition, in order."""
    return [
        (e.entry.contract_id, e.entry.from_state.value, e.entry.to_state.value, e.entry.trigger)
        for e in effects
        if isinstance(e, RecordTransition)
    ]


def restart(
    d: Driver,
    rebuild: Callable[[], RiskEngine],
    *,
    at: datetime | None = None,
    at_reset: ResetPrices | None = None,
) -> Driver:
    """Stop and start again: snapshot every account exactly as the store would, restore it
    into a fresh engine built by ``rebuild`` (same rules), and catch up to ``at`` (a missed
    reset valued at the prices ``at_reset`` gives, as the shell reads them from the gateway)."""
    snapshots = [  # through JSON, exactly as the store keeps them
        json.loads(json.dumps((a.to_dict(), [c.to_dict() for c in a.contracts.values()])))
        for a in d.engine.accounts.values()
    ]
    marks = dict(d.engine.marks)
    fresh = Driver(rebuild(), now=at or d.now, acc=d.acc)
    fresh.engine.marks.update(marks)
    for snap, contracts in snapshots:
        fresh.effects.extend(
            fresh.engine.restore_account(snap, contracts, fresh.now, at_reset=at_reset)
        )
    return fresh
