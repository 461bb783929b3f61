"""Enforcement requests written to the socket the moment they are decided.

The SDK's HTTP layer passes several turns of the event loop (its locks, its request task,
the connection pool) before a request's bytes reach the socket, and whatever else is ready
on the loop runs at each of them. A close, partial close or cancel instead goes out on a
connection opened ahead of time: `Wire.send` writes the whole request before it returns,
then waits for the answer. HTTP/1.1 (h11, which the SDK's own client is built on), one
request at a time per connection, kept alive; a spare connection is opened as soon as one
is taken.

What the gateway answers means what it means through the SDK, since the caller handles it
the same way: a mutating request that may have reached the gateway without an answer (the
connection lost after the write, a timeout, 5xx) raises ``OrderSubmissionUncertainError``,
and the caller reconciles instead of resending; a 5xx the gateway's application wrote itself
(its envelope) raises `AnsweredInDoubt`, with the ``Date`` it was done with the request by
(a timeout's or a proxy's 5xx has no such time: the gateway may take the request later). A
429 is the gateway's rate limiter turning the request away before it is taken (`RateLimited`):
a refusal, sent again soon like any other (the SDK reads it as maybe sent, and the close then
waited a close timeout and a read, 10 s and more, while another program on the same API key
kept the window full). A 401 is
the gateway's authentication turning it away before it is taken (`TokenRefused`), told to
the owner (``on_refused``: log in again) and sent again as a 429's is: read as maybe sent,
a close refused at a breach waited the whole close timeout (10 s) though the read after it
showed the position open and no close working.

A request whose answer does not come in time (or whose connection is lost first) ends its
connection with a reset (`_Connection.abort`): the kernel drops whatever of the request it
has not yet had acknowledged. Closed politely, the kernel would keep sending it: after a
black hole of 40 s, a reduce timed out, read back as not done and sent again arrived ~11 s
after the link came back, and filled a second time. When no connection is ready, `request`
opens one for the request rather than leaving it to the SDK, whose sockets cannot be reset
so (and whose pooled connections may have gone silent); `send` alone returns None, nothing
written. Only a proxy between us and the gateway (`usable` false) leaves them to the SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import os
import socket
import ssl
import struct
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import h11
from loguru import logger
from project_x_py.exceptions import (
    OrderSubmissionUncertainError,
    ProjectXConnectionError,
    ProjectXDataError,
    ProjectXError,
)

#: a connection that dies sooner than this after it opened is not replaced at once (a
#: gateway that closes what it accepts must not make us reconnect in a tight loop)
MIN_LIFE = 1.0

#: a connection idle this long is closed and a fresh one opened in its place. A load balancer
#: or NAT between us and the gateway may drop an idle connection without a word (idle
#: timeouts of 60 s and more are common); a close written on such a connection would wait its
#: whole timeout for an answer that never comes. Below every such timeout, and below the SDK's
#: own keep-alive expiry (60 s), so this path is never staler than the SDK's.
KEEP_IDLE = 20.0

#: the longest a connection opened for one request (none was ready) may take to open
CONNECT_TIMEOUT = 5.0

#: SO_LINGER on, zero seconds: close() resets the connection and drops what is unsent
_RESET = struct.pack("ii", 1, 0)

#: an answer's status, body, Retry-After and Date headers (None: none given)
Answer = tuple[int, bytes, str | None, str | None]

#: the heads (request line and headers) of the requests written, as h11 wrote them, by
#: target and header fields: the next close, partial close or cancel of the same shape is
#: written at once (the same account, contract and size digits: the same Content-Length)
_HEADS: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}
_HEADS_KEPT = 64


def _head(target: str, fields: tuple[tuple[str, str], ...]) -> bytes:
    """A POST's request line and headers, written (and checked) by a new h11 connection."""
    head: bytes = h11.Connection(h11.CLIENT).send(
        h11.Request(method="POST", target=target, headers=list(fields))  # type: ignore[arg-type]
    )
    return head


