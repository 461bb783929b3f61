"""A take-over of the admin secret (`core.lost.TakeOver`): its audit entries, and how a lost
state's note shows it (only a take-over made since the note answers it)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.lost import LostState, TakeOver, lost_view, read_take_over, take_over_audit
from fsm_risk.core.states import State
from tests.factories import T0

NOTE = LostState(
    1001, T0, T0 - timedelta(days=1), T0 + timedelta(days=4), 2, Decimal("-10"), Decimal("-10"),
    secret_held=True,
)  # fmt: skip


def test_one_entry_per_account_its_state_unchanged() -> None:
    take = TakeOver(T0, "ops", True, "account 1001 started with no stored state")
    entries = take_over_audit(take, [(1001, State.LockedDaily), (1002, State.Trading)])
    assert [(e.account_id, e.from_state, e.to_state) for e in entries] == [
        (1001, State.LockedDaily, State.LockedDaily),
        (1002, State.Trading, State.Trading),
    ]
    assert {(e.trigger, e.actor, e.at, e.contract_id, e.rule_id) for e in entries} == {
        ("take_over", "ops", T0, None, None)
    }
    assert entries[0].reason == (
        "admin secret replaced with --take-over (the database's state was lost: account 1001 "
        "started with no stored state)"
    )


def test_only_a_take_over_since_the_note_answers_it() -> None:
    after = TakeOver(T0 + timedelta(minutes=1), "ops", True, "x")
    assert lost_view(NOTE, after)["secret_taken_over"] == after.to_dict()
    before = TakeOver(T0 - timedelta(minutes=1), "ops", True, "x")  # a state lost again since
    assert lost_view(NOTE, before)["secret_taken_over"] is None
    assert lost_view(NOTE, None)["secret_taken_over"] is None
    assert read_take_over(after.to_dict().__repr__()) is None  # unreadable: none
    assert read_take_over(json.dumps(after.to_dict())) == after
