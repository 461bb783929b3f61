"""The two `transitions` machines, built from the tables in `states.py`.

One `Machine` per kind, many models (`Machines.attach`: its state and machine). Guards are pure
predicates over the model and the trigger's keyword arguments; the only callbacks commit the
model's holds (before the state changes) and record the audit entry (after). Nothing here
performs I/O: the engine turns the audit entries into effects.

Trigger keyword arguments (all triggers take ``at``, ``reason`` and optionally ``rule_id``,
``actor``): ``breach``/``lock`` take ``holds`` (the `Lock`s to add) and ``breach`` optionally
``exposed`` (whether there is exposure to remove; default: the model's own view); ``release`` takes
``ended`` (the hold sources that ended); ``force`` takes ``to`` (the target state) and
``lock`` (the hold that replaces all others, or None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from transitions import EventData, Machine, MachineError

from fsm_risk.core.effects import AuditEntry
from fsm_risk.core.models import Lock, Lockable, lock_state
from fsm_risk.core.states import (
    ACCOUNT_EDGES,
    ACCOUNT_STATES,
    CONTRACT_EDGES,
    CONTRACT_STATES,
    LOCK_RANK,
    Edge,
    State,
    Trigger,
)
from fsm_risk.errors import IllegalTransition


def proposed_holds(model: Lockable, trigger: str, kw: dict[str, Any]) -> dict[str, Lock]:
    """The holds the model will have once this trigger is applied (pure)."""
    if trigger == Trigger.force.value:
        lock: Lock | None = kw.get("lock")
        return {lock.source: lock} if lock is not None else {}
    holds = dict(model.holds)
    for source in kw.get("ended", ()):
        holds.pop(source, None)
    for h in kw.get("holds", ()):
        current = holds.get(h.source)
        # a hold from the same source is replaced only by a stronger one
        if current is None or h.strength() > current.strength():
            holds[h.source] = h
    return holds


def _model(ev: EventData) -> Lockable:
    return cast(Lockable, ev.model)


def _target(ev: EventData) -> State:
    return lock_state(proposed_holds(_model(ev), ev.event.name, ev.kwargs))


def _to(state: State) -> Callable[[EventData], bool]:
    def guard(ev: EventData) -> bool:
        return _target(ev) is state

    guard.__name__ = {
        State.Trading: "to_trading",
        State.Cooldown: "to_cooldown",
        State.LockedDaily: "to_daily",
        State.LockedWeekly: "to_weekly",
    }[state]
    return guard


def escalates_or_exposed(ev: EventData) -> bool:
    """The new hold is stronger than the current lock, or there is exposure that the lock
    alone would not remove (the caller may say which with ``exposed``)."""
    model = _model(ev)
    exposed = ev.kwargs.get("exposed")
    if exposed is None:
        exposed = model.exposed()
    return LOCK_RANK[_target(ev)] > LOCK_RANK[model.state] or bool(exposed)


def adds_hold(ev: EventData) -> bool:
    """The trigger adds a hold: a new source, or a stronger hold than its source's."""
    model = _model(ev)
    return proposed_holds(model, ev.event.name, ev.kwargs) != model.holds


def _admin_to(state: State) -> Callable[[EventData], bool]:
    def guard(ev: EventData) -> bool:
        return bool(ev.kwargs.get("to") is state)

    guard.__name__ = f"admin_to_{state.value}"
    return guard


GUARDS: dict[str, Callable[[EventData], bool]] = {
    "to_trading": _to(State.Trading),
    "to_cooldown": _to(State.Cooldown),
    "to_daily": _to(State.LockedDaily),
    "to_weekly": _to(State.LockedWeekly),
    "escalates_or_exposed": escalates_or_exposed,
    "adds_hold": adds_hold,
    **{f"admin_to_{s.value}": _admin_to(s) for s in ACCOUNT_STATES},
}


def _commit_holds(ev: EventData) -> None:
    model = _model(ev)
    model.holds = proposed_holds(model, ev.event.name, ev.kwargs)


def _record(ev: EventData) -> None:
    model = _model(ev)
    kw = ev.kwargs
    assert ev.transition is not None
    source = ev.transition.source
    model.audit.append(
        AuditEntry(
            at=kw["at"],
            account_id=model.account_id,
            contract_id=model.scope_contract,
            from_state=State[source] if isinstance(source, str) else source,
            to_state=model.state,
            trigger=ev.event.name,
            rule_id=kw.get("rule_id"),
            reason=kw["reason"],
            actor=kw.get("actor", "system"),
        )
    )