class _Connection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection: at most one request on it at a time."""

    def __init__(self, lost: Callable[[_Connection], None]) -> None:
        self._lost = lost
        self.http = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[Answer] | None = None
        self.opened = time.monotonic()
        #: when it last became idle (opened, or its last answer read)
        self.since = self.opened
        self._status = 0
        self._body = bytearray()
        self._retry_after: str | None = None
        self._date: str | None = None

    @property
    def idle(self) -> bool:
        return (
            self.transport is not None
            and not self.transport.is_closing()
            and self.answer is None
            and self.http.our_state is h11.IDLE
            and self.http.their_state is h11.IDLE
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def write(self, host: str, target: str, headers: dict[str, str], body: bytes) -> None:
        """The whole request onto the socket now; its answer arrives in `answer`.

        The bytes are h11's, its head taken from `_HEADS` when a request of the same target
        and headers was written before: h11's checks and formatting (some 30 µs) then run
        after the write, to bring this connection's h11 to the state the write left it in."""
        assert self.transport is not None
        fields = (("Host", host), *headers.items(), ("Content-Length", str(len(body))))
        key = (target, fields)
        head = _HEADS.get(key)
        if head is None:
            head = _head(target, fields)  # h11 refuses what it cannot write: nothing written
        self.answer = asyncio.get_running_loop().create_future()
        self._status, self._body, self._retry_after, self._date = 0, bytearray(), None, None
        self.transport.write(head + body)
        # what was written, told to h11 (whose own bytes for it are the same, and dropped)
        self.http.send(h11.Request(method="POST", target=target, headers=list(fields)))  # type: ignore[arg-type]
        self.http.send(h11.Data(data=body))
        self.http.send(h11.EndOfMessage())
        if len(_HEADS) >= _HEADS_KEPT:
            _HEADS.clear()  # (a new token each session: the old heads are never asked again)
        _HEADS[key] = head

    def data_received(self, data: bytes) -> None:
        self.http.receive_data(data)
        self._read()

    def eof_received(self) -> bool | None:
        self.http.receive_data(b"")
        self._read()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(ConnectionError(f"connection lost: {exc!r}" if exc else "connection closed"))
        self._lost(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """End the connection with a reset. The kernel drops the bytes of a request it has not
        had acknowledged yet: they can never reach the gateway later. (asyncio's ``abort``
        alone drops only its own buffer, then closes the socket politely: the kernel keeps
        retransmitting what it holds, and the request may arrive once the link is back.)"""
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        transport.abort()

    def _fail(self, exc: BaseException) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)

    def _read(self) -> None:
        while True:
            try:
                event = self.http.next_event()
            except h11.RemoteProtocolError as exc:
                self._fail(ConnectionError(f"unreadable answer: {exc}"))
                self.close()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                self._status = event.status_code
                for name, value in event.headers:
                    if name == b"retry-after":  # (h11 gives the names in lower case)
                        self._retry_after = value.decode("latin-1")
                    elif name == b"date":
                        self._date = value.decode("latin-1")
            elif isinstance(event, h11.Data):
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                answer, self.answer = self.answer, None
                if answer is not None and not answer.done():
                    answer.set_result(
                        (self._status, bytes(self._body), self._retry_after, self._date)
                    )
                if self.http.our_state is h11.DONE and self.http.their_state is h11.DONE:
                    self.http.start_next_cycle()  # kept alive for the next request
                else:
                    self.close()
                return
            elif isinstance(event, h11.ConnectionClosed):
                self._fail(ConnectionError("closed by the gateway"))
                self.close()
                return


