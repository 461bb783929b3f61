"""Benchmark of the paper gateway: order throughput and fill-to-callback latency.

Prints figures, asserts nothing. The gateway runs as ``fsm-risk paper-gateway`` in its own
process (as a demo or the service would meet it) on a free loopback port; the clients are the
real project-x-py SDK and plain httpx in this process. Everything is bounded in count and time.

Figures:
- orders/s the gateway sustains: market orders through ``POST /api/Order/place`` from
  concurrent aiohttp clients (each order is accepted, filled, and its order, trade, position
  and account events pushed), with no subscriber and with one subscribed SDK realtime client
  (whose event handling then shares this machine's CPUs), plus the gateway's own CPU cost as
  orders per CPU-second (from /proc); and, for comparison, sequential orders through the
  SDK's OrderManager (one in flight at a time, SDK overhead included).
- latency from a fill to the SDK callback: the gateway stamps `time.perf_counter()` when it
  pushes the fill's GatewayUserTrade (read back from ``/_paper/events``), the SDK's
  ``trade_execution`` callback stamps it on arrival; both are CLOCK_MONOTONIC on Linux, so the
  difference is valid across the two processes. Measured with 1 and with 50 subscribed
  realtime clients, one fill at a time.

Run:  .venv/bin/python bench/gateway.py [--orders 2000] [--fills 200] [--clients 1 50]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

LAUNCH = "from fsm_risk.cli import main; main()"
ACCOUNT = 1001
CONTRACT = "CON.F.US.MNQ.Z26"
SETTINGS = """
[paper]
flat_time =
price_mode = scripted
rate_limit = 0
unique_custom_tags = false
"""
PHASE_TIMEOUT = 120.0


def quiet() -> None:
    import project_x_py  # noqa: F401

    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith(("project_x_py", "pysignalr", "websockets")):
            logging.getLogger(name).setLevel(logging.CRITICAL)


async def read_banner(stdout: asyncio.StreamReader, seconds: float) -> dict[str, str]:
    """Read the paper gateway's start-up banner up to its "Stop with" line; its ``export``
    lines are the environment a client needs (the URLs and credentials)."""
    env: dict[str, str] = {}
    async with asyncio.timeout(seconds):
        while True:
            line = (await stdout.readline()).decode()
            if not line:
                raise RuntimeError("the paper gateway did not start")
            if line.strip().startswith("export "):
                key, value = line.strip().removeprefix("export ").split("  #")[0].split("=", 1)
                env[key] = value
            if line.startswith("Stop with"):
                return env


class Gateway:
    """``fsm-risk paper-gateway`` in a child process."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.env: dict[str, str] = {}
        self._dir = tempfile.TemporaryDirectory()

    async def __aenter__(self) -> Gateway:
        ini = Path(self._dir.name) / "bench.ini"
        ini.write_text(SETTINGS)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LAUNCH, "paper-gateway", "--port", "0", "--settings", str(ini),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.env = await read_banner(self.process.stdout, 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(10):
                    await self.process.communicate()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self._dir.cleanup()

    @property
    def api(self) -> str:
        return self.env["PROJECTX_API_URL"]

    @property
    def control(self) -> str:
        return self.api.removesuffix("/api") + "/_paper"


async def login(http: httpx.AsyncClient, gw: Gateway) -> str:
    reply = await http.post(
        f"{gw.api}/Auth/loginKey",
        json={"userName": gw.env["PROJECT_X_USERNAME"], "apiKey": gw.env["PROJECT_X_API_KEY"]},
    )
    token: str = reply.json()["token"]
    return token


def sdk_config(gw: Gateway) -> Any:
    from project_x_py.config import load_default_config

    os.environ.update(gw.env)
    os.environ["PROJECTX_REQUESTS_PER_MINUTE"] = "1000000"
    return load_default_config()


async def connect_clients(
    config: Any, token: str, count: int, on_trade: Callable[..., Any]
) -> list[Any]:
    from project_x_py.realtime import ProjectXRealtimeClient

    clients: list[Any] = []

    async def one(index: int) -> None:
        rt = ProjectXRealtimeClient(token, str(ACCOUNT), config=config)
        rt.stale_feed_seconds = float("inf")  # no market subscription here
        await rt.add_callback("trade_execution", lambda data: on_trade(index, data))
        if not await rt.connect():
            raise RuntimeError(f"realtime client {index} did not connect")
        await rt.subscribe_user_updates()
        clients.append(rt)

    for start in range(0, count, 10):  # connect in batches of 10
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + 10))))
    return clients


async def close_clients(clients: list[Any]) -> None:
    await asyncio.gather(*(rt.cleanup() for rt in clients), return_exceptions=True)


