"""Normalized events: what the engine consumes. Built at one validating boundary (the broker
adapter); inside the core every field is typed, money is `Decimal` and times are aware UTC.

Enumerations follow the ProjectX gateway: side 0 buy / 1 sell; position type 1 long /
2 short; order status 1 open, 2 filled, 3 cancelled, 4 expired, 5 rejected, 6 pending,
7 pending cancellation, 8 suspended; order type 1 limit, 2 market, 3 stop-limit, 4 stop,
5 trailing stop, 6 join bid, 7 join ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import IntEnum

from fsm_risk.core.states import State


class Side(IntEnum):
    BUY = 0
    SELL = 1


class PositionType(IntEnum):
    UNDEFINED = 0
    LONG = 1
    SHORT = 2


class OrderStatus(IntEnum):
    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6
    PENDING_CANCEL = 7
    SUSPENDED = 8

    @property
    def working(self) -> bool:
        return self in _WORKING


_WORKING = frozenset(
    {OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.PENDING_CANCEL, OrderStatus.SUSPENDED}
)


class OrderType(IntEnum):
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7

    @property
    def is_stop(self) -> bool:
        return self in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """The account as the gateway reports it. ``applied`` marks one read back by a
    reconciliation: the trade ids already applied when it was asked for. Fills keep arriving
    meanwhile; if one was applied since, this balance may predate it and is not taken (the
    live update that came with that fill is newer)."""

    account_id: int
    name: str
    balance: Decimal
    can_trade: bool
    applied: frozenset[int] | None = None
    #: with ``applied``: the trade ids seen voided then (and listed voided by the read); a
    #: void applied since makes this balance possibly older (None: not said, not checked)
    voided: frozenset[int] | None = None


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """The broker's position in one contract. ``size`` 0 means closed. ``snapshot`` marks a
    position read back at start-up or after a reconnect (after the trades since the week
    began): the gateway's word is then final, not a live update fills may still explain."""

    account_id: int
    contract_id: str
    type: PositionType
    size: int
    average_price: Decimal
    opened_at: datetime
    position_id: int = 0
    snapshot: bool = False
    #: with ``snapshot``: the trade ids applied when it was read (see AccountUpdate); if a fill
    #: in this contract was applied since, the live position that came with it is newer
    applied: frozenset[int] | None = None
    #: with ``applied``: the trade ids seen voided then (and listed voided by the read); a
    #: trade of this contract voided since gave its position back live, which is newer
    voided: frozenset[int] | None = None

    @property
    def signed(self) -> int:
        """The size reported, signed (long +, short -); 0 for a record that closes it."""
        if self.size <= 0 or self.type is PositionType.UNDEFINED:
            return 0
        return self.size if self.type is PositionType.LONG else -self.size


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    account_id: int
    order_id: int
    contract_id: str
    status: OrderStatus
    type: OrderType
    side: Side
    size: int
    created_at: datetime
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    fill_volume: int = 0
    filled_price: Decimal | None = None
    custom_tag: str | None = None
    #: listed as working by a reconciliation read that began while the engine held the order
    #: working: if it ended live since, the read is older news and the order stays ended
    held: bool = False
    #: made from a read that did not list the order (see `ledger.unlisted`): taken as ended,
    #: yet not known final (a later record of it working is believed)
    unlisted: bool = False
    #: a record of a read (the account's, or one order's), not pushed live: it shows nothing of
    #: whether the live records reach us (see `blind`)
    read: bool = False


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``pnl`` is None on an opening (half-turn) fill; ``fees`` always count."""

    account_id: int
    trade_id: int
    contract_id: str
    order_id: int
    side: Side
    size: int
    price: Decimal
    pnl: Decimal | None
    fees: Decimal
    at: datetime
    voided: bool = False


@dataclass(frozen=True, slots=True)
class Leg:
    """Another contract's latest word, moved with a quote before it is judged (`Quote.legs`)."""

    contract_id: str
    at: datetime
    last: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    contract_id: str
    at: datetime
    last: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    #: other contracts' marks moved first, unjudged, then this quote's holders judged: the
    #: marks of a strided run all as they were one by one at this quote (`core.waited`)
    legs: tuple[Leg, ...] = ()


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: a stored deadline of this account is due (or any account, when None)."""

    account_id: int | None = None
    #: a read of the account's trades failed (the shell's reconciliation): its P&L rules
    #: waiting for them may judge on its balance's move past a grace (`core.unjudged`)
    unread: bool = False
    #: the account's balance in the one listing read once every hub was subscribed at
    #: start-up (the shell's): a restored account it settles waits no more (`core.unread`)
    listed: Decimal | None = None


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    """Tick size and value of a contract, as the gateway reports them."""

    contract_id: str
    tick_size: Decimal
    tick_value: Decimal


@dataclass(frozen=True, slots=True)
class InstrumentMissing:
    """The gateway, asked for a contract's tick size and value, has no such contract (or
    describes it so that it cannot be valued)."""

    contract_id: str


#: what the gateway said of a contract asked for (see `core.unpriced`)
InstrumentWord = InstrumentInfo | InstrumentMissing


@dataclass(frozen=True, slots=True)
class AdminCommand:
    """An authenticated admin forces a state. ``minutes`` sets a forced Cooldown's length;
    ``contract_id`` is a full contract id or a symbol root (every contract of that root);
    ``waive`` False grants no waiver to the rules whose holds the override clears."""

    account_id: int
    to: State
    reason: str
    admin: str
    contract_id: str | None = None
    minutes: int | None = None
    waive: bool = True


@dataclass(frozen=True, slots=True)
class SelfLock:
    """The trader locks their own account until ``until`` (``to``: Cooldown, LockedDaily or
    LockedWeekly). Anyone may add a lock; only an admin removes one."""

    account_id: int
    to: State
    until: datetime
    who: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TradesSnapshot:
    """Every trade of the account since ``since`` (the week's start), read back from the
    gateway at start-up or after a reconnect, after the missing ones were applied as fills:
    the day's and week's realized P&L are rebuilt from it when they disagree. The account's
    fills have caught up with its positions: it is no longer behind."""

    account_id: int
    since: datetime
    trades: tuple[Fill, ...]
    #: the trade ids already applied when the list was asked for: a complete list holds all
    #: of them; trades applied later (None: unknown) may be newer than the list
    applied: frozenset[int] | None = None
    #: the trade ids seen voided when the list was asked for: one voided since that it lists
    #: unvoided is older news (None: not said: every void seen counts; see `voids.listed`)
    voided: frozenset[int] | None = None
    #: the confirming read of a reset that seemed to be: the trades of [since, until] alone,
    #: asked for after the read whose list looked wiped (see `core.firm_reset`); None: a
    #: read of the whole window
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class PriceAt:
    """A contract's price at an instant (a reset missed while the service was stopped)."""

    at: datetime
    contract_id: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class PricesAtReset:
    """The gateway's price at a reset missed while the service was stopped of each contract
    the start-up read's trades say the account held then, though it held none at the stop
    (opened while stopped), sent before that read's trades (see `core.missed`)."""

    account_id: int
    prices: tuple[PriceAt, ...]


@dataclass(frozen=True, slots=True)
class EnforcementRejected:
    """The gateway refused (or failed) one of the service's close, cancel or resize requests
    (or a close was never sent: ``sent``).
    ``overtaken``: the gateway had already finished what it was for (the order filled or
    cancelled, the position closed or smaller than the request): a race lost, not a failure.
    ``resize``: for a resize of the trader's order, the size it asked; ``was``: the order's
    size it was asked from (larger: a shrink for our reduce; smaller: the order given back).
    ``limited``: turned away by the gateway's request limit (HTTP 429) before it was taken:
    nothing was done, and it may go again as soon as the limit allows. ``seq``: for a close,
    the number of the close it answers (`ClosePosition.seq`; None: any). ``sent``: False for
    a close never sent, no longer wanted once its turn in the request budget came (the
    position moved meanwhile, or a newer close replaced it): nothing reached the gateway."""

    account_id: int
    contract_id: str | None
    order_id: int | None
    message: str
    overtaken: bool = False
    resize: int | None = None
    was: int | None = None
    limited: bool = False
    seq: int | None = None
    sent: bool = True


@dataclass(frozen=True, slots=True)
class EnforcementAccepted:
    """The gateway accepted one of the service's closes (or reduces) of ``contract_id``;
    ``order_id``: the order it placed for it, when its answer says (None: it did not);
    ``seq``: the number of the close it answers (`ClosePosition.seq`; None: any)."""

    account_id: int
    contract_id: str
    order_id: int | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class CloseWaiting:
    """The service's close (or reduce) number ``seq`` of ``contract_id`` waits for its turn
    in the request budget (``waiting``), or has its turn and goes now (``waiting`` False,
    told before it is written). An order the gateway reports while ours has not gone cannot
    be ours: the trader's own exit of the same size was taken for it while it waited."""

    account_id: int
    contract_id: str
    seq: int
    waiting: bool


@dataclass(frozen=True, slots=True)
class CloseInDoubt:
    """The gateway answered the service's close (or reduce) number ``seq`` of ``contract_id``
    with no word of its outcome (a 503, a timeout), and the read asked to judge it failed too
    (the gateway's reads failing): the engine decides whether it goes again unread (`blind`)."""

    account_id: int
    contract_id: str
    seq: int
    #: the ``Date`` of the gateway application's own answer (a 5xx carrying its envelope): only
    #: an order it took after that proves the records reach us (`blind`). None: a timeout, a
    #: lost connection, a bare or a proxy's 5xx: the gateway may take ours yet; read first
    answered: datetime | None = None


#: what the service tells the engine of its close's answer (`Pursuit.accepted`)
CloseWord = EnforcementAccepted | CloseWaiting | CloseInDoubt


@dataclass(frozen=True, slots=True)
class Listing:
    """What a reconciliation read of the account listed, sent after the listed events
    themselves (a ``behind`` one: before them): the contracts with a position and the
    working orders, and what the engine held when the read began. The engine decides the
    difference (see `ledger.unlisted`): held then and still, yet not listed, is closed (a
    position) or ended (an order)."""

    account_id: int
    positions: frozenset[str]
    orders: frozenset[int]
    positions_before: frozenset[str]
    orders_before: frozenset[int]
    #: the trade ids applied or listed when the read began (see `PositionUpdate.applied`)
    applied: frozenset[int]
    #: a scheduled read: suspended orders (bracket children) are not listed by it
    periodic: bool = False
    #: a read of the positions and working orders alone, the trades to follow (sent before
    #: the listed events): until its `TradesSnapshot` the account is behind (see
    #: `exposure.Behind`)
    behind: bool = False
    #: when the read began, on the service's clock (None: not said). A close that timed out
    #: unheard of is sized again only from a read that began after it timed out
    began: datetime | None = None
    #: the read listed the account's balance (before its positions): the move it confirmed is
    #: this read's. False: it listed none (left out of the listing, or refused), and a move
    #: held from an older read (a periodic one that agreed: its positions never came) is not
    #: this read's either: what the read finds gone waits for the next balance (see `settled`)
    balance: bool = True
    #: a ``behind`` read's: the account's balance in a listing read once its hub was
    #: subscribed (None: none), which may settle its trades not read yet (see `unread`)
    listed: Decimal | None = None


Event = (
    AccountUpdate
    | PositionUpdate
    | OrderUpdate
    | Fill
    | Quote
    | Tick
    | InstrumentInfo
    | InstrumentMissing
    | AdminCommand
    | SelfLock
    | EnforcementRejected
    | EnforcementAccepted
    | CloseWaiting
    | CloseInDoubt
    | TradesSnapshot
    | Listing
    | PricesAtReset
)
