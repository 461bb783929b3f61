"""The server side of a SignalR JSON hub, as much of it as project-x-py (pysignalr) uses.

Wire format: every record is JSON followed by the record separator 0x1E, several records may
share one websocket message. The client opens with ``{"protocol":"json","version":1}``; the
server answers ``{}``. After that the client sends invocations (type 1, no invocationId, so
no completion is owed), pings (type 6) and a close (type 7); the server sends invocations.

Each connection has an outbound queue drained by one writer task, so messages reach a client
in the order they were queued even when several producers push at once, and bursts go out
batched in a single websocket message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

RS = "\x1e"
HANDSHAKE_TIMEOUT = 10.0
MAX_BATCH = 256


def json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=json_default)


def record(message: dict[str, Any]) -> str:
    return dumps(message) + RS


def invocation(target: str, arguments: list[Any]) -> str:
    return record({"type": 1, "target": target, "arguments": arguments})


class HandshakeError(Exception):
    """The client did not open with a JSON-protocol handshake."""


def parse_records(text: str) -> list[dict[str, Any]]:
    """Split one websocket message into records; non-object records are skipped."""
    out = []
    for part in text.split(RS):
        if not part.strip():
            continue
        try:
            value = json.loads(part)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


@dataclass(eq=False)
class HubConnection:
    """One client connected to one hub, with the subscriptions it has asked for."""

    hub: str  # "user" | "market"
    user: str
    connection_id: str
    ws: web.WebSocketResponse
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    accounts: bool = False
    orders: set[int] = field(default_factory=set)
    positions: set[int] = field(default_factory=set)
    trades: set[int] = field(default_factory=set)
    quotes: set[str] = field(default_factory=set)
    market_trades: set[str] = field(default_factory=set)
    depth: set[str] = field(default_factory=set)
    closed: bool = False
    writer: asyncio.Task[None] | None = None

    def send(self, text: str) -> None:
        if not self.closed:
            self.queue.put_nowait(text)

    async def write_loop(self) -> None:
        """Drain the queue into the socket, batching whatever is already waiting."""
        try:
            while not self.closed:
                batch = [await self.queue.get()]
                while len(batch) < MAX_BATCH and not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                await self.ws.send_str("".join(batch))
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            self.closed = True

    async def handshake(self) -> list[dict[str, Any]]:
        """Read the client's handshake and answer it; returns any records that followed."""
        msg = await self.ws.receive(timeout=HANDSHAKE_TIMEOUT)
        if msg.type is not WSMsgType.TEXT:
            raise HandshakeError("expected a text handshake")
        head, _, rest = msg.data.partition(RS)
        try:
            request = json.loads(head)
        except ValueError:
            raise HandshakeError("handshake is not JSON") from None
        if not isinstance(request, dict) or request.get("protocol") != "json":
            await self.ws.send_str(record({"error": "Only the JSON protocol is supported."}))
            raise HandshakeError(f"unsupported protocol in {head!r}")
        await self.ws.send_str(record({}))
        return parse_records(rest)

    async def close(self, code: int = 1001) -> None:
        self.closed = True
        if self.writer is not None:
            self.writer.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close(code=code)

    def summary(self) -> dict[str, Any]:
        return {
            "hub": self.hub,
            "user": self.user,
            "connectionId": self.connection_id,
            "accounts": self.accounts,
            "orders": sorted(self.orders),
            "positions": sorted(self.positions),
            "trades": sorted(self.trades),
            "quotes": sorted(self.quotes),
            "marketTrades": sorted(self.market_trades),
            "depth": sorted(self.depth),
        }
