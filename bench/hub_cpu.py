"""Service CPU per fill with N accounts on one login: a quick check of how the live feed's
cost grows with the number of accounts.

The paper gateway runs as ``fsm-risk paper-gateway`` in its own process, the orders are
placed by a third process through the gateway's control API, and the service (real SDK) runs
in this one: this process's CPU time over the fills, divided by their number, is the
service's CPU per fill (start-up and reconciliation excluded). Market orders of one contract,
round-robin over the accounts, buy then sell, so positions open and close. Prints figures,
asserts nothing.

Run:  .venv/bin/python bench/hub_cpu.py --accounts 50 200 --fills 300
Before/after: run the same file with ``PYTHONPATH=<a checkout of the older tree>``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import read_banner

LAUNCH = "from fsm_risk.cli import main; main()"
PLACER = """
import sys, httpx
url, n, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with httpx.Client(timeout=30) as http:
    for i in range(n):
        account = first + i % count
        side = (i // count) % 2
        r = http.post(url, json={"account_id": account, "contract": "MNQ", "side": side, "size": 1})
        r.raise_for_status()
"""
FIRST = 5001
RULES = """
[broker]
requests_per_minute = 10000
enforcement_reserve = 100
reconcile_interval_seconds = 0
[rule.max_contracts]
limit = 50
[rule.daily_loss_limit]
limit = 100000
"""


async def gateway(home: Path, accounts: int) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    listed = ", ".join(f"{FIRST + i}: DESK-{i + 1}: 50000: true" for i in range(accounts))
    ini = home / "paper.ini"
    ini.write_text(
        f"[paper]\nflat_time =\nprice_mode = scripted\nrate_limit = 0\nunique_custom_tags = false\n"
        f"accounts = {listed}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LAUNCH, "paper-gateway", "--port", "0", "--settings", str(ini),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, await read_banner(proc.stdout, 60)


async def measure(accounts: int, fills: int) -> tuple[float, float, int]:
    from loguru import logger

    from fsm_risk import config, runtime
    from fsm_risk.adapters.broker import Credentials
    from fsm_risk.core.events import Fill

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        proc, env = await gateway(home, accounts)
        try:
            (home / "settings.ini").write_text(
                "[general]\ndatabase = var/state.db\nlog_file = var/fsm.log\n"
                "[control]\nsocket = var/ctl.sock\n[web]\nenabled = false\n" + RULES
            )
            logger.remove()
            logger.add(home / "service.log", level="INFO")  # logs written, as serve does
            settings = config.load(home / "settings.ini")
            urls = (env["PROJECTX_API_URL"], env["PROJECTX_USER_HUB_URL"],
                    env["PROJECTX_MARKET_HUB_URL"])  # fmt: skip
            creds = Credentials(env["PROJECT_X_USERNAME"], env["PROJECT_X_API_KEY"])
            service = runtime.make_service(settings, creds, urls)
            seen = 0
            sink = service.broker.sink

            def counting(item: object) -> None:
                nonlocal seen
                if isinstance(item, Fill):
                    seen += 1
                sink(item)  # type: ignore[arg-type]

            service.broker.sink = counting
            run = asyncio.create_task(service.run())
            started = time.monotonic()
            await asyncio.wait_for(service.ready.wait(), timeout=600)
            ready_after = time.monotonic() - started
            await asyncio.sleep(2)  # let start-up work drain
            url = env["PROJECTX_API_URL"].removesuffix("/api") + "/_paper/orders"
            cpu0 = time.process_time()
            placer = await asyncio.create_subprocess_exec(
                sys.executable, "-c", PLACER, url, str(fills), str(FIRST), str(accounts)
            )
            while seen < fills:
                await asyncio.sleep(0.05)
            while not service.queue.empty():
                await asyncio.sleep(0.01)
            cpu = time.process_time() - cpu0
            await placer.wait()
            service.stop()
            await asyncio.wait_for(run, timeout=60)
            service.store.close()
            return cpu / fills * 1000, ready_after, seen
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
                await proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--fills", type=int, default=300)
    args = parser.parse_args()
    os.environ["PROJECTX_REQUESTS_PER_MINUTE"] = "1000000"
    import project_x_py  # noqa: F401

    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith(("project_x_py", "pysignalr", "websockets")):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    import fsm_risk

    print(f"fsm_risk from {Path(fsm_risk.__file__).parent}")
    for n in args.accounts:
        per_fill, ready, seen = asyncio.run(measure(n, args.fills))
        print(f"{n:5d} accounts: {per_fill:7.2f} ms service CPU per fill ({seen} fills; "
              f"ready after {ready:.1f} s)  goal: flat in the number of accounts")  # fmt: skip


if __name__ == "__main__":
    main()
