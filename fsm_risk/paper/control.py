"""The paper gateway's control API for tests and demos, under ``/_paper`` (no token).

It is not part of the ProjectX surface; it mirrors the in-process methods of
`PaperGateway`. Bodies and answers are JSON; prices may be numbers or strings. Errors are
HTTP 400 (bad input, including a body key the request does not take, named) or 404
(unknown account, contract or order) with ``{"error": ...}``,
and a refused order is HTTP 409 with the gateway's error code and message.

    GET  /_paper                      this list
    GET  /_paper/state                accounts, positions, working orders, quotes, faults
    GET  /_paper/accounts | positions | trades | quotes | connections
    GET  /_paper/orders[?account_id=N]  the order log (every order received)
    GET  /_paper/events[?since=SEQ]    messages pushed on the hubs
    POST /_paper/price                 {contract, price} | {contract, ticks} | + bid, ask
    POST /_paper/price_mode            {mode: random_walk | scripted}
    POST /_paper/accounts/{id}         {can_trade?, balance?}
    POST /_paper/accounts/{id}/reset   {balance?}  (the firm resets it: orders cancelled,
                                        positions removed with no trade, trades wiped, the
                                        balance set; default: its opening balance)
    POST /_paper/orders                {account_id, contract, side, size, type?, limit_price?,
                                        stop_price?, trail_price?, custom_tag?}  (as the trader)
    POST /_paper/orders/{id}/cancel    {account_id}
    POST /_paper/positions/close       {account_id, contract, size?}
    POST /_paper/positions/settle      {account_id, contract, price}  (gone with no trade,
                                        its P&L into the balance: a cash settlement)
    POST /_paper/faults/reject         {count?, message?, account_id?, contract?, custom_tag?}
    POST /_paper/faults/reject/clear   {}
    POST /_paper/faults/fill_delay     {seconds}
    POST /_paper/faults/wrap           {enabled}
    POST /_paper/faults/drop           {hub?: user | market}
    POST /_paper/faults/revoke_tokens  {}  (every token issued so far refused: log in again)
    POST /_paper/faults/malformed      {account_id, target?, kind?}
    POST /_paper/faults/rate_limit     {limit, window?}   (limit 0 or null: off)
    POST /_paper/faults/rest           {path, status?, count?, seconds?}  (the next count
                                        requests to path, or all for seconds, answered with
                                        HTTP status, default 503; the login's path too)
    POST /_paper/faults/silence        {target, silent?}  (a user-hub target goes quiet)
    POST /_paper/faults/reverse        {account_id, count?}  (next orders' records reversed)
    POST /_paper/trades/{id}/void      {}  (the trade's P&L and charges leave the balance)
    POST /_paper/platform/liquidate    {account_id}  (the platform flattens it on its own)
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from aiohttp import web

from fsm_risk.paper.engine import BusinessError, OrderRequest, OrderType
from fsm_risk.paper.hub import dumps

if TYPE_CHECKING:
    from fsm_risk.paper.gateway import PaperGateway

_loads = functools.partial(json.loads, parse_float=Decimal)

View = Callable[[web.Request, dict[str, Any]], Awaitable[Any]]


class _Bad(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _plain(value: Any) -> Any:
    """Views and enums -> JSON-ready structures."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, IntEnum):
        return value.name.lower()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _need(body: dict[str, Any], key: str) -> Any:
    if body.get(key) is None:
        raise _Bad(400, f"'{key}' is required")
    return body[key]


