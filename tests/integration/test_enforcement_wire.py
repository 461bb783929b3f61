"""Enforcement requests on connections kept open for them (`fsm_risk.adapters.wire`): the
request's bytes are on the socket when `send` returns, before the event loop runs again, and
the gateway's answers mean what they mean through the SDK (maybe sent -> uncertain).

The gateway here is a plain blocking socket server on a thread, so that it can read what was
written while the test holds the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
import pytest
import trustme
from project_x_py.exceptions import OrderSubmissionUncertainError, ProjectXError

from fsm_risk.adapters import wire as wire_module
from fsm_risk.adapters.wire import TokenRefused, Wire

CLOSE = "/Position/partialCloseContract"
BODY = {"accountId": 7, "contractId": "CON.F.US.MNQ.Z26", "size": 1}


@dataclass
class Server:
    """Answers every request with ``status``/``answer`` (None: drops the connection instead;
    0: holds it and never answers),
    keeping the connection alive; records every request it read."""

    status: int | None = 200
    answer: bytes = b'{"success":true,"orderId":42}'
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    connections: int = 0
    ended: int = 0  # connections the client closed
    got: threading.Event = field(default_factory=threading.Event)
    sock: socket.socket = field(default_factory=socket.socket)
    tls: ssl.SSLContext | None = None  # speaks HTTPS with this (server side)
    handshakes: int = 0  # TLS handshakes completed
    handshaken: threading.Event = field(default_factory=threading.Event)

    def start(self) -> int:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        threading.Thread(target=self._accept, daemon=True).start()
        return int(self.sock.getsockname()[1])

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:  # the client may drop it: that ends it
            if self.tls is not None:  # (a handshake the client refuses raises: ended)
                conn = self.tls.wrap_socket(conn, server_side=True)
                self.handshakes += 1
                self.handshaken.set()
            self._answer(conn)
        self.ended += 1

    def _answer(self, conn: socket.socket) -> None:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(buf) < length:
                buf += conn.recv(65536)
            body, buf = buf[:length], buf[length:]
            self.requests.append((head, body))
            self.got.set()
            if self.status is None:
                return  # read, then dropped
            if self.status == 0:
                conn.recv(1)  # read, never answered: held until the client lets go
                return
            conn.sendall(
                f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self.answer)}\r\n\r\n".encode()
                + self.answer
            )


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.sock.close()


def wire_to(port: int, timeout: float = 10.0) -> Wire:
    return Wire(
        f"http://127.0.0.1:{port}/api",
        lambda: {"Content-Type": "application/json", "Authorization": "Bearer T0KEN"},
        timeout,
    )


async def test_the_request_is_on_the_socket_when_send_returns(server: Server) -> None:
    wire = wire_to(server.start())
    wire.warm()
    assert await wire.ready()
    answer = wire.send(CLOSE, BODY)
    assert answer is not None
    # the loop has not run since `send`: the bytes can only have been written by it
    assert server.got.wait(10), "nothing reached the gateway before the loop ran again"
    head, body = server.requests[0]
    assert head.startswith(b"POST /api/Position/partialCloseContract HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer T0KEN\r\n" in head + b"\r\n"
    assert json.loads(body) == BODY
    assert await answer == {"success": True, "orderId": 42}
    await wire.close()


async def test_a_connection_is_kept_alive_and_a_spare_opened(server: Server) -> None:
    wire = wire_to(server.start())
    wire.warm()
    assert await wire.ready()
    for _ in range(3):
        sent = wire.send(CLOSE, BODY)
        assert sent is not None
        assert (await sent)["success"] is True
        assert await wire.ready()
    assert len(server.requests) == 3 and wire.sent == 3
    # the first one and one spare, each used again (counted by the server's accepting thread)
    await until(lambda: server.connections >= 2)
    assert server.connections == 2
    await wire.close()


async def test_a_request_written_again_is_h11s_own_bytes_with_the_headers_of_now(
    server: Server,
) -> None:
    """The head of a request of a shape already written is kept; the next one of that shape
    is the same bytes h11 writes, the connection's h11 follows it (the answers are read and
    the connection kept), and a new token makes a new head."""
    token = ["T0KEN"]
    wire = Wire(
        f"http://127.0.0.1:{server.start()}/api",
        lambda: {"Content-Type": "application/json", "Authorization": f"Bearer {token[0]}"},
        10.0,
    )
    wire.warm()
    assert await wire.ready()
    for bearer in ("T0KEN", "T0KEN", "T0KEN", "NEW"):
        token[0] = bearer
        sent = wire.send(CLOSE, BODY)
        assert sent is not None
        assert await sent == {"success": True, "orderId": 42}
        assert await wire.ready()
    heads = [head for head, _ in server.requests]
    expected = h11.Connection(h11.CLIENT).send(
        h11.Request(
            method="POST",
            target="/api" + CLOSE,
            headers=[
                ("Host", f"127.0.0.1:{server.sock.getsockname()[1]}"),
                ("Content-Type", "application/json"),
                ("Authorization", "Bearer T0KEN"),
                ("Content-Length", str(len(server.requests[0][1]))),
            ],
        )
    )
    assert heads[:3] == [expected.removesuffix(b"\r\n\r\n")] * 3
    assert b"\r\nAuthorization: Bearer NEW" in heads[3]
    assert [json.loads(body) for _, body in server.requests] == [BODY] * 4
    await wire.close()


async def test_h11_checks_a_request_of_a_known_shape_after_it_is_written(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = wire_to(server.start())
    wire.warm()
    assert await wire.ready()
    first = wire.send(CLOSE, BODY)  # a new shape: h11 writes (and checks) it first
    assert first is not None and (await first)["success"]
    assert await wire.ready()
    order: list[str] = []
    request = h11.Request

    def counted(*args: Any, **kwargs: Any) -> Any:
        order.append("h11")
        return request(*args, **kwargs)

    monkeypatch.setattr(h11, "Request", counted)
    conn = wire._idle[-1]
    write = conn.transport.write

    def written(data: bytes) -> None:
        order.append("socket")
        write(data)

    monkeypatch.setattr(conn.transport, "write", written)
    wire._idle[:] = [conn]
    again = wire.send(CLOSE, BODY)
    assert again is not None and (await again)["success"]
    assert order == ["socket", "h11"]
    assert server.requests[0] == server.requests[1]
    await wire.close()


async def test_a_head_h11_refuses_is_never_written(server: Server) -> None:
    wire = Wire(
        f"http://127.0.0.1:{server.start()}/api",
        lambda: {"Authorization": "Bearer T0KEN\r\nX-Injected: 1"},
        10.0,
    )
    wire.warm()
    assert await wire.ready()
    with pytest.raises(h11.LocalProtocolError):
        wire.send(CLOSE, BODY)
    await until(lambda: server.ended >= 1)  # the connection let go, with nothing read on it
    assert server.requests == []
    await wire.close()


async def uncertain(server: Server, timeout: float = 10.0) -> None:
    """The close is written, and its outcome is uncertain (reconciled, never resent)."""
    wire = wire_to(server.start(), timeout)
    wire.warm()
    assert await wire.ready()
    sent = wire.send(CLOSE, BODY)
    assert sent is not None
    with pytest.raises(OrderSubmissionUncertainError):
        await sent
    await wire.close()


@pytest.mark.parametrize("status", [None, 500, 503])
async def test_maybe_sent_is_uncertain(server: Server, status: int | None) -> None:
    server.status = status
    await uncertain(server)


async def test_a_429_is_turned_away_not_maybe_sent(server: Server) -> None:
    """The gateway's request limit refuses before it takes the request: a refusal, sent
    again soon (as maybe sent, a close waited a close timeout and a read, 10 s and more)."""
    from fsm_risk.adapters.wire import RateLimited

    server.status = 429
    wire = wire_to(server.start(), 10.0)
    wire.warm()
    assert await wire.ready()
    sent = wire.send(CLOSE, BODY)
    assert sent is not None
    with pytest.raises(RateLimited, match="HTTP 429: the gateway's request limit is reached"):
        await sent
    await wire.close()


async def test_a_401_tells_the_owner_which_token_was_refused(server: Server) -> None:
    refused: list[str | None] = []
    server.status = 401
    wire = Wire(
        f"http://127.0.0.1:{server.start()}/api",
        lambda: {"Authorization": "Bearer T0KEN"},
        10.0,
        on_refused=refused.append,
    )
    wire.warm()
    assert await wire.ready()
    sent = wire.send(CLOSE, BODY)
    assert sent is not None
    with pytest.raises(TokenRefused, match="HTTP 401"):  # turned away, as a 429: not taken
        await sent
    assert refused == ["Bearer T0KEN"]  # the service logs in again
    await wire.close()


async def test_no_answer_in_time_is_uncertain(server: Server) -> None:
    server.status = 0
    await uncertain(server, timeout=0.2)


async def test_a_refusal_is_a_plain_error_with_the_gateways_words(server: Server) -> None:
    server.status, server.answer = 400, b'{"message":"no such position"}'
    wire = wire_to(server.start())
    wire.warm()
    assert await wire.ready()
    sent = wire.send(CLOSE, BODY)
    assert sent is not None
    with pytest.raises(ProjectXError, match="no such position") as raised:
        await sent
    assert not isinstance(raised.value, OrderSubmissionUncertainError)
    await wire.close()


async def test_nothing_ready_writes_nothing() -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = int(free.getsockname()[1])
    free.close()  # nobody listens there
    wire = wire_to(port)
    assert wire.send(CLOSE, BODY) is None  # nothing opened yet: the caller uses the SDK
    assert not await wire.ready()  # the connection it tried to open was refused
    assert wire.send(CLOSE, BODY) is None
    assert wire.sent == 0
    await wire.close()


def test_a_proxy_leaves_it_to_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert not Wire("https://gateway.example/api", dict, 10.0).usable


async def test_a_connection_idle_too_long_is_replaced_by_a_fresh_one(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a connection left idle may have been dropped silently on the way (a load balancer's idle
    # timeout): it is closed before that could happen, and a fresh one opened in its place
    monkeypatch.setattr(wire_module, "KEEP_IDLE", 0.5)
    wire = wire_to(server.start())
    wire.warm()
    assert await wire.ready()
    [first] = wire._idle
    await until(lambda: first.transport is None)  # closed by us once idle too long
    assert first not in wire._idle
    assert await wire.ready()
    await until(lambda: server.ended >= 1 and server.connections >= 2)
    sent = wire.send(CLOSE, BODY)
    assert sent is not None and (await sent)["success"] is True  # on a fresh one
    assert len(server.requests) == 1
    await wire.close()


async def test_a_connection_found_idle_too_long_is_never_written_on(server: Server) -> None:
    wire = wire_to(server.start())
    wire.warm()
    assert await wire.ready()
    await until(lambda: server.connections == 1)
    # idle past the limit, its timer not run yet (a busy loop): the send refuses it itself
    for conn in wire._idle:
        conn.since -= wire_module.KEEP_IDLE + 1
    assert wire.send(CLOSE, BODY) is None  # nothing written: the SDK sends it
    await until(lambda: server.ended == 1)
    assert server.requests == []
    assert await wire.ready()  # and a fresh one is opened for the next
    await until(lambda: server.connections == 2)
    await wire.close()


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for the server's thread to see what the client did."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A gateway on HTTPS with a certificate for 127.0.0.1 from an authority of the test's
    own, trusted the way the SDK's client is told to (``SSL_CERT_FILE``)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    s = Server(tls=context)
    yield s
    s.sock.close()


async def test_over_tls_the_request_is_on_the_socket_when_send_returns(
    tls_server: Server,
) -> None:
    # the real gateway speaks HTTPS: the close is encrypted and written before `send` returns
    port = tls_server.start()
    wire = Wire(f"https://127.0.0.1:{port}/api", lambda: {"Authorization": "Bearer T0KEN"}, 10.0)
    wire.warm()
    assert await wire.ready()
    # verified and the name checked, ahead of any close (the server's thread counts it once
    # the client's last handshake message reaches it)
    assert await asyncio.to_thread(tls_server.handshaken.wait, 10)
    assert tls_server.handshakes == 1
    answer = wire.send(CLOSE, BODY)
    assert answer is not None
    assert tls_server.got.wait(10), "nothing reached the gateway before the loop ran again"
    head, body = tls_server.requests[0]
    assert head.startswith(b"POST /api/Position/partialCloseContract HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{port}".encode() in head
    assert json.loads(body) == BODY
    assert await answer == {"success": True, "orderId": 42}
    assert await wire.ready()  # kept for the next one, a spare beside it
    again = wire.send(CLOSE, BODY)
    assert again is not None and (await again)["orderId"] == 42
    assert wire.sent == 2 and len(tls_server.requests) == 2
    await wire.close()


async def test_a_gateway_certificate_not_trusted_gets_no_close(
    tls_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what the SDK would not trust either (certifi's authorities only): no connection is
    # kept, nothing is written, and the caller sends the close through the SDK (which refuses
    # it the same way, loudly)
    monkeypatch.delenv("SSL_CERT_FILE")
    wire = Wire(f"https://127.0.0.1:{tls_server.start()}/api", dict, 10.0)
    wire.warm()
    assert not await wire.ready()
    assert wire.send(CLOSE, BODY) is None
    await until(lambda: tls_server.ended >= 1)  # the handshake was refused
    assert tls_server.handshakes == 0 and tls_server.requests == [] and wire.sent == 0
    await wire.close()


async def test_a_certificate_for_another_name_gets_no_close(tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("gateway.example").configure_cert(context)  # not 127.0.0.1
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    server = Server(tls=context)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSL_CERT_FILE", str(pem))
        wire = Wire(f"https://127.0.0.1:{server.start()}/api", dict, 10.0)
        wire.warm()
        assert not await wire.ready()
        assert wire.send(CLOSE, BODY) is None
    assert server.requests == []
    await wire.close()
    server.sock.close()


class HoldingLink:
    """A stretch of network between the wire and the gateway (loopback, a free port) that can
    go silent. While ``holding``, what the client writes is kept, as the kernel keeps the
    bytes the other end has not acknowledged. What a polite close (FIN) leaves held arrives
    once the link is back (``release``), as TCP retransmission delivers it; a reset drops it,
    as the kernel drops what it had not had acknowledged. ``done`` is set once the held bytes
    are delivered (``delivered``) or dropped."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.holding = False
        self.back = asyncio.Event()
        self.done = asyncio.Event()
        self.delivered: bytes | None = None
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def release(self) -> None:
        self.back.set()

    async def _link(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream)
        down = asyncio.ensure_future(self._pump(ur, cw))
        held = b""
        try:
            while data := await cr.read(65536):
                if self.holding:
                    held += data  # in the network: not delivered, not acknowledged
                else:
                    uw.write(data)
        except ConnectionResetError:  # the client reset the connection: the held bytes go
            if held:
                self.done.set()
            uw.close()
            down.cancel()
            return
        if held:  # a polite close: the kernel keeps sending them, they arrive later
            await self.back.wait()
            uw.write(held)
            await uw.drain()
            self.delivered = held
            self.done.set()
        await down

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
        writer.close()


