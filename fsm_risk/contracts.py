"""What the gateway says of its contracts' tick sizes and values, handed to the engine.

A position in a contract the engine cannot value waits a moment for the gateway's word and is
closed without it (see `fsm_risk.core.unpriced`). So that a listed contract is never that:

- the gateway's whole contract list (``/Contract/available``) is read at start and again at
  each daily reset (a month listed after a rollover is known before its first position
  comes), one read in the request budget; each contract whose tick size or value the engine
  does not have (or has otherwise) is handed to it as `InstrumentInfo`. A list not read is
  tried again a minute later (one window of the budget);
- a contract still unknown when a position comes (`LearnInstrument`) is asked for alone
  (``/Contract/searchById``, one ask at a time per contract): its tick size and value, or
  `InstrumentMissing` when the gateway has no such contract, go to the engine; no answer
  leaves the engine to close the position at its deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from loguru import logger

from fsm_risk import logs
from fsm_risk.adapters.clock import Clock
from fsm_risk.core.events import Event, InstrumentInfo, InstrumentMissing
from fsm_risk.core.models import InstrumentBook
from fsm_risk.core.sessions import SessionCalendar

if TYPE_CHECKING:
    from fsm_risk.adapters.broker import ProjectXBroker

#: how soon a contract list the gateway did not give is asked for again
RETRY = timedelta(seconds=60)


def news(book: InstrumentBook, listed: list[InstrumentInfo]) -> list[InstrumentInfo]:
    """The contracts of ``listed`` the book does not know as listed: new, or ticking otherwise."""
    found = []
    for info in listed:
        known = book.get(info.contract_id)
        ticks = (info.tick_size, info.tick_value)
        if known is None or (known.tick_size, known.tick_value) != ticks:
            found.append(info)
    return found


class Contracts:
    def __init__(
        self,
        broker: ProjectXBroker,
        instruments: InstrumentBook,
        calendar: Callable[[], SessionCalendar],
        submit: Callable[[Event], None],
        clock: Clock,
    ) -> None:
        self.broker = broker
        self.instruments = instruments
        self.calendar = calendar
        self.submit = submit
        self.clock = clock
        #: the contracts asked for alone, not answered yet
        self.asking: set[str] = set()
        #: how many times the whole list was read
        self.reads = 0

    async def keep(self, stopping: asyncio.Event) -> None:
        """Read the list now and after each daily reset, until ``stopping``."""
        while not stopping.is_set():
            done = await self.read()
            now = self.clock.now()
            at = self.calendar().next_daily_reset(now)
            if not done:
                at = min(at, now + RETRY)
            await self.clock.wait(at, stopping)

    async def read(self) -> bool:
        """Read the gateway's contract list and hand the engine what is news. False when the
        gateway did not give it."""
        try:
            listed = await self.broker.contracts()
        except Exception as exc:
            logger.warning(
                "{} the gateway's contract list was not read ({}): asked again in {:.0f} s; "
                "meanwhile a position in a contract not known is asked for alone",
                logs.FEED,
                exc,
                RETRY.total_seconds(),
            )
            return False
        found = news(self.instruments, listed)
        for info in found:
            self.submit(info)
        self.reads += 1
        logger.info(
            "{} the gateway lists {} contract(s), {} of them new to the service",
            logs.FEED,
            len(listed),
            len(found),
        )
        return True

    async def learn(self, contract_id: str) -> None:
        """Ask the gateway for one contract a position waits on (see `LearnInstrument`)."""
        if contract_id in self.asking:
            return
        self.asking.add(contract_id)
        try:
            info = await self.broker.instrument(contract_id)
        except Exception as exc:
            logger.warning(
                "{} contract {} not described by the gateway ({}): a position in it is closed "
                "at its deadline",
                logs.FEED,
                contract_id,
                exc,
            )
            return
        finally:
            self.asking.discard(contract_id)
        if info is None:
            self.submit(InstrumentMissing(contract_id))
            return
        logger.info(
            "{} contract {}: tick size {}, tick value {} (from the gateway)",
            logs.FEED,
            contract_id,
            info.tick_size,
            info.tick_value,
        )
        self.submit(info)
