"""The real gateway's product codes: ``CON.F.US.ENQ.Z26`` is an NQ contract, ``CON.F.US.EP.Z26``
an ES one. Limits, blocks and locks name the exchange's root, and hold on those ids."""

from __future__ import annotations

import pytest

from fsm_risk import schema
from fsm_risk.core.events import AdminCommand, Side
from fsm_risk.core.flatten import covers
from fsm_risk.core.instruments import DEFAULT_INSTRUMENTS, InstrumentBook, root_named, root_of
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from fsm_risk.rules.symbol_block import SymbolBlock, root_pattern
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    cancels,
    closes,
    make_engine,
    order,
    position,
    quote,
    reduces,
    restart,
    rule_driver,
    rule_engine,
)

ENQ = "CON.F.US.ENQ.Z26"
ENQ_H27 = "CON.F.US.ENQ.H27"
EP = "CON.F.US.EP.Z26"
CLE = "CON.F.US.CLE.F27"


@pytest.mark.parametrize(
    ("contract_id", "root"),
    [
        (ENQ, "NQ"),
        (EP, "ES"),
        (CLE, "CL"),
        ("CON.F.US.MCLE.F27", "MCL"),
        ("CON.F.US.GCE.G27", "GC"),
        ("CON.F.US.EU6.H27", "6E"),
        ("CON.F.US.TYA.H27", "ZN"),
        (MNQ, "MNQ"),  # a code that is the root
        ("CON.F.US.NQ.Z26", "NQ"),
        ("con.f.us.enq.z26", "NQ"),
        ("MNQ", "MNQ"),
    ],
)
def test_a_contract_ids_product_code_is_read_as_the_exchanges_root(
    contract_id: str, root: str
) -> None:
    assert root_of(contract_id) == root


def test_a_code_typed_anywhere_is_its_root_and_a_root_stays_itself() -> None:
    assert [root_named(t) for t in ("enq", " EP ", "MNQ", "NQ", "ZZZ")] == [
        "NQ",
        "ES",
        "MNQ",
        "NQ",
        "ZZZ",
    ]
    assert schema.symbol_root("Enq") == "NQ"
    assert [root_pattern(t) for t in ("CLE", "cl", "C*", "EN?")] == ["CL", "CL", "C*", "EN?"]


def test_the_default_tick_value_of_the_root_applies_to_its_coded_contracts() -> None:
    assert InstrumentBook().get(ENQ) == DEFAULT_INSTRUMENTS["NQ"]
    assert InstrumentBook().get(EP) == DEFAULT_INSTRUMENTS["ES"]


def test_a_per_root_limit_counts_every_coded_month_of_the_root() -> None:
    d = rule_driver(MaxContractsPerInstrument, limits="NQ: 1", default_limit="3")
    out = d.send(position(ENQ, 1, "21000"), position(ENQ_H27, 1, "21100"))
    [c] = closes(out)  # NQ: 2 contracts > limit 1 (the old reading: ENQ, default 3)
    assert (c.contract_id, c.reason) == (ENQ, Reason.MAX_CONTRACTS_PER_INSTRUMENT)  # nearer


def test_an_unknown_root_policy_of_block_leaves_a_listed_roots_coded_contract_alone() -> None:
    d = rule_driver(MaxContractsPerInstrument, limits="ES: 2", unknown="block")
    out = d.send(position(EP, 2, "6000"))
    assert reduces(out) == [] and closes(out) == []  # the old reading: EP unknown, closed
    out = d.send(position("CON.F.US.CLE.F27", 1, "70"))  # CL is not listed: blocked
    assert [c.contract_id for c in closes(out)] == ["CON.F.US.CLE.F27"]


def test_a_blocked_root_blocks_its_coded_contracts_and_only_them() -> None:
    rule = rule_engine(SymbolBlock, roots="NQ, CLE").rules[0]
    assert isinstance(rule, SymbolBlock)
    assert [c for c in (ENQ, CLE, "CON.F.US.CL.F27", EP, MNQ) if rule._blocked(c)] == [
        ENQ,
        CLE,
        "CON.F.US.CL.F27",
    ]


def _driver() -> Driver:
    return Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))


