"""The paper gateway's matching engine: accounts, quotes, orders, fills, positions, P&L.

Synchronous and deterministic. Every call that changes state returns the gateway events it
caused, in the order a real ProjectX gateway sends them for one fill: the order, then the
trade, then the position, then the account. The server pushes them to subscribers; unit
tests read them directly. The only clock read is the injected ``clock`` (for timestamps).

Theory of operation
-------------------
- A quote is (bid, ask, last). Setting a price sets ``last`` and derives bid and ask from the
  spread: ``bid = last - (spread // 2) ticks`` and ``ask = bid + spread ticks``.
- Buys look at the ask, sells at the bid. A market order fills at the ask (buy) or the bid
  (sell). A limit order that is marketable on arrival fills at the ask/bid (never worse than
  its limit); a resting limit fills at its limit once touched (buy: ask <= limit; sell:
  bid >= limit). A stop triggers when touched (buy: ask >= stop; sell: bid <= stop) and fills
  at the ask/bid; a stop-limit then rests as a limit. A trailing stop follows the market by
  ``trailPrice`` (a distance), ratchets only in the trader's favour and triggers like a stop.
  Stops already through the market are rejected, as an exchange would.
- Positions net per (account, contract): same-direction fills average the price; opposite
  fills realise P&L on the closed quantity at ``(exit - average) / tick size * tick value``
  (sign flipped for shorts) and a fill larger than the position reverses it through zero.
  ``profitAndLoss`` is None on fills that close nothing. Every fill pays
  ``fee per side * size``; the balance moves by realised P&L minus fees.
- With a fill delay, an order that would fill stays working and is listed by
  `take_deferred`; the caller completes it later with `complete_deferred` (it fills then at
  the then-current price, unless it was cancelled in between).
- While an account cannot trade, only orders that reduce an existing position are accepted.

The production profile (``production=True``) behaves as the real gateway does where it is
less friendly: an order is announced Pending (6) before it is Open or Filled, a cancel goes
through PendingCancellation (7), a resting limit order touched by the market fills in two
parts, a refused order's customTag stays taken, bracket ticks are signed (a long's stop loss
below zero, its take profit above) with a 4-tick minimum, StopLimit cannot be placed, a
partial close refused by the market answers code 6, and every trade carries ``commissions``
beside ``fees`` (the balance pays both). `void_trade` voids a trade, `settle_position`
cash-settles a position (gone with no trade, its P&L in the balance) and `liquidate` is the
platform flattening an account on its own (working orders cancelled, positions closed by
orders neither the trader nor any client sent, trading blocked).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import IntEnum
from typing import Any

from fsm_risk.core.sessions import MarketHours
from fsm_risk.paper.catalog import Contract, on_tick
from fsm_risk.paper.prices import PricePath

CENT = Decimal("0.01")


class OrderType(IntEnum):
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7


class OrderStatus(IntEnum):
    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6
    PENDING_CANCELLATION = 7
    SUSPENDED = 8


class Side(IntEnum):
    BUY = 0
    SELL = 1


class PositionType(IntEnum):
    UNDEFINED = 0
    LONG = 1
    SHORT = 2


# Error codes, after the gateway's documented enums (only "non-zero" is relied upon).
PLACE_ACCOUNT_NOT_FOUND = 1
PLACE_ORDER_REJECTED = 2
PLACE_CONTRACT_NOT_FOUND = 8
PLACE_INSUFFICIENT_FUNDS = 3
PLACE_ACCOUNT_VIOLATION = 4
PLACE_OUTSIDE_TRADING_HOURS = 5
CANCEL_ACCOUNT_NOT_FOUND = 1
CANCEL_ORDER_NOT_FOUND = 2
CANCEL_REJECTED = 3
CLOSE_ACCOUNT_NOT_FOUND = 1
CLOSE_POSITION_NOT_FOUND = 2
CLOSE_CONTRACT_NOT_FOUND = 3
CLOSE_ORDER_REJECTED = 5
PARTIAL_CLOSE_INVALID_SIZE = 5
PARTIAL_CLOSE_ORDER_REJECTED = 6
#: a bracket closer than this many ticks is refused by the production profile
MIN_BRACKET_TICKS = 4


class BusinessError(Exception):
    """A request the gateway refuses: answered with success false, a code and a message.

    ``order_id`` is set when the refused request still created an order (a rejected order is
    recorded with status Rejected and appears in searches and in the order log).
    """

    def __init__(self, code: int, message: str, order_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.order_id = order_id


@dataclass(frozen=True, slots=True)
class Event:
    """One user-hub message: its target, the account it concerns, and the payload."""

    target: str  # GatewayUserOrder | GatewayUserTrade | GatewayUserPosition | GatewayUserAccount
    account_id: int
    payload: dict[str, Any]
    new: bool = False  # first message about this entity (action 0) or an update (action 1)


@dataclass(slots=True)
class AccountState:
    id: int
    name: str
    balance: Decimal
    can_trade: bool
    owner: str
    is_visible: bool = True
    simulated: bool = True

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "balance": self.balance,
            "canTrade": self.can_trade,
            "isVisible": self.is_visible,
            "simulated": self.simulated,
        }


@dataclass(slots=True)
class QuoteState:
    bid: Decimal
    ask: Decimal
    last: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    volume: int
    updated: datetime


@dataclass(slots=True)
class OrderState:
    id: int
    account_id: int
    contract_id: str
    type: OrderType
    side: Side
    size: int
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    custom_tag: str | None
    linked_order_id: int | None
    status: OrderStatus
    created: datetime
    updated: datetime | None
    received_perf: float
    source: str
    fill_volume: int = 0
    filled_price: Decimal | None = None
    triggered: bool = False
    reject_reason: str | None = None
    parent_id: int | None = None  # a bracket child: the entry it protects
    bracket_ticks: int | None = None  # a bracket child: distance from the entry's fill
    children: tuple[int, ...] = ()  # an entry with brackets: its children

    @property
    def working(self) -> bool:
        return self.status in (OrderStatus.OPEN, OrderStatus.PENDING)

    def to_api(self, symbol_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "symbolId": symbol_id,
            "creationTimestamp": iso(self.created),
            "updateTimestamp": iso(self.updated) if self.updated else None,
            "status": int(self.status),
            "type": int(self.type),
            "side": int(self.side),
            "size": self.size,
            "limitPrice": self.limit_price,
            "stopPrice": self.stop_price,
            "trailPrice": self.trail_price,
            "fillVolume": self.fill_volume,
            "filledPrice": self.filled_price,
            "customTag": self.custom_tag,
        }


@dataclass(slots=True)
class PositionState:
    id: int
    account_id: int
    contract_id: str
    created: datetime
    net: int = 0  # signed: > 0 long, < 0 short
    cost: Decimal = Decimal(0)  # sum of price x contracts of the open quantity

    @property
    def size(self) -> int:
        return abs(self.net)

    @property
    def average(self) -> Decimal:
        return self.cost / self.size if self.net else Decimal(0)

    @property
    def type(self) -> PositionType:
        if self.net > 0:
            return PositionType.LONG
        if self.net < 0:
            return PositionType.SHORT
        return PositionType.UNDEFINED

    def to_api(self, last_type: PositionType | None = None) -> dict[str, Any]:
        kind = self.type if self.net else (last_type or PositionType.UNDEFINED)
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "creationTimestamp": iso(self.created),
            "type": int(kind),
            "size": self.size,
            "averagePrice": self.average,
        }


@dataclass(slots=True)
class TradeState:
    id: int
    account_id: int
    contract_id: str
    created: datetime
    price: Decimal
    profit_and_loss: Decimal | None
    fees: Decimal
    side: Side
    size: int
    order_id: int
    voided: bool = False
    commissions: Decimal | None = None  # reported beside the fees (production profile)

    def to_api(self) -> dict[str, Any]:
        extra = {} if self.commissions is None else {"commissions": self.commissions}
        return {
            **extra,
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "creationTimestamp": iso(self.created),
            "price": self.price,
            "profitAndLoss": self.profit_and_loss,
            "fees": self.fees,
            "side": int(self.side),
            "size": self.size,
            "voided": self.voided,
            "orderId": self.order_id,
        }


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a rejection predicate sees of an incoming order."""

    account_id: int
    contract_id: str
    type: OrderType
    side: Side
    size: int
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    custom_tag: str | None
    source: str


