"""The ProjectX REST API of the paper gateway, under ``/api``.

Every endpoint is a POST with a JSON body (``GET /Status/ping`` excepted) and answers HTTP 200
with ``success``, ``errorCode`` and ``errorMessage`` plus its payload; a refused request is a
business error (HTTP 200, ``success: false``, a non-zero code, a message). A missing or bad
token is HTTP 401, a request over the per-token rate limit HTTP 429 (with Retry-After), a
body that is not a JSON object or has fields of the wrong type HTTP 400.

JSON numbers are read as Decimal, so prices stay exact on the way in.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.client import responses
from typing import TYPE_CHECKING, Any

from aiohttp import web

from fsm_risk.paper.catalog import Contract
from fsm_risk.paper.engine import BusinessError, OrderState
from fsm_risk.paper.hub import dumps

if TYPE_CHECKING:
    from fsm_risk.paper.gateway import PaperGateway

LOGIN_INVALID_CREDENTIALS = 3
#: the gateway's login refusals for a user whose API access is off: (errorCode, errorMessage)
LOGIN_REFUSALS = {
    "api_subscription_not_found": (9, "API subscription not found"),
    "api_key_authentication_disabled": (10, "API key authentication is disabled"),
}
ACCOUNT_NOT_FOUND = 1
CONTRACT_NOT_FOUND = 1
BARS_INVALID_REQUEST = 1
ORDER_NOT_FOUND = 2

UNIT_SECONDS = {1: 1, 2: 60, 3: 3600, 4: 86400, 5: 7 * 86400, 6: 30 * 86400, 7: 1}
MAX_BARS = 20_000

_loads = functools.partial(json.loads, parse_float=Decimal)


class BadRequest(Exception):
    """A malformed request: answered with HTTP 400 and ASP.NET-style validation errors."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


@dataclass(frozen=True, slots=True)
class Caller:
    user: str
    token: str
    perf: float


Handler = Callable[[dict[str, Any], Caller], dict[str, Any]]