class Wire:
    """Enforcement requests to the gateway's REST API on connections kept open for them."""

    def __init__(
        self,
        api_url: str,
        headers: Callable[[], dict[str, str]],
        timeout: float,
        *,
        spare: int = 1,
        on_refused: Callable[[str | None], None] = lambda authorization: None,
    ) -> None:
        url = urlsplit(api_url.rstrip("/"))
        self._tls = url.scheme == "https"
        self._host = url.hostname or ""
        self._port = url.port or (443 if self._tls else 80)
        self._authority = url.netloc
        self._prefix = url.path
        self._headers = headers
        #: told when the gateway answers 401 (with the Authorization header the request carried)
        self._on_refused = on_refused
        self.timeout = timeout
        self.spare = spare
        #: a proxy between us and the gateway is the SDK's business: then never used
        self.usable = bool(self._host) and not _proxied(url.scheme, self._host)
        self._idle: list[_Connection] = []
        self._opening = 0
        self._closed = False
        self._ssl: ssl.SSLContext | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0  # requests written on these connections (the rest went through the SDK)

    def warm(self) -> None:
        """Open connections until ``spare`` are ready or opening (in the background)."""
        if not self.usable or self._closed:
            return
        self._idle = [c for c in self._idle if c.idle]
        while len(self._idle) + self._opening < self.spare:
            self._opening += 1
            task = asyncio.ensure_future(self._open())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def ready(self) -> bool:
        """Wait for the connections being opened; whether one is ready. (A task that ended
        stays in ``_tasks`` until its done callback runs on the loop: awaiting those again
        never yields to it, and the loop spun, a test hanging a CI run for good.)"""
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
        return any(c.idle for c in self._idle)

    async def _connect(self, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._tls and self._ssl is None:
            self._ssl = _tls_context()
        _, conn = await asyncio.wait_for(
            loop.create_connection(
                lambda: _Connection(self._lost),
                self._host,
                self._port,
                ssl=self._ssl if self._tls else None,
                server_hostname=self._host if self._tls else None,
            ),
            timeout,
        )
        return conn

    async def _open(self) -> None:
        try:
            conn = await self._connect(self.timeout)
        except Exception as exc:  # the SDK's path serves meanwhile; the next close retries
            logger.debug("enforcement connection to {} not opened: {!r}", self._authority, exc)
            return
        finally:
            self._opening -= 1
        if self._closed:
            conn.close()
        else:
            self._keep(conn)

    def _keep(self, conn: _Connection) -> None:
        """Keep an idle connection for the next request, until it has been idle `KEEP_IDLE`."""
        conn.since = time.monotonic()
        self._idle.append(conn)
        asyncio.get_running_loop().call_later(KEEP_IDLE, self._expire, conn, conn.since)

    def _expire(self, conn: _Connection, since: float) -> None:
        """Replace a connection left idle since ``since`` (not if it was used meanwhile)."""
        if conn.since != since or conn not in self._idle:
            return
        self._idle.remove(conn)
        conn.close()
        self.warm()

    def _lost(self, conn: _Connection) -> None:
        if conn in self._idle:
            self._idle.remove(conn)
            if time.monotonic() - conn.opened >= MIN_LIFE:
                self.warm()

    async def request(self, path: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """A POST of ``data`` to ``path`` and its answer as the SDK would return it: written
        at once on a ready connection (`send`), else on one opened for it now. None (nothing
        written): these connections are not used (a proxy configured, or closed). One that
        cannot be opened raises `ProjectXConnectionError`: nothing was written."""
        sent = self.send(path, data)
        if sent is not None:
            return await sent
        if not self.usable or self._closed:
            return None
        try:
            conn = await self._connect(min(self.timeout, CONNECT_TIMEOUT))
        except Exception as exc:
            raise ProjectXConnectionError(
                f"{path}: not sent: no connection to the gateway ({exc!r})"
            ) from None
        if self._closed:
            conn.close()
            return None
        return await self._write(conn, path, data)

    def send(self, path: str, data: dict[str, Any]) -> asyncio.Future[dict[str, Any]] | None:
        """Write a POST of ``data`` to ``path`` now, on a ready connection; the future is its
        answer as the SDK would return it. None (nothing written): no connection ready."""
        conn = None
        now = time.monotonic()
        while self._idle and conn is None:
            candidate = self._idle.pop()
            if candidate.idle and now - candidate.since < KEEP_IDLE:
                conn = candidate
            else:  # dead, or idle too long to trust (its timer is late): never written on
                candidate.close()
        if conn is None:
            self.warm()
            return None
        return self._write(conn, path, data)

    def _write(
        self, conn: _Connection, path: str, data: dict[str, Any]
    ) -> asyncio.Future[dict[str, Any]]:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        headers = self._headers()  # the token the client holds now (a new one after a login)
        try:
            conn.write(self._authority, self._prefix + path, headers, body.encode())
        except Exception:  # a request h11 refuses (nothing was written): the error is the caller's
            conn.close()
            raise
        self.sent += 1
        self.warm()  # a spare for the next one, while this one waits for its answer
        return asyncio.ensure_future(self._answer(conn, path, data, headers.get("Authorization")))

    async def _answer(
        self, conn: _Connection, path: str, data: dict[str, Any], authorization: str | None = None
    ) -> dict[str, Any]:
        assert conn.answer is not None
        try:
            status, body, retry_after, date = await asyncio.wait_for(
                asyncio.shield(conn.answer), self.timeout
            )
        except (TimeoutError, ConnectionError, asyncio.CancelledError) as exc:
            conn.answer = None  # its answer, if any, must never be read as another request's
            conn.abort()  # reset: what the gateway has not received never arrives later
            raise OrderSubmissionUncertainError(
                f"{path}: sent, but no answer ({exc!r}); reconcile before retrying",
                payload=data,
            ) from None
        if conn.idle and not self._closed:
            self._keep(conn)
        if status == 401:
            self._on_refused(authorization)  # the token refused: the service logs in again
        return _decoded(path, status, body, data, retry_after, date)

    def renew(self) -> None:
        """Replace the idle connections with fresh ones (the network path changed: a hub
        reconnected; one of them may have gone silent without a reset)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        self.warm()

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for conn in self._idle:
            conn.close()
        self._idle.clear()


class AnsweredInDoubt(OrderSubmissionUncertainError):
    """A 5xx the gateway's application wrote itself: its envelope (``success`` false and an
    ``errorCode``, as every answer of its own carries) and its ``Date``. Whatever it did with
    the request, it had done when it wrote the answer, at ``answered`` on its clock (cut to the
    second). A timeout, a lost connection, or a 5xx without the envelope (a proxy's or a load
    balancer's, the backend perhaps still working on it) says nothing of when the gateway
    takes the request: `OrderSubmissionUncertainError` alone."""

    def __init__(self, message: str, answered: datetime, payload: dict[str, Any]) -> None:
        super().__init__(message, payload=payload)
        self.answered = answered


def _own_answer(body: bytes, date: str | None) -> datetime | None:
    """The ``Date`` of a 5xx carrying the gateway's envelope (None: not its own, or no
    readable ``Date``)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("success") is not False:
        return None
    if "errorCode" not in parsed or date is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


class RateLimited(ProjectXError):
    """HTTP 429 to an enforcement request: the gateway's request limit turned it away before
    it was taken (see the module doc). ``retry_after``: the seconds its Retry-After asked
    (None: none given, or not readable)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenRefused(ProjectXError):
    """HTTP 401 to an enforcement request: the gateway's authentication turned it away before
    it was taken (as the request limit's 429 does): a refusal, sent again once logged in."""


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header in seconds: delta-seconds, or an HTTP date (``now``: the epoch
    time it is measured from). None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _decoded(
    path: str,
    status: int,
    body: bytes,
    data: dict[str, Any],
    retry_after: str | None = None,
    date: str | None = None,
) -> dict[str, Any]:
    """The gateway's answer as the SDK reads a mutating request's, but a 429 (see the module
    doc), and a 5xx the gateway's application wrote itself (`AnsweredInDoubt`)."""
    if status == 429:
        raise RateLimited(
            f"{path}: HTTP 429: the gateway's request limit is reached, not taken",
            retry_after_seconds(retry_after),
        )
    if status == 401:
        raise TokenRefused(f"{path}: HTTP 401: the gateway refused the session token, not taken")
    if 500 <= status < 600:
        answered = _own_answer(body, date)
        if answered is not None:
            raise AnsweredInDoubt(
                f"{path}: HTTP {status} from the gateway after it may have been received; "
                "reconcile before retrying",
                answered,
                payload=data,
            )
        raise OrderSubmissionUncertainError(
            f"{path}: HTTP {status} after it may have been received; reconcile before retrying",
            payload=data,
        )
    if status == 204:
        return {}
    try:
        parsed = json.loads(body) if status in (200, 201) or body else None
    except ValueError:
        if status in (200, 201):
            raise ProjectXDataError(f"{path}: the answer is not JSON") from None
        parsed = None
    if status in (200, 201):
        if not isinstance(parsed, dict):
            raise ProjectXError(f"{path}: unexpected answer {type(parsed).__name__}")
        return parsed
    if status == 404:
        raise ProjectXDataError(f"{path}: not found")
    message = f"Client error: {status}"
    if isinstance(parsed, dict):
        message = str(parsed.get("message") or parsed.get("error") or message)
    raise ProjectXError(message)


def _proxied(scheme: str, host: str) -> bool:
    proxies = urllib.request.getproxies()
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(host)


def _tls_context() -> ssl.SSLContext:
    """The certificate authorities the SDK's client (httpx) trusts: ``SSL_CERT_FILE``, else
    ``SSL_CERT_DIR`` (a company's own authority, behind an inspecting proxy), else certifi's.
    A gateway this cannot verify gets no connection here: its closes go through the SDK."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())
