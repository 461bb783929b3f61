"""End-to-end fixtures: the paper gateway in-process, and the real project-x-py SDK against it.

- ``paper_gateway``: a `PaperGateway` started on a free loopback port, stopped afterwards.
  Scripted prices by default; change the settings for one test with
  ``@pytest.mark.paper(price_mode="random_walk", ...)`` (any `PaperSettings` field) or for a
  module by overriding the ``paper_settings`` fixture.
- ``px_config``: the SDK configuration, loaded by the SDK itself (`load_default_config`) from
  the environment variables `PaperGateway.env` lists.
- ``connect_sdk``: a factory that logs a `ProjectX` client in (optionally as another user) and
  connects a `ProjectXRealtimeClient` whose callbacks land in an `Inbox`; everything it opens
  is closed at teardown, before the gateway stops.
- `Inbox`: await SDK callbacks with a timeout instead of sleeping.
- ``h``: a `Harness` (tests/e2e/service_harness.py) to run the real service against that
  gateway; its service (if started) is stopped and its log sink removed at teardown. A module
  whose service needs something else first (another clock, a receiver that must outlive it)
  defines its own ``h`` (one that asks for ``receiver`` and this ``h``, in that order).
- ``receiver``: a notification `Receiver` (tests/e2e/receiver.py) on a free loopback port.

A session connected without ``quotes`` has a silent market hub: after 30 s the SDK's
stale-feed watchdog forces a reconnect of both hubs (harmless, but visible in a long test);
subscribe a contract, or set ``session.rt.stale_feed_seconds = float("inf")``.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from project_x_py import EventBus, OrderManager, PositionManager, ProjectX
from project_x_py.config import load_default_config
from project_x_py.models import ProjectXConfig
from project_x_py.realtime import ProjectXRealtimeClient

from fsm_risk.paper import PaperGateway, PaperSettings
from tests.e2e.receiver import Receiver
from tests.e2e.service_harness import Harness

USER_EVENTS = ("order_update", "trade_execution", "position_update", "account_update")
MARKET_EVENTS = ("quote_update", "market_trade", "market_depth")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "paper(**settings): PaperSettings overrides for the paper_gateway fixture"
    )


@pytest.fixture(autouse=True)
def _quiet_sdk_logs() -> None:
    """The SDK logs JSON at INFO to stdout from every module; keep errors only."""
    import project_x_py  # noqa: F401  (its loggers exist once imported)

    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith(("project_x_py", "pysignalr", "websockets")):
            logging.getLogger(name).setLevel(logging.ERROR)


@pytest.fixture
def paper_settings(request: pytest.FixtureRequest) -> PaperSettings:
    """The production profile with scripted prices (nothing moves unless a test moves it) and
    no platform flatten at 15:10 Chicago (tests move the clock across it; the tests about it
    set it), plus any ``paper`` marker (``profile="simple"`` for the friendlier dialect)."""
    overrides: dict[str, Any] = {
        "price_mode": "scripted",
        "profile": "production",
        "flat_time": None,
    }
    for marker in reversed(list(request.node.iter_markers("paper"))):
        overrides.update(marker.kwargs)
    return dataclasses.replace(PaperSettings(), **overrides)


@pytest.fixture
async def paper_gateway(paper_settings: PaperSettings) -> AsyncIterator[PaperGateway]:
    gateway = PaperGateway(paper_settings)
    await gateway.start(host="127.0.0.1", port=0)
    try:
        yield gateway
    finally:
        await gateway.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


@pytest.fixture
async def h(tmp_path: Path, paper_gateway: PaperGateway) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path, paper_gateway)
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
def px_config(paper_gateway: PaperGateway, monkeypatch: pytest.MonkeyPatch) -> ProjectXConfig:
    for key, value in paper_gateway.env().items():
        monkeypatch.setenv(key, value)
    return load_default_config()


class Inbox:
    """Collects SDK callback payloads by event type; user payloads are unwrapped from
    ``{"action": n, "data": {...}}`` when the gateway wraps them (the raw form is kept)."""

    def __init__(self) -> None:
        self.events: dict[str, list[Any]] = {}
        self.raw: dict[str, list[Any]] = {}
        self._signal = asyncio.Event()

    def callback(self, kind: str) -> Callable[[dict[str, Any]], Coroutine[Any, Any, None]]:
        async def record(data: dict[str, Any]) -> None:
            # A copy: the SDK's managers receive the same dict and change it in place.
            copied: Any = copy.deepcopy(data)
            self.raw.setdefault(kind, []).append(copied)
            if isinstance(copied, dict) and "action" in copied and "data" in copied:
                copied = copied["data"]
            self.events.setdefault(kind, []).append(copied)
            self._signal.set()

        return record

    def of(self, kind: str) -> list[Any]:
        return list(self.events.get(kind, []))

    def clear(self) -> None:
        self.events.clear()
        self.raw.clear()

    async def wait_for(
        self, kind: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 5.0
    ) -> Any:
        """The first ``kind`` payload matching ``predicate`` (waiting for it if need be)."""

        def first() -> list[Any]:  # a one-item list, so that a falsy payload still counts
            return [item for item in self.of(kind) if predicate(item)][:1]

        return (await self.wait_until(lambda _: first(), timeout))[0]

    async def wait_until(self, condition: Callable[[Inbox], Any], timeout: float = 5.0) -> Any:
        """Wait until ``condition(inbox)`` is truthy (re-checked on every callback)."""
        async with asyncio.timeout(timeout):
            while True:
                result = condition(self)
                if result:
                    return result
                self._signal.clear()
                await self._signal.wait()


@dataclass
class SdkSession:
    """A logged-in SDK client and its connected realtime client."""

    px: ProjectX
    rt: ProjectXRealtimeClient
    inbox: Inbox
    config: ProjectXConfig
    account_id: int = field(init=False)
    managers: list[OrderManager] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.px.account_info is not None
        self.account_id = self.px.account_info.id

    async def order_manager(self) -> OrderManager:
        """The SDK's OrderManager on this session's realtime client (closed at teardown)."""
        manager = OrderManager(self.px, EventBus())
        assert await manager.initialize(realtime_client=self.rt)
        self.managers.append(manager)
        return manager

    def position_manager(self) -> PositionManager:
        return PositionManager(self.px, EventBus())

    async def close(self) -> None:
        for manager in self.managers:
            await manager.cleanup()
        await self.rt.cleanup()
        await self.px.__aexit__(None, None, None)


ConnectSdk = Callable[..., Awaitable[SdkSession]]
"""``await connect_sdk(user=None, api_key=None, account_name=None, quotes=())``"""


@pytest.fixture
async def connect_sdk(
    paper_gateway: PaperGateway, px_config: ProjectXConfig
) -> AsyncIterator[ConnectSdk]:
    """``await connect_sdk(user=None, api_key=None, account_name=None, quotes=())``."""
    opened: list[SdkSession] = []

    async def connect(
        user: str | None = None,
        api_key: str | None = None,
        account_name: str | None = None,
        quotes: tuple[str, ...] = (),
    ) -> SdkSession:
        default_user, default_key = paper_gateway.credentials()
        px = ProjectX(
            user or default_user, api_key or default_key, config=px_config,
            account_name=account_name,
        )  # fmt: skip
        await px.__aenter__()
        try:
            await px.authenticate()
            assert px.account_info is not None
            rt = ProjectXRealtimeClient(
                px.get_session_token(), str(px.account_info.id), config=px_config
            )
        except BaseException:
            await px.__aexit__(None, None, None)
            raise
        inbox = Inbox()
        for kind in USER_EVENTS + MARKET_EVENTS:
            await rt.add_callback(kind, inbox.callback(kind))
        session = SdkSession(px, rt, inbox, px_config)
        opened.append(session)
        assert await rt.connect(), "the realtime client did not connect to the paper gateway"
        assert await rt.subscribe_user_updates()
        account_id = session.account_id
        await paper_gateway.wait_for(
            lambda: any(
                c["accounts"] and account_id in c["trades"]
                for c in paper_gateway.connections("user")
            ),
            what="user-hub subscription",
        )
        if quotes:
            ids = [paper_gateway.contract(q).id for q in quotes]
            assert await rt.subscribe_market_data(ids)
            await inbox.wait_for("quote_update", lambda q: q["contract_id"] == ids[-1])
        return session

    try:
        yield connect
    finally:
        for session in reversed(opened):
            await session.close()
