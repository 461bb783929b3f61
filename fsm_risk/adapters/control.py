"""The control channel: HTTP over a Unix socket readable only by its owner (mode 0600), or
over loopback TCP where a request must carry the per-install token that only the admin (the
owner of the token file) can read.

Read-only queries (``GET /status``, ``GET /health``) need no secret. Anything that changes
state (``POST /transition``, ``POST /reload``) needs the admin secret, checked by `AdminAuth`
(salted scrypt, rate-limited, every refusal logged); the command then goes through the
service's queue and the machine like any other event, so it is validated and audited the same
way. ``POST /lock`` needs no secret: anyone may add a lock, only the admin removes one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import secrets
import stat
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
from aiohttp import web
from loguru import logger

from fsm_risk import logs, naming, private
from fsm_risk.adapters.auth import CONTROL_CHARS, admin_name
from fsm_risk.core.events import AdminCommand
from fsm_risk.core.states import state_named
from fsm_risk.errors import AuthError, FsmRiskError

if TYPE_CHECKING:
    from fsm_risk.adapters.auth import AdminAuth
    from fsm_risk.adapters.store import Store
    from fsm_risk.core.engine import RiskEngine
    from fsm_risk.core.events import SelfLock


class Service(Protocol):
    """What the control channel needs of the running service (the service module imports
    this one, never the other way round)."""

    store: Store
    engine: RiskEngine
    auth: AdminAuth | None

    def status(self, account_ids: list[int] | None = None) -> dict[str, Any]: ...
    def health(self) -> dict[str, Any]: ...
    async def admin(self, command: AdminCommand | SelfLock) -> str: ...
    async def reload(self, actor: str) -> str: ...


LOOPBACK = "127.0.0.1"
#: the meta row where a running service says which loopback port it listens on
PORT_KEY = "control.port"


def port_key(group: str) -> str:
    """`PORT_KEY` for the account group ``group`` (see `naming.group`): on a shared server
    each service says where its own channel listens."""
    return naming.scoped(PORT_KEY, group)


def unix_sockets() -> bool:
    """Whether this platform serves Unix sockets (asyncio on Windows does not)."""
    return sys.platform != "win32"


@dataclass(frozen=True)
class Endpoint:
    """Where a running service's control channel listens, as a client reaches it: a Unix
    socket ``path``, or a loopback ``port`` with its ``token``."""

    path: Path | None = None
    port: int | None = None
    token: str | None = None

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else f"{LOOPBACK}:{self.port}"


def read_token(path: Path) -> str:
    """The control token, for a client; a clear error when this user may not read it."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except PermissionError:
        raise FsmRiskError(
            f"cannot read the control token {path} (only the admin, its owner, may)"
        ) from None
    except OSError as exc:
        # no colon after the path: the log masking would take the next word for the token
        raise FsmRiskError(f"cannot read the control token {path} ({exc.strerror})") from None
    if len(token) < 32:
        raise FsmRiskError(f"the control token {path} is empty or too short")
    return token


