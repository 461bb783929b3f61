"""The rule interface and the verdict.

A rule is one small class. It is handed a read-only view of one account (`AccountView`), the
event being handled and ``now``, and returns verdicts (usually none). It never queries the
database or the broker and never reads the clock. Its configuration is one ``[rule.<name>]``
section of settings.ini, described by its ``fields`` and turned into a frozen config by
``configure`` (which raises `ValueError` naming the key for cross-field problems).

Some rules need memory across events (a trailing peak, say): they keep it in their own small
JSON-able dict, ``view.rule_state[rule.id]``, updated only in ``observe`` (which the engine
calls before ``evaluate`` and persists with the account).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo

from fsm_risk.core.events import Event, Fill
from fsm_risk.core.instruments import month_order
from fsm_risk.core.models import (
    ZERO,
    Book,
    Instrument,
    InstrumentBook,
    Mark,
    Order,
    Position,
    Trip,
)
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.reasons import Reason
from fsm_risk.core.sessions import SessionCalendar, lock_end
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.states import State
from fsm_risk.rules.tighter import Compare
from fsm_risk.schema import Field


class Scope(Enum):
    ACCOUNT = "account"
    CONTRACT = "contract"


class Action(Enum):
    """What a verdict asks for, strongest first."""

    FLATTEN = "flatten"  # account: close every position, cancel every working order
    LOCK = "lock"  # lock without flattening: existing positions may stay, entries are blocked
    CLOSE = "close"  # contract: close the position and cancel its working orders
    REDUCE = "reduce"  # contract: reduce the position to ``target_size``
    RELEASE = "release"  # the condition behind this rule's hold has ended


@dataclass(frozen=True, slots=True)
class Void:
    """A trade the gateway voided, as the rules are told of it (`Rule.on_void`): ``net``, its
    P&L less its fees, left the books; ``size``, what the account's fills make in its contract
    (the voided trade still counted: the position the gateway holds if the void left it)."""

    trade_id: int
    contract_id: str
    net: Decimal
    size: int


@dataclass(frozen=True, slots=True)
class Verdict:
    rule_id: str
    reason: Reason
    action: Action
    scope: Scope = Scope.ACCOUNT
    lock: State = State.Trading  # the lock to enter once flat; Trading means none
    until: datetime | None = None  # the lock's deadline; None: until its condition ends
    contract_id: str | None = None
    target_size: int = 0  # REDUCE: the size to reduce the position to
    detail: str = ""
    #: LOCK: the entry that broke the limit (its contract, its signed size): not part of what
    #: the lock lets stay, however the position record and the trade arrived
    breaking: tuple[str, int] | None = None

    def __post_init__(self) -> None:
        if self.scope is Scope.CONTRACT and self.contract_id is None:
            raise ValueError(f"{self.rule_id}: a contract verdict needs a contract id")
        if self.lock is State.Flattening:
            raise ValueError(f"{self.rule_id}: Flattening is not a lock")
        if self.lock is State.Cooldown and self.until is None:
            raise ValueError(f"{self.rule_id}: a Cooldown needs a deadline")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a rule does when it fires under a given config: the action, on which scope, and
    the lock it leaves (Trading: none) with what ends that lock. The diagrams' legend is drawn
    from these."""

    action: Action
    lock: State = State.Trading
    scope: Scope = Scope.ACCOUNT
    ends: str = ""  # what ends the lock; empty: the lock kind's own end (timer, reset)


@dataclass(frozen=True, slots=True)
class Usage:
    """A rule's current value against its limit, for `fsm-risk status`. ``fraction`` is how
    much of the limit is used (0 = none, 1 = at the limit); the rule decides what "used"
    means (a loss limit is unused while the day is in profit)."""

    value: Decimal
    limit: Decimal
    unit: str  # "$", "contracts", "entries", "s", ...
    fraction: Decimal
    detail: str = ""


def used(value: Decimal | int, limit: Decimal | int) -> Decimal:
    """The fraction of a positive limit that a value uses (never negative)."""
    if limit <= 0:
        return Decimal(0)
    return max(Decimal(value) / Decimal(limit), Decimal(0))