def _as_int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise _Bad(400, f"'{key}' must be a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _Bad(400, f"'{key}' must be a whole number") from None


def _side(value: Any) -> int:
    if isinstance(value, str) and value.lower() in ("buy", "sell"):
        return 0 if value.lower() == "buy" else 1
    return _as_int(value, "side")


def _order_type(value: Any) -> int:
    if value is None:
        return OrderType.MARKET
    if isinstance(value, str) and value.upper() in OrderType.__members__:
        return OrderType[value.upper()]
    return _as_int(value, "type")


class ControlApi:
    def __init__(self, gw: PaperGateway) -> None:
        self.gw = gw

    def wrap(
        self, view: View, accepted: frozenset[str] = frozenset()
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """``accepted``: the body keys the request takes; any other key is refused by name
        (a misspelt key must never be silently ignored)."""

        async def serve(request: web.Request) -> web.Response:
            try:
                text = await request.text()
                body = _loads(text) if text.strip() else {}
            except ValueError:
                return _error(400, "the body is not valid JSON")
            if not isinstance(body, dict):
                return _error(400, "the body must be a JSON object")
            unknown = sorted(k for k in body if k not in accepted)
            if unknown:
                names = ", ".join(f"'{k}'" for k in unknown)
                takes = ", ".join(sorted(accepted)) or "no body"
                return _error(400, f"unknown key {names} (this request takes: {takes})")
            try:
                result = await view(request, body)
            except _Bad as exc:
                return _error(exc.status, exc.message)
            except BusinessError as exc:
                return web.json_response(
                    {"error": exc.message, "error_code": exc.code, "order_id": exc.order_id},
                    status=409,
                    dumps=dumps,
                )
            except KeyError as exc:
                return _error(404, str(exc.args[0]) if exc.args else "not found")
            except (ValueError, ArithmeticError, TypeError) as exc:
                return _error(400, str(exc))
            return web.json_response(_plain(result), dumps=dumps)

        return serve

    def _account(self, value: Any) -> int:
        account_id = _as_int(value, "account_id")
        if account_id not in self.gw.engine.accounts:
            raise KeyError(f"unknown account {account_id}")
        return account_id

    async def index(self, request: web.Request, body: dict[str, Any]) -> Any:
        return {"control_api": (__doc__ or "").split("\n\n", 2)[2].strip().splitlines()}

    async def state(self, request: web.Request, body: dict[str, Any]) -> Any:
        gw = self.gw
        return {
            "price_mode": gw.price_mode,
            "accounts": gw.accounts(),
            "positions": gw.positions(),
            "working_orders": gw.orders(working=True),
            "quotes": [gw.quote(c.id) for c in gw.contracts()],
            "faults": {
                "fill_delay": gw.engine.fill_delay,
                "wrapped": gw.wrapped,
                "reject_rules": [
                    {"message": r.message, "remaining": r.remaining} for r in gw.engine.reject_rules
                ],
                "rate_limit": gw._rate_limit,
                "rate_limit_window": gw._rate_window,
                "silenced": gw.silenced,
                "reversing": gw.reversing,
            },
            "connections": gw.connections(),
        }

    async def accounts(self, request: web.Request, body: dict[str, Any]) -> Any:
        return self.gw.accounts()

    async def positions(self, request: web.Request, body: dict[str, Any]) -> Any:
        return self.gw.positions()

    async def trades(self, request: web.Request, body: dict[str, Any]) -> Any:
        return self.gw.trades()

    async def quotes(self, request: web.Request, body: dict[str, Any]) -> Any:
        return [self.gw.quote(c.id) for c in self.gw.contracts()]

    async def connections(self, request: web.Request, body: dict[str, Any]) -> Any:
        return self.gw.connections()

    async def order_log(self, request: web.Request, body: dict[str, Any]) -> Any:
        raw = request.query.get("account_id")
        account_id = None if raw is None else _as_int(raw, "account_id")
        return self.gw.order_log(account_id)

    async def events(self, request: web.Request, body: dict[str, Any]) -> Any:
        since = _as_int(request.query.get("since", "0"), "since")
        return self.gw.pushed_since(since)

    async def price(self, request: web.Request, body: dict[str, Any]) -> Any:
        contract = str(_need(body, "contract"))
        if body.get("ticks") is not None:
            return self.gw.move_price(contract, _as_int(body["ticks"], "ticks"))
        return self.gw.set_price(
            contract, _need(body, "price"), bid=body.get("bid"), ask=body.get("ask")
        )

    async def price_mode(self, request: web.Request, body: dict[str, Any]) -> Any:
        self.gw.set_price_mode(str(_need(body, "mode")))
        return {"price_mode": self.gw.price_mode}

    async def account_update(self, request: web.Request, body: dict[str, Any]) -> Any:
        account_id = self._account(request.match_info["account_id"])
        if body.get("can_trade") is not None:
            if not isinstance(body["can_trade"], bool):
                raise _Bad(400, "'can_trade' must be true or false")
            self.gw.set_can_trade(account_id, body["can_trade"])
        if body.get("balance") is not None:
            self.gw.set_balance(account_id, body["balance"])
        return self.gw.account(account_id)

    async def account_reset(self, request: web.Request, body: dict[str, Any]) -> Any:
        account_id = self._account(request.match_info["account_id"])
        self.gw.reset_account(account_id, body.get("balance"))
        return self.gw.account(account_id)

    async def place(self, request: web.Request, body: dict[str, Any]) -> Any:
        tag = body.get("custom_tag")
        return self.gw.place_order(
            self._account(_need(body, "account_id")),
            str(_need(body, "contract")),
            _side(_need(body, "side")),
            _as_int(_need(body, "size"), "size"),
            type=_order_type(body.get("type")),
            limit_price=body.get("limit_price"),
            stop_price=body.get("stop_price"),
            trail_price=body.get("trail_price"),
            custom_tag=None if tag is None else str(tag),
        )

    async def cancel(self, request: web.Request, body: dict[str, Any]) -> Any:
        order_id = _as_int(request.match_info["order_id"], "order_id")
        self.gw.cancel_order(self._account(_need(body, "account_id")), order_id)
        return self.gw.order(order_id)

    async def close(self, request: web.Request, body: dict[str, Any]) -> Any:
        size = body.get("size")
        return self.gw.close_position(
            self._account(_need(body, "account_id")),
            str(_need(body, "contract")),
            None if size is None else _as_int(size, "size"),
        )

    async def settle(self, request: web.Request, body: dict[str, Any]) -> Any:
        account_id = self._account(_need(body, "account_id"))
        contract = str(_need(body, "contract"))
        self.gw.settle_position(account_id, contract, _need(body, "price"))
        return {"settled": self.gw.contract(contract).id, "account_id": account_id}

    async def reject(self, request: web.Request, body: dict[str, Any]) -> Any:
        account = body.get("account_id")
        account_id = None if account is None else _as_int(account, "account_id")
        contract = body.get("contract")
        contract_id = None if contract is None else self.gw.contract(str(contract)).id
        tag = body.get("custom_tag")
        count = body.get("count", 1)

        def matches(request: OrderRequest) -> bool:
            return (
                (account_id is None or request.account_id == account_id)
                and (contract_id is None or request.contract_id == contract_id)
                and (tag is None or request.custom_tag == tag)
            )

        rule = self.gw.reject_orders(
            matches,
            str(body.get("message") or "Order rejected by the paper gateway"),
            None if count is None else _as_int(count, "count"),
        )
        return {"message": rule.message, "remaining": rule.remaining}

    async def reject_clear(self, request: web.Request, body: dict[str, Any]) -> Any:
        self.gw.clear_rejections()
        return {"reject_rules": []}

    async def fill_delay(self, request: web.Request, body: dict[str, Any]) -> Any:
        seconds = float(_need(body, "seconds"))
        self.gw.set_fill_delay(seconds)
        return {"fill_delay": seconds}

    async def wrap_payloads(self, request: web.Request, body: dict[str, Any]) -> Any:
        enabled = _need(body, "enabled")
        if not isinstance(enabled, bool):
            raise _Bad(400, "'enabled' must be true or false")
        self.gw.set_wrapped(enabled)
        return {"wrapped": enabled}

    async def drop(self, request: web.Request, body: dict[str, Any]) -> Any:
        hub = body.get("hub")
        if hub not in (None, "user", "market"):
            raise _Bad(400, "'hub' must be user or market")
        return {"dropped": await self.gw.drop_websockets(hub)}

    async def revoke_tokens(self, request: web.Request, body: dict[str, Any]) -> Any:
        return {"revoked": self.gw.revoke_tokens()}

    async def malformed(self, request: web.Request, body: dict[str, Any]) -> Any:
        recipients = self.gw.push_malformed(
            self._account(_need(body, "account_id")),
            str(body.get("target") or "GatewayUserOrder"),
            str(body.get("kind") or "missing_fields"),
        )
        return {"recipients": recipients}

    async def rate_limit(self, request: web.Request, body: dict[str, Any]) -> Any:
        limit = body.get("limit")
        window = body.get("window")
        self.gw.set_rate_limit(
            None if limit is None else _as_int(limit, "limit"),
            None if window is None else float(window),
        )
        return {"rate_limit": self.gw._rate_limit, "window": self.gw._rate_window}

    async def rest(self, request: web.Request, body: dict[str, Any]) -> Any:
        path = str(_need(body, "path"))
        if not path.startswith("/api/"):
            raise _Bad(400, "'path' must be a REST path under /api/ (e.g. /api/Auth/loginKey)")
        status = _as_int(body.get("status", 503), "status")
        if not 400 <= status <= 599:
            raise _Bad(400, "'status' must be an HTTP error status (400-599)")
        seconds = body.get("seconds")
        self.gw.fail_rest(
            path,
            status,
            _as_int(body.get("count", 1), "count"),
            None if seconds is None else float(seconds),
        )
        return {"path": path, "status": status}

    async def silence(self, request: web.Request, body: dict[str, Any]) -> Any:
        silent = body.get("silent", True)
        if not isinstance(silent, bool):
            raise _Bad(400, "'silent' must be true or false")
        self.gw.silence(str(_need(body, "target")), silent)
        return {"silenced": self.gw.silenced}

    async def reverse(self, request: web.Request, body: dict[str, Any]) -> Any:
        count = _as_int(body.get("count", 1), "count")
        self.gw.reverse_orders(self._account(_need(body, "account_id")), count)
        return {"reversing": self.gw.reversing}

    async def void(self, request: web.Request, body: dict[str, Any]) -> Any:
        trade_id = _as_int(request.match_info["trade_id"], "trade id")
        if not any(t.id == trade_id for t in self.gw.engine.trades):
            raise KeyError(f"unknown trade {trade_id}")
        self.gw.void_trade(trade_id)
        return {"voided": trade_id}

    async def liquidate(self, request: web.Request, body: dict[str, Any]) -> Any:
        account_id = self._account(_need(body, "account_id"))
        self.gw.liquidate(account_id)
        return {"liquidated": account_id}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=dumps)


def add_control_routes(app: web.Application, gw: PaperGateway) -> None:
    api = ControlApi(gw)
    get = {
        "": api.index,
        "/": api.index,
        "/state": api.state,
        "/accounts": api.accounts,
        "/positions": api.positions,
        "/trades": api.trades,
        "/quotes": api.quotes,
        "/connections": api.connections,
        "/orders": api.order_log,
        "/events": api.events,
    }
    post: dict[str, tuple[View, tuple[str, ...]]] = {
        "/price": (api.price, ("contract", "price", "ticks", "bid", "ask")),
        "/price_mode": (api.price_mode, ("mode",)),
        "/accounts/{account_id}": (api.account_update, ("can_trade", "balance")),
        "/accounts/{account_id}/reset": (api.account_reset, ("balance",)),
        "/orders": (
            api.place,
            (
                *("account_id", "contract", "side", "size", "type"),
                *("limit_price", "stop_price", "trail_price", "custom_tag"),
            ),
        ),
        "/orders/{order_id}/cancel": (api.cancel, ("account_id",)),
        "/positions/close": (api.close, ("account_id", "contract", "size")),
        "/positions/settle": (api.settle, ("account_id", "contract", "price")),
        "/faults/reject": (
            api.reject,
            ("count", "message", "account_id", "contract", "custom_tag"),
        ),
        "/faults/reject/clear": (api.reject_clear, ()),
        "/faults/fill_delay": (api.fill_delay, ("seconds",)),
        "/faults/wrap": (api.wrap_payloads, ("enabled",)),
        "/faults/drop": (api.drop, ("hub",)),
        "/faults/revoke_tokens": (api.revoke_tokens, ()),
        "/faults/malformed": (api.malformed, ("account_id", "target", "kind")),
        "/faults/rate_limit": (api.rate_limit, ("limit", "window")),
        "/faults/rest": (api.rest, ("path", "status", "count", "seconds")),
        "/faults/silence": (api.silence, ("target", "silent")),
        "/faults/reverse": (api.reverse, ("account_id", "count")),
        "/trades/{trade_id}/void": (api.void, ()),
        "/platform/liquidate": (api.liquidate, ("account_id",)),
    }
    for path, view in get.items():
        app.router.add_get(f"/_paper{path}", api.wrap(view))
    for path, (handler, keys) in post.items():
        app.router.add_post(f"/_paper{path}", api.wrap(handler, frozenset(keys)))
