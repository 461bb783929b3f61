"""REST connections gone silent (a NAT or load balancer dropping them without a reset, a
Wi-Fi roam): the real SDK against the paper gateway through a relay that can make every
connection it carries silent for good while new ones still work.

Reported: after such a drop, breaches stayed open 33-69 s though new connections worked:
the reads went out on the SDK's pooled connections, which wait 30 s for an answer, are kept
idle up to 60 s, and were not dropped when the hubs reconnected. A read now gives up after
`READ_TIMEOUT` and the pool goes with it (the read goes again on a fresh connection), and a
hub that reconnects drops the pool too."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import pytest

from fsm_risk.adapters import broker as broker_module
from fsm_risk.adapters.broker import Credentials, ProjectXBroker, RequestBudget, sdk_config
from fsm_risk.paper import PaperGateway
from tests.e2e.service_harness import ACCOUNT


class Relay:
    """A TCP relay (loopback, a free port) in front of the gateway; `silence` makes every
    connection open now drop what it carries, both ways, and never close."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.open: list[dict[str, bool]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def silence(self) -> None:
        for state in self.open:
            state["silent"] = True

    async def _link(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        state = {"silent": False}
        self.open.append(state)
        ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream)

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await r.read(65536):
                    if not state["silent"]:
                        w.write(data)
            if not state["silent"]:
                w.close()

        await asyncio.gather(pump(cr, uw), pump(ur, cw))


async def through_relay(gw: PaperGateway) -> tuple[ProjectXBroker, Relay]:
    port = int(gw.api_url.split(":")[2].split("/")[0])
    relay = Relay(port)
    api = gw.api_url.replace(f":{port}/", f":{await relay.start()}/")
    user, key = gw.credentials()
    broker = ProjectXBroker(
        sdk_config(api, gw.user_hub_url, gw.market_hub_url),
        Credentials(user, key),
        lambda _: None,
        budget=RequestBudget(1000, 60.0, 0),
    )
    await broker.start()
    await broker.open_position(ACCOUNT, "CON.F.US.MNQ.Z26")  # the SDK's pool holds one now
    return broker, relay


async def timed_read(broker: ProjectXBroker) -> float:
    started = time.monotonic()
    async with asyncio.timeout(20):
        await broker.open_position(ACCOUNT, "CON.F.US.MNQ.Z26")
    return time.monotonic() - started


async def test_a_read_on_a_connection_gone_silent_is_sent_again_on_a_fresh_one(
    paper_gateway: PaperGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker_module, "READ_TIMEOUT", 1.0, raising=False)
    broker, relay = await through_relay(paper_gateway)
    try:
        relay.silence()
        took = await timed_read(broker)  # the SDK alone: 30 s, and its pool kept it 60 s
        assert took < 5, f"the read took {took:.1f} s"
    finally:
        await broker.stop()


async def test_a_hub_that_reconnects_drops_the_rest_connections_kept(
    paper_gateway: PaperGateway,
) -> None:
    broker, relay = await through_relay(paper_gateway)
    try:
        await broker.open_realtime([ACCOUNT])
        relay.silence()
        async with aiohttp.ClientSession() as http:
            control = paper_gateway.api_url.rsplit("/api", 1)[0] + "/_paper/faults/drop"
            async with http.post(control, json={}) as r:
                assert r.status == 200
        async with asyncio.timeout(20):
            while broker.health.reconnects < 1:
                await asyncio.sleep(0.05)
        took = await timed_read(broker)  # on a fresh connection: no timeout waited
        assert took < 2, f"the read took {took:.1f} s"
    finally:
        await broker.stop()