async def test_a_close_whose_answer_timed_out_never_arrives_later(server: Server) -> None:
    """A close written into a link gone silent, its answer timed out (outcome unknown): the
    service reads the gateway, finds it not done and sends it again. The first must never
    reach the gateway once the link is back (closed politely, its bytes did, ~11 s after a
    40 s black hole, and the reduce filled twice): the connection is reset, its bytes gone."""
    link = HoldingLink(server.start())
    wire = wire_to(await link.start(), timeout=0.3)
    wire.warm()
    assert await wire.ready()
    link.holding = True
    sent = wire.send(CLOSE, BODY)
    assert sent is not None
    with pytest.raises(OrderSubmissionUncertainError):
        await sent
    link.release()
    async with asyncio.timeout(5):
        await link.done.wait()
    assert link.delivered is None, "the timed-out close reached the gateway after all"
    assert server.requests == []
    await wire.close()
    assert link.server is not None
    link.server.close()


async def test_with_no_connection_ready_one_is_opened_for_the_close(server: Server) -> None:
    """No connection kept yet (or none left): the close goes on one opened for it, never on
    the SDK's pooled ones (which cannot be reset, and may have gone silent)."""
    wire = wire_to(server.start())
    assert await wire.request(CLOSE, BODY) == {"success": True, "orderId": 42}
    assert wire.sent == 1 and len(server.requests) == 1
    await wire.close()
    assert await wire.request(CLOSE, BODY) is None  # closed: nothing written, not used


async def test_a_connection_that_cannot_be_opened_is_a_plain_failure() -> None:
    """Nothing was written: not "maybe sent" (no read needed), sent again like a refusal."""
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = int(free.getsockname()[1])
    free.close()  # nobody listens there
    wire = wire_to(port)
    with pytest.raises(ProjectXError, match="not sent: no connection") as raised:
        await wire.request(CLOSE, BODY)
    assert not isinstance(raised.value, OrderSubmissionUncertainError)
    assert wire.sent == 0
    await wire.close()