def test_an_admins_root_lock_covers_the_coded_contracts_of_that_root() -> None:
    d = _driver()
    d.send(account(), quote(ENQ, "21000"), quote(EP, "6000"))
    d.send(position(ENQ, 1, "21000"), position(EP, 1, "6000"))
    out = d.send(AdminCommand(ACC, State.LockedDaily, "desk", "ops", contract_id="NQ"))
    assert [c.contract_id for c in closes(out)] == [ENQ]
    assert d.acct.contracts["NQ"].state is State.LockedDaily
    out = d.send(order(7, ENQ_H27, Side.BUY, 1, limit="20990"))
    assert [c.order_id for c in cancels(out)] == [7]
    # the gateway's code typed is the root: the same lock, not another one
    d.send(AdminCommand(ACC, State.LockedDaily, "again", "ops", contract_id="enq"))
    assert "ENQ" not in d.acct.contracts and d.acct.contracts["NQ"].state is State.LockedDaily


def test_a_lock_stored_under_the_gateways_code_still_covers_its_contracts() -> None:
    assert covers("ENQ", ENQ) and covers("NQ", ENQ) and covers(ENQ, ENQ)
    assert not covers("NQ", "CON.F.US.MNQ.Z26") and not covers("EP", ENQ)


def test_a_root_lock_on_coded_contracts_survives_a_restart() -> None:
    d = _driver()
    d.send(account(), quote(ENQ, "21000"))
    d.send(AdminCommand(ACC, State.LockedDaily, "desk", "ops", contract_id="NQ"))
    d = restart(d, lambda: make_engine({DailyLossLimit: {"limit": "1000"}}))
    out = d.send(position(ENQ, 1, "21000"))
    assert [c.contract_id for c in closes(out)] == [ENQ]


@pytest.mark.parametrize(("typed", "meant"), [("NQZ6", ENQ), ("nqz26", ENQ), ("NQH7", ENQ_H27)])
def test_a_contract_as_a_platform_names_it_is_that_known_contract(typed: str, meant: str) -> None:
    d = _driver()
    d.send(account(), position(ENQ, 1, "21000"), position(ENQ_H27, 1, "21100"))
    d.send(AdminCommand(ACC, State.LockedDaily, "desk", "ops", contract_id=typed))
    assert meant in d.acct.contracts and "NQ" not in d.acct.contracts


def test_a_platform_name_of_no_known_contract_is_refused_naming_the_choices() -> None:
    d = _driver()
    d.send(account(), position(ENQ, 1, "21000"))
    with pytest.raises(FsmRiskError) as err:
        d.send(AdminCommand(ACC, State.LockedDaily, "desk", "ops", contract_id="NQM7"))
    assert "unknown contract 'NQM7': give a symbol root" in str(err.value)
    assert ENQ in str(err.value)
    assert d.acct.state is State.Trading and list(d.acct.contracts) in ([], [ENQ])


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("CON.F.US.ES.H27", "CON.F.US.EP.H27"),
        ("con.f.us.nq.h27", ENQ_H27),
        ("CON.F.US.GC.G27", "CON.F.US.GCE.G27"),
        ("CON.F.US.MNQ.H27", "CON.F.US.MNQ.H27"),  # a root that is its own code
        ("CON.F.US.EP.H27", "CON.F.US.EP.H27"),
    ],
)
def test_a_full_id_of_a_contract_not_seen_yet_is_locked_as_the_gateway_writes_it(
    typed: str, meant: str
) -> None:
    """Reported: `transition 1001 --contract CON.F.US.ES.H27 --to LockedDaily` was accepted and
    shown as a lock, but the gateway writes ES as EP: the trader bought CON.F.US.EP.H27 and
    kept it. The id typed with the root is the contract the gateway names with its code."""
    d = _driver()
    d.send(account(), quote(EP, "6000"), quote(ENQ, "21000"))
    d.send(AdminCommand(ACC, State.LockedDaily, "pre-roll", "ops", contract_id=typed))
    assert list(d.acct.contracts) == [meant]
    assert d.acct.contracts[meant].state is State.LockedDaily
    if meant == "CON.F.US.EP.H27":  # the trader's entry in the contract meant is closed
        d.send(quote(meant, "6010"))
        out = d.send(position(meant, 1, "6010"))
        assert [c.contract_id for c in closes(out)] == [meant]
