"""Start-up reconciliation at the request budget: how soon the exposed accounts enforce, and
how soon every account does.

Prints figures; asserts nothing. Usage:

    .venv/bin/python bench/readiness.py --accounts 100 500      # at the shipped budget
    .venv/bin/python bench/readiness.py --accounts 100 --time-scale 6   # a quick look

For each book size N, in one process: the paper gateway (production profile, its rate limit
the real gateway's: 200 requests per token a minute) with N accounts; a first service run
(budget out of the way) puts every account in the database, sees ``--restored`` accounts
open a position and ``--locked`` flat ones locked by an admin command; it stops, and while it
is down ``--opened`` other accounts open a position (the database says they are flat). The
second run is measured, at the shipped budget
(``[broker] requests_per_minute`` 200, ``enforcement_reserve`` 50): from `Service.run` to the
last exposed account (restored exposed, opened while down, or locked) reconciled, i.e.
enforcing, and to every account reconciled; and the REST requests it made by then.

``--time-scale k`` divides the budget's window (and the gateway's) by k, and multiplies the
measured times back: a quicker run whose figures are right where the budget, not the machine,
takes the time (the time to all accounts); a time within the first window's requests (often
the exposed accounts') is then overstated up to k-fold: read its wall figure, printed beside.

`measure` is what other benchmarks call (the start-up scale benchmark): it returns the
figures as a dict. It runs against older trees too (before per-account readiness, the service
served only once every account was reconciled).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fsm_risk import config, runtime
from fsm_risk.adapters.broker import Credentials, Priority, RequestBudget, quiet_sdk_logging
from fsm_risk.adapters.clock import SystemClock
from fsm_risk.core.events import AdminCommand
from fsm_risk.core.states import State
from fsm_risk.paper import PaperAccount, PaperGateway, PaperSettings

#: the shipped budget and the real gateway's limit
REQUESTS_PER_MINUTE, RESERVE = 200, 50
#: the goal: the exposed accounts enforcing within this many seconds of the start
GOAL_EXPOSED_SECONDS = 30.0
FIRST = 1001
SETTINGS = """
[general]
database = {home}/state.db
log_file = {home}/fsm.log
[control]
socket = {home}/ctl.sock
[rule.max_contracts]
limit = 5
"""


class CountingBudget(RequestBudget):
    """The service's budget, counting what it let through."""

    count = 0

    async def acquire(self, priority: Priority = Priority.READ, tag: int | None = None) -> None:
        await super().acquire(priority, tag)
        self.count += 1


async def _run_service(
    settings: config.Settings, gw: PaperGateway, budget: RequestBudget
) -> tuple[Any, asyncio.Task[None], float]:
    user, key = gw.credentials()
    urls = (gw.api_url, gw.user_hub_url, gw.market_hub_url)
    service = runtime.make_service(settings, Credentials(user, key), urls, clock=SystemClock())
    service.broker.budget = budget
    began = time.perf_counter()
    task = asyncio.create_task(service.run())
    # (a service from before progressive start-up serves only once every account is ready)
    serving = asyncio.create_task(getattr(service, "serving", service.ready).wait())
    await asyncio.wait({task, serving}, return_when=asyncio.FIRST_COMPLETED)
    serving.cancel()
    if task.done():
        task.result()
    return service, task, began


async def _stop(service: Any, task: asyncio.Task[None]) -> None:
    service.stop()
    await task
    service.store.close()


