"""The shell around `core.silence`: held contracts whose quotes have stopped are priced by
reads of their last bar, and the market hub is subscribed again, then reconnected.

The market hub can stay connected and send nothing for minutes (project-x-py issue 97); with
the SDK's stale-feed watchdog off, nothing else would price a losing position: its mark goes
stale and no rule fires on a stale mark. The feed's silence limit (``feed_silence_seconds``)
starts the reads; each read's price reaches the engine as a quote stamped with the time the
read was sent (an older one never overwrites a newer quote: the engine's quote path), and the
rules judge it as any quote. A price that moved with no quote proves the feed broken: the
hub is then subscribed again, reconnected, and a CRITICAL alert follows (`core.silence`). The
quote path itself is untouched: the silence is found by looking at the feed's last quote
times, `POLL_SECONDS` apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from loguru import logger

from fsm_risk import logs
from fsm_risk.adapters.broker import ProjectXBroker
from fsm_risk.adapters.clock import Clock
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Event
from fsm_risk.core.silence import RestPricing, rest_quote

#: how often (wall seconds) the feed's last quote times are looked at
POLL_SECONDS = 0.25


class SilentPricer:
    """Prices the held contracts the market hub has gone silent on (see the module doc)."""

    def __init__(
        self,
        broker: ProjectXBroker,
        engine: Callable[[], RiskEngine],
        submit: Callable[[Event], None],
        clock: Clock,
        silence: timedelta,
    ) -> None:
        self.broker = broker
        self.engine = engine
        self.submit = submit
        self.clock = clock
        self.silence = silence
        self.plan = RestPricing()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Look every `POLL_SECONDS` until ``stopping``; the reads run as tasks of their own."""
        try:
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=POLL_SECONDS)
                if stopping.is_set():
                    break
                try:
                    self.step(self.clock.now())
                except Exception as exc:  # a bug here must not end the pricing: said, retried
                    logger.opt(exception=exc).error(
                        "{} pricing of silent contracts failed: {!r}", logs.ALERT, exc
                    )
        finally:
            for task in list(self._tasks):
                task.cancel()

    def step(self, now: datetime) -> None:
        """One look: start and end the reads, subscribe again when due, alert."""
        health = self.broker.health
        silent = health.silent(now, self.silence, self.broker.watched)
        if not health.authenticated:
            silent = []  # logged out: nothing can be read (the login's own alert says so)
        marks = self.engine().valuation
        # the price a silence is held to: one quoted since the start (a restored mark is older
        # than the subscription; the price may have moved before it, with no quote owed)
        quoted = health.last_quote
        started, ended = self.plan.update(
            {
                c: None if c in self.plan.contracts or c not in quoted else marks.last_mark(c)
                for c in silent
            },
            now,
        )
        for cid in started:
            logger.warning(
                "{} no quote from {} for {:.0f} s: its price is read from the gateway's bars "
                "until quotes come back",
                logs.FEED,
                cid,
                self.silence.total_seconds(),
            )
        for cid in ended:
            logger.info("{} {} is priced by its quotes again", logs.FEED, cid)
        for cid in self.plan.due(now):
            self._spawn(self._read(cid, now), f"price {cid}")
        attempt = self.plan.resubscribe(now)
        if attempt is not None:
            wanted = sorted(self.plan.contracts)
            self._spawn(self._requote(wanted, attempt > 0), "requote")
        for cid in self.plan.overdue(now):
            s = self.plan.contracts[cid]
            logger.critical(
                "{} no quote from {} for {:.0f} s though its price moved: it is priced by the "
                "gateway's bars only ({} read(s), last {}); the market hub was subscribed "
                "again {} time(s)",
                logs.ALERT,
                cid,
                (now - s.since + self.silence).total_seconds(),
                s.reads,
                s.price,
                self.plan.resubscribes,
            )

    async def _read(self, contract_id: str, sent: datetime) -> None:
        try:
            price = await self.broker.last_price(contract_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # tried again after a wait (core.silence)
            logger.warning("{} price of {} not read: {!r}", logs.FEED, contract_id, exc)
            self.plan.failed(contract_id, sent)
            return
        s = self.plan.contracts.get(contract_id)
        if s is None or sent < s.since:
            return  # its quotes came back meanwhile: they are newer
        quoted = s.quoted
        if self.plan.answered(contract_id, sent, price):
            logger.warning(
                "{} {} traded at {} though its last quote said {}, and no quote came: the "
                "market feed is broken; subscribing again",
                logs.FEED,
                contract_id,
                price,
                quoted,
            )
        if price is None:
            logger.warning("{} price of {}: the gateway has no recent bar", logs.FEED, contract_id)
            return
        inst = self.engine().instruments.get(contract_id)
        tick = inst.tick_size if inst is not None else None
        self.submit(rest_quote(contract_id, price, sent, s.spread, tick, s))

    async def _requote(self, contract_ids: list[str], reconnect: bool) -> None:
        try:
            await self.broker.requote(contract_ids, reconnect)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # tried again at the next attempt (core.silence)
            logger.warning("{} quotes not subscribed again: {!r}", logs.FEED, exc)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def view(self) -> dict[str, dict[str, object]]:
        """The contracts priced by reads, for `status` and /readyz."""
        return self.plan.view()
