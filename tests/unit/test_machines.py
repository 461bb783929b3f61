"""Every declared transition of both machines, every illegal trigger, and lock precedence."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.core import machines
from fsm_risk.core.models import AccountModel, Book, ContractModel, Lock, Position
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import (
    ACCOUNT_EDGES,
    ACCOUNT_STATES,
    CONTRACT_EDGES,
    CONTRACT_STATES,
    Edge,
    State,
    Trigger,
)
from fsm_risk.errors import IllegalTransition
from tests.factories import MNQ, T0

T, F, C, Dl, W = (
    State.Trading,
    State.Flattening,
    State.Cooldown,
    State.LockedDaily,
    State.LockedWeekly,
)
LATER = {C: T0 + timedelta(minutes=30), Dl: T0 + timedelta(hours=8), W: T0 + timedelta(days=6)}


def hold(kind: State, source: str = "RULE-X", until: Any = None) -> Lock:
    return Lock(kind, until or LATER[kind], source, Reason.DAILY_LOSS_LIMIT)


def account(state: State, holds: dict[str, Lock] | None = None) -> AccountModel:
    book = Book(T0.date(), T0, T0 + timedelta(days=1))
    m = AccountModel(1, "acct", book, book)
    m.holds = dict(holds or {})
    machines.attach(m, state)
    return m


def contract(state: State, holds: dict[str, Lock] | None = None) -> ContractModel:
    acct = account(T)
    m = ContractModel(1, MNQ)
    m.join(acct)
    m.holds = dict(holds or {})
    machines.attach(m, state, contract=True)
    return m


def expose(m: AccountModel | ContractModel) -> None:
    acct = m if isinstance(m, AccountModel) else m.account
    assert acct is not None
    acct.positions[MNQ] = Position(MNQ, True, 1, Decimal(21000), T0)


def current_holds(source: State) -> dict[str, Lock]:
    """Holds consistent with being in ``source``."""
    return {"OLD": hold(source, "OLD")} if source in LATER else {}


def scenario(edge: Edge, source: State, contract_kind: bool) -> tuple[Any, dict[str, Any]]:
    """A model in ``source`` and trigger arguments under which ``edge`` is the one taken."""
    build = contract if contract_kind else account
    trig, dest = edge.trigger, edge.dest
    if trig is Trigger.force:
        assert dest is not None
        lock = hold(dest, "ADMIN") if dest in LATER else None
        return build(source, current_holds(source)), {"to": dest, "lock": lock}
    if trig is Trigger.flat_confirmed:
        assert dest is not None
        return build(F, current_holds(dest)), {}
    if trig is Trigger.release:
        if dest is None:  # another hold of the same kind remains
            kind = source if source in LATER else C
            return build(source, {"OLD": hold(kind, "OLD"), "B": hold(kind, "B")}), {"ended": ["B"]}
        holds = {"OLD": hold(source, "OLD")}
        if dest in LATER:
            holds["REST"] = hold(dest, "REST")
        return build(source, holds), {"ended": ["OLD"]}
    # breach / lock
    if dest is None:  # internal: an equal hold, nothing exposed
        kind = source if source in LATER else C
        return build(source, current_holds(source)), {"holds": [hold(kind, "NEW")]}
    if dest is F:
        m = build(source, current_holds(source))
        if source is W or (source in LATER and edge.guard):
            expose(m)  # nothing is stronger than weekly: exposure is what flattens
            return m, {"holds": [hold(source, "NEW")]}
        return m, {"holds": [hold(W if not contract_kind else Dl, "NEW")]}
    return build(source, current_holds(source)), {"holds": [hold(dest, "NEW")]}


def cases(edges: tuple[Edge, ...], kind: bool) -> list[Any]:
    return [
        pytest.param(e, s, kind, id=f"{e.trigger}-{s.value}->{e.dest.value if e.dest else 'same'}")
        for e in edges
        for s in e.source
    ]


@pytest.mark.parametrize(
    ("edge", "source", "is_contract"),
    cases(ACCOUNT_EDGES, False) + cases(CONTRACT_EDGES, True),
)
def test_every_declared_transition_reaches_its_destination_and_is_audited(
    edge: Edge, source: State, is_contract: bool
) -> None:
    model, kw = scenario(edge, source, is_contract)
    start = model.state
    machines.fire(model, edge.trigger, at=T0, reason="test", rule_id="RULE-X", **kw)
    assert model.state is (edge.dest if edge.dest is not None else start)
    [entry] = model.audit
    assert (entry.from_state, entry.to_state, entry.trigger) == (
        start,
        model.state,
        edge.trigger.value,
    )
    assert entry.contract_id == (MNQ if is_contract else None)


def undeclared(states: tuple[State, ...], edges: tuple[Edge, ...]) -> list[Any]:
    declared = {(e.trigger, s) for e in edges for s in e.source}
    return [
        pytest.param(s, t, id=f"{t}-from-{s.value}")
        for s in states
        for t in Trigger
        if (t, s) not in declared
    ]


@pytest.mark.parametrize(("state", "trigger"), undeclared(ACCOUNT_STATES, ACCOUNT_EDGES))
def test_undeclared_account_trigger_raises_and_changes_nothing(
    state: State, trigger: Trigger
) -> None:
    model = account(state, current_holds(state))
    before = dict(model.holds)
    with pytest.raises(IllegalTransition, match="not allowed"):
        machines.fire(model, trigger, at=T0, reason="x", holds=[hold(W, "NEW")])
    assert model.state is state and model.holds == before and model.audit == []


@pytest.mark.parametrize(("state", "trigger"), undeclared(CONTRACT_STATES, CONTRACT_EDGES))
def test_undeclared_contract_trigger_raises_and_changes_nothing(
    state: State, trigger: Trigger
) -> None:
    model = contract(state, current_holds(state))
    before = dict(model.holds)
    with pytest.raises(IllegalTransition, match="not allowed"):
        machines.fire(model, trigger, at=T0, reason="x", holds=[hold(Dl, "NEW")])
    assert model.state is state and model.holds == before and model.audit == []


def test_lock_without_any_hold_from_trading_is_refused_by_every_guard() -> None:
    model = account(T)
    with pytest.raises(IllegalTransition, match="every guard refused"):
        machines.fire(model, Trigger.lock, at=T0, reason="x", holds=[])
    assert model.state is T and model.audit == []


def test_contract_machine_has_no_weekly_lock() -> None:
    model = contract(T)
    with pytest.raises(IllegalTransition):
        machines.fire(model, Trigger.force, at=T0, reason="x", to=W, lock=hold(W, "ADMIN"))
    assert model.state is T
    with pytest.raises(IllegalTransition):
        machines.attach(ContractModel(1, MNQ), W, contract=True)


# --- lock precedence -------------------------------------------------------------------------


def test_a_cooldown_never_shortens_a_daily_lock() -> None:
    model = account(Dl, {"RULE-003": hold(Dl, "RULE-003")})
    machines.fire(model, Trigger.lock, at=T0, reason="x", holds=[hold(C, "RULE-008")])
    assert model.state is Dl
    assert set(model.holds) == {"RULE-003", "RULE-008"}
    # the cooldown ending leaves the daily lock in force
    machines.fire(model, Trigger.release, at=T0, reason="x", ended=["RULE-008"])
    assert model.state is Dl


def test_weekly_supersedes_daily_and_daily_returns_only_if_it_outlives_it() -> None:
    model = account(Dl, {"RULE-003": hold(Dl, "RULE-003")})
    machines.fire(model, Trigger.lock, at=T0, reason="x", holds=[hold(W, "RULE-013")])
    assert model.state is W
    machines.fire(model, Trigger.release, at=T0, reason="x", ended=["RULE-013"])
    assert model.state is Dl  # the daily hold was never dropped


def test_between_two_locks_of_one_kind_the_later_expiry_wins() -> None:
    early, late = T0 + timedelta(minutes=10), T0 + timedelta(minutes=45)
    model = account(C, {"RULE-008": hold(C, "RULE-008", late)})
    # the same rule firing again with an earlier expiry does not shorten the lock: it adds
    # nothing, so every guard refuses it (nothing changes, nothing is recorded)
    with pytest.raises(IllegalTransition, match="every guard refused 'lock'"):
        machines.fire(model, Trigger.lock, at=T0, reason="x", holds=[hold(C, "RULE-008", early)])
    assert model.holds["RULE-008"].until == late and model.audit == []
    # another rule's earlier cooldown is kept alongside; the later one decides
    machines.fire(model, Trigger.lock, at=T0, reason="x", holds=[hold(C, "RULE-010", early)])
    best = max(model.holds.values(), key=Lock.strength)
    assert best.until == late and model.state is C


def test_flattening_breach_adds_the_hold_without_a_second_flatten() -> None:
    model = account(F, {"RULE-003": hold(Dl, "RULE-003")})
    machines.fire(model, Trigger.breach, at=T0, reason="x", holds=[hold(W, "RULE-013")])
    assert model.state is F and set(model.holds) == {"RULE-003", "RULE-013"}
    machines.fire(model, Trigger.flat_confirmed, at=T0, reason="flat")
    assert model.state is W


def test_admin_force_replaces_every_hold() -> None:
    model = account(W, {"RULE-013": hold(W, "RULE-013"), "RULE-003": hold(Dl, "RULE-003")})
    machines.fire(model, Trigger.force, at=T0, reason="x", to=T, lock=None, actor="admin:ops")
    assert model.state is T and model.holds == {}
    assert model.audit[-1].actor == "admin:ops"


@pytest.mark.parametrize(
    ("state", "trigger"),
    [(C, Trigger.breach), (Dl, Trigger.breach), (W, Trigger.breach), (F, Trigger.breach)]
    + [(s, Trigger.lock) for s in (F, C, Dl, W)],
)
def test_a_breach_or_lock_that_adds_no_hold_is_refused_by_the_guards_alone(
    state: State, trigger: Trigger
) -> None:
    """The table decides: no caller-side check stands between a verdict that adds nothing
    and its transition. ``may`` says no, and firing anyway raises and changes nothing."""
    kept = hold(W if state is F else state, "RULE-013")
    model = account(state, {"RULE-013": kept})
    kw: dict[str, Any] = {"holds": [kept], "exposed": False}
    assert not machines.may(model, trigger, at=T0, reason="x", **kw)
    assert not machines.fire_if(model, trigger, at=T0, reason="x", **kw)
    with pytest.raises(IllegalTransition, match="every guard refused"):
        machines.fire(model, trigger, at=T0, reason="x", **kw)
    assert model.state is state and model.holds == {"RULE-013": kept} and model.audit == []


def test_fire_if_asks_the_guards_once_and_fires_what_they_allow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`fire_if` is `may` then `fire` in one pass: the guard runs once (not once to ask and
    again to fire), an allowed trigger fires and is recorded, and a trigger with no edge from
    the state is refused, changing nothing."""
    calls: list[str] = []
    target = machines._target

    def counted(ev: Any) -> State:
        calls.append(ev.event.name)
        return target(ev)

    monkeypatch.setattr(machines, "_target", counted)  # what escalates_or_exposed asks
    model = account(C, {"RULE-X": hold(C)})
    assert machines.fire_if(model, Trigger.breach, at=T0, reason="x", holds=[hold(Dl, "R2")])
    assert calls == ["breach"]
    assert model.state is F and [(e.from_state, e.to_state) for e in model.audit] == [(C, F)]
    flat = account(T)
    assert not machines.fire_if(flat, Trigger.flat_confirmed, at=T0, reason="x")
    assert flat.state is T and flat.audit == [] and flat.holds == {}


