"""A notification receiver on loopback: what apprise's ``json://`` URLs post, collected by path.

``hang`` paths take the request and never answer until the test ends (a notifier that would
wait for them would stall); everything else answers 200, or the status a test queued."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Receiver:
    port: int = 0
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    hanging: int = 0
    answered_hung: int = 0
    fail_next: dict[str, list[int]] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _signal: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path}", self._post)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        body = await request.json()
        if path == "hang":
            self.hanging += 1
            self._signal.set()
            await self.release.wait()
            self.answered_hung += 1
            return web.Response(text="late")
        queued = self.fail_next.get(path)
        status = queued.pop(0) if queued else 200
        self.messages.append((path, {**body, "status": status}))
        self._signal.set()
        return web.Response(status=status, text="ok")

    def delivered(self, path: str | None = None) -> list[dict[str, Any]]:
        return [m for p, m in self.messages if (path is None or p == path) and m["status"] == 200]

    def titled(self, text: str, path: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.delivered(path) if text in m["title"]]

    async def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = 20) -> Any:
        async with asyncio.timeout(timeout):
            while not (result := predicate()):
                self._signal.clear()
                await self._signal.wait()
        return result
