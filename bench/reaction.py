"""Benchmark of the live service: reaction latency against a bare baseline, and load.

Prints figures; asserts nothing. Usage:

    .venv/bin/python bench/reaction.py --skip-load      # 1,000 trials each side (~12 min)
    .venv/bin/python bench/reaction.py --quick          # 100 trials each, 200 trades: a sanity run

Reaction latency. The paper gateway runs as its own process (``fsm-risk paper-gateway``) with
two accounts, at the real gateway's rate limit (200 requests per token a minute). The
service (the real thing: SDK -> queue -> engine -> committed to SQLite -> close through the
SDK) watches account 1001 with all 18 rules on (limits that never fire, except RULE-001
max_contracts = 5), logging exactly as ``fsm-risk serve`` does (the console at INFO, the JSON
log file at DEBUG), at the shipped request budget, and the account carries a week of trades
(``--history``, made before the service starts, so it reads them as history). The baseline
is the predecessor's proof-of-concept pattern: a bare SDK ``position_update`` callback on
account 1002 that sends the partial close at once, with no state, no rules and no database.
Each trial, the trader buys 6 contracts (one too many) on one of the accounts, alternating
(``--trials`` on each side, 1,000 by default, after 10 discarded warm-up trials);
the latency is from the gateway pushing the breaching GatewayUserPosition to it pushing the
position reduced to 5 (the close received and filled), both stamped with
``time.perf_counter()`` (CLOCK_MONOTONIC on Linux, so valid across the two processes). Same
run, same machine, interleaved; each trial rests alike after it (both sides start from the
same idle), paced so that the service's closes stay inside its request budget. Every poll
reads only what is new (events after a sequence number, the open positions), so no poll costs
more as the run goes on, and every poll leaves no garbage for the collector to pause this
process for (`Control`, not httpx).

Load (bench/scale.py measures it at scale; ``--skip-load`` leaves it out). 50 accounts are
monitored, each holding a position, while the gateway's random walk
sends about 200 quotes per second; reported: the service's CPU share (user+system time of
this process over wall time) and memory per account (RSS growth over the idle service,
divided by the accounts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json as jsonlib
import logging
import os
import random
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import h11
import httpx

try:  # the package of the venv that runs this file (bench/compare.py relies on it)
    import fsm_risk  # noqa: F401
except ImportError:  # a plain checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fsm_risk import config, logs, runtime
from fsm_risk.adapters.broker import Credentials, quiet_sdk_logging, sdk_config
from fsm_risk.adapters.clock import SystemClock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import settings_text
from figures import figure, header

SERVICE, BASELINE = 1001, 1002
#: the reaction goal: service p99 within this multiple of the bare callback's p99
GOAL_RATIO = 1.2
#: the shipped request budget of the service and the real gateway's limit per token
REQUESTS_PER_MINUTE = 200
#: the least time a pair of trials (one each side) takes
PACE = 60 / (REQUESTS_PER_MINUTE / 2)
DRAINS: set[asyncio.Future[None]] = set()  # keeps the gateway's output drained
MNQ = "CON.F.US.MNQ.Z26"


def quiet() -> None:
    import project_x_py  # noqa: F401

    quiet_sdk_logging()
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith(("project_x_py", "pysignalr", "websockets", "aiohttp")):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    from loguru import logger

    logger.remove()


class Control:
    """The trials' calls to the paper gateway's control API (``/_paper/...``), on one
    kept-alive HTTP/1.1 connection: h11 over asyncio streams, with httpx's calling style
    (``post(url, json=...)``, ``(await get(url, params=...)).json()``).

    Not httpx, on purpose: every httpx request leaves reference cycles behind (its response,
    request, headers and streams refer to each other), which only Python's cyclic collector
    frees. The trials make five such requests each; the collections they caused (every few
    trials, 0.3-0.8 ms each, freeing some 700 objects of httpx) ran on this process's one
    thread, where the service and the bare callback also run, and landed inside whichever
    reaction was being measured. This client leaves no cycles, so the pauses left in the
    measured window are those of the two sides' own work (the SDK's requests, the service's).
    """

    def __init__(self, base: str) -> None:
        split = urlsplit(base)
        self.base, self.host, self.port = base, split.hostname or "127.0.0.1", split.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._http = h11.Connection(h11.CLIENT)

    async def __aenter__(self) -> Control:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()

    async def get(self, url: str, params: dict[str, Any] | None = None) -> _Answer:
        target = url + ("?" + urlencode(params) if params else "")
        return await self._request("GET", target, b"")

    async def post(self, url: str, json: Any) -> _Answer:
        return await self._request("POST", url, jsonlib.dumps(json).encode())

    async def _request(self, method: str, url: str, body: bytes) -> _Answer:
        async with asyncio.timeout(30):  # (as httpx's was: a gateway that hangs ends the run)
            return await self._exchange(method, url, body)

    async def _exchange(self, method: str, url: str, body: bytes) -> _Answer:
        assert self._reader is not None and self._writer is not None, "not opened"
        http = self._http
        target = url.removeprefix(self.base) or "/"
        head = [("Host", f"{self.host}:{self.port}"), ("Content-Length", str(len(body)))]
        if body:
            head.append(("Content-Type", "application/json"))
        out = http.send(h11.Request(method=method, target=target, headers=head))
        out += http.send(h11.Data(data=body)) if body else b""
        out += http.send(h11.EndOfMessage())
        self._writer.write(out)
        status, data = 0, bytearray()
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                chunk = await self._reader.read(65536)
                if not chunk:
                    raise ConnectionError("the paper gateway closed the connection")
                http.receive_data(chunk)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        http.start_next_cycle()
        if status >= 400:
            raise RuntimeError(f"bench: {method} {target}: HTTP {status}: {bytes(data)[:200]!r}")
        return _Answer(bytes(data))


class _Answer:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def json(self) -> Any:
        return jsonlib.loads(self.body)


async def start_gateway(home: Path, paper: str) -> tuple[asyncio.subprocess.Process, str]:
    (home / "paper.ini").write_text(paper)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from fsm_risk.cli import main; main()",
        "paper-gateway", "--port", "0", "--settings", str(home / "paper.ini"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if "listening on" in line:
            base = line.strip().rsplit(" ", 1)[-1]
            DRAINS.add(asyncio.ensure_future(_drain(proc)))
            return proc, base
    raise RuntimeError("the paper gateway did not start")


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    with open(os.environ.get("BENCH_GATEWAY_LOG", os.devnull), "ab") as log:
        while line := await proc.stdout.readline():
            log.write(line)


async def stop_gateway(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()


def service_settings(
    home: Path, accounts: str, rules: str, requests_per_minute: int = REQUESTS_PER_MINUTE
) -> config.Settings:
    (home / "settings.ini").write_text(
        f"[general]\ndatabase = state.db\nlog_file = fsm.log\naccounts = {accounts}\n"
        f"[control]\nsocket = ctl.sock\n[broker]\nrequests_per_minute = {requests_per_minute}\n"
        + rules
    )
    return config.load(home / "settings.ini")


def all_rules() -> str:
    """Every rule on, none firing on the trials but RULE-001 at 5 contracts (RULE-002 may
    not allow more than that, and allows as much: either reduces the position to 5)."""
    text = settings_text("all")
    head, _, rest = text.partition("[rule.max_contracts]\nlimit = 1000\n")
    assert rest, "bench/engine.py's settings changed: max_contracts not found"
    text = head + "[rule.max_contracts]\nlimit = 5\n" + rest
    return text.replace(
        "[rule.max_contracts_per_instrument]\ndefault_limit = 1000\n",
        "[rule.max_contracts_per_instrument]\ndefault_limit = 5\n",
    )


async def start_service(settings: config.Settings, base: str) -> tuple[Any, asyncio.Task[None]]:
    creds = Credentials("paper", "paper-api-key-0000")
    urls = (f"{base}/api", f"{base}/hubs/user", f"{base}/hubs/market")
    service = runtime.make_service(settings, creds, urls, clock=SystemClock())
    task = asyncio.create_task(service.run())
    await asyncio.wait_for(service.ready.wait(), 60)
    return service, task


async def baseline_client(base: str) -> tuple[Any, Any]:
    """The bare pattern: an SDK callback that closes the excess at once."""
    from project_x_py import ProjectX
    from project_x_py.realtime import ProjectXRealtimeClient

    cfg = sdk_config(f"{base}/api", f"{base}/hubs/user", f"{base}/hubs/market")
    px = ProjectX("paper", "paper-api-key-0000", config=cfg)
    await px.__aenter__()
    await px.authenticate()
    rt = ProjectXRealtimeClient(px.get_session_token(), str(BASELINE), config=cfg)
    rt.stale_feed_seconds = float("inf")

    async def on_position(data: Any) -> None:
        d = data.get("data", data) if isinstance(data, dict) else data
        if d.get("accountId") == BASELINE and d.get("size", 0) > 5:
            await px._make_request(
                "POST",
                "/Position/partialCloseContract",
                data={"accountId": BASELINE, "contractId": d["contractId"], "size": d["size"] - 5},
            )

    await rt.add_callback("position_update", on_position)
    assert await rt.connect()
    await rt.subscribe_user_updates()
    return px, rt


async def wait_until(pred: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await pred():
        if time.monotonic() > deadline:
            raise TimeoutError("bench: condition not met")
        await asyncio.sleep(0.005)


async def trial(http: Control, base: str, account: int, since: int) -> tuple[float, int]:
    ctl = f"{base}/_paper"
    await http.post(
        f"{ctl}/orders", json={"account_id": account, "contract": "MNQ", "side": "buy", "size": 6}
    )
    seen: list[dict[str, Any]] = []
    last = since

    def sizes() -> list[tuple[float, int]]:
        return [
            (e["perf"], e["payload"].get("size") or 0)
            for e in seen
            if e["target"] == "GatewayUserPosition" and e["account_id"] == account
        ]

    async def reduced() -> bool:
        nonlocal last
        new = (await http.get(f"{ctl}/events", params={"since": last})).json()
        seen.extend(new)
        last = max((e["seq"] for e in new), default=last)
        pushed = sizes()
        breach = next((i for i, (_, n) in enumerate(pushed) if n > 5), None)
        return breach is not None and any(n == 5 for _, n in pushed[breach:])

    await wait_until(reduced)
    pushed = sizes()
    breach = next(i for i, (_, n) in enumerate(pushed) if n > 5)
    done = next(perf for perf, n in pushed[breach:] if n == 5)
    latency = done - pushed[breach][0]
    # back to flat for the next trial
    await http.post(f"{ctl}/positions/close", json={"account_id": account, "contract": "MNQ"})

    async def flat() -> bool:
        pos = (await http.get(f"{ctl}/positions")).json()  # open positions only: bounded
        return not any(p["account_id"] == account for p in pos)

    await wait_until(flat)
    return latency, last


async def history(http: Control, base: str, accounts: tuple[int, ...], trades: int) -> None:
    """``trades`` fills on each account (round trips of one contract) before the service starts:
    at its start it reads them as this week's trades."""
    for _ in range(trades // 2):
        for account in accounts:
            await http.post(f"{base}/_paper/orders", json={
                "account_id": account, "contract": "MNQ", "side": "buy", "size": 1})  # fmt: skip
            await http.post(
                f"{base}/_paper/positions/close", json={"account_id": account, "contract": "MNQ"}
            )


def pct(xs: list[float], p: int) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[p - 1] if len(xs) > 1 else xs[0]


async def reaction(trials: int, trades: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        # (no flat time: the platform would flatten and block every account at 15:10 Chicago,
        # and a run may straddle it)
        paper = (
            f"[paper]\nflat_time =\nprice_mode = scripted\nrate_limit = {REQUESTS_PER_MINUTE}\n"
            "rate_limit_window = 60\nunique_custom_tags = false\n"
            "accounts = 1001: SERVICE: 50000: true, 1002: BASELINE: 50000: true\n"
        )
        proc, base = await start_gateway(home, paper)
        try:
            async with Control(base) as http:
                started = time.monotonic()
                await history(http, base, (SERVICE, BASELINE), trades)
                made = time.monotonic() - started
            settings = service_settings(home, "1001", all_rules())
            logs.setup(settings.log_file, queued=True)  # as `fsm-risk serve` logs
            service, task = await start_service(settings, base)
            px, rt = await baseline_client(base)
            results: dict[int, list[float]] = {SERVICE: [], BASELINE: []}
            async with Control(base) as http:
                since = max(
                    (e["seq"] for e in (await http.get(f"{base}/_paper/events")).json()), default=0
                )
                for i in range(2 * trials + 20):
                    account = SERVICE if i % 2 == 0 else BASELINE
                    began = time.monotonic()
                    latency, since = await trial(http, base, account, since)
                    if i >= 20:  # warm-up discarded (10 trials each side)
                        results[account].append(latency * 1000)
                    # let the service settle (its confirmation) before the next trial
                    await service.wait_for(lambda: settled(service), 10)
                    rest = rest_after(time.monotonic() - began)
                    if rest > 0:
                        await asyncio.sleep(rest)  # bench pacing, not a wait for an event
            seen = trades_known(service)
            n_rules = len(service.engine.rules)
            await rt.disconnect()
            await px.__aexit__(None, None, None)
            service.stop()
            await task
            service.store.close()
            quiet()
        finally:
            await stop_gateway(proc)
    s, b = results[SERVICE], results[BASELINE]
    print(
        f"# reaction latency, gateway breach push -> position reduced, {len(s)} trials each, "
        f"interleaved; {n_rules} rules, logs as serve, {trades} trades made before the start "
        f"(in {made:.0f} s), {seen} on the account at the end, {REQUESTS_PER_MINUTE} requests/min"
    )
    print(f"{'':<10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, xs in (("baseline", b), ("service", s)):
        print(
            f"{name:<10} {pct(xs, 50):>8.2f} {pct(xs, 90):>8.2f} {pct(xs, 99):>8.2f} "
            f"{max(xs):>8.2f}"
        )
    p50, p99 = pct(s, 50) / pct(b, 50), pct(s, 99) / pct(b, 99)
    low, high = ratio_interval(s, b, 99)
    figure("reaction p50, service / bare SDK callback", p50, "x")
    figure("reaction p99, service / bare SDK callback", p99, "x", f"<= {GOAL_RATIO}")
    figure("reaction p99 ratio, 90% interval, low", low, "x")
    figure("reaction p99 ratio, 90% interval, high", high, "x")
    figure("reaction p99, service", pct(s, 99), "ms")
    figure("reaction p99, bare SDK callback", pct(b, 99), "ms")
    figure("reaction p50, service's gap over the bare callback", pct(s, 50) - pct(b, 50), "ms")


def ratio_interval(
    s: list[float], b: list[float], p: int, rounds: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """How far the p-th percentile ratio of ``s`` over ``b`` could move on another run of as
    many trials: the 5th and 95th percentiles of the ratio over ``rounds`` resamplings of
    each side's trials (a bootstrap, seeded, so the same trials give the same interval). The
    99th percentile of 1,000 trials rests on its ten slowest: an interval this wide says
    which of two runs' ratios differ by more than chance."""
    rng = random.Random(seed)
    ratios = sorted(
        pct(rng.choices(s, k=len(s)), p) / pct(rng.choices(b, k=len(b)), p) for _ in range(rounds)
    )
    return ratios[int(0.05 * (rounds - 1))], ratios[int(0.95 * (rounds - 1))]


def rest_after(trial_seconds: float) -> float:
    """The pause after a trial, whichever side it was on: a pair of trials takes at least
    ``PACE`` (the service's closes, one a pair, use at most half its request budget). Each
    trial rests its share, so both sides start after the same idle time: resting once a
    pair, after the baseline's trial, started every service trial from an idle machine and
    every baseline trial warm from the service's (some 0.6 ms of wake-up at the median, all
    counted against the service)."""
    return PACE / 2 - trial_seconds


def settled(service: Any) -> bool:
    """The service's account flat again and nothing of it queued (its confirmation handled);
    read through what a tree has (the bench runs against older trees too)."""
    acct = service.engine.accounts.get(SERVICE)
    queue = getattr(service, "queue", None)
    return (acct is None or not acct.positions) and (queue is None or queue.empty())


def trades_known(service: Any) -> str:
    """How many trades the service's account knows at the end (this week's and the last)."""
    acct = service.engine.accounts.get(SERVICE)
    seen = getattr(acct, "seen_trades", None)
    return "?" if seen is None else str(len(seen))


def rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def load(accounts: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        ids = [2001 + i for i in range(accounts)]
        listing = ", ".join(f"{i}: LOAD-{i}: 50000: true" for i in ids)
        # 12 contracts, one random-walk step each every 0.06 s: about 200 quotes per second
        paper = (
            "[paper]\nflat_time =\nprice_mode = random_walk\nquote_interval = 0.06\n"
            "rate_limit = 0\n"
            f"accounts = {listing}\n"
        )
        proc, base = await start_gateway(home, paper)
        try:
            rss0 = rss_kib()
            # start-up at the real budget is bench/scale's business: this phase measures load
            settings = service_settings(
                home,
                "",
                "[rule.daily_loss_limit]\nlimit = 1000000\n[rule.max_contracts]\nlimit = 100\n",
                requests_per_minute=10_000,
            )
            service, task = await start_service(settings, base)
            async with httpx.AsyncClient(timeout=30) as http:
                roots = [
                    "MNQ",
                    "NQ",
                    "MES",
                    "ES",
                    "MYM",
                    "YM",
                    "M2K",
                    "RTY",
                    "MCL",
                    "CL",
                    "MGC",
                    "GC",
                ]
                for k, acct in enumerate(ids):
                    await http.post(f"{base}/_paper/orders", json={
                        "account_id": acct, "contract": roots[k % len(roots)], "side": "buy",
                        "size": 1})  # fmt: skip
                await service.wait_for(
                    lambda: all(service.engine.accounts[i].positions for i in ids), 60
                )
            await asyncio.sleep(3)  # bench only: let every subscription settle
            rss1 = rss_kib()
            events0, usage0, t0 = service.events_seen, resource.getrusage(resource.RUSAGE_SELF), \
                time.monotonic()  # fmt: skip
            await asyncio.sleep(seconds)
            usage1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
            events = service.events_seen - events0
            cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
            service.stop()
            await task
            service.store.close()
        finally:
            await stop_gateway(proc)
    wall = t1 - t0
    print(f"# load: {accounts} accounts monitored, random-walk quotes for {wall:.0f} s")
    print(
        f"events handled: {events / wall:,.0f}/s (quotes, after the SDK's per-contract coalescing)"
    )
    print(
        f"service CPU share: {cpu / wall * 100:.1f}% of one core "
        f"(SDK websockets, engine, SQLite; this process holds no gateway)"
    )
    print(
        f"memory: {(rss1 - rss0) / accounts:,.0f} KiB RSS per account "
        f"({(rss1 - rss0) / 1024:,.1f} MiB for {accounts} accounts, incl. 2 websockets each)"
    )


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--trials", type=int, default=1000, help="trials on each side (service, baseline)"
    )
    p.add_argument("--quick", action="store_true", help="100 trials, 200 trades, no load phase")
    p.add_argument(
        "--history", type=int, default=1200, help="trades on each account before the start"
    )
    p.add_argument("--accounts", type=int, default=50)
    p.add_argument("--load-seconds", type=float, default=30)
    p.add_argument("--skip-load", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.trials, args.history, args.skip_load = 100, 200, True
    quiet()
    header(f"bench/reaction.py  pid {os.getpid()}")
    await reaction(args.trials, args.history)
    if not args.skip_load:
        print()
        await load(args.accounts, args.load_seconds)


if __name__ == "__main__":
    asyncio.run(main())