@dataclass(slots=True)
class RejectRule:
    """Reject incoming orders that match ``predicate``, ``remaining`` times (None: forever)."""

    predicate: Callable[[OrderRequest], bool]
    message: str
    remaining: int | None = None


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with an explicit offset, as the gateway writes timestamps."""
    return moment.astimezone(UTC).isoformat()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Engine:
    """All simulated state of one gateway. See the module docstring for the rules."""

    contracts: dict[str, Contract]
    spread_ticks: int = 1
    clock: Callable[[], datetime] = _utc_now
    perf: Callable[[], float] = time.perf_counter
    fill_delay: float = 0.0
    unique_custom_tags: bool = True
    production: bool = False
    commission: Decimal = Decimal(0)
    #: the market's hours (`maintenance_break`): every order placed while it is closed is
    #: refused, a close included (None: never closed)
    market: MarketHours | None = None

    accounts: dict[int, AccountState] = field(default_factory=dict)
    quotes: dict[str, QuoteState] = field(default_factory=dict)
    #: every last price each contract had, with its time: what its bars are built from
    paths: dict[str, PricePath] = field(default_factory=dict)
    orders: dict[int, OrderState] = field(default_factory=dict)
    positions: dict[tuple[int, str], PositionState] = field(default_factory=dict)
    trades: list[TradeState] = field(default_factory=list)
    reject_rules: list[RejectRule] = field(default_factory=list)
    #: a fault: cancels of working orders refused with this message, the orders left
    #: working (`refuse_cancels`; None: cancels are taken)
    cancel_refusal: str | None = None

    _next_order: int = 70_000_001
    _next_trade: int = 80_000_001
    _next_position: int = 90_000_001
    _deferred: list[int] = field(default_factory=list)
    _pending: set[int] = field(default_factory=set)
    _working: dict[str, dict[int, OrderState]] = field(default_factory=dict)
    _tags: dict[int, set[str]] = field(default_factory=dict)
    #: production: why the platform blocks an account's new exposure (error code, message)
    blocked: dict[int, tuple[int, str]] = field(default_factory=dict)

    # --- set-up ----------------------------------------------------------------------------

    def number_from(self, base: int) -> None:
        """The next order, trade and position get ids ``base`` + 1 on (each kind counts on
        its own)."""
        self._next_order = self._next_trade = self._next_position = base + 1

    def add_account(
        self, account_id: int, name: str, balance: Decimal, can_trade: bool, owner: str
    ) -> None:
        self.accounts[account_id] = AccountState(account_id, name, balance, can_trade, owner)

    def now(self) -> datetime:
        moment = self.clock()
        if moment.tzinfo is None:
            raise ValueError("the paper gateway's clock must return aware datetimes")
        return moment.astimezone(UTC)

    def contract(self, contract_id: str) -> Contract:
        return self.contracts[contract_id]

    # --- prices ----------------------------------------------------------------------------

    def set_last(self, contract_id: str, last: Decimal) -> list[Event]:
        """Move the last price; bid and ask follow at the configured spread."""
        tick = self.contracts[contract_id].tick_size
        bid = last - (self.spread_ticks // 2) * tick
        return self.set_quote(contract_id, bid=bid, ask=bid + self.spread_ticks * tick, last=last)

    def set_quote(
        self, contract_id: str, *, bid: Decimal, ask: Decimal, last: Decimal | None = None
    ) -> list[Event]:
        """Set the whole quote, then match every working order of the contract against it."""
        contract = self.contracts[contract_id]
        for name, price in (("bid", bid), ("ask", ask), ("last", last)):
            if price is not None and (price <= 0 or not on_tick(price, contract.tick_size)):
                raise ValueError(f"{name} {price} is not a positive multiple of the tick")
        if ask < bid:
            raise ValueError(f"ask {ask} is below bid {bid}")
        last = bid if last is None else last
        now = self.now()
        path = self.paths.get(contract_id)
        if path is None:
            path = self.paths[contract_id] = PricePath(last)  # its initial price
        path.add(now.timestamp(), last)
        quote = self.quotes.get(contract_id)
        if quote is None:
            self.quotes[contract_id] = QuoteState(bid, ask, last, last, last, last, 0, now)
        else:
            quote.bid, quote.ask, quote.last, quote.updated = bid, ask, last, now
            quote.high = max(quote.high, last)
            quote.low = min(quote.low, last)
        return self._match(contract_id)

    def quote(self, contract_id: str) -> QuoteState:
        return self.quotes[contract_id]

    def quote_payload(self, contract_id: str) -> dict[str, Any]:
        contract = self.contracts[contract_id]
        q = self.quotes[contract_id]
        change = q.last - q.open
        return {
            "symbol": contract.symbol_id,
            "symbolName": f"/{contract.root}",
            "lastPrice": q.last,
            "bestBid": q.bid,
            "bestAsk": q.ask,
            "change": change,
            "changePercent": (change / q.open * 100).quantize(CENT) if q.open else 0,
            "open": q.open,
            "high": q.high,
            "low": q.low,
            "volume": q.volume,
            "lastUpdated": iso(q.updated),
            "timestamp": iso(q.updated),
        }

    # --- accounts --------------------------------------------------------------------------

    def set_can_trade(self, account_id: int, can_trade: bool) -> list[Event]:
        account = self.accounts[account_id]
        account.can_trade = can_trade
        return [Event("GatewayUserAccount", account_id, account.to_api())]

    def set_balance(self, account_id: int, balance: Decimal) -> list[Event]:
        account = self.accounts[account_id]
        account.balance = balance
        return [Event("GatewayUserAccount", account_id, account.to_api())]

    # --- orders ----------------------------------------------------------------------------

    def place(
        self,
        account_id: int,
        contract_id: str,
        type: int,
        side: int,
        size: int,
        *,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail_price: Decimal | None = None,
        custom_tag: str | None = None,
        linked_order_id: int | None = None,
        stop_loss_bracket: Bracket | None = None,
        take_profit_bracket: Bracket | None = None,
        source: str = "rest",
        received_perf: float | None = None,
    ) -> tuple[OrderState, list[Event]]:
        """Accept (and possibly fill) an order, or raise `BusinessError`.

        A refused order that passed the basic checks (known account and contract, sane
        type/side/size) is recorded as Rejected, announced with an order event, and the
        error carries its id.

        Brackets, as the gateway's ``stopLossBracket`` / ``takeProfitBracket`` (``ticks``
        from the entry's fill price, and an order type: stop 4 or trailing stop 5 for the
        stop loss, limit 1 for the take profit), become child orders on the closing side.
        They wait Suspended until the entry fills, then work as one-cancels-other.
        """
        perf = self.perf() if received_perf is None else received_perf
        account = self.accounts.get(account_id)
        if account is None:
            raise BusinessError(PLACE_ACCOUNT_NOT_FOUND, f"Account {account_id} not found")
        contract = self.contracts.get(contract_id)
        if contract is None:
            raise BusinessError(PLACE_CONTRACT_NOT_FOUND, f"Contract {contract_id} not found")
        try:
            order_type, order_side = OrderType(type), Side(side)
        except ValueError:
            raise BusinessError(
                PLACE_ORDER_REJECTED, f"Invalid order type {type} or side {side}"
            ) from None
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise BusinessError(PLACE_ORDER_REJECTED, f"Invalid order size {size}")
        if self.production and order_type is OrderType.STOP_LIMIT and source == "rest":
            raise BusinessError(PLACE_ORDER_REJECTED, "Stop limit orders are not supported")
        quote = self.quotes[contract_id]
        if order_type is OrderType.JOIN_BID:
            limit_price = quote.bid
        elif order_type is OrderType.JOIN_ASK:
            limit_price = quote.ask
        now = self.now()
        order = OrderState(
            id=self._next_order,
            account_id=account_id,
            contract_id=contract_id,
            type=order_type,
            side=order_side,
            size=size,
            limit_price=limit_price if _uses_limit(order_type) else None,
            stop_price=stop_price if _uses_stop(order_type) else None,
            trail_price=trail_price if order_type is OrderType.TRAILING_STOP else None,
            custom_tag=custom_tag or None,
            linked_order_id=linked_order_id,
            status=OrderStatus.OPEN,
            created=now,
            updated=now,
            received_perf=perf,
            source=source,
        )
        self._next_order += 1
        request = OrderRequest(
            account_id,
            contract_id,
            order_type,
            order_side,
            size,
            order.limit_price,
            order.stop_price,
            order.trail_price,
            order.custom_tag,
            source,
        )
        code, reason = PLACE_ORDER_REJECTED, None
        if source != "platform" and (closed := self._market_closed(now)) is not None:
            code, reason = PLACE_OUTSIDE_TRADING_HOURS, closed
        elif self.production and not self._reduces(order):
            code, reason = self._production_refusal(account)
        if reason is None:
            reason = self._refusal(account, contract, order, request)
        if reason is None:
            check = _signed_bracket_problem if self.production else _bracket_problem
            reason = check(order_side, stop_loss_bracket, take_profit_bracket)
        self.orders[order.id] = order
        if order.custom_tag is not None and (reason is None or self.production):
            self._tags.setdefault(account_id, set()).add(order.custom_tag)  # taken, even so
        if reason is not None:
            order.status = OrderStatus.REJECTED
            order.reject_reason = reason
            event = Event("GatewayUserOrder", account_id, self._order_api(order), new=True)
            raise OrderRejected(order, [event], reason, code)
        if order_type is OrderType.TRAILING_STOP:
            self._init_trailing(order, quote)
        events = []
        if self.production:
            pending = {**self._order_api(order), "status": int(OrderStatus.PENDING)}
            events.append(Event("GatewayUserOrder", account_id, pending, new=True))
        announced = Event(
            "GatewayUserOrder", account_id, self._order_api(order), new=not self.production
        )
        events.append(announced)
        events += self._suspend_children(order, stop_loss_bracket, take_profit_bracket)
        events += self._evaluate(order, quote, arriving=True)
        if self.production and order.status is OrderStatus.FILLED:
            events.remove(announced)  # Pending, then Filled: never seen Open
        if order.working:
            self._working.setdefault(contract_id, {})[order.id] = order
        return order, events

    def cancel(self, account_id: int, order_id: int) -> list[Event]:
        order = self._own_order(account_id, order_id, CANCEL_ACCOUNT_NOT_FOUND)
        if not order.working and order.status is not OrderStatus.SUSPENDED:
            raise BusinessError(
                CANCEL_REJECTED, f"Order {order_id} is {order.status.name.lower()}, not working"
            )
        if self.cancel_refusal is not None:
            raise BusinessError(CANCEL_REJECTED, self.cancel_refusal)
        events = []
        if self.production:
            pending = {**self._order_api(order), "status": int(OrderStatus.PENDING_CANCELLATION)}
            events.append(Event("GatewayUserOrder", account_id, pending))
        order.status = OrderStatus.CANCELLED
        order.updated = self.now()
        self._pending.discard(order.id)
        events.append(Event("GatewayUserOrder", account_id, self._order_api(order)))
        for child_id in order.children:  # brackets of an entry that never filled
            child = self.orders[child_id]
            if child.status is OrderStatus.SUSPENDED:
                events += self._cancel_quietly(child)
        return events

    def modify(
        self,
        account_id: int,
        order_id: int,
        *,
        size: int | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail_price: Decimal | None = None,
    ) -> list[Event]:
        order = self._own_order(account_id, order_id, CANCEL_ACCOUNT_NOT_FOUND)
        suspended = order.status is OrderStatus.SUSPENDED
        if suspended and size is not None and (limit_price, stop_price, trail_price) == (None,) * 3:
            # a bracket child waiting for its entry: its size may change (it goes live at
            # it), its prices are set from the entry's fill
            return self._resize_suspended(order, size)
        if not order.working:
            raise BusinessError(
                CANCEL_REJECTED, f"Order {order_id} is {order.status.name.lower()}, not working"
            )
        contract = self.contracts[order.contract_id]
        quote = self.quotes[order.contract_id]
        if size is not None and (isinstance(size, bool) or size <= 0):
            raise BusinessError(CANCEL_REJECTED, f"Invalid order size {size}")
        if size is not None and size <= order.fill_volume:
            # the size is the order's total: at or below what has filled, nothing would be
            # left to fill (the old code took it and booked a trade of size -1 next)
            raise BusinessError(
                CANCEL_REJECTED,
                f"Invalid order size {size}: {order.fill_volume} of {order.size} already filled",
            )
        changed = dataclasses.replace(order)
        if size is not None:
            changed.size = size
        if limit_price is not None:
            if not _uses_limit(order.type):
                raise BusinessError(CANCEL_REJECTED, "This order type has no limit price")
            changed.limit_price = limit_price
        if stop_price is not None:
            if not _uses_stop(order.type):
                raise BusinessError(CANCEL_REJECTED, "This order type has no stop price")
            changed.stop_price = stop_price
        if trail_price is not None:
            if order.type is not OrderType.TRAILING_STOP:
                raise BusinessError(CANCEL_REJECTED, "Only trailing stops have a trail price")
            changed.trail_price = trail_price
        problem = _price_problem(contract, changed, quote)
        if problem:
            raise BusinessError(CANCEL_REJECTED, problem)
        order.size, order.limit_price = changed.size, changed.limit_price
        order.stop_price, order.trail_price = changed.stop_price, changed.trail_price
        if trail_price is not None and stop_price is None:
            self._init_trailing(order, quote, reset=True)
        order.updated = self.now()
        events = [Event("GatewayUserOrder", account_id, self._order_api(order))]
        if order.id not in self._pending:
            events += self._evaluate(order, quote, arriving=True)
        return events

    def _resize_suspended(self, order: OrderState, size: int) -> list[Event]:
        if isinstance(size, bool) or size <= 0:
            raise BusinessError(CANCEL_REJECTED, f"Invalid order size {size}")
        order.size = size
        order.updated = self.now()
        return [Event("GatewayUserOrder", order.account_id, self._order_api(order))]

    def close_position(
        self,
        account_id: int,
        contract_id: str,
        size: int | None = None,
        source: str = "close",
        *,
        received_perf: float | None = None,
    ) -> tuple[OrderState, list[Event]]:
        """Send a market order that closes the position (or ``size`` contracts of it)."""
        if account_id not in self.accounts:
            raise BusinessError(CLOSE_ACCOUNT_NOT_FOUND, f"Account {account_id} not found")
        if contract_id not in self.contracts:
            raise BusinessError(CLOSE_CONTRACT_NOT_FOUND, f"Contract {contract_id} not found")
        position = self.positions.get((account_id, contract_id))
        if position is None or position.net == 0:
            raise BusinessError(
                CLOSE_POSITION_NOT_FOUND, f"No open position in {contract_id} on {account_id}"
            )
        if size is not None and (isinstance(size, bool) or size <= 0 or size > position.size):
            raise BusinessError(
                PARTIAL_CLOSE_INVALID_SIZE,
                f"Invalid close size {size} for a position of {position.size}",
            )
        side = Side.SELL if position.net > 0 else Side.BUY
        try:
            return self.place(
                account_id,
                contract_id,
                OrderType.MARKET,
                side,
                size or position.size,
                source=source,
                received_perf=received_perf,
            )
        except BusinessError as exc:
            partial = self.production and size is not None
            exc.code = PARTIAL_CLOSE_ORDER_REJECTED if partial else CLOSE_ORDER_REJECTED
            raise

    # --- the platform acting on its own ------------------------------------------------------

    def void_trade(self, trade_id: int) -> list[Event]:
        """Void a trade: its P&L, fees and commissions go back to the balance (the position
        is left as it is). Announced as the trade with ``voided`` true, then the account."""
        trade = next((t for t in self.trades if t.id == trade_id), None)
        if trade is None:
            raise BusinessError(1, f"Trade {trade_id} not found")
        if trade.voided:
            return []
        trade.voided = True
        account = self.accounts[trade.account_id]
        paid = trade.fees + (trade.commissions or Decimal(0))
        account.balance -= (trade.profit_and_loss or Decimal(0)) - paid
        return [
            Event("GatewayUserTrade", trade.account_id, trade.to_api()),
            Event("GatewayUserAccount", trade.account_id, account.to_api()),
        ]

    def settle_position(self, account_id: int, contract_id: str, price: Decimal) -> list[Event]:
        """Cash-settle a position, as at expiry (or any removal by the platform): gone at
        ``price`` with no order and no trade, its P&L moved into the balance. Announced as the
        position closed, then the account."""
        key = (account_id, contract_id)
        position = self.positions.get(key)
        if position is None or position.net == 0:
            raise BusinessError(1, f"No open position in {contract_id}")
        contract = self.contracts[contract_id]
        direction = 1 if position.net > 0 else -1
        ticks = (price * position.size - position.cost) * direction / contract.tick_size
        account = self.accounts[account_id]
        account.balance += (ticks * contract.tick_value).quantize(CENT, ROUND_HALF_EVEN)
        before = position.type
        position.net, position.cost = 0, Decimal(0)
        del self.positions[key]
        return [
            Event("GatewayUserPosition", account_id, position.to_api(last_type=before)),
            Event("GatewayUserAccount", account_id, account.to_api()),
        ]

    def reset_account(self, account_id: int, balance: Decimal) -> list[Event]:
        """The firm resets the account (as a prop firm restarts a failed evaluation): every
        working (or suspended) order cancelled, every position removed with no order and no
        trade, the account's trade history wiped (`/Trade/search` lists none of it) and the
        balance set to ``balance``. Announced as the orders cancelled, the positions closed,
        then the account."""
        account = self.accounts[account_id]
        events: list[Event] = []
        for order in list(self.orders.values()):
            if order.account_id == account_id and (
                order.working or order.status is OrderStatus.SUSPENDED
            ):
                events += self._cancel_quietly(order)
        for position in self.open_positions(account_id):
            before = position.type
            position.net, position.cost = 0, Decimal(0)
            del self.positions[(account_id, position.contract_id)]
            events.append(
                Event("GatewayUserPosition", account_id, position.to_api(last_type=before))
            )
        self.trades = [t for t in self.trades if t.account_id != account_id]
        account.balance = balance
        events.append(Event("GatewayUserAccount", account_id, account.to_api()))
        return events

    def liquidate(self, account_id: int) -> list[Event]:
        """The platform flattens the account: trading blocked, every working (or suspended)
        order cancelled, every position closed at market by the platform's own orders."""
        account = self.accounts[account_id]
        events = self.set_can_trade(account_id, False) if account.can_trade else []
        for order in list(self.orders.values()):
            if order.account_id == account_id and (
                order.working or order.status is OrderStatus.SUSPENDED
            ):
                events += self._cancel_quietly(order)
        for position in self.open_positions(account_id):
            side = Side.SELL if position.net > 0 else Side.BUY
            _, placed = self.place(
                account_id, position.contract_id, OrderType.MARKET, side, position.size,
                source="platform",
            )  # fmt: skip
            events += placed
        return events

    # --- fault injection -------------------------------------------------------------------

    def reject(
        self,
        predicate: Callable[[OrderRequest], bool],
        message: str,
        count: int | None = None,
    ) -> RejectRule:
        """Refuse the next ``count`` orders (None: every order) that match ``predicate``."""
        rule = RejectRule(predicate, message, count)
        self.reject_rules.append(rule)
        return rule

    def refuse_cancels(self, message: str | None = "Order cannot be cancelled") -> None:
        """Refuse every cancel of a working order with ``message`` (None: take them again)."""
        self.cancel_refusal = message

    def take_deferred(self) -> list[int]:
        """Orders that became due to fill while a fill delay is set (caller schedules them)."""
        due, self._deferred = self._deferred, []
        return due

    def complete_deferred(self, order_id: int) -> list[Event]:
        """Fill a deferred order now, at the current quote (limit orders at their limit)."""
        if order_id not in self._pending:
            return []
        self._pending.discard(order_id)
        order = self.orders[order_id]
        if not order.working:
            return []
        quote = self.quotes[order.contract_id]
        if order.type in (OrderType.LIMIT, OrderType.JOIN_BID, OrderType.JOIN_ASK) or (
            order.type is OrderType.STOP_LIMIT and order.triggered
        ):
            assert order.limit_price is not None
            market = quote.ask if order.side is Side.BUY else quote.bid
            better = min if order.side is Side.BUY else max
            return self._fill(order, better(market, order.limit_price))
        return self._fill(order, quote.ask if order.side is Side.BUY else quote.bid)

    # --- reading ---------------------------------------------------------------------------

    def owned_accounts(self, user: str) -> list[AccountState]:
        return [a for a in self.accounts.values() if a.owner == user]

    def open_positions(self, account_id: int | None = None) -> list[PositionState]:
        return [
            p
            for p in self.positions.values()
            if p.net and (account_id is None or p.account_id == account_id)
        ]

    def account_orders(self, account_id: int | None = None) -> list[OrderState]:
        return [o for o in self.orders.values() if account_id is None or o.account_id == account_id]

    def account_trades(self, account_id: int | None = None) -> list[TradeState]:
        return [t for t in self.trades if account_id is None or t.account_id == account_id]

    def order_api(self, order: OrderState) -> dict[str, Any]:
        return self._order_api(order)

    def position_api(self, position: PositionState) -> dict[str, Any]:
        return position.to_api()

    # --- internals -------------------------------------------------------------------------

    def _order_api(self, order: OrderState) -> dict[str, Any]:
        payload = order.to_api(self.contracts[order.contract_id].symbol_id)
        if self.production:  # the real order object's links
            payload["parentOrderId"] = order.parent_id
            payload["linkedOrderId"] = order.linked_order_id
            payload["trailDistance"] = order.trail_price
        return payload

    def _own_order(self, account_id: int, order_id: int, not_found_code: int) -> OrderState:
        if account_id not in self.accounts:
            raise BusinessError(not_found_code, f"Account {account_id} not found")
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise BusinessError(CANCEL_ORDER_NOT_FOUND, f"Order {order_id} not found")
        return order

    def _refusal(
        self,
        account: AccountState,
        contract: Contract,
        order: OrderState,
        request: OrderRequest,
    ) -> str | None:
        for rule in list(self.reject_rules):
            if rule.predicate(request):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self.reject_rules.remove(rule)
                return rule.message
        if not account.can_trade and not self._reduces(order):
            return f"Account {account.name} is not permitted to trade"
        if (
            self.unique_custom_tags
            and order.custom_tag is not None
            and order.custom_tag in self._tags.get(order.account_id, ())
        ):
            return f"An order with customTag '{order.custom_tag}' already exists"
        return _price_problem(contract, order, self.quotes[contract.id])

    def _market_closed(self, now: datetime) -> str | None:
        """Why no order can be placed at ``now``: the market is closed (None: it is open)."""
        reopen = self.market.reopen(now) if self.market is not None else None
        if reopen is None:
            return None
        assert self.market is not None
        opens = self.market.local(reopen).strftime("%a %H:%M %Z")
        return f"Market is closed: orders are not accepted until it opens ({opens})"

    def _production_refusal(self, account: AccountState) -> tuple[int, str | None]:
        """The real gateway's documented codes for new exposure it will not take."""
        if account.id in self.blocked:
            return self.blocked[account.id]
        if account.balance <= 0:
            return PLACE_INSUFFICIENT_FUNDS, f"Insufficient funds on account {account.name}"
        return PLACE_ORDER_REJECTED, None

    def _reduces(self, order: OrderState) -> bool:
        position = self.positions.get((order.account_id, order.contract_id))
        if position is None or position.net == 0:
            return False
        opposite = (position.net > 0) == (order.side is Side.SELL)
        return opposite and order.size <= position.size

    def _init_trailing(self, order: OrderState, quote: QuoteState, reset: bool = False) -> None:
        if order.stop_price is not None and not reset:
            if order.trail_price is None:
                reference = quote.bid if order.side is Side.SELL else quote.ask
                order.trail_price = abs(reference - order.stop_price)
            return
        assert order.trail_price is not None
        if order.side is Side.SELL:
            order.stop_price = quote.bid - order.trail_price
        else:
            order.stop_price = quote.ask + order.trail_price

    def _suspend_children(
        self, entry: OrderState, stop_loss: Bracket | None, take_profit: Bracket | None
    ) -> list[Event]:
        events: list[Event] = []
        children: list[OrderState] = []
        for bracket in (stop_loss, take_profit):
            if bracket is None:
                continue
            ticks, kind = bracket
            child = OrderState(
                id=self._next_order,
                account_id=entry.account_id,
                contract_id=entry.contract_id,
                type=OrderType(kind),
                side=Side.SELL if entry.side is Side.BUY else Side.BUY,
                size=entry.size,
                limit_price=None,
                stop_price=None,
                trail_price=None,
                custom_tag=None,
                linked_order_id=None,
                status=OrderStatus.SUSPENDED,
                created=entry.created,
                updated=entry.created,
                received_perf=entry.received_perf,
                source="bracket",
                parent_id=entry.id,
                bracket_ticks=ticks,
            )
            self._next_order += 1
            self.orders[child.id] = child
            children.append(child)
        if len(children) == 2:
            first, second = children
            first.linked_order_id, second.linked_order_id = second.id, first.id
        entry.children = tuple(c.id for c in children)
        for child in children:
            events.append(Event("GatewayUserOrder", child.account_id, self._order_api(child), True))
        return events

    def _activate_children(self, entry: OrderState, price: Decimal) -> list[Event]:
        """The entry filled at ``price``: place its brackets around it and let them work."""
        tick = self.contracts[entry.contract_id].tick_size
        quote = self.quotes[entry.contract_id]
        away = -1 if entry.side is Side.BUY else 1  # a long's stop is below, its target above
        events: list[Event] = []
        for child_id in entry.children:
            child = self.orders[child_id]
            if child.status is not OrderStatus.SUSPENDED:
                continue
            assert child.bracket_ticks is not None
            distance = abs(child.bracket_ticks) * tick
            if child.type is OrderType.LIMIT:
                child.limit_price = price - away * distance
            elif child.type is OrderType.TRAILING_STOP:
                child.trail_price = distance
                self._init_trailing(child, quote)
            else:
                child.stop_price = price + away * distance
            child.status = OrderStatus.OPEN
            child.updated = self.now()
            self._working.setdefault(child.contract_id, {})[child.id] = child
            events.append(Event("GatewayUserOrder", child.account_id, self._order_api(child)))
        for child_id in entry.children:
            child = self.orders[child_id]
            if child.working and child.id not in self._pending:
                events += self._evaluate(child, quote, arriving=False)
        return events

    def _cancel_quietly(self, order: OrderState) -> list[Event]:
        order.status = OrderStatus.CANCELLED
        order.updated = self.now()
        self._pending.discard(order.id)
        return [Event("GatewayUserOrder", order.account_id, self._order_api(order))]

    def _match(self, contract_id: str) -> list[Event]:
        quote = self.quotes[contract_id]
        events: list[Event] = []
        working = self._working.get(contract_id, {})
        for order in list(working.values()):
            if not order.working:
                del working[order.id]
            elif order.id not in self._pending:
                events += self._evaluate(order, quote, arriving=False)
        return events

    def _evaluate(self, order: OrderState, quote: QuoteState, *, arriving: bool) -> list[Event]:
        """Fill ``order`` if the quote allows; ratchet trailing stops. Returns the events."""
        buy = order.side is Side.BUY
        market = quote.ask if buy else quote.bid
        events: list[Event] = []
        if order.type is OrderType.MARKET:
            return self._execute(order, None)
        if order.type is OrderType.TRAILING_STOP:
            assert order.trail_price is not None and order.stop_price is not None
            candidate = market + order.trail_price if buy else market - order.trail_price
            if (buy and candidate < order.stop_price) or (not buy and candidate > order.stop_price):
                order.stop_price = candidate
                order.updated = self.now()
                events.append(Event("GatewayUserOrder", order.account_id, self._order_api(order)))
        if order.type in (OrderType.STOP, OrderType.TRAILING_STOP):
            assert order.stop_price is not None
            if (buy and market >= order.stop_price) or (not buy and market <= order.stop_price):
                return events + self._execute(order, None)
            return events
        if order.type is OrderType.STOP_LIMIT and not order.triggered:
            assert order.stop_price is not None
            if (buy and market >= order.stop_price) or (not buy and market <= order.stop_price):
                order.triggered = True
                arriving = True
            else:
                return events
        assert order.limit_price is not None
        limit = order.limit_price
        if (buy and market <= limit) or (not buy and market >= limit):
            if self.production and not arriving and self.fill_delay <= 0:
                # in two parts: the larger half on the first touch, the rest on the next
                part = (order.size + 1) // 2 if order.fill_volume == 0 else None
                return events + self._fill(order, limit, part)
            return events + self._execute(order, market if arriving else limit)
        return events

    def _execute(self, order: OrderState, price: Decimal | None) -> list[Event]:
        if self.fill_delay > 0:
            if order.id not in self._pending:
                self._pending.add(order.id)
                self._deferred.append(order.id)
            return []
        if price is None:
            quote = self.quotes[order.contract_id]
            price = quote.ask if order.side is Side.BUY else quote.bid
        return self._fill(order, price)

    def _fill(self, order: OrderState, price: Decimal, quantity: int | None = None) -> list[Event]:
        """Fill ``quantity`` (default: all that is left) of the order at ``price``."""
        contract = self.contracts[order.contract_id]
        account = self.accounts[order.account_id]
        now = self.now()
        size = order.size - order.fill_volume if quantity is None else quantity
        order.fill_volume += size
        if order.fill_volume >= order.size:
            order.status = OrderStatus.FILLED
        order.filled_price = price
        order.updated = now
        quote = self.quotes[order.contract_id]
        quote.volume += size

        key = (order.account_id, order.contract_id)
        position = self.positions.get(key)
        if position is None or position.net == 0:
            position = PositionState(self._next_position, order.account_id, contract.id, now)
            self._next_position += 1
            self.positions[key] = position
            opened = True
        else:
            opened = False
        before_type = position.type
        signed = size if order.side is Side.BUY else -size
        pnl: Decimal | None = None
        if position.net == 0 or (position.net > 0) == (signed > 0):
            position.net += signed
            position.cost += price * size
        else:
            closing = min(abs(position.net), size)
            direction = 1 if position.net > 0 else -1
            basis = position.cost * closing / abs(position.net)
            ticks = (price * closing - basis) * direction / contract.tick_size
            pnl = (ticks * contract.tick_value).quantize(CENT, ROUND_HALF_EVEN)
            position.cost -= basis
            position.net += signed
            if abs(signed) > closing:  # reversal through zero
                position.cost = price * abs(position.net)
                position.created = now
        fees = (contract.fee_per_side * size).quantize(CENT, ROUND_HALF_EVEN)
        commissions = (self.commission * size).quantize(CENT) if self.production else None
        account.balance += (pnl or Decimal(0)) - fees - (commissions or Decimal(0))

        trade = TradeState(
            self._next_trade, order.account_id, contract.id, now, price, pnl, fees,
            order.side, size, order.id, commissions=commissions,
        )  # fmt: skip
        self._next_trade += 1
        self.trades.append(trade)
        events = [
            Event("GatewayUserOrder", order.account_id, self._order_api(order)),
            Event("GatewayUserTrade", order.account_id, trade.to_api(), new=True),
            Event(
                "GatewayUserPosition",
                order.account_id,
                position.to_api(last_type=before_type),
                new=opened,
            ),
            Event("GatewayUserAccount", order.account_id, account.to_api()),
        ]
        if position.net == 0:
            del self.positions[key]
        if order.status is not OrderStatus.FILLED:
            return events  # partly filled: the rest keeps working
        if order.children:
            events += self._activate_children(order, price)
        if order.parent_id is not None:  # one-cancels-other
            for sibling_id in self.orders[order.parent_id].children:
                sibling = self.orders[sibling_id]
                if sibling.id != order.id and (
                    sibling.working or sibling.status is OrderStatus.SUSPENDED
                ):
                    events += self._cancel_quietly(sibling)
        return events