class AccountView(Protocol):
    """What a rule may read of an account. Read-only by contract."""

    @property
    def account_id(self) -> int: ...
    @property
    def state(self) -> State: ...
    @property
    def balance(self) -> Decimal | None: ...
    @property
    def can_trade(self) -> bool | None: ...
    @property
    def positions(self) -> Mapping[str, Position]: ...
    #: per contract, the size the account's fills make (a voided trade's still counted)
    @property
    def net(self) -> Mapping[str, int]: ...
    #: its trades still being read (`exposure.Behind`), a missed reset waiting for them
    @property
    def behind(self) -> object: ...
    @property
    def missed(self) -> object: ...
    @property
    def unjudged(self) -> object: ...
    @property
    def orders(self) -> Mapping[int, Order]: ...
    @property
    def own_orders(self) -> set[int]: ...
    #: orders reported filled whose fills have not all come: contract, contracts to come, until
    @property
    def filling(self) -> Mapping[int, tuple[str, int, datetime]]: ...
    #: per contract, the gateway's position heard ahead of the fills it holds (see `open_size`)
    @property
    def expected(self) -> Mapping[str, tuple[int, datetime | None]]: ...
    @property
    def day(self) -> Book: ...
    @property
    def week(self) -> Book: ...
    @property
    def trips_open(self) -> Mapping[str, Trip]: ...
    @property
    def open_upnl(self) -> Decimal: ...
    @property
    def rule_state(self) -> Mapping[str, dict[str, Any]]: ...
    @property
    def equity(self) -> Decimal | None: ...
    @property
    def pending_realized(self) -> Decimal: ...
    @property
    def unsettled(self) -> Mapping[str, tuple[Decimal, int]]: ...
    @property
    def unexplained(self) -> Decimal: ...
    #: the latest gateway stamp seen ahead of the service's clock (see `core.valuation`)
    @property
    def gateway_at(self) -> datetime | None: ...

    def day_pnl(self, *, with_unrealized: bool) -> Decimal: ...
    def week_pnl(self, *, with_unrealized: bool) -> Decimal: ...
    def gross_size(self) -> int: ...
    def root_sizes(self) -> dict[str, int]: ...
    def reducing_to(self, contract_id: str) -> int | None: ...


def held(view: AccountView, p: Position) -> int:
    """The contracts a position holds once the close or reduce already on its way for it is
    done: a limit counting what is open must not cut again what is already being cut (a burst
    across contracts would be reduced below the limit, at the trader's cost)."""
    target = view.reducing_to(p.contract_id)
    return p.size if target is None else min(p.size, target)


def reduce_largest(
    rule_id: str,
    reason: Reason,
    view: AccountView,
    positions: Iterable[Position],
    excess: int,
    detail: str,
    keep: Callable[[Position], int] | None = None,
    rank: Callable[[Position], int] | None = None,
) -> list[Verdict]:
    """One reduce verdict per position cut to take ``excess`` contracts off ``positions``,
    largest first by what each holds once the reduce on its way is done (`held`, or ``keep``:
    the limits also count the trader's young market exits as done, see `rules.exits`), ties by
    contract, a product's nearer month first (a roll's old month: ``Z26`` before ``H27``,
    which sorts first as text), so the outcome is deterministic and the same in December as in
    June (RULE-001 over the account, RULE-002 over a root's months), after ``rank`` (lower
    first: see `rules.exits`). A position is cut to what it keeps less its cut: with an exit of
    his working, our close waits for it (`exposure.closes_working`), so that is its final
    size."""
    size = keep or (lambda p: held(view, p))
    order = rank or (lambda p: 0)
    verdicts = []
    for _, kept, p in sorted(
        ((order(p), size(p), p) for p in positions),
        key=lambda m: (m[0], -m[1], month_order(m[2].contract_id), m[2].contract_id),
    ):
        if excess <= 0:
            break
        cut = min(excess, kept)
        if cut <= 0:
            continue
        excess -= cut
        verdicts.append(
            Verdict(
                rule_id,
                reason,
                Action.REDUCE,
                Scope.CONTRACT,
                contract_id=p.contract_id,
                target_size=kept - cut,
                detail=f"{detail}: reduce {p.contract_id} {p.size} -> {kept - cut}",
            )
        )
    return verdicts