def _int(body: dict[str, Any], key: str, *, required: bool = True) -> int | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(key, f"The {key} field is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(key, f"The {key} field must be a whole number.")
    try:
        return int(value)
    except ValueError:
        raise BadRequest(key, f"The {key} field must be a whole number.") from None


def _req_int(body: dict[str, Any], key: str) -> int:
    value = _int(body, key)
    assert value is not None
    return value


def _str(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(key, f"The {key} field is required.")
        return None
    if not isinstance(value, str):
        raise BadRequest(key, f"The {key} field must be a string.")
    return value


def _price(body: dict[str, Any], key: str) -> Decimal | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise BadRequest(key, f"The {key} field must be a number.")
    try:
        price = Decimal(str(value))
    except ArithmeticError:
        raise BadRequest(key, f"The {key} field must be a number.") from None
    if not price.is_finite():
        raise BadRequest(key, f"The {key} field must be a finite number.")
    return price


def _bracket(body: dict[str, Any], key: str, default_type: int) -> tuple[int, int] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(key, f"The {key} field must be an object with ticks and type.")
    ticks = _int(value, "ticks")
    kind = _int(value, "type", required=False)
    assert ticks is not None
    return ticks, default_type if kind is None else kind


def _time(body: dict[str, Any], key: str) -> datetime | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(key, f"The {key} field must be an ISO-8601 timestamp.")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(key, f"The {key} field must be an ISO-8601 timestamp.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _between(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment <= end)


class ProjectXApi:
    """The REST handlers, bound to one gateway."""

    def __init__(self, gw: PaperGateway) -> None:
        self.gw = gw
        self.engine = gw.engine

    def routes(self) -> dict[str, tuple[Handler, bool]]:
        """Path (under /api) -> (handler, needs a token)."""
        return {
            "/Auth/loginKey": (self.login_key, False),
            "/Auth/validate": (self.validate, True),
            "/Auth/logout": (self.logout, True),
            "/Account/search": (self.account_search, True),
            "/Contract/search": (self.contract_search, True),
            "/Contract/searchById": (self.contract_search_by_id, True),
            "/Contract/available": (self.contract_available, True),
            "/History/retrieveBars": (self.retrieve_bars, True),
            "/Position/searchOpen": (self.position_search_open, True),
            "/Position/closeContract": (self.position_close, True),
            "/Position/partialCloseContract": (self.position_partial_close, True),
            "/Order/place": (self.order_place, True),
            "/Order/searchOpen": (self.order_search_open, True),
            "/Order/search": (self.order_search, True),
            "/Order/searchById": (self.order_search_by_id, True),
            "/Order/cancel": (self.order_cancel, True),
            "/Order/modify": (self.order_modify, True),
            "/Order/v2/query": (self.order_query, True),
            "/Trade/search": (self.trade_search, True),
        }

    def endpoint(self, handler: Handler, needs_token: bool) -> Callable[..., Any]:
        async def serve(request: web.Request) -> web.StreamResponse:
            latency = self.gw.settings.rest_latency
            if latency > 0:
                await asyncio.sleep(latency)  # the round trip of a gateway far away
            perf = time.perf_counter()
            token = ""
            user = ""
            if needs_token:
                header = request.headers.get("Authorization", "")
                token = header[7:].strip() if header.startswith("Bearer ") else ""
                found = self.gw._token_user(token)
                if found is None:
                    return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
                user = found
                limited, wait = self.gw._limit_fault(request.path)
                if limited and wait is None:
                    return web.Response(status=429, text="Too Many Requests")
                if not limited:
                    wait = self.gw._rate_limited(token, request.path)
                if wait is not None:
                    return web.Response(
                        status=429,
                        text="Too Many Requests",
                        headers={"Retry-After": str(max(1, math.ceil(wait)))},
                    )
            failed = self.gw._rest_fault(request.path)  # (the login's too: it needs none)
            if failed is not None:
                return self._failure(request.path, failed, responses.get(failed, "Error"))
            try:
                text = await request.text()
                body = _loads(text) if text.strip() else {}
            except ValueError:
                return _bad_request("$", "The request body is not valid JSON.")
            if body is None:
                body = {}
            if not isinstance(body, dict):
                return _bad_request("$", "The request body must be a JSON object.")
            if (held := self.gw._rest_hold(request.path)) is not None:
                await asyncio.sleep(held)  # (`hold_rest`: in flight, not yet carried out)
            try:
                payload = handler(body, Caller(user, token, perf))
            except BadRequest as exc:
                return _bad_request(exc.key, exc.message)
            except BusinessError as exc:
                payload = {"success": False, "errorCode": exc.code, "errorMessage": exc.message}
                if exc.order_id is not None:
                    payload["orderId"] = exc.order_id
                if isinstance(exc, _LoginRefused):
                    payload["token"] = None  # as the gateway's failed login carries
            else:
                payload = {**payload, "success": True, "errorCode": 0, "errorMessage": None}
                payload = self.gw._rest_nulled(request.path, payload)
            after = self.gw._rest_after_fault(request.path) if needs_token else None
            if after is not None:
                return self._failure(request.path, after, "Internal Server Error")
            return web.json_response(payload, dumps=dumps)

        return serve

    def _failure(self, path: str, status: int, text: str) -> web.Response:
        """An HTTP ``status`` armed by a test: the gateway's application's own (its envelope,
        `Gateway.rest_own`), else bare, as a proxy or load balancer in front answers."""
        if path not in self.gw.rest_own:
            return web.Response(status=status, text=text)
        payload = {"success": False, "errorCode": status, "errorMessage": text}
        return web.json_response(payload, status=status, dumps=dumps)

    # --- auth ------------------------------------------------------------------------------

    def login_key(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        username = body.get("userName")
        api_key = body.get("apiKey")
        expected = self.gw.settings.api_key
        valid = (
            isinstance(username, str)
            and isinstance(api_key, str)
            and username in self.gw.users
            and (api_key == expected if expected else len(api_key) >= 10)
        )
        if not valid:
            raise _LoginRefused()
        refusal = LOGIN_REFUSALS.get(self.gw.settings.login_refusal)
        if refusal is not None:
            raise _LoginRefused(*refusal)
        assert isinstance(username, str)
        return {"token": self.gw._issue_token(username)}

    def validate(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        return {"newToken": self.gw._issue_token(caller.user)}

    def logout(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        self.gw._revoke(caller.token)
        return {}

    # --- accounts and contracts ------------------------------------------------------------

    def _account(self, body: dict[str, Any], caller: Caller) -> int:
        account_id = _req_int(body, "accountId")
        if not self.gw._owns(caller.user, account_id):
            raise BusinessError(ACCOUNT_NOT_FOUND, f"Account {account_id} not found")
        return account_id

    def account_search(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        return {"accounts": [a.to_api() for a in self.engine.owned_accounts(caller.user)]}

    def _listed(self) -> list[Contract]:
        """The contracts the reference data lists (see `PaperGateway.unlist`)."""
        return [c for c in self.engine.contracts.values() if c.id not in self.gw.unlisted]

    def contract_search(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        text = (_str(body, "searchText") or "").strip().upper()
        contracts = self._listed()
        if text:
            exact = [c for c in contracts if text in (c.root, c.code, c.name, c.id.upper())]
            contracts = exact or [
                c
                for c in contracts
                if text in c.id.upper() or text in c.name or text in c.description.upper()
            ]
        return {"contracts": [c.to_api() for c in contracts]}

    def contract_search_by_id(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        contract_id = _str(body, "contractId", required=True)
        contract = self.engine.contracts.get(contract_id or "")
        if contract is None or self.gw.unlisted.get(contract.id) is False:
            raise BusinessError(CONTRACT_NOT_FOUND, f"Contract {contract_id} not found")
        return {"contract": contract.to_api()}

    def contract_available(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        return {"contracts": [c.to_api() for c in self._listed()]}

    def retrieve_bars(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        contract_id = _str(body, "contractId", required=True) or ""
        contract = self.engine.contracts.get(contract_id)
        if contract is None:
            raise BusinessError(CONTRACT_NOT_FOUND, f"Contract {contract_id} not found")
        unit = _int(body, "unit") or 0
        number = _int(body, "unitNumber", required=False)
        number = 1 if number is None else number
        production = self.gw.settings.production
        if unit not in UNIT_SECONDS or number < 1:
            # the documented codes: 2 UnitInvalid, 3 UnitNumberInvalid
            code = (2 if unit not in UNIT_SECONDS else 3) if production else BARS_INVALID_REQUEST
            raise BusinessError(code, f"Invalid bar unit {unit} x {number}")
        asked = _int(body, "limit", required=False)
        if production and asked is not None and asked < 0:
            raise BusinessError(4, f"Invalid limit {asked}")  # LimitInvalid
        limit = min(asked or MAX_BARS, MAX_BARS)
        now = self.gw.now()
        start = _time(body, "startTime") or now - timedelta(days=1)
        end = min(_time(body, "endTime") or now, now)
        partial = bool(body.get("includePartialBar"))
        width = UNIT_SECONDS[unit] * number
        last_open = int(end.timestamp()) // width * width
        if not partial and last_open + width > now.timestamp():
            last_open -= width
        bars: list[dict[str, Any]] = []
        path = self.engine.paths[contract_id]  # the prices it really had (see `prices`)
        t = last_open
        while len(bars) < limit and t >= start.timestamp() - width + 1:
            open_, high, low, close, changes = path.bar(t, t + width)
            bars.append(
                {
                    "t": datetime.fromtimestamp(t, UTC).isoformat(),
                    "o": open_,
                    "h": high,
                    "l": low,
                    "c": close,
                    "v": changes,
                }
            )
            t -= width
        return {"bars": bars}

    # --- positions -------------------------------------------------------------------------

    def position_search_open(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        account_id = self._account(body, caller)
        return {"positions": [p.to_api() for p in self.engine.open_positions(account_id)]}

    def position_close(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        account_id = self._account(body, caller)
        contract_id = _str(body, "contractId", required=True) or ""
        entry = self.gw._place(
            lambda: self.engine.close_position(
                account_id, contract_id, None, "close", received_perf=caller.perf
            )
        )
        return {} if self.gw.settings.production else {"orderId": entry.order_id}

    def position_partial_close(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        account_id = self._account(body, caller)
        contract_id = _str(body, "contractId", required=True) or ""
        size = _req_int(body, "size")
        entry = self.gw._place(
            lambda: self.engine.close_position(
                account_id, contract_id, size, "partial_close", received_perf=caller.perf
            )
        )
        return {} if self.gw.settings.production else {"orderId": entry.order_id}

    # --- orders ----------------------------------------------------------------------------

    def _order_api(self, order: OrderState) -> dict[str, Any]:
        return self.engine.order_api(order)

    def order_place(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        account_id = self._account(body, caller)
        contract_id = _str(body, "contractId", required=True) or ""
        order_type = _req_int(body, "type")
        side = _req_int(body, "side")
        size = _req_int(body, "size")
        limit_price = _price(body, "limitPrice")
        stop_price = _price(body, "stopPrice")
        trail_price = _price(body, "trailPrice")
        custom_tag = _str(body, "customTag")
        linked = _int(body, "linkedOrderId", required=False)
        stop_loss = _bracket(body, "stopLossBracket", 4)
        take_profit = _bracket(body, "takeProfitBracket", 1)
        entry = self.gw._place(
            lambda: self.engine.place(
                account_id,
                contract_id,
                order_type,
                side,
                size,
                limit_price=limit_price,
                stop_price=stop_price,
                trail_price=trail_price,
                custom_tag=custom_tag,
                linked_order_id=linked,
                stop_loss_bracket=stop_loss,
                take_profit_bracket=take_profit,
                source="rest",
                received_perf=caller.perf,
            )
        )
        return {"orderId": entry.order_id}

    def order_search_open(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        account_id = self._account(body, caller)
        orders = [o for o in self.engine.account_orders(account_id) if o.working]
        return {"orders": [self._order_api(o) for o in orders]}

    def order_search(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        account_id = self._account(body, caller)
        start, end = _time(body, "startTimestamp"), _time(body, "endTimestamp")
        orders = [
            o for o in self.engine.account_orders(account_id) if _between(o.created, start, end)
        ]
        return {"orders": [self._order_api(o) for o in reversed(orders)]}

    def order_search_by_id(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        account_id = self._account(body, caller)
        order_id = _req_int(body, "orderId")
        order = self.engine.orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise BusinessError(ORDER_NOT_FOUND, f"Order {order_id} not found")
        return {"order": self._order_api(order)}

    def order_cancel(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        account_id = self._account(body, caller)
        order_id = _req_int(body, "orderId")
        self.gw._publish(self.engine.cancel(account_id, order_id))
        return {}

    def order_modify(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        account_id = self._account(body, caller)
        order_id = _req_int(body, "orderId")
        events = self.engine.modify(
            account_id,
            order_id,
            size=_int(body, "size", required=False),
            limit_price=_price(body, "limitPrice"),
            stop_price=_price(body, "stopPrice"),
            trail_price=_price(body, "trailPrice"),
        )
        self.gw._publish(events)
        return {}

    def order_query(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        raw_filter = body.get("filter") or {}
        if not isinstance(raw_filter, dict):
            raise BadRequest("filter", "The filter field must be an object.")
        account_id = self._account(raw_filter, caller)
        statuses = raw_filter.get("statuses")
        contract_id = _str(raw_filter, "contractId")
        orders = [
            o
            for o in reversed(self.engine.account_orders(account_id))
            if (not statuses or int(o.status) in statuses)
            and (contract_id is None or o.contract_id == contract_id)
        ]
        size = max(1, _int(body, "pageSize", required=False) or 50)
        offset = max(0, _int(body, "pageOffset", required=False) or 0)
        page = orders[offset : offset + size]
        payload: dict[str, Any] = {"orders": [self._order_api(o) for o in page]}
        if body.get("includeTotalCount"):
            payload["totalCount"] = len(orders)
        return payload

    # --- trades ----------------------------------------------------------------------------

    def trade_search(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        account_id = self._account(body, caller)
        start, end = _time(body, "startTimestamp"), _time(body, "endTimestamp")
        contract_id = _str(body, "contractId")
        trades = [
            t
            for t in self.engine.account_trades(account_id)
            if _between(t.created, start, end)
            and (contract_id is None or t.contract_id == contract_id)
        ]
        return {"trades": [t.to_api() for t in reversed(trades)]}


class _LoginRefused(BusinessError):
    def __init__(
        self, code: int = LOGIN_INVALID_CREDENTIALS, message: str = "Invalid username or API key"
    ) -> None:
        super().__init__(code, message)


def _bad_request(key: str, message: str) -> web.Response:
    body = {
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": {key: [message]},
    }
    return web.json_response(body, status=400, dumps=dumps)


async def _ping(request: web.Request) -> web.Response:
    return web.json_response("pong")


async def _not_found(request: web.Request) -> web.Response:
    return web.Response(status=404, text="Not Found")


def add_rest_routes(app: web.Application, gw: PaperGateway) -> None:
    api = ProjectXApi(gw)
    app.router.add_get("/api/Status/ping", _ping)
    for path, (handler, needs_token) in api.routes().items():
        app.router.add_post(f"/api{path}", api.endpoint(handler, needs_token))
    app.router.add_route("*", "/api/{tail:.*}", _not_found)