class OrderRejected(BusinessError):
    """A refused order that was recorded: carries the order and its Rejected event."""

    def __init__(
        self, order: OrderState, events: list[Event], reason: str, code: int = PLACE_ORDER_REJECTED
    ) -> None:
        super().__init__(code, reason, order.id)
        self.order = order
        self.events = events


Bracket = tuple[int, int]  # (ticks from the entry's fill price, order type)


def _bracket_problem(
    side: Side, stop_loss: Bracket | None, take_profit: Bracket | None
) -> str | None:
    for name, bracket, kinds in (
        ("stop loss", stop_loss, (OrderType.STOP, OrderType.TRAILING_STOP)),
        ("take profit", take_profit, (OrderType.LIMIT,)),
    ):
        if bracket is None:
            continue
        ticks, kind = bracket
        if ticks <= 0:
            return f"Invalid {name} bracket: ticks must be positive, got {ticks}"
        if kind not in kinds:
            return f"Invalid {name} bracket type {kind}"
    return None


def _signed_bracket_problem(
    side: Side, stop_loss: Bracket | None, take_profit: Bracket | None
) -> str | None:
    """The real gateway's bracket checks: ticks are signed from the entry's side (a long's
    stop loss is below zero, its take profit above), at least 4 ticks away, and a stop loss
    is a stop or trailing stop order."""
    longing = side is Side.BUY
    for name, bracket, below in (
        ("stop loss", stop_loss, longing),
        ("take profit", take_profit, not longing),
    ):
        if bracket is None:
            continue
        ticks, kind = bracket
        if (ticks < 0) != below or ticks == 0:
            sign = "less" if below else "greater"
            way = "longing" if longing else "shorting"
            return f"Invalid {name} ticks ({ticks}). Ticks should be {sign} than zero when {way}."
        if abs(ticks) < MIN_BRACKET_TICKS:
            return f"Invalid {name} ticks ({ticks}). Ticks must be at least {MIN_BRACKET_TICKS}."
        if name == "stop loss" and kind not in (OrderType.STOP, OrderType.TRAILING_STOP):
            return f"Invalid stop loss type {kind}: a stop loss cannot be a limit order."
        if name == "take profit" and kind != OrderType.LIMIT:
            return f"Invalid take profit type {kind}."
    return None


