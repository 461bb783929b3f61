"""What keeps an account monitored after `[general] accounts` leaves it out: a restriction
not ended yet (a lock or cooldown before its deadline, a hold with none, a flatten under
way), the account's own first, else its contracts' strongest; an ended one keeps nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from fsm_risk.core.reasons import Reason
from fsm_risk.core.records import Lock
from fsm_risk.core.restricted import Restriction, Scope, restriction
from fsm_risk.core.states import State
from tests.factories import MNQ, NQ, T0

RESET = T0 + timedelta(hours=2)


def hold(kind: State, until: datetime | None = RESET) -> dict[str, Lock]:
    return {"RULE-003": Lock(kind, until, "RULE-003", Reason.DAILY_LOSS_LIMIT)}


def shown(at: datetime) -> str:
    return at.strftime("%H:%M UTC")


def test_an_account_free_to_trade_is_under_no_restriction() -> None:
    assert restriction([(None, State.Trading, {})], T0) is None


def test_a_lock_holds_until_its_deadline_and_not_at_it() -> None:
    locked: list[Scope] = [(None, State.LockedDaily, hold(State.LockedDaily))]
    found = restriction(locked, T0)
    assert found == Restriction(State.LockedDaily, RESET)
    assert found.describe(shown) == "LockedDaily until 17:00 UTC"
    assert restriction(locked, RESET) is None  # ended: the restore releases it


def test_a_hold_without_a_deadline_holds_until_it_is_released() -> None:
    found = restriction([(None, State.LockedDaily, hold(State.LockedDaily, None))], T0)
    assert found is not None and found.describe(shown) == "LockedDaily with no end time"


def test_a_contract_lock_counts_when_the_account_trades_and_the_strongest_is_named() -> None:
    machines: list[Scope] = [
        (None, State.Trading, {}),
        (NQ, State.Cooldown, hold(State.Cooldown, T0 + timedelta(minutes=5))),
        (MNQ, State.LockedDaily, hold(State.LockedDaily)),
    ]
    found = restriction(machines, T0)
    assert found == Restriction(State.LockedDaily, RESET, MNQ)
    assert found.describe(shown) == f"LockedDaily on {MNQ} until 17:00 UTC"
    later = restriction(machines, T0 + timedelta(minutes=5))
    assert later == Restriction(State.LockedDaily, RESET, MNQ)


def test_the_accounts_own_restriction_comes_before_its_contracts() -> None:
    machines: list[Scope] = [
        (None, State.Cooldown, hold(State.Cooldown, T0 + timedelta(minutes=5))),
        (MNQ, State.LockedDaily, hold(State.LockedDaily)),
    ]
    found = restriction(machines, T0)
    assert found == Restriction(State.Cooldown, T0 + timedelta(minutes=5))


def test_a_flatten_under_way_is_a_restriction_whatever_its_holds_say() -> None:
    found = restriction([(None, State.Flattening, hold(State.LockedWeekly))], T0)
    assert found is not None and found.state is State.Flattening
    assert found.describe(shown) == "Flattening (then LockedWeekly until 17:00 UTC)"
    bare = restriction([(None, State.Trading, {}), (MNQ, State.Flattening, {})], RESET)
    assert bare is not None and bare.describe(shown) == f"Flattening on {MNQ}"