@dataclass(frozen=True)
class RuleContext:
    """What every rule may consult besides the account: the calendar, instruments and quotes."""

    calendar: SessionCalendar
    instruments: InstrumentBook
    marks: Mapping[str, Mark]
    mark_mode: MarkMode = MarkMode.LAST
    stale_after: timedelta = timedelta(seconds=30)
    #: the zone every time is shown in (``[general] display_timezone``; None: the session's)
    display_tz: str | None = None

    @staticmethod
    def of(
        settings: EngineSettings, instruments: InstrumentBook, marks: Mapping[str, Mark]
    ) -> RuleContext:
        """The context of an engine's settings; rules share its ``instruments`` and ``marks``."""
        return RuleContext(
            settings.calendar,
            instruments,
            marks,
            settings.mark_mode,
            settings.stale_after,
            settings.display_tz,
        )

    def shown(self, t: datetime, fmt: str = "%a %Y-%m-%d %H:%M %Z") -> str:
        """An instant as the audit log and `status` show it: in the display zone."""
        local = t.astimezone(ZoneInfo(self.display_tz)) if self.display_tz else None
        return (local or self.calendar.local(t)).strftime(fmt)

    def next_reset(self, view: AccountView, now: datetime, *, weekly: bool = False) -> datetime:
        """When a lock "until the next daily (weekly) reset" taken at ``now`` ends: the end of
        the account's trading day (week) as the engine applies it (see `lock_end`), not the
        calendar's next reset, which a `[session] daily_reset` moved across a restart puts
        elsewhere until that day ends."""
        book = view.week if weekly else view.day
        return lock_end(self.calendar, book.end, now, weekly=weekly)

    def fresh(self, contract_id: str, now: datetime) -> bool:
        mark = self.marks.get(contract_id)
        return mark is not None and now - mark.at <= self.stale_after

    def all_fresh(self, view: AccountView, now: datetime) -> bool:
        """Every open position is valued at a fresh mark (rules that need marks check this)."""
        # ``fresh`` inlined (on the quote path): a mark at or after ``oldest`` is fresh
        oldest = now - self.stale_after
        marks = self.marks
        for c, p in view.positions.items():
            if not p.priced:
                return False
            mark = marks.get(c)
            if mark is None or mark.at < oldest:
                return False
        return True

    def stale_value(
        self, view: AccountView, now: datetime, book: Book | None = None
    ) -> tuple[Decimal, Decimal]:
        """The open P&L, at their last marks, of the positions without a fresh quote: the sum
        of their losses and the sum of their gains. A rule that needs marks never fires on
        them: it counts such a position only where it keeps the rule from firing (a loss
        limit its gain, never its loss; a target its loss, never its gain), so a quiet
        contract neither blinds the rule nor is the reason it fires. With a period's
        ``book``: what each made in the period, its value less its part of what the period's
        live reset carried of it (`Book.carried`, taken off the period's P&L already; none
        for a position opened since): one carried at -$400 and quiet since made nothing in
        the period, and leaving out its -$400 would count the carry's -$400 as room. After a
        close of the contract in the period (or one the day's fills cannot show) the part
        still held is not known (closed, then bought back: the size, not the contracts): a
        carried gain is then taken off only what a target leaves out, a carried loss only
        what a loss limit leaves out, so neither counts the carry of a closed contract as
        room. A reset missed while stopped keeps its part of each contract apart
        (`Book.missed_carried`): taken off so always, never the exact way (a limit it
        changes only fires sooner)."""
        oldest = now - self.stale_after
        losses = gains = Decimal(0)
        carried = {} if book is None else book.carried
        missed = {} if book is None else book.missed_carried
        for c, p in view.positions.items():
            mark = self.marks.get(c)
            if p.priced and mark is not None and mark.at >= oldest:
                continue
            low = high = p.upnl  # what it made in the period, at least and at most
            held = carried.get(c) or missed.get(c)
            if held is not None and book is not None and p.opened_at < book.start:
                value, n = held  # (its share, for fewer contracts held than carried)
                share = value if p.size >= n else value * p.size / n
                if c not in carried or _closed_since(view, c, book.start):
                    low, high = p.upnl - max(share, ZERO), p.upnl - min(share, ZERO)
                else:
                    low = high = p.upnl - share
            losses += min(high, ZERO)
            gains += max(low, ZERO)
        return losses, gains

    def instrument(self, contract_id: str) -> Instrument | None:
        return self.instruments.get(contract_id)