async def measure(
    accounts: int,
    *,
    restored: int = 5,
    opened: int = 5,
    locked: int = 2,
    time_scale: float = 1.0,
    requests_per_minute: int = REQUESTS_PER_MINUTE,
    reserve: int = RESERVE,
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """One start-up at the budget, as the module docstring says; times in seconds (scaled back
    to the real window)."""
    quiet_sdk_logging()
    logging.getLogger().setLevel(logging.WARNING)
    ids = list(range(FIRST, FIRST + accounts))
    restored_ids = ids[-restored:] if restored else []  # the last ids: no order favours them
    opened_ids = ids[-restored - opened : -restored or None][:opened]
    locked_ids = ids[-restored - opened - locked : -restored - opened or None][:locked]
    window = 60.0 / time_scale
    paper = PaperSettings(
        accounts=tuple(PaperAccount(i, f"PAPER-{i - 1000}", Decimal("50000.00")) for i in ids),
        price_mode="scripted",
        profile="production",
        flat_time=None,
        rate_limit=0,
    )
    gw = PaperGateway(paper)
    await gw.start(host="127.0.0.1", port=0)
    try:
        with tempfile.TemporaryDirectory(prefix="fsm-ready-") as home:
            path = Path(home) / "settings.ini"
            path.write_text(SETTINGS.format(home=home))
            settings = config.load(path)
            # the first run: the database learns every account (budget out of the way)
            service, task, _ = await _run_service(settings, gw, RequestBudget(10**6, 60.0, 0))
            await service.wait_for(service.ready.is_set, timeout, "first run reconciled")
            for a in restored_ids:
                gw.place_order(a, "MNQ", 0, 1)
            await service.wait_for(
                lambda: all(service.engine.accounts[a].positions for a in restored_ids),
                timeout,
                "restored positions seen",
            )
            for a in locked_ids:  # the lock an admin would send
                await service.admin(AdminCommand(a, State.LockedDaily, "bench", "bench"))
            await _stop(service, task)
            for a in opened_ids:
                gw.place_order(a, "MNQ", 0, 1)
            # the measured run, at the budget
            gw.set_rate_limit(requests_per_minute + 5, window)  # (+5: the SDK's own login)
            budget = CountingBudget(requests_per_minute, window, reserve)
            service, task, began = await _run_service(settings, gw, budget)
            serving = time.perf_counter() - began
            urgent = set(restored_ids) | set(opened_ids) | set(locked_ids)
            await service.wait_for(
                lambda: urgent <= service.known, timeout, "the exposed accounts reconciled"
            )
            exposed_at, exposed_reads = time.perf_counter() - began, budget.count
            await service.wait_for(service.ready.is_set, timeout, "every account reconciled")
            all_at, all_reads = time.perf_counter() - began, budget.count
            await _stop(service, task)
    finally:
        await gw.stop()
    return {
        "accounts": accounts,
        "exposed": len(restored_ids) + len(opened_ids) + len(locked_ids),
        "time_scale": time_scale,
        "serving_s": serving,
        "exposed_ready_s": exposed_at * time_scale,
        "all_ready_s": all_at * time_scale,
        "exposed_ready_wall_s": exposed_at,
        "all_ready_wall_s": all_at,
        "requests_to_exposed": exposed_reads,
        "requests_to_all": all_reads,
        "goal_exposed_s": GOAL_EXPOSED_SECONDS,
    }


def report(r: dict[str, Any]) -> str:
    goal = "met" if r["exposed_ready_s"] <= r["goal_exposed_s"] else "MISSED"
    return (
        f"{r['accounts']:>5} accounts ({r['exposed']} exposed): exposed enforcing after "
        f"{r['exposed_ready_s']:.1f} s (goal <= {r['goal_exposed_s']:.0f} s: {goal}), all after "
        f"{r['all_ready_s']:.1f} s; requests {r['requests_to_exposed']} / "
        f"{r['requests_to_all']}; serving after {r['serving_s']:.1f} s"
        + (
            f"  [time scale {r['time_scale']:g}: wall {r['exposed_ready_wall_s']:.1f} s / "
            f"{r['all_ready_wall_s']:.1f} s]"
            if r["time_scale"] != 1
            else ""
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--accounts", type=int, nargs="+", default=[100, 500])
    p.add_argument("--restored", type=int, default=5, help="exposed per the database")
    p.add_argument("--opened", type=int, default=5, help="opened while the service was down")
    p.add_argument("--locked", type=int, default=2, help="flat but locked in the database")
    p.add_argument("--time-scale", type=float, default=1.0)
    a = p.parse_args()
    for n in a.accounts:
        r = asyncio.run(
            measure(
                n,
                restored=a.restored,
                opened=a.opened,
                locked=a.locked,
                time_scale=a.time_scale,
            )
        )
        print(report(r), flush=True)


if __name__ == "__main__":
    main()
