"""A crash loop: a real `fsm-risk serve` process SIGKILLed 20 times at seeded random moments
(at once, mid-flatten when its close reaches the gateway, right after a fill, after a random
pause), restarted each time. Throughout: no lock lost, no close that reverses a position, never
two closes working for one contract, every breach enforced after the restart, and the database
intact after every kill. Launch-to-enforcing times are measured on the way."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fsm_risk.adapters.store import Store
from fsm_risk.paper import PaperGateway
from fsm_risk.paper.gateway import GatewayEvent
from tests.e2e.test_serve_process import read_until, start

ACCOUNT = 1001
KILLS = 20
SEED = 15
CLOSES = ("close", "partial_close")


def settings_text(gw: PaperGateway) -> str:
    reset = (datetime.now(UTC) + timedelta(hours=12)).astimezone(ZoneInfo("America/Chicago"))
    return (
        "[general]\ndatabase = var/state.db\nlog_file = var/fsm.log\n"
        "[control]\nsocket = var/ctl.sock\n"
        f"[session]\ndaily_reset = {reset:%H:%M}\nweekly_reset = {reset:%a} {reset:%H:%M}\n"
        "[enforcement]\nclose_timeout_seconds = 2\nclose_backoff_max_seconds = 4\n"
        "[rule.max_contracts]\nlimit = 3\n"
        "[rule.daily_loss_limit]\nlimit = 500\n"
        f"[broker]\napi_url = {gw.api_url}\nuser_hub_url = {gw.user_hub_url}\n"
        f"market_hub_url = {gw.market_hub_url}\n"
    )


class Watch:
    """Gateway-side invariants, checked on every gateway event."""

    def __init__(self, gw: PaperGateway) -> None:
        self.gw = gw
        self.violations: list[str] = []
        self.closes = 0

    def __call__(self, ev: GatewayEvent) -> None:
        if ev.kind == "order_received" and ev.data.source in CLOSES:
            self.closes += 1
            others = [
                o.order_id
                for o in self.gw.orders(ACCOUNT, working=True)
                if o.source in CLOSES
                and o.contract_id == ev.data.contract_id
                and o.order_id != ev.data.order_id
            ]
            if others:
                self.violations.append(f"close {ev.data.order_id} beside working {others}")
        for p in self.gw.engine.open_positions(ACCOUNT):
            if p.net < 0:
                self.violations.append(f"{p.contract_id} reversed to {p.net}")


def stored_state(db: Path) -> str | None:
    store = Store(db)
    try:
        found = [a.snapshot["state"] for a in store.accounts() if a.account_id == ACCOUNT]
    finally:
        store.close()
    return found[0] if found else None


def integrity(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


@pytest.fixture
async def procs() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    running: list[asyncio.subprocess.Process] = []
    yield running
    for p in running:
        if p.returncode is None:
            p.kill()
            await p.wait()


@pytest.mark.paper(price_mode="scripted")
async def test_a_crash_loop_loses_no_lock_reverses_nothing_and_enforces_every_breach(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any]
) -> None:
    gw = paper_gateway
    rng = random.Random(SEED)
    (tmp_path / "settings.ini").write_text(settings_text(gw))
    user, key = gw.credentials()
    env = {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key}
    db = tmp_path / "var" / "state.db"
    watch = Watch(gw)
    gw.add_listener(watch)
    locked = False
    ready_times: list[float] = []
    enforce_times: list[float] = []
    moments: dict[str, int] = {}
    loop = asyncio.get_running_loop()

    def held() -> int:
        p = gw.position(ACCOUNT, "MNQ")
        return 0 if p is None else p.size

    def limit() -> int:
        return 0 if locked else 3

    for n in range(KILLS + 1):
        pending = held() > limit()
        spawned = time.monotonic()
        proc = await start(tmp_path, env)
        procs.append(proc)
        await read_until(proc, "fsm-risk is enforcing")
        ready_times.append(time.monotonic() - spawned)
        # every breach left by the last crash is enforced by this process
        await gw.wait_for(lambda: held() <= limit(), 30, f"round {n}: enforced after restart")
        if pending:
            enforce_times.append(time.monotonic() - spawned)
        if n == KILLS:
            break
        killed = asyncio.Event()

        def kill(proc: asyncio.subprocess.Process = proc, done: asyncio.Event = killed) -> None:
            if proc.returncode is None and not done.is_set():
                proc.kill()  # SIGKILL: no shutdown code runs
            done.set()

        moment = rng.choice(["at_once", "mid_flatten", "after_fill", "random"])
        if n == KILLS // 2 and not locked:
            moment = "mid_flatten"  # a loss past the daily limit: killed while flattening
        moments[moment] = moments.get(moment, 0) + 1

        def trigger(ev: GatewayEvent, moment: str = moment) -> None:
            close = ev.kind == "order_received" and ev.data.source in CLOSES
            fill = (
                ev.kind == "pushed"
                and ev.data.target == "GatewayUserTrade"
                and ev.data.account_id == ACCOUNT
            )
            if (moment == "mid_flatten" and close) or (moment == "after_fill" and fill):
                kill()

        gw.add_listener(trigger)
        gw.set_fill_delay(rng.choice([0.0, 0.0, 0.5]))
        if n == KILLS // 2 and not locked:
            if held() == 0:
                gw.place_order(ACCOUNT, "MNQ", 0, 2)
            await gw.wait_for(lambda: gw.quote_subscribers("MNQ") > 0, 30, "watched")
            gw.move_price("MNQ", -2400)  # -600 points: past the $500 limit on any size
        else:
            gw.place_order(ACCOUNT, "MNQ", 0, rng.randint(4, 9))
        if moment == "at_once":
            kill()
        elif moment == "random":
            loop.call_later(rng.uniform(0.0, 0.4), kill)
        try:
            await asyncio.wait_for(killed.wait(), 30)
        except TimeoutError:
            kill()  # the moment never came (the service was faster): kill now
        await proc.wait()
        gw.remove_listener(trigger)
        gw.set_fill_delay(0.0)
        assert integrity(db) == "ok", f"round {n}"
        state = stored_state(db)
        if locked:
            assert state == "LockedDaily", f"round {n}: the lock was lost ({state})"
        locked = locked or state == "LockedDaily"

    proc.send_signal(2)
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    gw.remove_listener(watch)
    print(
        f"\ncrash loop: {KILLS} SIGKILLs {moments}; {watch.closes} closes sent; "
        f"locked: {locked}; violations: {len(watch.violations)}\n"
        f"launch to ready: median {statistics.median(ready_times):.2f} s, "
        f"max {max(ready_times):.2f} s\n"
        f"launch to enforced ({len(enforce_times)} restarts with a breach pending): "
        f"median {statistics.median(enforce_times or [0]):.2f} s, "
        f"max {max(enforce_times or [0]):.2f} s"
    )
    assert watch.violations == []
    assert locked, "the loop must have covered a lock"
    assert moments.get("mid_flatten", 0) and moments.get("after_fill", 0)
    assert integrity(db) == "ok"