def test_the_same_verdict_adding_a_hold_fires_the_internal_edge() -> None:
    model = account(W, {"RULE-013": hold(W, "RULE-013")})
    new = hold(Dl, "RULE-003")
    assert machines.may(model, Trigger.breach, at=T0, reason="x", holds=[new], exposed=False)
    machines.fire(model, Trigger.breach, at=T0, reason="x", holds=[new], exposed=False)
    assert model.state is W and set(model.holds) == {"RULE-013", "RULE-003"}
    [entry] = model.audit
    assert (entry.from_state, entry.to_state, entry.trigger) == (W, W, "breach")


# --- a model's cost ------------------------------------------------------------------------------


def test_attaching_a_model_binds_no_method_to_it() -> None:
    """A restore attaches thousands of models: each gets its state and its machine, not the
    score of trigger, may_ and is_ methods `transitions` binds to a model it adds (which made
    restoring 8,000 models cost over a second), and a trigger still goes through the machine."""
    m = ContractModel(1, MNQ)
    m.join(account(T))
    before = set(vars(m))
    machines.attach(m, T, contract=True)
    assert set(vars(m)) - before == {"state", "machine"}
    assert machines.may(m, Trigger.breach, at=T0, reason="x", holds=[hold(Dl)], exposed=True)
    machines.fire(m, Trigger.breach, at=T0, reason="x", holds=[hold(Dl)], exposed=True)
    assert m.state is F and [(e.from_state, e.to_state) for e in m.audit] == [(T, F)]
