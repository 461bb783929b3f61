"""Stored deadlines become events.

The engine keeps every deadline in its state (lock expiries, resets, close retries, rule
deadlines such as a flat-by time); the scheduler only asks it for the earliest one, waits until
then on the injected clock (or until poked because something changed), and hands the moment to
``fire`` (the service turns it into a `Tick` through its usual unit of work). Nothing is slept
on that a restart would lose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from loguru import logger

from fsm_risk.adapters.clock import Clock
from fsm_risk.core.engine import RiskEngine

#: the longest the scheduler sleeps without re-reading the deadlines
MAX_NAP = timedelta(seconds=60)


class Scheduler:
    def __init__(
        self,
        engine: RiskEngine,
        clock: Clock,
        fire: Callable[[datetime], Awaitable[None]],
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.fire = fire
        self._wake = asyncio.Event()
        self._stopped = False
        self.fired = 0

    def poke(self) -> None:
        """Something changed: re-read the earliest deadline."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopped:
            now = self.clock.now()
            due = self.engine.next_deadline()
            if due is not None and due <= now:
                await self.fire(now)
                self.fired += 1
                after = self.engine.next_deadline()
                if after is not None and after <= now:
                    # a deadline that does not move would spin: note it and pause briefly
                    logger.warning("deadline {} did not advance after firing", after)
                    self._wake.clear()
                    await self.clock.wait(now + timedelta(seconds=1), self._wake)
                continue
            self._wake.clear()
            nap = now + MAX_NAP
            await self.clock.wait(min(due, nap) if due is not None else nap, self._wake)
