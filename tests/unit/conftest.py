"""Every verdict a rule gives in these tests is checked against what the rule says it does
(`Rule.outcome` under its config, or under the config held for the reset), which the diagrams'
legend is drawn from: a rule whose legend row would lie fails the test that made it fire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fsm_risk.core.events import Fill, Side
from fsm_risk.core.states import State
from fsm_risk.rules import ALL_RULES
from fsm_risk.rules.base import Action, Rule, Verdict
from tests.factories import DAILY, MNQ, Driver, account, fill, flat, make_engine, trip_on

_MISMATCHES: list[str] = []


def _disagreement(rule: Rule, verdict: Verdict) -> str | None:
    if verdict.action is Action.RELEASE:
        return None  # the hold's condition ended: no action or lock to compare
    o = type(rule).outcome(rule.config)
    said = (o.action, o.scope, o.lock)
    did = (verdict.action, verdict.scope, verdict.lock)
    if said != did and rule.held_config is not None:
        # a change held for the reset: the lock may be the held settings' (`held_beside`)
        h = type(rule).outcome(rule.held_config)
        if (h.action, h.scope, h.lock) == did:
            return None
    if said != did:
        return f"{rule.id}: outcome says {said}, the verdict did {did}"
    return None


def _checked(evaluate: Any) -> Any:
    def wrapper(self: Rule, *args: Any, **kwargs: Any) -> Any:
        verdicts = evaluate(self, *args, **kwargs)
        for v in verdicts:
            problem = _disagreement(self, v)
            if problem is not None:
                _MISMATCHES.append(problem)
        return verdicts

    wrapper.__wrapped__ = evaluate  # type: ignore[attr-defined]
    return wrapper


@pytest.fixture(scope="session", autouse=True)
def _rules_do_what_their_outcome_says() -> Iterator[None]:
    originals = {cls: cls.__dict__["evaluate"] for cls in ALL_RULES if "evaluate" in cls.__dict__}
    bases = {
        base: base.__dict__["evaluate"]
        for cls in ALL_RULES
        for base in cls.__mro__[1:]
        if base is not Rule and "evaluate" in base.__dict__
    }
    patched = {**bases, **originals}
    for cls, fn in patched.items():
        cls.evaluate = _checked(fn)
    yield
    for cls, fn in patched.items():
        cls.evaluate = fn


@pytest.fixture(autouse=True)
def _no_outcome_mismatch() -> Iterator[None]:
    _MISMATCHES.clear()
    yield
    assert _MISMATCHES == [], "a rule's verdict disagrees with its outcome (the legend)"


@pytest.fixture
def locked() -> Driver:
    """An account locked for the day by a scripted rule (on a fill), now flat; effects cleared."""
    d = Driver(make_engine(extra=[trip_on(Fill, DAILY)]))
    d.send(account(), fill(MNQ, Side.BUY, 1, "21000"), flat(MNQ))
    assert d.acct.state is State.LockedDaily
    d.effects.clear()
    return d
