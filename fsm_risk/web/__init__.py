"""The live, read-only web view of a running service: dashboard, /metrics, /healthz, /readyz.

Plain HTML, CSS and JavaScript served by aiohttp (no build step). The page receives the whole
view as server-sent events: at once after a batch with a state transition, and at most once a
second for anything else (P&L moving with quotes). Countdowns tick in the browser.

Only GET is served: the page never changes anything (the admin's commands stay on the
authenticated control channel). On a non-loopback host an access token is required (settings
refuse to load without one); it is then checked on every path but /healthz and /readyz, as
``?token=`` or ``Authorization: Bearer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from loguru import logger

from fsm_risk import logs
from fsm_risk.config import Settings
from fsm_risk.core.effects import RecordTransition
from fsm_risk.observe import Committed, HealthChanged, Observed

if TYPE_CHECKING:
    from fsm_risk.metrics import Metrics
    from fsm_risk.notify import Notifier
    from fsm_risk.service import Service

STATIC = Path(__file__).parent / "static"
OPEN_PATHS = {"/healthz", "/readyz"}
#: the most of an account's transitions of the day the page lists (its latest)
DAY_TRANSITIONS = 500
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class WebServer:
    """A service component: serves the dashboard and the service's health and metrics."""

    def __init__(
        self,
        settings: Settings,
        service: Service,
        metrics: Metrics,
        notifier: Notifier | None = None,
    ) -> None:
        self.host = settings.web.host
        self.port = settings.web.port
        self.token = settings.web.token
        self.service = service
        self.metrics = metrics
        self.notifier = notifier
        self.version = 0
        self._changed = asyncio.Event()
        self._dirty = False
        self._payload: tuple[int, bytes] | None = None
        self._transitions: dict[int, list[dict[str, Any]]] = {}
        self._streams: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, service: Service) -> None:
        accounts = [service.engine.accounts[aid] for aid in service.account_ids]
        if accounts:  # the day's transitions of every account, in one read
            since = min(acct.day.start for acct in accounts)
            found = service.store.audit_since(since, service.account_ids, DAY_TRANSITIONS)
            for acct in accounts:
                start = acct.day.start
                self._transitions[acct.account_id] = [
                    _entry(e) for e in found[acct.account_id] if e.at >= start
                ]
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/events", self._events)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            # the view is not the guard: enforcement goes on without it, loudly
            await runner.cleanup()
            logger.critical(
                "{} dashboard not served: cannot listen on {}:{} ({}); set [web] port "
                "(0: any free port) or enabled = false",
                logs.ALERT,
                self.host,
                self.port,
                exc.strerror or exc,
            )
            return
        self._runner = runner
        port = runner.addresses[0][1] if runner.addresses else self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{port}/"
        self._ticker = asyncio.ensure_future(self._tick())
        logger.info(
            "{} dashboard at {} (metrics at {}metrics)", logs.SERVICE_START, self.url, self.url
        )

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for task in list(self._streams):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- what changed ------------------------------------------------------------------------

    def observe(self, item: Observed) -> None:
        if isinstance(item, Committed):
            moved = False
            for e in item.effects:
                if isinstance(e, RecordTransition):
                    self._transitions.setdefault(e.entry.account_id, []).append(_entry(e.entry))
                    moved = True
            if moved:
                self._bump()  # a transition reaches the page at once
            else:
                self._dirty = True
        elif isinstance(item, HealthChanged):
            self._bump()

    def _bump(self) -> None:
        self._dirty = False
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def _tick(self) -> None:
        seen: object = None
        while True:
            await asyncio.sleep(1.0)  # P&L and quote ages: at most once a second
            # what no event announces: a close going unconfirmed past its timeout, and so
            # the service's readiness (reaches the page within a second, as a transition)
            now = self._enforcing()
            if self._dirty or now != seen:
                seen = now
                self._bump()

    def _enforcing(self) -> object:
        from fsm_risk.metrics import ready

        return ready(self.service), sorted(self.service.enforcing())

    # -- the view ------------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        from fsm_risk import status
        from fsm_risk.metrics import ready
        from fsm_risk.notify import flat_by

        service = self.service
        engine = service.engine
        now = service.clock.now()
        ids = [a for a in service.account_ids if a in engine.accounts]
        snap = status.snapshot(engine, now, ids, tz=service.settings.display_timezone)
        stop = flat_by(engine, now)
        stuck, failing = service.unconfirmed_closes(), service.reads_failing()
        cancels = service.unconfirmed_cancels()
        for a in snap["accounts"]:
            aid = a["account_id"]
            a["flat_by"] = stop.isoformat() if stop else None
            trail = next((r for r in a["rules"] if r["name"] == "trailing_drawdown"), None)
            a["drawdown"] = (
                {
                    "floor": trail["limit"],
                    "equity": trail["value"],
                    "cushion": f"{float(trail['value']) - float(trail['limit']):.2f}",
                }
                if trail
                else None
            )
            start = engine.accounts[aid].day.start.isoformat()
            # the day's, the last `DAY_TRANSITIONS` of them, as at start; older ones let go (kept
            # since the start, the list and this filter grew with every transition)
            kept = [t for t in self._transitions.get(aid, []) if t["at"] >= start]
            a["transitions"] = self._transitions[aid] = kept[-DAY_TRANSITIONS:]
            # as `status --json` says it: an account with a close unconfirmed past a close
            # timeout (a cancel of an order that would open or add while locked, or its reads
            # failing) is not enforcing as it should
            a["readiness"] = service.readiness(aid, stuck, failing, cancels)
            a["closes_unconfirmed"] = {
                cid: since.isoformat() for cid, since in stuck.get(aid, {}).items()
            }
            a["cancels_unconfirmed"] = status.cancels_view(cancels.get(aid, []))
        snap["feed"] = service.health()
        snap["notifier"] = self.notifier.snapshot() if self.notifier else {"enabled": False}
        ok, checks = ready(service)
        snap["service"] = {"ready": ok, **checks}
        snap["version"] = self.version
        return snap

    def payload(self) -> bytes:
        if self._payload is None or self._payload[0] != self.version:
            self._payload = (self.version, json.dumps(self.view(), default=str).encode())
        return self._payload[1]

    # -- handlers ------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if (
            self.token
            and request.path not in OPEN_PATHS
            and not request.path.startswith("/static/")
        ):
            given = request.query.get("token", "")
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                given = auth[len("Bearer ") :]
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return web.Response(status=401, text="a valid access token is required\n")
        response = await handler(request)
        for k, v in HEADERS.items():
            response.headers.setdefault(k, v)
        return response  # type: ignore[no-any-return]

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    async def _state(self, request: web.Request) -> web.Response:
        return web.Response(body=self.payload(), content_type="application/json")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        try:
            seen = -1
            while True:
                if seen != self.version:
                    seen = self.version
                    await response.write(b"data: " + self.payload() + b"\n\n")
                    continue
                changed = self._changed
                try:
                    await asyncio.wait_for(changed.wait(), 15.0)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._streams.discard(task)
        return response

    async def _metrics(self, request: web.Request) -> web.Response:
        from fsm_risk.metrics import CONTENT_TYPE

        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def _readyz(self, request: web.Request) -> web.Response:
        from fsm_risk.metrics import ready

        ok, checks = ready(self.service)
        ids = self.service.account_ids
        # counts only: this path needs no token, which accounts wait is in /metrics and status
        body = {
            "ready": ok,
            **checks,
            "accounts": len(ids),
            "accounts_ready": len(self.service.enforcing()),
            # started with no stored state though they traded this week: a database lost or
            # replaced (locks, peak and audit gone); enforcing all the same, the admin must check
            "accounts_state_lost": len(self.service.lost_now()),
            # held contracts whose quotes have stopped, priced by reads of the gateway's bars
            "contracts_priced_by_reads": len(self.service.pricer.view()),
        }
        return web.json_response(body, status=200 if ok else 503)


def _entry(e: Any) -> dict[str, Any]:
    """An audit entry as `history --json` shows it, less the account (the page is per account)."""
    from fsm_risk.status import audit_row

    row = audit_row(e)
    del row["account"]
    return row