def ensure_token(path: Path) -> str:
    """The per-install token: created once (owner-only), then kept across restarts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        token = read_token(path)
    else:
        token = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(token + "\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)  # on Windows the folder's ACL does this
    return token


class ControlServer:
    def __init__(
        self,
        service: Service,
        path: str | Path,
        *,
        transport: str = "unix",
        port: int = 0,
        token_file: str | Path | None = None,
    ) -> None:
        self.service = service
        self.path = Path(path)
        self.transport = transport
        self.port = port
        self.token_file = Path(token_file) if token_file is not None else None
        self._token: str | None = None
        self._runner: web.AppRunner | None = None
        #: the socket file this server made (device, inode): the only one its stop removes
        self._made: tuple[int, int] | None = None
        self._bound: int | None = None  # the TCP port this server listens on
        self._reading = asyncio.Lock()  # reads of the database on a thread: one at a time
        #: the connections of answers being sent (`_history`)
        self._streams: set[asyncio.BaseTransport] = set()
        self._closing = asyncio.Event()  # set by `stop`: answers being sent are broken off

    async def start(self) -> None:
        app = web.Application(middlewares=[_unexpected, self._check_token])
        app.router.add_get("/status", self._status)
        app.router.add_get("/health", self._health)
        app.router.add_get("/history", self._history)
        app.router.add_post("/transition", self._transition)
        app.router.add_post("/reload", self._reload)
        app.router.add_post("/lock", self._lock)
        self._runner = web.AppRunner(app, access_log=None)
        if self.transport == "tcp":
            await self._start_tcp()
        else:
            await self._start_unix()

    async def _start_unix(self) -> None:
        if not unix_sockets():
            raise FsmRiskError("this platform has no Unix sockets: set [control] transport = tcp")
        if len(str(self.path)) > 100:
            raise FsmRiskError(f"control socket path too long for a Unix socket: {self.path}")
        private.private_dir(self.path.parent)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()  # a leftover of a crash: the service lock says we are alone
        assert self._runner is not None
        await self._runner.setup()
        old = os.umask(0o177)
        try:
            site = web.UnixSite(self._runner, str(self.path))
            await site.start()
        finally:
            os.umask(old)
        os.chmod(self.path, stat.S_IRUSR | stat.S_IWUSR)
        made = os.stat(self.path)
        self._made = (made.st_dev, made.st_ino)
        logger.info("control channel on {} (owner only)", self.path)

    async def _start_tcp(self) -> None:
        if self.token_file is None:
            raise FsmRiskError("a TCP control channel needs [control] token_file")
        self._token = ensure_token(self.token_file)
        assert self._runner is not None
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, self.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self._bound = port
        try:
            self.service.store.set_meta(port_key(getattr(self.service, "group", "")), str(port))
        except Exception as exc:  # a database read-only or full: the service enforces anyway
            from fsm_risk.adapters.store import describe_storage_error, storage_error

            if not storage_error(exc):
                raise
            logger.critical(
                "{} the control channel's port {} is NOT saved in the database ({}): the "
                "command line finds it there, so it does not reach this service",
                logs.ALERT,
                port,
                describe_storage_error(exc),
            )
        logger.info(
            "control channel on {}:{} (loopback; token in {})", LOOPBACK, port, self.token_file
        )

    @web.middleware
    async def _check_token(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Over TCP anyone on this machine can connect: the token stands in for the Unix
        socket's owner-only mode."""
        if self._token is not None:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), self._token.encode()):
                logger.warning("control channel: a request without the right token (refused)")
                return _error(401, "the control token is missing or wrong")
        return await handler(request)

    async def stop(self) -> None:
        # a long history answer does not hold the stop (aiohttp would wait for it a minute)
        self._closing.set()
        for transport in list(self._streams):
            transport.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.transport == "tcp":
            bound, self._bound = self._bound, None
            key = port_key(getattr(self.service, "group", ""))
            if bound is not None and self.service.store.meta(key) == str(bound):
                self.service.store.set_meta(key, None)  # ours, not another's
        elif self._made is not None:
            made, self._made = self._made, None
            # only the socket this server made: one at the path now may be another service's
            with contextlib.suppress(FileNotFoundError):
                found = os.stat(self.path)
                if (found.st_dev, found.st_ino) == made:
                    self.path.unlink()

    def _account(self, text: str, *, monitored: bool = True) -> int:
        """The account ``text`` names (see `naming.account_id`): one the service monitors,
        unless ``monitored`` is False (its audit log: any account the database holds)."""
        names = [(i, a.name) for i, a in self.service.engine.accounts.items()]
        found = naming.account_id(text, names, where=" on this service")
        if monitored:
            self.service.monitored(found)
        return found

    async def _status(self, request: web.Request) -> web.Response:
        ids = None
        account = request.query.get("account")
        if account:
            try:
                ids = [self._account(account)]
            except FsmRiskError as exc:
                return _error(404, str(exc))
        return web.json_response(self.service.status(ids))

    async def _history(self, request: web.Request) -> web.StreamResponse:
        """The audit log's last ``limit`` entries, oldest first, as ``{"timezone", "entries"}``
        JSON. Read, formatted and encoded a page at a time on a thread and sent as each is
        ready: the loop that enforces only writes the bytes (a read of 300,000 entries held it
        for 9 s), and no answer is ever held in memory whole, however large ``limit``."""
        account_id = None
        account = request.query.get("account")
        if account:
            try:
                account_id = self._account(account, monitored=False)
            except FsmRiskError as exc:
                return _error(404, str(exc))
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return _error(400, "limit must be a whole number")
        store = self.service.store
        try:  # the first page before the answer starts: a failing database says so in JSON
            span = await self._read(store.audit_span, account_id, max(limit, 1))
            after, upto = span if span is not None else (0, 0)
            chunk, after = await self._read(_history_page, store, account_id, after, upto)
        except _Stopping:
            return _error(503, "the service is stopping: ask again once it runs")
        response = web.StreamResponse()
        response.content_type, response.charset = "application/json", "utf-8"
        tz = json.dumps(self.service.settings.display_timezone)
        transport = request.transport
        if transport is not None:
            self._streams.add(transport)
        try:
            await response.prepare(request)
            await response.write(f'{{"timezone": {tz}, "entries": ['.encode())
            while chunk:
                await response.write(chunk)
                chunk, after = await self._read(_history_page, store, account_id, after, upto)
                chunk = b", " + chunk if chunk else chunk
            await response.write(b"]}")
        except ConnectionResetError:
            pass  # the client went away, or the service is stopping (`stop`)
        except Exception as exc:
            # the answer has begun: break it off (the client says the service broke off),
            # never end it as a complete but shorter log
            if not isinstance(exc, _Stopping):
                logger.exception("control channel: GET /history failed while answering")
            if transport is not None:
                transport.close()
        finally:
            if transport is not None:
                self._streams.discard(transport)
        return response

    async def _read[**P, R](self, read: Callable[P, R], *args: P.args, **kw: P.kwargs) -> R:
        """``read`` (a read of the database, and its formatting) on a thread, one at a time:
        the loop goes on handling events meanwhile, and several people reading at once
        take turns on the thread rather than each taking the interpreter from the loop.
        Raises `_Stopping` when the service stops first (the read ends on its own)."""
        async with self._reading:
            work = asyncio.ensure_future(asyncio.to_thread(read, *args, **kw))
            closing = asyncio.ensure_future(self._closing.wait())
            try:
                await asyncio.wait({work, closing}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closing.cancel()
            if not work.done():
                work.add_done_callback(lambda f: f.cancelled() or f.exception())
                raise _Stopping
            return work.result()

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(self.service.health())

    async def _transition(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, aiohttp.ContentTypeError):
            return _error(400, "the request body must be JSON")
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object")
        auth = self.service.auth
        if auth is None:
            return _error(403, "admin transitions are disabled on this service")
        who, problem = admin_name(body.get("admin"))
        if problem:
            return _error(400, f"bad request: {problem}")
        secret = body.get("secret")
        if secret is not None and not isinstance(secret, str):
            await asyncio.to_thread(auth.record_failure, who)
            return _error(400, "bad request: 'secret' must be a string")
        try:
            # scrypt is deliberately slow: keep it off the event loop
            await asyncio.to_thread(auth.check, secret, who)
        except AuthError as exc:
            return _error(403, str(exc))
        try:
            account = str(body["account"])
            contract = body.get("contract")
            if contract is not None and not isinstance(contract, str):
                raise ValueError("'contract' must be a string")
            if contract is not None and not contract.strip():
                # never taken for the whole account (an unset shell variable: "")
                raise ValueError("the contract is empty (give a symbol root or a full id)")
            target = state_named(str(body["to"]), kind="contract" if contract else "account")
            reason = str(body.get("reason") or "").strip()
            minutes = body.get("minutes")
            waive = body.get("waive", True)
            if not isinstance(waive, bool):
                raise ValueError("waive must be true or false")
            if not reason:
                raise ValueError("a reason is required")
            if CONTROL_CHARS.search(reason):
                raise ValueError("the reason must be one line of printable text")
            if minutes is not None and (not isinstance(minutes, int) or not 1 <= minutes <= 10080):
                raise ValueError("minutes must be a whole number from 1 to 10080")
        except (KeyError, ValueError) as exc:
            return _error(400, f"bad request: {exc}")
        try:
            account_id = self._account(account)
        except FsmRiskError as exc:
            return _error(404, str(exc))
        command = AdminCommand(account_id, target, reason, who, contract, minutes, waive)
        try:
            text = await self.service.admin(command)
        except FsmRiskError as exc:
            return _error(409, str(exc))
        return web.json_response({"result": text})

    async def _admin_body(self, request: web.Request) -> tuple[dict[str, Any], str] | web.Response:
        """The JSON body of an admin request and who sent it, or the refusal to answer."""
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        who = str(body.get("admin") or "unknown")
        auth = self.service.auth
        if auth is None:
            return _error(403, "admin requests are disabled on this service")
        try:
            # scrypt is deliberately slow: keep it off the event loop
            await asyncio.to_thread(auth.check, body.get("secret"), who)
        except AuthError as exc:
            return _error(403, str(exc))
        return body, who

    async def _reload(self, request: web.Request) -> web.Response:
        found = await self._admin_body(request)
        if isinstance(found, web.Response):
            return found
        body, who = found
        asked, own = body.get("settings"), self.service.settings.path.resolve()
        if asked is not None and Path(str(asked)) != own:
            return _error(
                409,
                f"settings not reloaded, nothing changed: the running service reads {own}, "
                f"not {asked} (edit that file, or restart the service with --settings {asked})",
            )
        try:
            text = await self.service.reload(f"admin:{who}")
        except FsmRiskError as exc:
            return _error(409, str(exc))
        return web.json_response({"result": text})

    async def _lock(self, request: web.Request) -> web.Response:
        """Anyone may add a lock (no secret): it only ever restricts more."""
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        from fsm_risk import selflock

        try:
            text = await selflock.through_service(self.service, body)
        except FsmRiskError as exc:
            return _error(409, str(exc))
        except (KeyError, ValueError, TypeError) as exc:
            return _error(400, f"bad request: {exc}")
        return web.json_response({"result": text})


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, aiohttp.ContentTypeError):
        return _error(400, "the request body must be JSON")
    if not isinstance(body, dict):
        return _error(400, "the request body must be a JSON object")
    return body


