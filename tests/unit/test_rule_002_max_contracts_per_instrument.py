"""RULE-002 max_contracts_per_instrument: per-root limits, months aggregate, unknown roots."""

from __future__ import annotations

from functools import partial

from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import (
    CL,
    ES,
    MNQ,
    MNQ_H27,
    NQ,
    closes,
    position,
    reduces,
    rule_driver,
)

driver = partial(rule_driver, MaxContractsPerInstrument, limits="MNQ: 4, NQ: 1", default_limit="2")


def test_at_the_root_limit_does_not_fire() -> None:
    d = driver()
    assert reduces(d.send(position(MNQ, 4, "21000"), position(NQ, 1, "21000"))) == []


def test_one_over_the_root_limit_reduces_that_root_only() -> None:
    d = driver()
    out = d.send(position(NQ, 1, "21000"), position(MNQ, 5, "21000"))
    [r] = reduces(out)
    assert (r.contract_id, r.size, r.reason) == (MNQ, 1, Reason.MAX_CONTRACTS_PER_INSTRUMENT)
    assert d.acct.state is State.Trading


def test_contract_months_of_one_root_add_up() -> None:
    d = driver()
    out = d.send(position(MNQ, 3, "21000"), position(MNQ_H27, 2, "21100"))
    [r] = reduces(out)  # 5 > 4: the larger month is reduced
    assert (r.contract_id, r.size) == (MNQ, 1)


def test_unlisted_root_uses_the_default_limit() -> None:
    d = driver()
    assert reduces(d.send(position(ES, 2, "6000"))) == []
    [r] = reduces(d.send(position(ES, 3, "6000")))
    assert (r.contract_id, r.size) == (ES, 1)


def test_unknown_policy_allow_leaves_unlisted_roots_unlimited() -> None:
    d = driver(unknown="allow")
    assert reduces(d.send(position(CL, 9, "70"))) == []


def test_unknown_policy_block_closes_any_position_in_an_unlisted_root() -> None:
    d = driver(unknown="block")
    [c] = closes(d.send(position(CL, 2, "70")))  # reduced to zero is a full close
    assert (c.contract_id, c.reason) == (CL, Reason.UNKNOWN_ROOT_BLOCKED)
    assert d.acct.state is State.Trading


def test_a_reduce_on_its_way_in_one_month_counts_at_its_target_for_the_root() -> None:
    # MNQ limited to 3 across its months. Z26 goes 1 -> 2 (4 in MNQ): Z26 is reduced to 1
    # (a tie, the nearer month). Before it fills, H27 goes 2 -> 3: 5 at the gateway, 4 once
    # the Z26 reduce fills: one more is excess, not two (H27 to 2, the root ends at its 3).
    d = driver(limits="MNQ: 3, NQ: 1")
    d.send(position(MNQ_H27, 2, "21100"), position(MNQ, 1, "21000"))
    [r] = reduces(d.send(position(MNQ, 2, "21000")))
    assert (r.contract_id, r.size) == (MNQ, 1)
    out = d.send(position(MNQ_H27, 3, "21100"))
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ_H27, 1)]
    [row] = [e.entry for e in out if isinstance(e, RecordTransition)]
    assert "MNQ: 5 contracts, 4 once the closes on their way fill > limit 3" in row.reason
    out = d.send(position(MNQ, 1, "21000"), position(MNQ_H27, 2, "21100"))
    assert reduces(out) == [] and d.acct.root_sizes() == {"MNQ": 3}
