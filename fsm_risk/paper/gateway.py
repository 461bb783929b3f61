"""`PaperGateway`: a local ProjectX gateway that the unmodified project-x-py SDK trades against.

One aiohttp server on a loopback port serves the ProjectX REST API under ``/api``, the two
SignalR hubs under ``/hubs/user`` and ``/hubs/market``, and a control API for tests and
demos under ``/_paper`` (separate from the ProjectX surface, no token needed). It runs in
the caller's event loop, so a pytest fixture can start it on port 0 next to the SDK::

    async with PaperGateway(replace(PaperSettings(), price_mode="scripted")) as gw:
        os.environ.update(gw.env())           # or build ProjectXConfig from gw.env()
        ...                                   # the SDK connects to gw.api_url / hub urls
        gw.set_price("MNQ", "21010.25")       # scripted market
        await gw.wait_for(lambda: gw.position(1001, "MNQ") is None, timeout=5)

Everything a test or demo drives is on this object: prices (`set_price`, `move_price`,
`set_price_mode`), accounts (`set_can_trade`, `set_balance`), trading as the trader would
(`place_order`, `cancel_order`, `modify_order`, `close_position`), faults (`reject_next`,
`reject_orders`, `refuse_cancels`, `set_fill_delay`, `set_wrapped`, `drop_websockets`,
`push_malformed`, `push_record`, `strip_trade_pnl`, `set_rate_limit`, `fail_rest`, `limit_rest`,
`null_rest_fields`, `reverse_orders`, `settle_position`), reading
(`order_log`, `orders`, `positions`, `trades`, `accounts`, `pushed`, `connections`, `opened`)
and waiting without sleeping (`wait_for`, `add_listener`).

Timestamps the gateway writes come from the injectable ``clock``. Token lifetimes and the
rate limiter use the real clock, because the SDK compares them with its own real clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from email.utils import format_datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import jwt
from aiohttp import WSMsgType, web
from loguru import logger

from fsm_risk.paper.catalog import Contract, build_contracts
from fsm_risk.paper.engine import (
    PLACE_ACCOUNT_VIOLATION,
    PLACE_OUTSIDE_TRADING_HOURS,
    BusinessError,
    Engine,
    Event,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    PositionType,
    RejectRule,
    Side,
    iso,
)
from fsm_risk.paper.hub import HandshakeError, HubConnection, invocation, parse_records, record
from fsm_risk.paper.settings import PaperSettings, is_loopback

T = TypeVar("T")

USER_TARGETS = ("GatewayUserOrder", "GatewayUserTrade", "GatewayUserPosition", "GatewayUserAccount")
MALFORMED_KINDS = ("missing_fields", "wrong_types", "not_an_object", "no_arguments")
DEFAULT_TEST_API_KEY = "paper-api-key-0000"
PUSHED_HISTORY = 100_000

PriceLike = Decimal | int | str | float


@dataclass(frozen=True, slots=True)
class OrderLogEntry:
    """One order the gateway received, with its current state.

    ``received_perf`` is `time.perf_counter()` when the request reached the gateway, for
    latency measurements; ``received_at`` is the gateway clock's time. ``source`` is
    ``rest`` (``/Order/place``), ``close`` / ``partial_close`` (the position endpoints),
    ``direct`` (`PaperGateway.place_order`) or ``bracket`` (a native bracket's child).
    """

    order_id: int
    account_id: int
    contract_id: str
    type: OrderType
    side: Side
    size: int
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    custom_tag: str | None
    status: OrderStatus
    received_at: datetime
    received_perf: float
    source: str
    filled_price: Decimal | None
    updated_at: datetime | None
    reject_reason: str | None
    parent_id: int | None  # a bracket child: the entry order it protects
    fill_volume: int = 0  # contracts filled so far (of ``size``, the order's total)

    @classmethod
    def of(cls, order: OrderState) -> OrderLogEntry:
        return cls(
            order.id,
            order.account_id,
            order.contract_id,
            order.type,
            order.side,
            order.size,
            order.limit_price,
            order.stop_price,
            order.trail_price,
            order.custom_tag,
            order.status,
            order.created,
            order.received_perf,
            order.source,
            order.filled_price,
            order.updated,
            order.reject_reason,
            order.parent_id,
            order.fill_volume,
        )

    @property
    def working(self) -> bool:
        return self.status in (OrderStatus.OPEN, OrderStatus.PENDING)


@dataclass(frozen=True, slots=True)
class PositionView:
    position_id: int
    account_id: int
    contract_id: str
    type: PositionType
    size: int
    average_price: Decimal
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class TradeView:
    trade_id: int
    account_id: int
    contract_id: str
    price: Decimal
    profit_and_loss: Decimal | None
    fees: Decimal
    side: Side
    size: int
    order_id: int
    time: datetime
    commissions: Decimal = Decimal(0)  # charged beside the fees (production profile)
    voided: bool = False


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int
    name: str
    balance: Decimal
    can_trade: bool
    owner: str


@dataclass(frozen=True, slots=True)
class QuoteView:
    contract_id: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    time: datetime


@dataclass(frozen=True, slots=True)
class PushedEvent:
    """One message the gateway pushed on a hub (``payload`` is the bare data, unwrapped)."""

    seq: int
    target: str
    account_id: int | None
    payload: Any
    wrapped: bool
    recipients: int
    perf: float
    time: datetime


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    """What a listener is told: ``kind`` is ``order_received``, ``pushed``, ``quote``,
    ``connected``, ``disconnected`` or ``subscribed``; ``data`` is the matching object
    (an `OrderLogEntry`, a `PushedEvent`, a contract id, or a connection summary)."""

    kind: str
    data: Any


def _utc_now() -> datetime:
    return datetime.now(UTC)


PLATFORM_ZONE = ZoneInfo("America/Chicago")


def _crossed(last: datetime, now: datetime, moment: time_of_day) -> bool:
    """Whether a Chicago wall-clock ``moment`` falls in (last, now]."""
    day = last.astimezone(PLATFORM_ZONE).date()
    while True:
        at = datetime.combine(day, moment, PLATFORM_ZONE)
        if at > now:
            return False
        if at > last:
            return True
        day += timedelta(days=1)


def to_decimal(value: PriceLike) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a price cannot be a boolean")
    return Decimal(str(value))


class PaperGateway:
    """A ProjectX-compatible gateway simulator; see the module docstring.

    Args:
        settings: the ``[paper]`` settings; defaults to `PaperSettings()`.
        clock: returns the current time as an aware datetime; every timestamp the gateway
            produces (orders, trades, positions, quotes, bars) comes from it.
    """

    def __init__(
        self,
        settings: PaperSettings | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        ids_from: int | None = None,
    ) -> None:
        """``ids_from``: orders, trades and positions are numbered from it; by default from
        the wall clock's microseconds, so that no run reuses an id an earlier one gave (a
        client, like the service, keeps the ids it has seen across its restarts, and a real
        gateway never gives one twice: a trade numbered again would be taken as already
        counted)."""
        self.settings = settings or PaperSettings()
        self._clock = clock or _utc_now
        s = self.settings
        contracts = build_contracts(s.contract_month, dict(s.product_codes), dict(s.fees))
        self.engine = Engine(
            {c.id: c for c in contracts},
            spread_ticks=s.spread_ticks,
            clock=self.now,
            fill_delay=s.fill_delay,
            unique_custom_tags=s.unique_custom_tags,
            production=s.production,
            commission=s.commission,
            market=s.market_hours(),
        )
        self.users = {s.username} | {a.owner for a in s.accounts if a.owner}
        self.engine.number_from(time.time_ns() // 1000 if ids_from is None else ids_from)
        for a in s.accounts:
            self.engine.add_account(a.id, a.name, a.balance, a.can_trade, a.owner or s.username)
        for c in contracts:
            self.engine.set_last(c.id, s.start_prices[c.root])
        self._rngs = {c.id: random.Random(f"{s.seed}:{c.root}") for c in contracts}
        self._price_mode = s.price_mode
        self._wrapped = s.wrap_payloads or s.production
        self._trimmed = s.production  # incremental position updates carry four fields
        self._silenced: set[str] = set()  # user-hub targets never pushed (a silent feed)
        self._reversed: dict[int, int] = {}  # account -> its next orders pushed reversed
        self._strip_pnl = 0  # closing trade records still to push without profitAndLoss
        self._platform_blocked: set[int] = set()
        self._day_start_balance = {a.id: a.balance for a in s.accounts}
        self._platform_checked: datetime | None = None
        self._rate_limit = s.rate_limit
        self._rate_window = s.rate_limit_window
        self._requests: dict[str, deque[float]] = {}
        self._rest_faults: dict[str, list[int]] = {}  # path -> [status, requests left]
        #: path -> (status, until when, monotonic): `fail_rest` for a while
        self._rest_faults_until: dict[str, tuple[int, float]] = {}
        self._rest_after: dict[str, list[int]] = {}  # path -> [status, left]: done, then failed
        #: the paths whose faults the gateway's application answers itself (its envelope)
        self.rest_own: set[str] = set()
        #: path -> [seconds, requests left]: held before they are carried out (`hold_rest`)
        self._rest_holds: dict[str, list[float]] = {}
        #: `limit_rest`: until when (monotonic), and whether its 429s say Retry-After
        self._limited_until, self._limited_says = 0.0, True
        #: the paths `limit_rest` answered 429, in the order they came
        self.limited: list[str] = []
        #: path -> the fields its listing answers as null (see `null_rest_fields`)
        self._rest_nulls: dict[str, tuple[str, ...]] = {}
        #: contract id -> whether `/Contract/searchById` still describes it (see `unlist`)
        self.unlisted: dict[str, bool] = {}
        self._revoked: set[str] = set()
        self._issued: set[str] = set()  # the ids of the tokens issued and not revoked since
        self._token_cache: dict[str, tuple[str, float, str]] = {}  # token -> user, exp, jti
        self._conns: dict[str, set[HubConnection]] = {"user": set(), "market": set()}
        #: hub connections ever opened (handshake done), per hub: what a client costs
        self.opened: dict[str, int] = {"user": 0, "market": 0}
        #: websocket messages received from clients after their handshake, per hub
        self.received: dict[str, int] = {"user": 0, "market": 0}
        self._last_quote_push: dict[str, float] = {}
        self._pushed: deque[PushedEvent] = deque(maxlen=PUSHED_HISTORY)
        self._seq = 0
        self._waiters: list[asyncio.Event] = []
        self._listeners: list[Callable[[GatewayEvent], None]] = []
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._host = "127.0.0.1"
        self._port = 0

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (loopback only; port 0 picks a free port)."""
        if not is_loopback(host):
            raise ValueError(f"the paper gateway listens on loopback only, not {host!r}")
        if self._runner is not None:
            raise RuntimeError("the paper gateway is already running")
        from fsm_risk.paper.control import add_control_routes
        from fsm_risk.paper.rest import add_rest_routes

        app = web.Application(client_max_size=1024**2)
        app.on_response_prepare.append(self._dated)
        add_rest_routes(app, self)
        add_control_routes(app, self)
        for hub in ("user", "market"):
            app.router.add_post(f"/hubs/{hub}/negotiate", self._negotiate)
            app.router.add_get(f"/hubs/{hub}", self._hub_socket)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = "127.0.0.1" if host == "localhost" else host
        self._port = runner.addresses[0][1]
        self._ticker = asyncio.create_task(self._tick_loop(), name="paper-gateway-ticker")
        logger.info("paper gateway listening on {}", self.base_url)

    async def _dated(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every answer's ``Date`` is the gateway clock's, as a real gateway's is its own."""
        response.headers["Date"] = format_datetime(self.now(), usegmt=True)

    async def stop(self) -> None:
        """Close every websocket, stop the price loop and the server. Idempotent."""
        if self._runner is None:
            return
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        await self.drop_websockets()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        logger.info("paper gateway stopped")

    async def __aenter__(self) -> PaperGateway:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def api_url(self) -> str:
        """The REST base the SDK wants in PROJECTX_API_URL (it includes ``/api``)."""
        return f"{self.base_url}/api"

    @property
    def user_hub_url(self) -> str:
        return f"{self.base_url}/hubs/user"

    @property
    def market_hub_url(self) -> str:
        return f"{self.base_url}/hubs/market"

    @property
    def control_url(self) -> str:
        return f"{self.base_url}/_paper"

    def credentials(self) -> tuple[str, str]:
        """A username and API key that login accepts."""
        return self.settings.username, self.settings.api_key or DEFAULT_TEST_API_KEY

    def env(self, *, requests_per_minute: int = 100_000) -> dict[str, str]:
        """The environment a project-x-py client needs to talk to this gateway.

        ``PROJECTX_REQUESTS_PER_MINUTE`` is set high so the SDK's client-side limiter never
        makes a test wait; pass the real gateway's 200 (or the SDK default 60) to mimic it.
        """
        username, api_key = self.credentials()
        return {
            "PROJECTX_API_URL": self.api_url,
            "PROJECTX_USER_HUB_URL": self.user_hub_url,
            "PROJECTX_MARKET_HUB_URL": self.market_hub_url,
            "PROJECT_X_USERNAME": username,
            "PROJECT_X_API_KEY": api_key,
            "PROJECTX_REQUESTS_PER_MINUTE": str(requests_per_minute),
        }

    # --- clock -----------------------------------------------------------------------------

    def now(self) -> datetime:
        """The gateway clock's time, in UTC."""
        moment = self._clock()
        if moment.tzinfo is None:
            raise ValueError("the paper gateway's clock must return aware datetimes")
        return moment.astimezone(UTC)

    def set_clock(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    # --- contracts and prices ---------------------------------------------------------------

    def contracts(self) -> list[Contract]:
        return list(self.engine.contracts.values())

    def contract(self, ref: str) -> Contract:
        """A contract by id, root (``MNQ``) or product code; raises KeyError if unknown."""
        if ref in self.engine.contracts:
            return self.engine.contracts[ref]
        key = ref.strip().upper()
        for c in self.engine.contracts.values():
            if key in (c.root, c.code, c.name, c.id.upper()):
                return c
        raise KeyError(f"unknown contract {ref!r}")

    def quote(self, ref: str) -> QuoteView:
        cid = self.contract(ref).id
        q = self.engine.quote(cid)
        return QuoteView(cid, q.bid, q.ask, q.last, q.updated)

    def set_price(
        self,
        ref: str,
        price: PriceLike,
        *,
        bid: PriceLike | None = None,
        ask: PriceLike | None = None,
    ) -> QuoteView:
        """Set the last price (bid and ask follow at the configured spread, unless given),
        match working orders against it, and push the quote and any fills."""
        cid = self.contract(ref).id
        last = to_decimal(price)
        if bid is None and ask is None:
            events = self.engine.set_last(cid, last)
        else:
            q = self.engine.quote(cid)
            events = self.engine.set_quote(
                cid,
                bid=to_decimal(bid) if bid is not None else q.bid,
                ask=to_decimal(ask) if ask is not None else q.ask,
                last=last,
            )
        self._after_quote(cid, events)
        return self.quote(cid)

    def move_price(self, ref: str, ticks: int) -> QuoteView:
        """Move the last price by a whole number of ticks (negative moves down)."""
        contract = self.contract(ref)
        last = self.engine.quote(contract.id).last
        return self.set_price(contract.id, last + ticks * contract.tick_size)

    def step_walk(self, steps: int = 1) -> None:
        """Advance the seeded random walk by ``steps`` now, in any price mode (the price loop
        does this every ``quote_interval`` in random_walk mode). Same seed, same prices."""
        for _ in range(steps):
            self._walk()

    @property
    def price_mode(self) -> str:
        return self._price_mode

    def set_price_mode(self, mode: str) -> None:
        """``random_walk`` (seeded steps every quote_interval) or ``scripted`` (no motion)."""
        if mode not in ("random_walk", "scripted"):
            raise ValueError(f"price mode must be random_walk or scripted, not {mode!r}")
        self._price_mode = mode

    # --- accounts --------------------------------------------------------------------------

    def accounts(self) -> list[AccountView]:
        return [self._account_view(a.id) for a in self.engine.accounts.values()]

    def account(self, account_id: int) -> AccountView:
        return self._account_view(account_id)

    def set_can_trade(self, account_id: int, can_trade: bool) -> None:
        """Toggle trading permission and push GatewayUserAccount."""
        self._publish(self.engine.set_can_trade(account_id, can_trade))

    def set_balance(self, account_id: int, balance: PriceLike) -> None:
        """Set the balance (e.g. to stage a drawdown) and push GatewayUserAccount."""
        self._publish(self.engine.set_balance(account_id, to_decimal(balance)))

    # --- trading as the trader -------------------------------------------------------------

    def place_order(
        self,
        account_id: int,
        contract: str,
        side: Side | int,
        size: int,
        *,
        type: OrderType | int = OrderType.MARKET,
        limit_price: PriceLike | None = None,
        stop_price: PriceLike | None = None,
        trail_price: PriceLike | None = None,
        custom_tag: str | None = None,
        stop_loss_ticks: int | None = None,
        take_profit_ticks: int | None = None,
        stop_loss_type: OrderType | int = OrderType.STOP,
    ) -> OrderLogEntry:
        """Place an order for an account as its trader would (same path as /Order/place).

        ``stop_loss_ticks`` / ``take_profit_ticks`` attach the gateway's native brackets
        (a stop, or a trailing stop with ``stop_loss_type=5``, and a limit, that many ticks
        from the fill; one cancels the other). Raises `BusinessError` when the gateway
        refuses the order (the refusal is still logged and pushed when an order was created).
        """
        cid = self.contract(contract).id
        return self._place(
            lambda: self.engine.place(
                account_id,
                cid,
                int(type),
                int(side),
                size,
                limit_price=None if limit_price is None else to_decimal(limit_price),
                stop_price=None if stop_price is None else to_decimal(stop_price),
                trail_price=None if trail_price is None else to_decimal(trail_price),
                custom_tag=custom_tag,
                stop_loss_bracket=None
                if stop_loss_ticks is None
                else (stop_loss_ticks, int(stop_loss_type)),
                take_profit_bracket=None
                if take_profit_ticks is None
                else (take_profit_ticks, int(OrderType.LIMIT)),
                source="direct",
            )
        )

    def cancel_order(self, account_id: int, order_id: int) -> None:
        self._publish(self.engine.cancel(account_id, order_id))

    def modify_order(
        self,
        account_id: int,
        order_id: int,
        *,
        size: int | None = None,
        limit_price: PriceLike | None = None,
        stop_price: PriceLike | None = None,
        trail_price: PriceLike | None = None,
    ) -> None:
        self._publish(
            self.engine.modify(
                account_id,
                order_id,
                size=size,
                limit_price=None if limit_price is None else to_decimal(limit_price),
                stop_price=None if stop_price is None else to_decimal(stop_price),
                trail_price=None if trail_price is None else to_decimal(trail_price),
            )
        )

    def close_position(
        self, account_id: int, contract: str, size: int | None = None
    ) -> OrderLogEntry:
        """Close the position (or ``size`` contracts of it) with a market order."""
        cid = self.contract(contract).id
        source = "close" if size is None else "partial_close"
        return self._place(lambda: self.engine.close_position(account_id, cid, size, source))

    # --- reading ---------------------------------------------------------------------------

    def order_log(self, account_id: int | None = None) -> list[OrderLogEntry]:
        """Every order received (rejected ones included), oldest first, in current state."""
        return [OrderLogEntry.of(o) for o in self.engine.account_orders(account_id)]

    def orders(
        self, account_id: int | None = None, *, working: bool = False
    ) -> list[OrderLogEntry]:
        return [e for e in self.order_log(account_id) if e.working or not working]

    def order(self, order_id: int) -> OrderLogEntry:
        return OrderLogEntry.of(self.engine.orders[order_id])

    def positions(self, account_id: int | None = None) -> list[PositionView]:
        return [
            PositionView(p.id, p.account_id, p.contract_id, p.type, p.size, p.average, p.created)
            for p in self.engine.open_positions(account_id)
        ]

    def position(self, account_id: int, contract: str) -> PositionView | None:
        """The open position of an account in a contract, or None when flat."""
        cid = self.contract(contract).id
        return next((p for p in self.positions(account_id) if p.contract_id == cid), None)

    def trades(self, account_id: int | None = None) -> list[TradeView]:
        return [
            TradeView(
                t.id,
                t.account_id,
                t.contract_id,
                t.price,
                t.profit_and_loss,
                t.fees,
                t.side,
                t.size,
                t.order_id,
                t.created,
                t.commissions or Decimal(0),
                t.voided,
            )
            for t in self.engine.account_trades(account_id)
        ]

    @property
    def pushed(self) -> list[PushedEvent]:
        """Messages pushed on the hubs so far (the most recent 100,000), oldest first."""
        return list(self._pushed)

    def pushed_since(self, seq: int) -> list[PushedEvent]:
        """The messages pushed after ``seq``, oldest first: read from the newest end, so the
        cost is that of the answer, not of the history."""
        out = []
        for e in reversed(self._pushed):
            if e.seq <= seq:
                break
            out.append(e)
        out.reverse()
        return out

    def connections(self, hub: str | None = None) -> list[dict[str, Any]]:
        """Open hub connections with their subscriptions."""
        hubs = (hub,) if hub else ("user", "market")
        return [c.summary() for h in hubs for c in self._conns[h] if not c.closed]

    def subscribers(self, account_id: int) -> int:
        """User-hub connections subscribed to the account's orders."""
        return sum(1 for c in self._conns["user"] if not c.closed and account_id in c.orders)

    def quote_subscribers(self, contract: str) -> int:
        cid = self.contract(contract).id
        return sum(1 for c in self._conns["market"] if not c.closed and cid in c.quotes)

    # --- faults ----------------------------------------------------------------------------

    def reject_next(
        self, count: int = 1, message: str = "Order rejected by the paper gateway"
    ) -> RejectRule:
        """Refuse the next ``count`` orders (from any source) with a business error."""
        return self.engine.reject(lambda _: True, message, count)

    def reject_orders(
        self,
        predicate: Callable[[OrderRequest], bool],
        message: str = "Order rejected by the paper gateway",
        count: int | None = None,
    ) -> RejectRule:
        """Refuse orders matching ``predicate`` (``count`` times, or until cleared)."""
        return self.engine.reject(predicate, message, count)

    def refuse_cancels(self, message: str | None = "Order cannot be cancelled") -> None:
        """Refuse every cancel of a working order, the trader's and the service's, with a
        business error (``message``; None: cancels are taken again): the order stays working."""
        self.engine.refuse_cancels(message)

    def clear_rejections(self, rule: RejectRule | None = None) -> None:
        if rule is None:
            self.engine.reject_rules.clear()
        elif rule in self.engine.reject_rules:
            self.engine.reject_rules.remove(rule)

    def set_fill_delay(self, seconds: float) -> None:
        """Delay every fill by ``seconds`` (0 fills at once). Orders stay working meanwhile."""
        if seconds < 0:
            raise ValueError("a fill delay cannot be negative")
        self.engine.fill_delay = seconds

    def silence(self, target: str, silent: bool = True) -> None:
        """Stop (or resume) pushing one user-hub target, e.g. ``GatewayUserPosition``, or every
        market-hub record (``GatewayMarket``): the hub stays connected and every other record
        still flows (a feed gone quiet)."""
        targets = (*USER_TARGETS, "GatewayMarket")
        if target not in targets:
            raise ValueError(f"target must be one of {', '.join(targets)}")
        if silent:
            self._silenced.add(target)
        else:
            self._silenced.discard(target)

    @property
    def silenced(self) -> list[str]:
        return sorted(self._silenced)

    def reverse_orders(self, account_id: int, count: int = 1) -> None:
        """Push the records of the account's next ``count`` orders that come several at once
        (a market order's Pending and Filled) in reverse order, where they stand among the
        other records: a hub delivering one order's records out of order (0: off)."""
        if account_id not in self.engine.accounts:
            raise KeyError(f"unknown account {account_id}")
        if count < 0:
            raise ValueError("count cannot be negative")
        self._reversed[account_id] = count

    @property
    def reversing(self) -> dict[int, int]:
        return dict(self._reversed)

    def _reverse(self, events: list[Event]) -> list[Event]:
        """``events`` with the records of each armed account's first order that has several
        among them put in reverse order (see `reverse_orders`)."""
        out = list(events)
        for account_id, left in list(self._reversed.items()):
            slots: dict[Any, list[int]] = {}
            for i, e in enumerate(out):
                if e.target == "GatewayUserOrder" and e.account_id == account_id:
                    slots.setdefault(e.payload.get("id"), []).append(i)
            several = next((s for s in slots.values() if len(s) > 1), None)
            if left <= 0 or several is None:
                continue
            for i, e in zip(several, [out[i] for i in reversed(several)], strict=True):
                out[i] = e
            if left > 1:
                self._reversed[account_id] = left - 1
            else:
                del self._reversed[account_id]
        return out

    def void_trade(self, trade_id: int) -> None:
        """Void a trade (its P&L and charges leave the balance); pushes the trade and account."""
        self._publish(self.engine.void_trade(trade_id))

    def settle_position(self, account_id: int, contract: str, price: PriceLike) -> None:
        """Cash-settle the account's position in ``contract`` at ``price`` (as at expiry): it
        goes with no order and no trade, its P&L into the balance; pushes the position closed
        and the account."""
        cid = self.contract(contract).id
        self._publish(self.engine.settle_position(account_id, cid, to_decimal(price)))

    def reset_account(self, account_id: int, balance: PriceLike | None = None) -> None:
        """The firm resets the account, as a prop firm does: its working orders cancelled,
        its positions removed with no trade, its trade history wiped, and its balance set to
        ``balance`` (default: its opening balance, `[paper] accounts`); pushes the orders
        cancelled, the positions closed and the account. The platform's day starts from it."""
        if account_id not in self.engine.accounts:
            raise KeyError(f"unknown account {account_id}")
        opening = {a.id: a.balance for a in self.settings.accounts}
        value = opening.get(account_id) if balance is None else to_decimal(balance)
        if value is None:
            raise ValueError(f"account {account_id} has no opening balance: give 'balance'")
        logger.info("paper gateway: account {} reset to {}", account_id, value)
        self._publish(self.engine.reset_account(account_id, value))
        self._day_start_balance[account_id] = value

    def liquidate(self, account_id: int, why: str = "platform", *, flat_time: bool = False) -> None:
        """The platform flattens the account on its own: trading blocked until the daily
        reset, working orders cancelled, positions closed by the platform's own orders. New
        exposure is refused meanwhile with the documented code: 5 OutsideTradingHours after
        the flat time, 4 AccountViolation otherwise."""
        if account_id not in self.engine.accounts:
            raise KeyError(f"unknown account {account_id}")
        self._platform_blocked.add(account_id)
        self.engine.blocked[account_id] = (
            (PLACE_OUTSIDE_TRADING_HOURS, "Outside trading hours: flat until 17:00 CT")
            if flat_time
            else (PLACE_ACCOUNT_VIOLATION, f"Account violation: {why}")
        )
        logger.info("paper gateway: the platform flattens account {} ({})", account_id, why)
        self._publish(self.engine.liquidate(account_id))

    def platform_check(self) -> None:
        """What the platform does on its own in the production profile, as of the clock: at
        the flat time (Chicago) it flattens every account, at the daily reset (17:00) it lets
        them trade again, and an account whose day lost the firm's own daily loss limit is
        flattened. Called by the price loop and after every fill."""
        s = self.settings
        if not s.production:
            return
        now = self.now()
        last, self._platform_checked = self._platform_checked, now
        if last is not None and last < now:
            for moment, what in ((s.flat_time, "flat"), (time_of_day(17, 0), "reset")):
                if moment is not None and _crossed(last, now, moment):
                    if what == "flat":
                        for account_id in self.engine.accounts:
                            self.liquidate(account_id, "the session's flat time", flat_time=True)
                    else:
                        self._daily_reset()
        if s.daily_loss_limit > 0:
            for account in list(self.engine.accounts.values()):
                lost = self._day_start_balance.get(account.id, account.balance) - account.balance
                if lost >= s.daily_loss_limit and account.id not in self._platform_blocked:
                    self.liquidate(account.id, f"the firm's daily loss limit ({lost} lost)")

    def _daily_reset(self) -> None:
        for account_id in sorted(self._platform_blocked):
            self._publish(self.engine.set_can_trade(account_id, True))
        self._platform_blocked.clear()
        self.engine.blocked.clear()
        self._day_start_balance = {a.id: a.balance for a in self.engine.accounts.values()}

    def set_wrapped(self, enabled: bool) -> None:
        """Send user-hub payloads wrapped as ``{"action": n, "data": {...}}`` or bare."""
        self._wrapped = enabled

    @property
    def wrapped(self) -> bool:
        return self._wrapped

    async def drop_websockets(self, hub: str | None = None) -> int:
        """Close every websocket (of one hub, or both) as a network outage would: no
        SignalR Close record, just the socket. Returns how many were closed."""
        conns = [c for h in ((hub,) if hub else ("user", "market")) for c in self._conns[h]]
        for conn in conns:
            self._conns[conn.hub].discard(conn)
        await asyncio.gather(*(c.close() for c in conns))
        if conns:
            logger.info("paper gateway dropped {} websocket(s)", len(conns))
            self._changed()
        return len(conns)

    def revoke_tokens(self) -> int:
        """Refuse every token issued so far, long before it expires, as the real gateway does
        when the same API key logs in elsewhere: REST answers 401 and the hubs refuse to
        negotiate until the client logs in again (open websockets stay open). Returns how
        many tokens were revoked."""
        revoked = len(self._issued)
        self._revoked |= self._issued
        self._issued = set()
        logger.info("paper gateway revoked {} token(s)", revoked)
        return revoked

    def push_malformed(
        self,
        account_id: int,
        target: str = "GatewayUserOrder",
        kind: str = "missing_fields",
    ) -> int:
        """Push a malformed user-hub event about an account to its subscribers.

        ``kind``: ``missing_fields`` (an object without the required fields),
        ``wrong_types`` (required fields of the wrong types), ``not_an_object`` (a string),
        ``no_arguments`` (an invocation with no argument). Returns the recipients.
        """
        if target not in USER_TARGETS:
            raise ValueError(f"target must be one of {', '.join(USER_TARGETS)}")
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {', '.join(MALFORMED_KINDS)}")
        arguments: list[Any]
        if kind == "missing_fields":
            arguments = [{"accountId": account_id, "paperMalformed": True}]
        elif kind == "wrong_types":
            arguments = [
                {
                    "id": "not-a-number",
                    "accountId": account_id,
                    "contractId": 42,
                    "size": "lots",
                    "status": "filled",
                    "balance": "rich",
                    "creationTimestamp": 0,
                }
            ]
        elif kind == "not_an_object":
            arguments = ["paper gateway: this is not an object"]
        else:
            arguments = []
        text = invocation(target, arguments)
        probe = Event(target, account_id, {})
        recipients = 0
        for conn in self._conns["user"]:
            if self._wants(conn, probe):
                conn.send(text)
                recipients += 1
        self._record_push(target, account_id, arguments[0] if arguments else None, recipients)
        return recipients

    def push_record(self, account_id: int, target: str, payload: dict[str, Any]) -> int:
        """Push one user-hub record, as given, to the account's subscribers (a record replayed
        or stale, say: ``GatewayUserAccount`` with an old balance). Wrapped as the profile
        wraps records. The gateway's own state is unchanged. Returns the recipients."""
        if target not in USER_TARGETS:
            raise ValueError(f"target must be one of {', '.join(USER_TARGETS)}")
        data: Any = {"action": 1, "data": payload} if self._wrapped else payload
        text = invocation(target, [data])
        recipients = 0
        for conn in self._conns["user"]:
            if self._wants(conn, Event(target, account_id, {})):
                conn.send(text)
                recipients += 1
        self._record_push(target, account_id, payload, recipients)
        return recipients

    def strip_trade_pnl(self, count: int = 1) -> None:
        """Push the next ``count`` closing trade records over the user hub without their
        ``profitAndLoss`` (null, as on an opening fill); `/Trade/search` still lists it."""
        self._strip_pnl = count

    def push_duplicate_positions(self, account_id: int, count: int = 1) -> int:
        """Re-send every open position of the account ``count`` times, unchanged (a gateway
        that repeats itself). Returns how many messages went out."""
        positions = self.engine.open_positions(account_id)
        events = [
            Event("GatewayUserPosition", account_id, self.engine.position_api(p))
            for _ in range(count)
            for p in positions
        ]
        self._publish(events)
        return len(events)

    def set_rate_limit(self, limit: int | None, window: float | None = None) -> None:
        """REST requests allowed per token per window before HTTP 429 (None or 0: off)."""
        self._rate_limit = limit or 0
        if window is not None:
            self._rate_window = window
        self._requests.clear()

    def fail_rest(
        self,
        path: str,
        status: int = 503,
        count: int = 1,
        seconds: float | None = None,
        own: bool = False,
    ) -> None:
        """Answer the next ``count`` requests to the REST ``path`` (e.g.
        ``/api/Order/searchOpen``, or the login's ``/api/Auth/loginKey``) with HTTP
        ``status`` instead (a gateway in trouble: 5xx), after counting them against the rate
        limit as the gateway counts every request. With ``seconds``: every request to it for
        that long instead (real time, a burst), whatever ``count`` says. ``own``: the
        gateway's application answers it, its envelope in the body (``success`` false, an
        ``errorCode``); else a bare status and text, as a proxy or load balancer answers."""
        self._own(path, own)
        if seconds is not None:
            self._rest_faults_until[path] = (status, time.monotonic() + seconds)
        else:
            self._rest_faults[path] = [status, count]

    def fail_rest_after(
        self, path: str, status: int = 500, count: int = 1, own: bool = False
    ) -> None:
        """Carry out the next ``count`` requests to ``path``, then answer each with HTTP
        ``status`` (a gateway that did the work and lost the answer: 5xx, a timeout);
        ``own`` as `fail_rest`'s."""
        self._own(path, own)
        self._rest_after[path] = [status, count]

    def _own(self, path: str, own: bool) -> None:
        if own:
            self.rest_own.add(path)
        else:
            self.rest_own.discard(path)

    def hold_rest(self, path: str, seconds: float, count: int = 1) -> None:
        """Hold the next ``count`` requests to ``path`` ``seconds`` (real time) before they
        are carried out (a request in flight, queued at a busy gateway): what happens
        meanwhile (a trader's order taken, pushed) is done and pushed before them."""
        self._rest_holds[path] = [seconds, count]

    def _rest_hold(self, path: str) -> float | None:
        hold = self._rest_holds.get(path)
        if hold is None:
            return None
        hold[1] -= 1
        if hold[1] <= 0:
            del self._rest_holds[path]
        return hold[0]

    def _rest_after_fault(self, path: str) -> int | None:
        fault = self._rest_after.get(path)
        if fault is None:
            return None
        fault[1] -= 1
        if fault[1] <= 0:
            del self._rest_after[path]
        return fault[0]

    def limit_rest(self, seconds: float, retry_after: bool = True) -> None:
        """Answer every REST request that needs a token with HTTP 429 for the next
        ``seconds`` (real time, as the rate limiter): another program on the same API key
        keeps the gateway's window full. Each says Retry-After (the whole seconds left, at
        least 1) unless ``retry_after`` is False. The paths so answered go to `limited`."""
        self._limited_until = time.monotonic() + seconds
        self._limited_says = retry_after

    def _limit_fault(self, path: str) -> tuple[bool, float | None]:
        """Whether `limit_rest` answers this request 429, and the Retry-After it says."""
        left = self._limited_until - time.monotonic()
        if left <= 0:
            return False, None
        self.limited.append(path)
        return True, (left if self._limited_says else None)

    def null_rest_fields(self, path: str, *fields: str) -> None:
        """Answer every entry of the REST ``path``'s listing (``/api/Position/searchOpen``'s
        positions, ``/api/Order/searchOpen``'s orders...) with ``fields`` null, as a gateway
        that leaves a field out now and then; no field: answered whole again."""
        if fields:
            self._rest_nulls[path] = fields
        else:
            self._rest_nulls.pop(path, None)

    def unlist(self, ref: str, *, by_id: bool = True) -> None:
        """Leave a contract (an id, root or code) out of the reference data while it still
        trades: out of `/Contract/available` and `/Contract/search`, as a month listed after a
        client last read the list; with ``by_id`` False `/Contract/searchById` has no such
        contract either, as for one the gateway's reference data does not describe."""
        self.unlisted[self.contract(ref).id] = by_id

    def relist(self, ref: str) -> None:
        """Undo `unlist`: the contract is listed and described again."""
        self.unlisted.pop(self.contract(ref).id, None)

    def _rest_nulled(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The answer with the fields `null_rest_fields` armed for ``path`` set to null."""
        fields = self._rest_nulls.get(path)
        if not fields:
            return payload
        listed = ("positions", "orders", "trades", "accounts")
        return {
            k: [{**item, **dict.fromkeys(fields)} for item in v] if k in listed else v
            for k, v in payload.items()
        }

    def _rest_fault(self, path: str) -> int | None:
        """The status a fault armed by `fail_rest` answers this request with, if any."""
        burst = self._rest_faults_until.get(path)
        if burst is not None:
            if time.monotonic() < burst[1]:
                return burst[0]
            del self._rest_faults_until[path]
        fault = self._rest_faults.get(path)
        if fault is None:
            return None
        fault[1] -= 1
        if fault[1] <= 0:
            del self._rest_faults[path]
        return fault[0]

    # --- waiting ---------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[GatewayEvent], None]) -> None:
        """Call ``listener`` synchronously for every `GatewayEvent` (keep it quick)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[GatewayEvent], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    async def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, what: str | None = None
    ) -> T:
        """Wait until ``predicate()`` is truthy and return its value.

        The predicate is re-evaluated whenever the gateway's state changes (an order
        arrives, a quote moves, an event is pushed, a hub connects, subscribes or drops), so
        nothing sleeps. Raises TimeoutError naming ``what`` after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"paper gateway: not met within {timeout}s: {what or predicate}")
            event = asyncio.Event()
            self._waiters.append(event)
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(event)

    # --- internals: state changes and pushes -------------------------------------------------

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for event in waiters:
            event.set()

    def _emit(self, kind: str, data: Any) -> None:
        if self._listeners:
            event = GatewayEvent(kind, data)
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    logger.exception("paper gateway: a listener failed on {}", kind)

    def _account_view(self, account_id: int) -> AccountView:
        a = self.engine.accounts[account_id]
        return AccountView(a.id, a.name, a.balance, a.can_trade, a.owner)

    def _place(self, op: Callable[[], tuple[OrderState, list[Event]]]) -> OrderLogEntry:
        try:
            order, events = op()
        except OrderRejected as exc:
            self._emit("order_received", OrderLogEntry.of(exc.order))
            self._publish(exc.events)
            raise
        self._emit("order_received", OrderLogEntry.of(order))
        self._publish(events)
        return OrderLogEntry.of(order)

    def _wants(self, conn: HubConnection, event: Event) -> bool:
        if conn.closed:
            return False
        if event.target == "GatewayUserOrder":
            return event.account_id in conn.orders
        if event.target == "GatewayUserTrade":
            return event.account_id in conn.trades
        if event.target == "GatewayUserPosition":
            return event.account_id in conn.positions
        if event.target == "GatewayUserAccount":
            account = self.engine.accounts.get(event.account_id)
            return conn.accounts and account is not None and account.owner == conn.user
        return False

    def _publish(self, events: list[Event]) -> None:
        """Push user-hub events, in order, to the connections subscribed to them."""
        fills = False
        if self._reversed:
            events = self._reverse(events)
        for event in events:
            if event.target in self._silenced:
                continue
            fills = fills or event.target == "GatewayUserTrade"
            data: Any = event.payload
            if self._strip_pnl and event.target == "GatewayUserTrade" and data.get("profitAndLoss"):
                data = {**data, "profitAndLoss": None}
                self._strip_pnl -= 1
            if self._trimmed and event.target == "GatewayUserPosition" and not event.new:
                data = {k: data[k] for k in ("contractId", "type", "size", "averagePrice")}
            if self._wrapped:
                data = {"action": 0 if event.new else 1, "data": data}
            targets = [conn for conn in self._conns["user"] if self._wants(conn, event)]
            if targets:
                text = invocation(event.target, [data])
                for conn in targets:
                    conn.send(text)
            bare = data["data"] if self._wrapped else data
            self._record_push(event.target, event.account_id, bare, len(targets))
        self._schedule_deferred()
        self._changed()
        if fills:
            self.platform_check()

    def _record_push(self, target: str, account_id: int | None, payload: Any, n: int) -> None:
        self._seq += 1
        pushed = PushedEvent(
            self._seq,
            target,
            account_id,
            payload,
            self._wrapped,
            n,
            time.perf_counter(),
            self.now(),
        )
        self._pushed.append(pushed)
        self._emit("pushed", pushed)

    def _schedule_deferred(self) -> None:
        due = self.engine.take_deferred()
        if not due:
            return
        loop = asyncio.get_running_loop()
        for order_id in due:
            self._timers[order_id] = loop.call_later(
                self.engine.fill_delay, self._complete_deferred, order_id
            )

    def _complete_deferred(self, order_id: int) -> None:
        self._timers.pop(order_id, None)
        self._publish(self.engine.complete_deferred(order_id))

    def _after_quote(self, contract_id: str, events: list[Event], moved: bool = True) -> None:
        self._push_quote(contract_id)
        if moved and "GatewayMarket" not in self._silenced:
            q = self.engine.quote(contract_id)
            contract = self.engine.contracts[contract_id]
            trade = [
                {
                    "symbolId": contract.symbol_id,
                    "price": q.last,
                    "timestamp": iso(q.updated),
                    "type": 0,
                    "volume": 1,
                }
            ]
            text = invocation("GatewayTrade", [contract_id, trade])
            for conn in self._conns["market"]:
                if not conn.closed and contract_id in conn.market_trades:
                    conn.send(text)
        self._emit("quote", contract_id)
        self._publish(events)

    def _push_quote(self, contract_id: str, only: HubConnection | None = None) -> None:
        if "GatewayMarket" in self._silenced:
            return  # the market hub connected but silent (every market record)
        text = invocation("GatewayQuote", [contract_id, self.engine.quote_payload(contract_id)])
        targets = (only,) if only else tuple(self._conns["market"])
        for conn in targets:
            if not conn.closed and contract_id in conn.quotes:
                conn.send(text)
        if self.settings.production:
            depth = invocation("GatewayDepth", [contract_id, self._depth(contract_id)])
            for conn in targets:
                if not conn.closed and contract_id in conn.depth:
                    conn.send(depth)
        if only is None:
            with contextlib.suppress(RuntimeError):
                self._last_quote_push[contract_id] = asyncio.get_running_loop().time()

    def _depth(self, contract_id: str) -> list[dict[str, Any]]:
        """One level each side of the book (DomType 1 ask, 2 bid), as GatewayDepth sends."""
        q = self.engine.quote(contract_id)
        stamp = iso(q.updated)
        return [
            {"timestamp": stamp, "type": 1, "price": q.ask, "volume": 10, "currentVolume": 10},
            {"timestamp": stamp, "type": 2, "price": q.bid, "volume": 10, "currentVolume": 10},
        ]

    # --- internals: the price loop --------------------------------------------------------------

    async def _tick_loop(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        step = min(s.quote_interval, s.quote_heartbeat / 2, 1.0)
        next_walk = loop.time() + s.quote_interval
        while True:
            await asyncio.sleep(step)
            now = loop.time()
            if self._price_mode == "random_walk" and now >= next_walk:
                next_walk = now + s.quote_interval
                self._walk()
            self.platform_check()
            for cid in self.engine.contracts:
                if now - self._last_quote_push.get(cid, 0.0) >= s.quote_heartbeat and any(
                    cid in c.quotes for c in self._conns["market"]
                ):
                    self._push_quote(cid)

    def _walk(self) -> None:
        limit = self.settings.walk_step_ticks
        for cid, contract in self.engine.contracts.items():
            ticks = self._rngs[cid].randint(-limit, limit)
            if ticks == 0:
                continue
            last = self.engine.quote(cid).last
            price = last + ticks * contract.tick_size
            if price <= 20 * contract.tick_size:
                price = last + abs(ticks) * contract.tick_size
            self._after_quote(cid, self.engine.set_last(cid, price))

    # --- internals: tokens and the rate limit ---------------------------------------------------

    def _issue_token(self, user: str) -> str:
        now = int(time.time())
        jti = uuid.uuid4().hex
        self._issued.add(jti)
        claims = {
            "sub": user,
            "name": user,
            "iss": "fsm-risk-paper-gateway",
            "iat": now,
            "nbf": now - 5,
            "exp": now + int(self.settings.token_lifetime),
            "jti": jti,
        }
        return jwt.encode(claims, self.settings.jwt_secret, algorithm="HS256")

    def _token_user(self, token: str | None) -> str | None:
        """The user a valid, unexpired, unrevoked token belongs to; None otherwise."""
        if not token:
            return None
        cached = self._token_cache.get(token)
        if cached is None:
            try:
                claims = jwt.decode(token, self.settings.jwt_secret, algorithms=["HS256"])
            except jwt.PyJWTError:
                return None
            if len(self._token_cache) > 10_000:
                self._token_cache.clear()
            cached = (str(claims.get("sub")), float(claims["exp"]), str(claims.get("jti")))
            self._token_cache[token] = cached
        user, expires, jti = cached
        if user not in self.users or jti in self._revoked or time.time() >= expires:
            return None
        return user

    def _revoke(self, token: str) -> None:
        with contextlib.suppress(jwt.PyJWTError):
            claims = jwt.decode(token, self.settings.jwt_secret, algorithms=["HS256"])
            self._revoked.add(str(claims.get("jti")))

    def _rate_limited(self, token: str, path: str = "") -> float | None:
        """Count a request; return the seconds to wait when it is over the limit. In the
        production profile bar history has its own, smaller bucket."""
        limit, span, key = self._rate_limit, self._rate_window, token
        if self.settings.production and path.endswith("/History/retrieveBars"):
            limit, span = self.settings.bars_rate_limit, self.settings.bars_rate_limit_window
            key = f"{token} bars"
        if not limit:
            return None
        now = time.monotonic()
        window = self._requests.setdefault(key, deque())
        while window and window[0] <= now - span:
            window.popleft()
        if len(window) >= limit:
            return max(0.0, span - (now - window[0]))
        window.append(now)
        return None

    def _owns(self, user: str, account_id: int) -> bool:
        account = self.engine.accounts.get(account_id)
        return account is not None and account.owner == user

    # --- internals: the hubs -------------------------------------------------------------------

    def _hub_token(self, request: web.Request) -> str | None:
        token = request.query.get("access_token")
        if not token:
            header = request.headers.get("Authorization", "")
            if header.startswith("Bearer "):
                token = header[7:]
        return token

    async def _negotiate(self, request: web.Request) -> web.Response:
        if self._token_user(self._hub_token(request)) is None:
            return web.Response(status=401, text="Unauthorized")
        connection_id = uuid.uuid4().hex
        return web.json_response(
            {
                "negotiateVersion": 0,
                "connectionId": connection_id,
                "connectionToken": connection_id,
                "availableTransports": [
                    {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
                ],
            }
        )

    async def _hub_socket(self, request: web.Request) -> web.StreamResponse:
        hub = "user" if request.path.rstrip("/").endswith("/user") else "market"
        user = self._token_user(self._hub_token(request))
        if user is None:
            return web.Response(status=401, text="Unauthorized")
        ws = web.WebSocketResponse(timeout=2.0, max_msg_size=1024**2)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="Expected a WebSocket request")
        await ws.prepare(request)
        conn = HubConnection(hub, user, request.query.get("id") or uuid.uuid4().hex, ws)
        try:
            first = await conn.handshake()
        except (HandshakeError, TimeoutError, RuntimeError, ConnectionError):
            await ws.close()
            return ws
        self._conns[hub].add(conn)
        self.opened[hub] += 1
        conn.writer = asyncio.create_task(conn.write_loop(), name=f"paper-hub-{hub}-writer")
        self._emit("connected", conn.summary())
        self._changed()
        try:
            open_ = all(self._on_hub_message(conn, message) for message in first)
            while open_:
                msg = await ws.receive()
                if msg.type is not WSMsgType.TEXT:
                    break  # close, error, or a binary frame the JSON protocol never sends
                self.received[hub] += 1
                open_ = all(self._on_hub_message(conn, m) for m in parse_records(msg.data))
        finally:
            conn.closed = True
            if conn.writer is not None:
                conn.writer.cancel()
            self._conns[hub].discard(conn)
            self._emit("disconnected", conn.summary())
            self._changed()
        return ws

    def _on_hub_message(self, conn: HubConnection, message: dict[str, Any]) -> bool:
        """Handle one record from a client; False when the client closed the connection."""
        kind = message.get("type")
        if kind == 7:  # the client says goodbye
            return False
        if kind != 1:
            return True  # pings and anything else need no answer
        if message.get("invocationId") is not None:  # invoke(): the client awaits a completion
            conn.send(record({"type": 3, "invocationId": message["invocationId"], "result": None}))
        target = message.get("target")
        args = message.get("arguments") or []
        arg = args[0] if isinstance(args, list) and args else None
        if conn.hub == "user":
            self._user_invocation(conn, str(target), arg)
        else:
            self._market_invocation(conn, str(target), arg)
        self._emit("subscribed", conn.summary())
        self._changed()
        return True

    def _user_invocation(self, conn: HubConnection, target: str, arg: Any) -> None:
        if target == "SubscribeAccounts":
            conn.accounts = True
            return
        if target == "UnsubscribeAccounts":
            conn.accounts = False
            return
        sets = {"Orders": conn.orders, "Positions": conn.positions, "Trades": conn.trades}
        for verb in ("Subscribe", "Unsubscribe"):
            if target.startswith(verb) and target[len(verb) :] in sets:
                try:
                    account_id = int(arg)
                except (TypeError, ValueError):
                    return
                chosen = sets[target[len(verb) :]]
                if verb == "Unsubscribe":
                    chosen.discard(account_id)
                elif self._owns(conn.user, account_id):
                    chosen.add(account_id)
                return

    def _market_invocation(self, conn: HubConnection, target: str, arg: Any) -> None:
        sets = {
            "ContractQuotes": conn.quotes,
            "ContractTrades": conn.market_trades,
            "ContractMarketDepth": conn.depth,
        }
        for verb in ("Subscribe", "Unsubscribe"):
            if target.startswith(verb) and target[len(verb) :] in sets:
                if not isinstance(arg, str) or arg not in self.engine.contracts:
                    return
                chosen = sets[target[len(verb) :]]
                if verb == "Unsubscribe":
                    chosen.discard(arg)
                    return
                chosen.add(arg)
                if chosen is conn.quotes:
                    self._push_quote(arg, only=conn)
                return


__all__ = [
    "AccountView",
    "BusinessError",
    "GatewayEvent",
    "OrderLogEntry",
    "PaperGateway",
    "PositionView",
    "PushedEvent",
    "QuoteView",
    "TradeView",
]