@web.middleware
async def _unexpected(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A failure nobody foresaw still answers in JSON, so the CLI prints one clear line (and
    the service's log keeps the traceback) instead of aiohttp's plain-text page."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        logger.exception("control channel: {} {} failed", request.method, request.path)
        return _error(
            500,
            f"the service failed on {request.method} {request.path} "
            f"({type(exc).__name__}); its log has the details",
        )


class _Stopping(Exception):
    """The service stopped while a read of the control channel was under way."""


#: audit entries per page of a `history` answer (read and encoded on a thread in ~5 ms)
HISTORY_PAGE = 500


def _history_page(store: Store, account_id: int | None, after: int, upto: int) -> tuple[bytes, int]:
    """The next page of a `history` answer: its entries as `history --json` rows, encoded
    as `json.dumps` encodes them in the whole answer, comma-separated; and the last id read."""
    from fsm_risk import status

    entries, last = store.audit_page(account_id, after, upto, HISTORY_PAGE)
    return ", ".join(json.dumps(row) for row in status.audit_rows(entries)).encode(), last


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


# --- client side (the CLI) ----------------------------------------------------------------------


def request(
    where: Endpoint | str | Path, method: str, route: str, body: dict[str, Any] | None = None
) -> Any:
    """One request to a running service; raises FsmRiskError with the service's message."""
    from fsm_risk.adapters import control_client

    return control_client.request(where, method, route, body)
