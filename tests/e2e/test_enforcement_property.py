"""Randomised enforcement: streams of trader actions against the running service.

Each example starts a fresh paper gateway and a fresh service (the real project-x-py SDK on
both sides: the trader places and cancels orders through the SDK's order manager) and plays a
stream of actions drawn by hypothesis: market, limit and stop orders, partial exits,
reversals, price moves, fill delays, rejected closes and websocket drops. Every step is
followed by a check against the GATEWAY's own records (its order log, trades and positions):

- never two of the service's closes working at once in one contract (checked as each order
  reaches the gateway);
- the service never closes more than is open: replaying the gateway's trades, no fill of a
  service close reverses a position;
- a scope over its limit is back within it, and a locked account holds no position and no
  working order, within a bound (wall time) after the step;
- no confirmation in the audit log contradicts the gateway at that moment: a flat
  confirmation is logged only while the gateway holds nothing in that scope.

Seeded (derandomized) and bounded for CI; ``FSM_RISK_PROPERTY_EXAMPLES=N`` runs N examples.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from loguru import logger
from project_x_py import EventBus, OrderManager, ProjectX

from fsm_risk.adapters.broker import sdk_config
from fsm_risk.core.states import LOCK_KINDS, State
from fsm_risk.paper import PaperGateway, PaperSettings
from fsm_risk.paper.engine import OrderType
from fsm_risk.paper.gateway import GatewayEvent
from tests.e2e.service_harness import ACCOUNT, Harness

EXAMPLES = int(os.environ.get("FSM_RISK_PROPERTY_EXAMPLES", "4"))
BOUND = 10.0  # seconds (wall time) for the service to bring the account back within its rules
LIMITS = {"MNQ": 3, "ES": 2}
RULES = """
[rule.max_contracts_per_instrument]
limits = MNQ: 3, ES: 2
default_limit = 5
[rule.daily_loss_limit]
limit = 1500
"""
SERVICE_SOURCES = ("close", "partial_close")

contracts = st.sampled_from(sorted(LIMITS))
sides = st.sampled_from(["buy", "sell"])
action = st.one_of(
    st.tuples(st.just("market"), contracts, sides, st.integers(1, 5)),
    st.tuples(st.just("limit"), contracts, sides, st.integers(1, 3), st.integers(-8, 40)),
    st.tuples(st.just("stop"), contracts, sides, st.integers(1, 3), st.integers(4, 40)),
    st.tuples(st.just("exit"), contracts, st.integers(1, 3)),
    st.tuples(st.just("reverse"), contracts, st.integers(1, 2)),
    st.tuples(st.just("price"), contracts, st.integers(-240, 240)),
    st.tuples(st.just("delay"), st.sampled_from([0.0, 0.2])),
    st.tuples(st.just("reject_close"), st.integers(1, 2)),
    st.tuples(st.just("drop")),
    st.tuples(st.just("cancel")),
)


@dataclass
class Watch:
    """Invariants checked as things happen at the gateway and in the service's log."""

    h: Harness
    violations: list[str] = field(default_factory=list)

    def on_gateway(self, event: GatewayEvent) -> None:
        if event.kind != "order_received" or event.data.source not in SERVICE_SOURCES:
            return
        entry = event.data
        others = [
            o.order_id
            for o in self.h.gateway.orders(ACCOUNT, working=True)
            if o.source in SERVICE_SOURCES
            and o.contract_id == entry.contract_id
            and o.order_id != entry.order_id
        ]
        if others:
            self.violations.append(
                f"service close {entry.order_id} in {entry.contract_id} sent while "
                f"{others} still working"
            )

    def on_log(self, message: Any) -> None:
        text = str(message)
        if "FLAT_CONFIRMED" not in text or "flat_confirmed" not in text:
            return
        gw = self.h.gateway
        held = {p.contract_id: p.size for p in gw.positions(ACCOUNT)}
        scope = text.split("FSM:ENFORCEMENT_CONFIRMED ", 1)[1].split(" ", 2)
        contract = scope[1] if scope[1].startswith("CON.") else None
        if contract is None:
            if held:
                self.violations.append(f"account confirmed flat while {held} open: {text}")
        elif "reduced to" in text:
            target = int(text.rsplit("reduced to ", 1)[1].split()[0])
            if held.get(contract, 0) > target:
                self.violations.append(f"{contract} confirmed at {target}, {held}: {text}")
        elif held.get(contract, 0):
            self.violations.append(f"{contract} confirmed flat while {held} open: {text}")

    def replay(self) -> None:
        """No fill of a service close reverses (or overshoots) the position it closes."""
        gw = self.h.gateway
        sources = {o.order_id: o.source for o in gw.order_log(ACCOUNT)}
        size: dict[str, int] = {}
        for t in sorted(gw.trades(ACCOUNT), key=lambda t: t.trade_id):
            before = size.get(t.contract_id, 0)
            delta = t.size if t.side == 0 else -t.size
            if sources.get(t.order_id) in SERVICE_SOURCES and (
                before == 0 or (before > 0) == (delta > 0) or abs(delta) > abs(before)
            ):
                self.violations.append(
                    f"service fill {t.trade_id} ({delta:+d}) on a position of {before:+d}"
                )
            size[t.contract_id] = before + delta