class Arrivals:
    """Trade callbacks by order id, with a wake-up when an order reached every client."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.seen: dict[int, list[float]] = defaultdict(list)
        self.done: dict[int, asyncio.Event] = defaultdict(asyncio.Event)

    def on_trade(self, index: int, data: Any) -> None:
        now = time.perf_counter()
        if isinstance(data, dict) and "data" in data and "action" in data:
            data = data["data"]
        order_id = data["orderId"]
        self.seen[order_id].append(now)
        if len(self.seen[order_id]) >= self.clients:
            self.done[order_id].set()


async def place_direct(http: httpx.AsyncClient, gw: Gateway, side: int) -> int:
    reply = await http.post(
        f"{gw.control}/orders",
        json={"account_id": ACCOUNT, "contract": "MNQ", "side": side, "size": 1},
    )
    order_id: int = reply.json()["order_id"]
    return order_id


async def fill_latency(
    gw: Gateway, config: Any, token: str, clients: int, fills: int
) -> list[float]:
    arrivals = Arrivals(clients)
    connected = await connect_clients(config, token, clients, arrivals.on_trade)
    try:
        async with httpx.AsyncClient() as http:
            warmup = await place_direct(http, gw, 0)  # also proves every client is subscribed
            await asyncio.wait_for(arrivals.done[warmup].wait(), 30)
            since = (await http.get(f"{gw.control}/events")).json()[-1]["seq"]
            order_ids = []
            for i in range(fills):
                order_id = await place_direct(http, gw, (i + 1) % 2)
                await asyncio.wait_for(arrivals.done[order_id].wait(), 10)
                order_ids.append(order_id)
            events = (await http.get(f"{gw.control}/events", params={"since": since})).json()
        pushed = {
            e["payload"]["orderId"]: e["perf"] for e in events if e["target"] == "GatewayUserTrade"
        }
        return [t - pushed[o] for o in order_ids for t in arrivals.seen[o]]
    finally:
        await close_clients(connected)


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used, from /proc; None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def rest_throughput(
    gw: Gateway, config: Any, token: str, n: int, concurrency: int, subscribers: int
) -> tuple[float, float | None]:
    """Orders/s through POST /Order/place (aiohttp clients), and orders per gateway CPU-second."""
    import aiohttp

    arrivals = Arrivals(max(1, subscribers))
    connected = await connect_clients(config, token, subscribers, arrivals.on_trade)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    failures = 0
    assert gw.process is not None
    try:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:
            headers = {"Authorization": f"Bearer {token}"}

            async def worker() -> None:
                nonlocal failures
                while not queue.empty():
                    i = queue.get_nowait()
                    body = {"accountId": ACCOUNT, "contractId": CONTRACT, "type": 2,
                            "side": i % 2, "size": 1, "limitPrice": None,
                            "stopPrice": None, "trailPrice": None}  # fmt: skip
                    async with http.post(f"{gw.api}/Order/place", headers=headers, json=body) as r:
                        failures += not (await r.json())["success"]

            cpu_before = cpu_seconds(gw.process.pid)
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            cpu_after = cpu_seconds(gw.process.pid)
    finally:
        await close_clients(connected)
    if failures:
        print(f"  ({failures} orders were refused)")
    per_cpu = None
    if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before:
        per_cpu = n / (cpu_after - cpu_before)
    return n / elapsed, per_cpu


async def sdk_throughput(config: Any, gw: Gateway, n: int) -> float:
    from project_x_py import EventBus, OrderManager, ProjectX

    async with ProjectX(
        gw.env["PROJECT_X_USERNAME"], gw.env["PROJECT_X_API_KEY"], config=config
    ) as px:
        await px.authenticate()
        orders = OrderManager(px, EventBus())
        started = time.perf_counter()
        for i in range(n):
            await orders.place_market_order(CONTRACT, i % 2, 1)
        return n / (time.perf_counter() - started)


def describe(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return (
        f"p50 {statistics.median(ms):7.2f} ms   p99 {p99:7.2f} ms   "
        f"max {ms[-1]:7.2f} ms   ({len(ms)} samples)"
    )


async def main(args: argparse.Namespace) -> None:
    quiet()
    async with Gateway() as gw:
        config = sdk_config(gw)
        async with httpx.AsyncClient() as http:
            token = await login(http, gw)
        print(
            f"paper gateway {gw.api} (own process), clients in this process; {os.cpu_count()} CPUs"
        )
        print()
        print("Orders per second (market orders: accepted, filled, 5 events pushed each)")
        for subscribers in (0, 1):
            async with asyncio.timeout(PHASE_TIMEOUT):
                rate, per_cpu = await rest_throughput(
                    gw, config, token, args.orders, args.concurrency, subscribers
                )
            cpu = f"  ({per_cpu:.0f} per gateway CPU-second)" if per_cpu else ""
            print(f"  REST /Order/place, {args.concurrency} concurrent aiohttp clients,"
                  f" {subscribers} subscribed SDK client(s), {args.orders} orders:"
                  f" {rate:6.0f} orders/s{cpu}")  # fmt: skip
        async with asyncio.timeout(PHASE_TIMEOUT):
            rate = await sdk_throughput(config, gw, args.sdk_orders)
        print(f"  SDK OrderManager.place_market_order, sequential, {args.sdk_orders} orders:"
              f" {rate:8.0f} orders/s")  # fmt: skip
        print()
        print("Latency from a fill (gateway pushes the trade) to the SDK trade_execution callback")
        for clients in args.clients:
            fills = args.fills if clients == 1 else max(20, args.fills // 4)
            async with asyncio.timeout(PHASE_TIMEOUT):
                samples = await fill_latency(gw, config, token, clients, fills)
            print(f"  {clients:3d} subscribed client(s), {fills} fills: {describe(samples)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000, help="orders for the REST figure")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent REST clients")
    parser.add_argument("--sdk-orders", type=int, default=300, help="orders through the SDK")
    parser.add_argument("--fills", type=int, default=200, help="fills timed with 1 client")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 50])
    asyncio.run(main(parser.parse_args()))
