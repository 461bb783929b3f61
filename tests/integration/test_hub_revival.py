"""Hub readers that end are started again without hammering the gateway: at once, then after
a wait doubling up to a minute while they keep ending; one the gateway refused (its token)
waits for the new login instead, which reopens both hubs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pysignalr.exceptions import AuthorizationError
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from fsm_risk.adapters.broker import Credentials, ProjectXBroker, refused, sdk_config
from fsm_risk.adapters.session import Session

URLS = ("http://127.0.0.1:9/api", "http://127.0.0.1:9/hubs/user", "http://127.0.0.1:9/m")


def ended(exc: BaseException) -> asyncio.Future[None]:
    task: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task.set_exception(exc)
    return task


class Hub:
    """An SDK hub whose reader ends as soon as it is started."""

    def __init__(self, dies_of: BaseException | None) -> None:
        self.dies_of = dies_of
        assert dies_of is not None
        self._run_task = ended(dies_of)
        self.starts: list[float] = []
        self.clock: list[float] = [0.0]

    async def start(self) -> None:
        self.starts.append(self.clock[0])
        if self.dies_of is not None:
            self._run_task = ended(self.dies_of)


class Realtime:
    def __init__(self, user: Hub, market: Hub) -> None:
        self.user_connection, self.market_connection = user, market
        self.jwt_token = "T0"


class Client:
    session_token = "T0"


def broker_with(user: Hub, market: Hub) -> tuple[ProjectXBroker, list[float]]:
    broker = ProjectXBroker(sdk_config(*URLS), Credentials("u", "key-0000"), lambda _: None)
    clock = [0.0]
    user.clock = market.clock = clock
    broker.monotonic = lambda: clock[0]
    broker.hubs = Realtime(user, market)  # type: ignore[assignment]
    broker.client = Client()  # type: ignore[assignment]
    return broker, clock


async def test_a_reader_that_keeps_ending_is_started_again_less_and_less_often() -> None:
    user, market = Hub(ConnectionError("reset")), Hub(ConnectionError("reset"))
    broker, clock = broker_with(user, market)
    for tick in range(200):  # the watchdog, once a second for 200 s
        clock[0] = float(tick)
        await broker.revive_readers()
    assert user.starts == [0, 1, 3, 7, 15, 31, 63, 123, 183]
    assert market.starts == user.starts
    assert broker.health.readers_restarted == 18
    # one that ran a while before it ended is started again at once
    user.dies_of = market.dies_of = None
    user._run_task = market._run_task = asyncio.get_running_loop().create_future()
    clock[0] = 190.0
    await broker.revive_readers()
    clock[0] = 220.0
    await broker.revive_readers()  # up 30 s
    user._run_task = ended(ConnectionError("reset"))
    clock[0] = 221.0
    await broker.revive_readers()
    assert user.starts[-1] == 221


async def test_a_reader_refused_by_the_gateway_waits_for_the_new_login() -> None:
    user, market = Hub(AuthorizationError()), Hub(AuthorizationError())
    broker, clock = broker_with(user, market)
    logins: list[str] = []
    handed: list[Any] = []
    login_done = asyncio.Event()

    async def login() -> str:
        logins.append("login")
        await login_done.wait()
        Client.session_token = "T1"
        return "T1"

    async def hand_over(token: str | None) -> None:
        handed.append(token)

    broker.session = Session(login, hand_over, broker._session_token,
                             changed=broker._authenticated)  # fmt: skip
    try:
        for tick in range(5):  # the login takes 5 s: nobody restarts the hubs meanwhile
            clock[0] = float(tick)
            await broker.revive_readers()
            await asyncio.sleep(0)
        assert user.starts == [] and market.starts == []
        assert logins == ["login"]  # one, for both hubs and every tick
        assert broker.health.authenticated is False
        snap = broker.health.snapshot(datetime.now(UTC), timedelta(seconds=30), set())
        assert snap["authenticated"] is False and snap["healthy"] is False
        login_done.set()
        await broker.session.wait()
        assert handed == ["T1"] and broker.health.authenticated is True
    finally:
        Client.session_token = "T0"


def test_a_hub_refused_is_told_from_a_hub_that_failed() -> None:
    assert refused(AuthorizationError())
    assert refused(InvalidStatus(Response(401, "Unauthorized", Headers())))
    assert not refused(InvalidStatus(Response(503, "Busy", Headers())))
    assert not refused(ConnectionError("reset"))
    assert not refused(None)