def transition_specs(edges: tuple[Edge, ...]) -> list[dict[str, Any]]:
    """The `transitions` declarations of a table (also used to draw the diagrams)."""
    specs = []
    for e in edges:
        spec: dict[str, Any] = {
            "trigger": e.trigger.value,
            "source": [s.name for s in e.source],
            "dest": e.dest.name if e.dest is not None else None,
        }
        if e.guard is not None:
            spec["conditions"] = [GUARDS[e.guard]]
        specs.append(spec)
    return specs


def build_machine(states: tuple[State, ...], edges: tuple[Edge, ...]) -> Machine:
    return Machine(
        model=None,
        states=list(states),
        transitions=transition_specs(edges),
        initial=None,
        auto_transitions=False,
        ignore_invalid_triggers=False,
        send_event=True,
        before_state_change=[_commit_holds],
        after_state_change=[_record],
    )


class Machines:
    """One engine's pair of machines (one `Machine` per kind, many models). Each engine has
    its own, so models of an engine that is dropped are not kept alive by a shared machine."""

    def __init__(self) -> None:
        self.account = build_machine(ACCOUNT_STATES, ACCOUNT_EDGES)
        self.contract = build_machine(CONTRACT_STATES, CONTRACT_EDGES)

    def attach(self, model: Lockable, state: State, *, contract: bool = False) -> None:
        """Give a model its machine, starting in ``state`` (a stored state on restore)."""
        allowed = CONTRACT_STATES if contract else ACCOUNT_STATES
        if state not in allowed:
            raise IllegalTransition(f"{state} is not a state of the {_kind(model)} machine")
        machine = self.contract if contract else self.account
        # not `add_model`: it binds some twenty methods to each model and scans every model
        # already added, which made restoring thousands of models cost seconds; `fire` and
        # `may` reach the model's machine through `model.machine` instead
        machine.set_state(state, model=model)
        machine.models.append(model)
        model.machine = machine

    def detach(self, model: Lockable, *, contract: bool = False) -> None:
        (self.contract if contract else self.account).models.remove(model)


#: the machines of models built outside an engine (tests, tools)
SHARED = Machines()


def attach(model: Lockable, state: State, *, contract: bool = False) -> None:
    """Give a model a machine of `SHARED`, starting in ``state``."""
    SHARED.attach(model, state, contract=contract)


def detach(model: Lockable, *, contract: bool = False) -> None:
    SHARED.detach(model, contract=contract)


def fire(model: Lockable, trigger: Trigger, **kw: Any) -> None:
    """Apply a trigger. Raises `IllegalTransition`, changing nothing, when it is not allowed."""
    before = model.state
    try:
        done = model.machine.events[trigger.value].trigger(model, **kw)
    except MachineError:
        raise IllegalTransition(
            f"{_scope(model)}: '{trigger}' is not allowed from {before}"
        ) from None
    if not done:
        raise IllegalTransition(f"{_scope(model)}: every guard refused '{trigger}' from {before}")


def fire_if(model: Lockable, trigger: Trigger, **kw: Any) -> bool:
    """Apply a trigger if the table lets it: an edge from the model's state whose guards all
    pass (as `may` says). Otherwise nothing changes and nothing is recorded: no callback of
    the machine runs before its guards. Returns whether it fired. The guards run once, not
    once to ask and again to fire."""
    event = model.machine.events.get(trigger.value)
    if event is None:  # not a trigger of this kind of model
        return False
    try:
        return bool(event.trigger(model, **kw))
    except MachineError:  # no edge from this state
        return False


def may(model: Lockable, trigger: Trigger, **kw: Any) -> bool:
    """Whether the table lets this trigger fire now (an edge from the model's state whose
    guards all pass), without firing it: the table decides, nothing beside it."""
    return bool(model.machine._can_trigger(model, trigger.value, **kw))


def _kind(model: Lockable) -> str:
    return "contract" if model.scope_contract is not None else "account"


def _scope(model: Lockable) -> str:
    c = model.scope_contract
    return f"account {model.account_id}" + (f" contract {c}" if c else "")
