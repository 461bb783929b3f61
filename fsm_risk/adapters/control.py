"""The control channel: HTTP over a Unix socket readable only by its owner (mode 0600).

Read-only queries (``GET /status``, ``GET /health``) need no secret. Anything that changes
state (``POST /transition``) needs the admin secret, checked by `AdminAuth` (salted scrypt,
rate-limited, every refusal logged); the command then goes through the service's queue and
the machine like any other event, so it is validated and audited the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from loguru import logger

from fsm_risk.core.events import AdminCommand
from fsm_risk.core.states import state_named
from fsm_risk.errors import AuthError, FsmRiskError

if TYPE_CHECKING:
    from fsm_risk.service import Service


class ControlServer:
    def __init__(self, service: Service, path: str | Path) -> None:
        self.service = service
        self.path = Path(path)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if len(str(self.path)) > 100:
            raise FsmRiskError(f"control socket path too long for a Unix socket: {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()  # a leftover of a crash: the service lock says we are alone
        app = web.Application()
        app.router.add_get("/status", self._status)
        app.router.add_get("/health", self._health)
        app.router.add_get("/history", self._history)
        app.router.add_post("/transition", self._transition)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        old = os.umask(0o177)
        try:
            site = web.UnixSite(self._runner, str(self.path))
            await site.start()
        finally:
            os.umask(old)
        os.chmod(self.path, stat.S_IRUSR | stat.S_IWUSR)
        logger.info("control channel on {} (owner only)", self.path)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.path.exists():
            self.path.unlink()

    async def _status(self, request: web.Request) -> web.Response:
        ids = None
        account = request.query.get("account")
        if account:
            ids = [
                i for i, a in self.service.engine.accounts.items() if account in (str(i), a.name)
            ]
            if not ids:
                return _error(404, f"unknown account '{account}'")
        return web.json_response(self.service.status(ids))

    async def _history(self, request: web.Request) -> web.Response:
        from fsm_risk import status

        account_id = None
        account = request.query.get("account")
        if account:
            ids = [
                i for i, a in self.service.engine.accounts.items() if account in (str(i), a.name)
            ]
            if not ids:
                return _error(404, f"unknown account '{account}'")
            account_id = ids[0]
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return _error(400, "limit must be a whole number")
        entries = self.service.store.audit(account_id, max(limit, 1))
        return web.json_response(
            {
                "timezone": self.service.settings.display_timezone,
                "entries": status.audit_rows(entries),
            }
        )

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(self.service.health())

    async def _transition(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, aiohttp.ContentTypeError):
            return _error(400, "the request body must be JSON")
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object")
        who = str(body.get("admin") or "unknown")
        auth = self.service.auth
        if auth is None:
            return _error(403, "admin transitions are disabled on this service")
        try:
            # scrypt is deliberately slow: keep it off the event loop
            await asyncio.to_thread(auth.check, body.get("secret"), who)
        except AuthError as exc:
            return _error(403, str(exc))
        try:
            account = str(body["account"])
            contract = body.get("contract") or None
            target = state_named(str(body["to"]), kind="contract" if contract else "account")
            reason = str(body.get("reason") or "").strip()
            minutes = body.get("minutes")
            waive = body.get("waive", True)
            if not isinstance(waive, bool):
                raise ValueError("waive must be true or false")
            if not reason:
                raise ValueError("a reason is required")
            if minutes is not None and (not isinstance(minutes, int) or not 1 <= minutes <= 10080):
                raise ValueError("minutes must be a whole number from 1 to 10080")
        except (KeyError, ValueError) as exc:
            return _error(400, f"bad request: {exc}")
        ids = [i for i, a in self.service.engine.accounts.items() if account in (str(i), a.name)]
        if not ids:
            return _error(404, f"unknown account '{account}'")
        command = AdminCommand(ids[0], target, reason, who, contract, minutes, waive)
        try:
            text = await self.service.admin(command)
        except FsmRiskError as exc:
            return _error(409, str(exc))
        return web.json_response({"result": text})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


# --- client side (the CLI) ----------------------------------------------------------------------


def request(path: str | Path, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
    """One request to a running service; raises FsmRiskError with the service's message."""
    from fsm_risk.adapters import control_client

    return control_client.request(path, method, route, body)
