"""An admin's unlock (a force to Trading): the rules judge at once what it leaves open."""

from __future__ import annotations

from fsm_risk.core.events import AdminCommand, Event, Tick
from fsm_risk.core.states import State


def judged_after(event: Event) -> tuple[Tick, ...]:
    """What an event is followed by in its own step: after an unlock (of the account, a
    contract or a root), every rule that judges on a wake-up judges what it leaves open
    (RULE-001's account total: a reduce back at its own target beside a position the unlock
    freed), not at the account's next wake-up."""
    if isinstance(event, AdminCommand) and event.to is State.Trading:
        return (Tick(event.account_id),)
    return ()
