"""The scheduler turns stored deadlines into events on an injected clock (no sleeping)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from fsm_risk.adapters.clock import ManualClock
from fsm_risk.adapters.scheduler import Scheduler
from fsm_risk.core.events import Side, Tick
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import ES, T0, account, fill, make_engine


async def test_a_lock_ends_when_the_clock_passes_its_deadline() -> None:
    engine = make_engine({DailyLossLimit: {"limit": "100"}})
    clock = ManualClock(T0)
    engine.handle(account(), T0)
    engine.handle(fill(ES, Side.BUY, 1, "6000"), T0)
    engine.handle(fill(ES, Side.SELL, 1, "5990", pnl="-125"), T0)
    acct = engine.accounts[1001]
    assert acct.state is State.LockedDaily
    reset = engine.calendar.next_daily_reset(T0)
    fired: list[datetime] = []
    done = asyncio.Event()

    async def fire(now: datetime) -> None:
        engine.handle(Tick(), now)
        fired.append(now)
        done.set()

    sched = Scheduler(engine, clock, fire)
    task = asyncio.create_task(sched.run())
    try:
        clock.advance(hours=1)
        await asyncio.sleep(0)  # let the scheduler observe the move (no wall time passes)
        assert fired == [] and acct.state is State.LockedDaily
        clock.set(reset)
        await asyncio.wait_for(done.wait(), timeout=5)
        assert fired == [reset]
        assert acct.state is State.Trading
    finally:
        sched.stop()
        await asyncio.wait_for(task, timeout=5)


async def test_poke_makes_the_scheduler_read_a_new_earlier_deadline() -> None:
    engine = make_engine({DailyLossLimit: {"limit": "100"}})
    clock = ManualClock(T0)
    engine.handle(account(), T0)
    fired = asyncio.Event()

    async def fire(now: datetime) -> None:
        engine.handle(Tick(), now)
        fired.set()

    sched = Scheduler(engine, clock, fire)
    task = asyncio.create_task(sched.run())
    try:
        await asyncio.sleep(0)
        # a cooldown-like deadline appears (here: a loss locks until the reset) ...
        engine.handle(fill(ES, Side.BUY, 1, "6000"), T0)
        engine.handle(fill(ES, Side.SELL, 1, "5990", pnl="-125"), T0)
        sched.poke()
        clock.set(engine.calendar.next_daily_reset(T0) + timedelta(seconds=1))
        await asyncio.wait_for(fired.wait(), timeout=5)
        assert engine.accounts[1001].state is State.Trading
    finally:
        sched.stop()
        await asyncio.wait_for(task, timeout=5)
