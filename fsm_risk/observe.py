"""What the service tells its observers (notifications, metrics, the dashboard).

The service calls every registered observer synchronously with one of the records below and
never waits for it: an observer only records what it needs (a counter, a queue entry) and does
its slow work elsewhere. An observer that raises is logged and skipped; enforcement never
depends on one.

A *component* is an observer with a lifecycle: the service starts it once it is enforcing (it
may be told of the login before) and stops it when it shuts down (after the last batch, before
the broker disconnects).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from fsm_risk.core.effects import BrokerEffect, Effect

if TYPE_CHECKING:
    from fsm_risk.service import Service


@dataclass(frozen=True, slots=True)
class Committed:
    """A batch of handled items (events, refused payloads, jobs) and the effects the engine
    returned, after the state was committed and the effects started."""

    items: Sequence[Any]
    effects: Sequence[Effect]
    at: datetime


@dataclass(frozen=True, slots=True)
class Enforced:
    """A close, partial close or cancel request ended (the gateway answered, or it failed)
    ``seconds`` after the decision was committed. ``sent`` False: a close never sent, no
    longer wanted once its turn in the request budget came (neither answered nor failed)."""

    effect: BrokerEffect
    seconds: float
    failed: bool
    sent: bool = True


@dataclass(frozen=True, slots=True)
class HealthChanged:
    """The feeds became healthy or degraded (the watchdog's snapshot)."""

    health: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LoggingIn:
    """The start's way to the gateway, before which nothing is enforced: its ``step`` (the
    ``login`` with its account list, then the ``hubs``' opening) begun (``why`` None), a try
    of it failed and is tried again (``why``: the failure as the logs say it, never a secret),
    or ``done`` (the hubs are open)."""

    why: str | None = None
    done: bool = False
    step: str = "login"


@dataclass(frozen=True, slots=True)
class StartFailed:
    """The start gave up before it served (a refused login, no active account, a clock the
    gateway contradicts...): nothing is enforced. ``why``: as the logs say it, never a
    secret; ``guarded``: refused because another service already enforces its accounts."""

    why: str
    guarded: bool = False


Observed = Committed | Enforced | HealthChanged | LoggingIn | StartFailed


class Observer(Protocol):
    def observe(self, item: Observed) -> None: ...


class Component(Observer, Protocol):
    async def start(self, service: Service) -> None: ...

    async def stop(self) -> None: ...
