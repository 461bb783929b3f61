"""What the gateway says of a contract's tick size and value, handed to the engine.

A position in a contract the engine cannot value waits a moment for the gateway's word and is
closed without it (see `fsm_risk.core.unpriced`): such a contract (`LearnInstrument`) is asked
for alone (``/Contract/searchById``, one ask at a time per contract): its tick size and value,
or `InstrumentMissing` when the gateway has no such contract, go to the engine; no answer
leaves the engine to close the position at its deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from loguru import logger

from fsm_risk import logs
from fsm_risk.core.events import Event, InstrumentMissing

if TYPE_CHECKING:
    from fsm_risk.adapters.broker import ProjectXBroker


class Contracts:
    def __init__(
        self,
        broker: ProjectXBroker,
        submit: Callable[[Event], None],
    ) -> None:
        self.broker = broker
        self.submit = submit
        #: the contracts asked for alone, not answered yet
        self.asking: set[str] = set()

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