def breaches(h: Harness) -> str | None:
    """Why the account is not (yet) within its rules and in step with the gateway, or None."""
    gw = h.gateway
    working = gw.orders(ACCOUNT, working=True)
    if any(o.type is OrderType.MARKET for o in working):
        return f"market orders still to fill: {[o.order_id for o in working]}"
    held = {p.contract_id: p.size * (1 if p.type == 1 else -1) for p in gw.positions(ACCOUNT)}
    acct = h.acct
    seen = {c: p.signed for c, p in acct.positions.items()}
    if seen != held:
        return f"the service sees {seen}, the gateway holds {held}"
    if acct.state is State.Flattening:
        return "the account is still flattening"
    flattening = [c for c, m in acct.contracts.items() if m.state is State.Flattening]
    if flattening:
        return f"still flattening {flattening}"
    if acct.state in LOCK_KINDS:
        if held or working:
            return f"locked ({acct.state}) with {held} open and {len(working)} order(s) working"
        return None
    for root, limit in LIMITS.items():
        size = sum(abs(n) for c, n in held.items() if f".{root}." in c)
        if size > limit:
            return f"{root}: {size} > {limit}"
    return None


async def settle(h: Harness, *, timers: bool) -> None:
    """Wait (wall time, at most BOUND) until ``breaches`` says nothing. With ``timers``
    (a close was refused on purpose) the service's clock is moved past its retry backoff."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while (why := breaches(h)) is not None:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"not within the rules {BOUND} s after the step: {why}")
        with contextlib.suppress(TimeoutError):
            await h.gw_until(lambda: breaches(h) is None, "settled", min(0.5, remaining))
        if timers and breaches(h) is not None:
            await h.advance(seconds=5)


class Trader:
    """The trader, through the real SDK: its own login and order manager."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        user, key = h.gateway.credentials()
        gw = h.gateway
        self.px = ProjectX(
            user, key, config=sdk_config(gw.api_url, gw.user_hub_url, gw.market_hub_url)
        )
        self.orders: OrderManager | None = None

    async def __aenter__(self) -> Trader:
        await self.px.__aenter__()
        await self.px.authenticate()
        self.orders = OrderManager(self.px, EventBus())
        await self.orders.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.px.__aexit__(None, None, None)

    def held(self, root: str) -> int:
        p = self.h.gateway.position(ACCOUNT, root)
        return 0 if p is None else p.size * (1 if p.type == 1 else -1)

    async def act(self, step: tuple[Any, ...]) -> bool:
        """Play one action; returns True when it refuses closes (the retry needs time)."""
        assert self.orders is not None
        gw, kind = self.h.gateway, step[0]
        with contextlib.suppress(Exception):  # a refused order is a trader's everyday life
            if kind == "market":
                _, root, side, size = step
                await self.orders.place_market_order(gw.contract(root).id, _side(side), size)
            elif kind in ("limit", "stop"):
                _, root, side, size, ticks = step
                c, q = gw.contract(root), gw.quote(root)
                # a limit `ticks` away from the touch on the passive side (marketable when
                # negative); a stop `ticks` beyond the market, never through it
                sign = -1 if side == "buy" else 1
                if kind == "stop":
                    sign = -sign
                ref = q.ask if side == "buy" else q.bid
                price = float(ref + sign * ticks * c.tick_size)
                if kind == "limit":
                    await self.orders.place_limit_order(c.id, _side(side), size, price)
                else:
                    await self.orders.place_stop_order(c.id, _side(side), size, price)
            elif kind in ("exit", "reverse"):
                _, root, size = step
                held = self.held(root)
                if held:
                    n = min(size, abs(held)) if kind == "exit" else abs(held) + size
                    side = 1 if held > 0 else 0
                    await self.orders.place_market_order(gw.contract(root).id, side, n)
            elif kind == "price":
                gw.move_price(step[1], step[2])
            elif kind == "delay":
                gw.set_fill_delay(step[1])
            elif kind == "reject_close":
                gw.reject_orders(
                    lambda r: r.source in SERVICE_SOURCES, "closes refused on purpose", step[1]
                )
                return True
            elif kind == "drop":
                await gw.drop_websockets("user")
            elif kind == "cancel":
                working = [
                    o
                    for o in gw.orders(ACCOUNT, working=True)
                    if o.source not in SERVICE_SOURCES and o.type is not OrderType.MARKET
                ]
                if working:
                    await self.orders.cancel_order(working[0].order_id)
        return False