@dataclass(frozen=True)
class RuleSettings:
    """One ``[rule.<name>]`` section as loaded: the rule, whether it is on, its config (None
    when off) and the parsed values. Defined here, below the settings loader, so that the
    checks between rules (`fsm_risk.crosschecks`) can name it without importing the loader."""

    rule: type[Rule]
    enabled: bool
    config: Any
    values: dict[str, Any]


#: a band with no bound: a quote can never make the rule fire (or change its memory)
UNBOUNDED: tuple[Decimal, Decimal] = (Decimal("-Infinity"), Decimal("Infinity"))
Band = tuple[Decimal, Decimal]


class Rule:
    """Base class of every rule. Subclasses set the class attributes and ``evaluate``."""

    id: ClassVar[str]
    name: ClassVar[str]
    fires_when: ClassVar[str]
    default_action: ClassVar[str]
    fields: ClassVar[tuple[Field, ...]]
    #: the event types that make this rule evaluate
    reacts_to: ClassVar[frozenset[type]]
    #: the rule fires again on every evaluation while its condition holds (a P&L limit, a
    #: count): an admin override waives it until its lock would have ended
    level_triggered: ClassVar[bool] = True
    #: the rule keeps memory in ``rule_state[id]`` (and implements ``observe``)
    stateful: ClassVar[bool] = False
    #: the rule judges realized P&L: while an account's trades are still being read after
    #: a restart (its positions already enforced) it neither evaluates nor remembers, since
    #: a missing trade could make it fire falsely or keep a wrong peak
    waits_for_trades: ClassVar[bool] = False
    #: waiting for them past a grace, it judges on the balance's move (`core.unjudged`)
    judges_unread: ClassVar[bool] = False
    #: the event kinds that can move this rule's ``next_deadline`` (None: ``reacts_to``)
    deadline_kinds: ClassVar[frozenset[type] | None] = None
    #: woken from a freeze, a rule with deadlines judges nothing on an account until it is read
    #: again (`core.thaw`); False: its deadlines only age what it judges at once (a size limit)
    holds_at_thaw: ClassVar[bool] = True
    #: how each key compares when the settings change (see `fsm_risk.rules.tighter`): a key
    #: not listed has no known direction, and any change of it counts as a loosening
    tighter: ClassVar[Mapping[str, Compare]] = {}
    #: on a quote the rule judges the quoted contract's own position alone, never a value that
    #: rests on another contract's mark: in which order two contracts' quotes come is nothing
    #: to it (`core.waited`)
    per_position: ClassVar[bool] = False

    def __init__(self, config: Any, ctx: RuleContext) -> None:
        self.config = config
        self.ctx = ctx
        #: the accounts this rule waits on the gateway's word for (see `heard`): not stored,
        #: what waits is dropped at a restart
        self.waiting: dict[int, Any] = {}
        #: the config of this rule held for the daily reset (a loosening, or a change of no
        #: known direction), while one is staged (see `held_beside`)
        self.held_config: Any = None

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Any:
        """Turn parsed field values into this rule's frozen config. Raise ValueError("key:
        reason") for problems that involve several keys."""
        return values

    @classmethod
    def outcome(cls, config: Any) -> Outcome:
        """What this rule does when it fires under ``config`` (its verdicts' action and lock)."""
        raise NotImplementedError

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        raise NotImplementedError

    def observe(self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime) -> bool:
        """Update this rule's memory from an event; return True when it changed."""
        return False

    def on_reset(self, memo: dict[str, Any], view: AccountView, weekly: bool, at: datetime) -> None:
        """A daily (or weekly) reset happened at ``at``."""

    def on_void(
        self, memo: dict[str, Any], view: AccountView, void: Void, now: datetime
    ) -> str | None:
        """The gateway voided a trade applied this period: its net P&L has left the books (see
        `core.voids`). Voided fills are never observed. Return a contract to have the account
        read (what the read says settles what the void gave back: see `heard`), or None."""
        return None

    def heard(self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime) -> None:
        """An event handled for an account in ``waiting`` (after the rules observed it)."""

    def held_beside(self, staged: Rule | None) -> None:
        """The rule a held loosening makes of this one at the daily reset (None: none held, or
        it no longer has this rule). A rule whose lock's end a key of no known direction
        decides (RULE-011's ``lock``) ends its locks at the later of the two until then."""
        self.held_config = None if staged is None else staged.config

    def unjudged(self, memo: dict[str, Any], view: AccountView, fill: Fill) -> None:
        """A fill booked while the account's trades are still being read (a rule that waits
        for them neither observes nor judges it): what a void of it would undo is kept."""

    def usage(self, view: AccountView, now: datetime) -> Usage | None:
        return None

    def rearm_depth(self) -> Decimal | None:
        """For a loss rule (its ``usage().value`` falls as the loss grows): the rule's own
        limit in those units. An admin waiver of it is never "off": it re-arms this much
        (scaled by the settings) below the value at the waiver. None: not a loss rule."""
        return None

    def next_deadline(self, view: AccountView, now: datetime) -> datetime | None:
        """The next instant this rule must be evaluated even if no event arrives.

        Asked after every event of a kind in ``reacts_to`` (the engine then wakes the account
        with a `Tick` at that instant, so a rule with deadlines reacts to `Tick`); the answer
        must depend only on what those events change, and on ``now``."""
        return None

    # -- the quote guard band -----------------------------------------------------------------
    # A quote only moves open unrealized P&L. A rule that reacts to quotes may promise the
    # interval (exclusive) of the account's open P&L, and of one position's, inside which a
    # quote can neither make it fire nor change its memory; the engine then skips every
    # quote rule while a holder stays inside all of them, and asks again after any other
    # event. The default, None, promises nothing: the rule is evaluated on every quote.
    # A band may depend on anything in the view but the open P&L, and on the rule's own
    # memory: after a quote that fired nothing, only the rules it reached are asked again.
    #
    # A rule with ``trails`` set keeps a high-water mark of the open P&L (a trailing peak):
    # above its band it cannot fire, only its memory moves. When a quote crosses its band
    # upwards and no other rule's, the engine calls ``trail`` alone, instead of ``observe``,
    # ``evaluate`` and ``quote_band``.

    #: above the quote band, the rule only raises its memory (see ``trail``)
    trails: ClassVar[bool] = False

    def quote_band(self, view: AccountView) -> Band | None:
        return None

    def trail(
        self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime
    ) -> tuple[Band | None, bool]:
        """A quote put the open P&L at or above this rule's band (and above its low): update
        the memory as ``observe`` would and return the new ``quote_band`` and whether the
        memory changed. Never fires (a trailing rule cannot fire above its band)."""
        changed = self.observe(memo, view, event, now)
        return self.quote_band(view), changed

    def position_band(self, view: AccountView, position: Position) -> Band | None:
        return None

    def cap_room(self, view: AccountView) -> tuple[Decimal, ...] | None:
        """For a trailing rule whose peak a quote may bring to a cap: how far the account's
        equity may rise before it does (one value); none where no quote can (no cap, a peak
        that moves only at a reset, one capped already); None: not known (`core.caps`)."""
        return None if self.trails else ()


def _closed_since(view: AccountView, contract_id: str, start: datetime) -> bool:
    """Whether a fill may have closed contracts of ``contract_id`` since ``start``: one the
    day's fills show, or any before the day began (a week's, whose fills are not kept)."""
    if start < view.day.start:
        return True
    return any(f.exit and f.contract_id == contract_id and f.at >= start for f in view.day.fills)