def _uses_limit(order_type: OrderType) -> bool:
    return order_type in (
        OrderType.LIMIT,
        OrderType.STOP_LIMIT,
        OrderType.JOIN_BID,
        OrderType.JOIN_ASK,
    )


def _uses_stop(order_type: OrderType) -> bool:
    return order_type in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)


def _price_problem(contract: Contract, order: OrderState, quote: QuoteState) -> str | None:
    """Why the order's prices are invalid, or None."""
    tick = contract.tick_size
    checks: Iterable[tuple[str, Decimal | None]] = (
        ("limit", order.limit_price),
        ("stop", order.stop_price),
        ("trail", order.trail_price),
    )
    for name, price in checks:
        if price is not None and (price <= 0 or not on_tick(price, tick)):
            return f"Invalid {name} price {price}: not a positive multiple of the tick {tick}"
    if _uses_limit(order.type) and order.limit_price is None:
        return "A limit price is required"
    if order.type in (OrderType.STOP, OrderType.STOP_LIMIT) and order.stop_price is None:
        return "A stop price is required"
    if order.type is OrderType.TRAILING_STOP and order.trail_price is order.stop_price is None:
        return "A trail price is required"
    if order.stop_price is not None and not order.triggered:
        buy = order.side is Side.BUY
        if buy and order.stop_price <= quote.ask:
            return f"Buy stop {order.stop_price} must be above the ask {quote.ask}"
        if not buy and order.stop_price >= quote.bid:
            return f"Sell stop {order.stop_price} must be below the bid {quote.bid}"
    return None
