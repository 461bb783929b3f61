"""Run the real service (real project-x-py SDK) against the in-process paper gateway.

The service and the gateway share a `ManualClock` (time moves only when a test moves it), so
trading days, lock deadlines and retries are deterministic; infrastructure (websockets,
heartbeats, the feed watchdog) runs on wall time as it does in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from fsm_risk import config, runtime
from fsm_risk.adapters.broker import Credentials
from fsm_risk.adapters.clock import ManualClock
from fsm_risk.core.models import AccountModel
from fsm_risk.core.states import State
from fsm_risk.paper import PaperGateway
from fsm_risk.paper.gateway import OrderLogEntry
from fsm_risk.service import Service
from fsm_risk.web import WebServer
from tests.factories import T0

ACCOUNT = 1001
MNQ = "CON.F.US.MNQ.Z26"

BASE = """
[general]
database = var/state.db
log_file = var/fsm.log
[control]
socket = var/ctl.sock
[enforcement]
close_timeout_seconds = 2
close_backoff_max_seconds = 4
alert_after_attempts = 2
[admin]
failure_delay_seconds = 0
[web]
port = 0
"""


@dataclass
class Harness:
    home: Path
    gateway: PaperGateway
    clock: ManualClock = field(default_factory=lambda: ManualClock(T0))
    service: Service | None = None
    task: asyncio.Task[None] | None = None
    rules: str = ""
    logs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gateway.set_clock(self.clock.now)
        # the gateway's opening quotes were stamped by the wall clock before it had ours: stamp
        # them now, or a wall clock past T0 makes every later (T0-stamped) quote look older than
        # the first one the service sees, and the engine drops it as out of order
        for c in self.gateway.contracts():
            q = self.gateway.quote(c.id)
            self.gateway.set_price(c.id, q.last, bid=q.bid, ask=q.ask)
        self._sink = logger.add(lambda m: self.logs.append(str(m)), level="DEBUG")

    # -- settings and lifecycle -------------------------------------------------------------

    def write_settings(self, rules: str) -> Path:
        self.rules = rules
        path = self.home / "settings.ini"
        path.write_text(BASE + rules, encoding="utf-8")
        return path

    @property
    def settings(self) -> config.Settings:
        return config.load(self.home / "settings.ini")

    async def start(self, rules: str | None = None) -> Service:
        if rules is not None or not (self.home / "settings.ini").exists():
            self.write_settings(rules if rules is not None else self.rules)
        user, key = self.gateway.credentials()
        urls = (self.gateway.api_url, self.gateway.user_hub_url, self.gateway.market_hub_url)
        service = runtime.make_service(
            self.settings, Credentials(user, key), urls, clock=self.clock
        )
        task = asyncio.create_task(service.run())
        ready = asyncio.create_task(service.ready.wait())
        await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if task.done():
            task.result()  # raises what broke the start
        if not service.ready.is_set():
            raise TimeoutError("the service did not start within 30 s")
        self.service, self.task = service, task
        return service

    async def stop(self) -> None:
        if self.service is not None and self.task is not None:
            self.service.stop()
            await asyncio.wait_for(self.task, timeout=30)
            self.service.store.close()
        self.service = self.task = None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.stop()
        logger.remove(self._sink)

    # -- driving ------------------------------------------------------------------------------

    @property
    def svc(self) -> Service:
        assert self.service is not None, "the service is not running"
        return self.service

    @property
    def acct(self) -> AccountModel:
        return self.svc.engine.accounts[ACCOUNT]

    def contract_state(self, contract_id: str) -> State:
        """A contract's state: ``Trading`` when it has no model (one free to trade and flat
        again is let go at the next commit)."""
        cm = self.acct.contracts.get(contract_id)
        return State.Trading if cm is None else cm.state

    def trade(self, contract: str, side: str, size: int, **kw: Any) -> OrderLogEntry:
        """The trader places an order at the gateway (as any ProjectX client would)."""
        return self.gateway.place_order(ACCOUNT, contract, 0 if side == "buy" else 1, size, **kw)

    async def until(self, predicate: Callable[[], Any], what: str, timeout: float = 15) -> Any:
        return await self.svc.wait_for(predicate, timeout, what)

    async def gw_until(self, predicate: Callable[[], Any], what: str, timeout: float = 15) -> Any:
        return await self.gateway.wait_for(predicate, timeout, what)

    def closes(self, contract: str | None = None) -> list[OrderLogEntry]:
        """Orders the service sent to close or reduce positions, as the gateway logged them."""
        return [
            o
            for o in self.gateway.order_log(ACCOUNT)
            if o.source in ("close", "partial_close")
            and (contract is None or o.contract_id == self.gateway.contract(contract).id)
        ]

    def enforcing(self) -> bool:
        """Whether a request of the service's (close, cancel, resize) is still on its way."""
        return any(t.get_name().startswith("enforce:") for t in self.svc._tasks)

    def position(self, contract: str) -> int:
        p = self.gateway.position(ACCOUNT, self.gateway.contract(contract).id)
        return 0 if p is None else p.size

    def audit(self) -> list[tuple[str | None, str, str, str, str | None]]:
        assert self.service is not None
        return [
            (e.contract_id, e.from_state.value, e.to_state.value, e.trigger, e.rule_id)
            for e in self.service.store.audit(ACCOUNT)
        ]

    async def advance(self, **delta: float) -> None:
        """Move the shared clock; the scheduler wakes for every deadline that passed."""
        self.clock.advance(**delta)
        await asyncio.sleep(0)  # hand the loop to the scheduler (no wall time passes)


def web(h: Harness) -> WebServer:
    """The running service's web server, listening (its ``url`` is set)."""
    server = next(c for c in h.svc.components if isinstance(c, WebServer))
    assert server.url is not None
    return server


async def lock_by_daily_loss(h: Harness) -> None:
    """Buy 2 MNQ, let the price fall 150 points (-$600): flattened and LockedDaily (with a
    daily loss limit of 500 in the rules)."""
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    assert h.position("MNQ") == 0


async def run_cli(
    home: Path, *args: str, secret: str = "", settings: str = "settings.ini"
) -> tuple[int, str]:
    """Run the command line in its own process against the settings in ``home``."""
    env = {**os.environ, "FSM_RISK_ADMIN_SECRET": secret, "NO_COLOR": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fsm_risk", *args, "--settings", str(home / settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode()