def _side(side: str) -> int:
    return 0 if side == "buy" else 1


async def play(steps: list[tuple[Any, ...]]) -> list[str]:
    gateway = PaperGateway(PaperSettings(price_mode="scripted"))
    await gateway.start(host="127.0.0.1", port=0)
    with tempfile.TemporaryDirectory() as home:
        h = Harness(Path(home), gateway)
        watch = Watch(h)
        gateway.add_listener(watch.on_gateway)
        sink = logger.add(watch.on_log, level="INFO")
        try:
            await h.start(RULES)
            timers = False
            async with Trader(h) as trader:
                for step in steps:
                    timers = await trader.act(step) or timers
                    await settle(h, timers=timers)
                    watch.replay()
                    if watch.violations:
                        break
        finally:
            logger.remove(sink)
            gateway.remove_listener(watch.on_gateway)
            await h.close()
            await gateway.stop()
    return watch.violations


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(action, min_size=3, max_size=8))
# what it found, kept: a reconciliation after a dropped websocket read the gateway, a fill
# arrived live meanwhile, and the older read overwrote the newer position (the service then
# saw 1 where the gateway held 2, or confirmed a reduce while 3 were open)
@example([("drop",), ("limit", "ES", "buy", 1, 1), ("market", "ES", "buy", 1), ("cancel",),
          ("market", "ES", "buy", 1)])  # fmt: skip
@example([("drop",), ("limit", "MNQ", "buy", 1, 25), ("market", "ES", "buy", 2), ("cancel",),
          ("market", "ES", "buy", 1)])  # fmt: skip
def test_random_trader_streams_never_outrun_enforcement(steps: list[tuple[Any, ...]]) -> None:
    assert asyncio.run(play(steps)) == []


def test_the_property_test_runs_a_burst_a_lock_and_a_refused_close() -> None:
    """One fixed stream through the same machinery, so a regression is named plainly."""
    steps: list[tuple[Any, ...]] = [
        ("market", "MNQ", "buy", 5),
        ("delay", 0.2),
        ("market", "ES", "buy", 4),
        ("reject_close", 1),
        ("market", "MNQ", "buy", 3),
        ("price", "ES", -240),
        ("market", "ES", "buy", 1),
        ("drop",),
        ("market", "MNQ", "sell", 2),
    ]
    assert asyncio.run(play(steps)) == []
