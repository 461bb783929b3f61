"""RULE-002 max_contracts_per_instrument: per-root limits, months aggregate, unknown roots."""

from __future__ import annotations

from functools import partial

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
