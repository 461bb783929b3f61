"""RULE-001 max_contracts: at, just under and just over the limit; reduce and flatten."""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.events import Tick
from fsm_risk.core.models import Position
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts import MaxContracts
from tests.factories import (
    ES,
    MES,
    MNQ,
    NQ,
    T0,
    closes,
    position,
    reduces,
    rule_driver,
)

driver = partial(rule_driver, MaxContracts, limit="5")


def test_exactly_at_the_limit_does_not_fire() -> None:
    d = driver()
    out = d.send(position(MNQ, 3, "21000"), position(ES, 2, "6000"))
    assert reduces(out) == [] and closes(out) == []


def test_just_under_the_limit_does_not_fire() -> None:
    d = driver()
    assert reduces(d.send(position(MNQ, 4, "21000"))) == []


def test_one_over_reduces_the_largest_position_by_the_excess_without_a_lock() -> None:
    d = driver()
    d.send(position(ES, 2, "6000"))
    out = d.send(position(MNQ, 4, "21000"))  # 6 open > 5
    [r] = reduces(out)
    assert (r.contract_id, r.size, r.reason, r.rule_id) == (
        MNQ,
        1,
        Reason.MAX_CONTRACTS,
        "RULE-001",
    )
    assert d.acct.state is State.Trading
    d.send(position(MNQ, 3, "21000"))
    assert d.acct.contracts[MNQ].state is State.Trading


def test_excess_larger_than_one_position_spreads_over_the_next_largest() -> None:
    # several positions seen at once (as at start-up): evaluate the rule on that view
    d = driver(limit="2")
    for c, size in ((ES, 2), (MNQ, 2), (NQ, 1)):
        d.acct.positions[c] = Position(c, True, size, Decimal(100), T0)
    verdicts = d.engine.rules[0].evaluate(d.acct, Tick(), d.now)
    # 5 open, limit 2, excess 3: largest first, ties by contract id (ES before MNQ)
    assert [(v.contract_id, v.target_size) for v in verdicts] == [(ES, 0), (MNQ, 1)]


def test_positions_arriving_one_by_one_are_cut_as_the_excess_appears() -> None:
    d = driver(limit="2")
    d.send(position(ES, 2, "6000"))
    [c] = closes(d.send(position(MNQ, 2, "21000")))  # 4 > 2: ES (tie, first id) closed
    assert c.contract_id == ES


def test_net_counting_lets_longs_and_shorts_offset() -> None:
    d = driver(count="net")
    out = d.send(position(MNQ, 4, "21000"), position(MES, 3, "6000", long=False))
    assert reduces(out) == []  # gross 7, net 1
    out = d.send(position(MES, 3, "6000"))  # now both long: net 7
    assert sum(r.size for r in reduces(out)) == 2


def test_flatten_policy_closes_everything_and_returns_to_trading() -> None:
    d = driver(action="flatten")
    out = d.send(position(MNQ, 3, "21000"), position(ES, 3, "6000"))
    assert sorted(c.contract_id for c in closes(out)) == sorted([MNQ, ES])
    assert d.acct.state is State.Flattening
    d.send(position(MNQ, 0, "0"), position(ES, 0, "0"))
    assert d.acct.state is State.Trading


def test_usage_reports_open_contracts_against_the_limit() -> None:
    d = driver()
    d.send(position(MNQ, 4, "21000"))
    rule = d.engine.rules[0]
    u = rule.usage(d.acct, d.now)
    assert (u.value, u.limit, u.unit, float(u.fraction)) == (4, 5, "contracts", 0.8)


def test_a_reduce_on_its_way_counts_at_its_target_so_a_burst_is_not_cut_twice() -> None:
    # Limit 5. ES goes 2 -> 3 (6 open): ES is reduced to 2. Before that reduce fills, the
    # trader buys one more MNQ: the gateway shows MNQ 4 + ES 3 = 7, of which 1 is already on
    # its way out. One more contract is excess, not two: MNQ 4 -> 3, and the account ends
    # holding the 5 it may (cutting MNQ to 2 left it at 4, the trader's spread and fees lost).
    d = driver()
    d.send(position(MNQ, 3, "21000"), position(ES, 2, "6000"))
    [r] = reduces(d.send(position(ES, 3, "6000")))
    assert (r.contract_id, r.size) == (ES, 1)
    out = d.send(position(MNQ, 4, "21000"))
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 1)]
    assert d.acct.contracts[MNQ].target_size == 3
    [row] = [e.entry for e in out if isinstance(e, RecordTransition)]
    assert "7 contracts open, 6 once the closes on their way fill > limit 5" in row.reason
    # both reduces fill: 5 held, and nothing more is cut
    out = d.send(position(ES, 2, "6000"), position(MNQ, 3, "21000"))
    assert reduces(out) == [] and closes(out) == []
    assert d.acct.gross_size() == 5
    assert {c: m.state for c, m in d.acct.contracts.items()} == {
        ES: State.Trading,
        MNQ: State.Trading,
    }


def test_a_trader_adding_to_the_contract_being_reduced_is_cut_by_that_reduce_alone() -> None:
    d = driver()
    d.send(position(MNQ, 3, "21000"), position(ES, 2, "6000"))
    d.send(position(ES, 3, "6000"))  # ES reduced to 2
    # one more ES before the reduce fills: 7 at the gateway, ES still headed for 2, so 5
    # once done: the rule asks nothing more of MNQ
    d.send(position(ES, 4, "6000"))
    assert d.acct.contracts[ES].target_size == 2
    assert MNQ not in d.acct.contracts or d.acct.contracts[MNQ].state is State.Trading


def test_net_counting_takes_a_reduce_on_its_way_at_its_target_too() -> None:
    d = driver(count="net")
    d.send(position(MNQ, 3, "21000"), position(ES, 2, "6000"))
    d.send(position(ES, 3, "6000"))  # net 6: ES reduced to 2
    out = d.send(position(MNQ, 4, "21000"))  # net 7 at the gateway, 6 once ES's reduce fills
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 1)]
