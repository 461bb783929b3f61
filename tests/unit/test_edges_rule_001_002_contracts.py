"""RULE-001 max_contracts and RULE-002 max_contracts_per_instrument at their edges: a restart
at the limit, one contract past it added while the service was down, a reduce on its way when
the service stops, and a daily reset (which changes nothing for a count of what is open)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from fsm_risk.core.effects import CancelOrder, ClosePosition, Effect, ReducePosition, ResizeOrder
from fsm_risk.core.events import Event, PositionUpdate
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import (
    ES,
    MNQ,
    MNQ_H27,
    T0,
    Driver,
    closes,
    gateway_read,
    position,
    reduces,
    restart,
    rule_driver,
    rule_engine,
)

SPRING = datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # Sunday 17:00 CDT
FALL = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # Sunday 17:00 CST

account_driver = partial(rule_driver, MaxContracts, limit="5")
account_engine = partial(rule_engine, MaxContracts, limit="5")
root_driver = partial(rule_driver, MaxContractsPerInstrument, limits="MNQ: 5")
root_engine = partial(rule_engine, MaxContractsPerInstrument, limits="MNQ: 5")

_HELD_BACK = (ClosePosition, ReducePosition, CancelOrder, ResizeOrder)


def start_up_read(d: Driver, *listed: Event) -> list[Effect]:
    """A restart's first read as the service runs it: the enforcement the read asks for is held
    back while the account's working orders are unknown, and the contracts it named are given
    to `resume` (the service's ``held_back``). Returns what goes out: the read's effects other
    than those held back, and everything `resume` decides."""
    read = [
        dataclasses.replace(e, snapshot=True) if isinstance(e, PositionUpdate) else e
        for e in listed
    ]
    out = gateway_read(d, *read)
    held = {e.contract_id for e in out if isinstance(e, _HELD_BACK) and e.contract_id}
    resumed = d.engine.resume(d.acc, held, d.now)
    d.effects.extend(resumed)
    return [e for e in out if not isinstance(e, _HELD_BACK)] + resumed


def test_max_contracts_restart_at_the_limit_cuts_nothing() -> None:
    d = account_driver()
    d.send(position(MNQ, 3, "21000"), position(ES, 2, "6000"))
    again = restart(d, account_engine, at=T0 + timedelta(minutes=5))
    out = start_up_read(again, position(MNQ, 3, "21000"), position(ES, 2, "6000"))
    assert reduces(out) == [] and closes(out) == []
    assert again.acct.gross_size() == 5


def test_max_contracts_one_added_while_down_is_cut_at_start_up() -> None:
    d = account_driver()
    d.send(position(MNQ, 3, "21000"), position(ES, 2, "6000"))
    again = restart(d, account_engine, at=T0 + timedelta(minutes=5))
    out = start_up_read(again, position(MNQ, 4, "21000"), position(ES, 2, "6000"))
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 1)]
    assert again.acct.contracts[MNQ].target_size == 3
    assert again.acct.state is State.Trading  # no lock


def test_max_contracts_a_reduce_on_its_way_at_the_stop_is_not_sent_twice() -> None:
    # ES 2 -> 3 makes 6 > 5: ES is reduced to 2. The service stops before the reduce fills;
    # at start-up the gateway still lists ES 3: ES is still headed for 2 and MNQ is not cut
    d = account_driver()
    d.send(position(MNQ, 3, "21000"), position(ES, 2, "6000"))
    [r] = reduces(d.send(position(ES, 3, "6000")))
    assert (r.contract_id, r.size) == (ES, 1)
    again = restart(d, account_engine, at=d.now + timedelta(seconds=2))
    out = start_up_read(again, position(MNQ, 3, "21000"), position(ES, 3, "6000"))
    assert all(x.contract_id != MNQ for x in reduces(out))
    assert all(x.size == 1 for x in reduces(out) if x.contract_id == ES)
    assert again.acct.contracts[ES].target_size == 2
    out = again.send(position(ES, 2, "6000"))  # the reduce fills: 5 held
    assert reduces(out) == [] and closes(out) == []
    assert again.acct.gross_size() == 5


@pytest.mark.parametrize("reset", [SPRING, FALL])
def test_max_contracts_at_the_limit_across_a_dst_reset_cuts_nothing(reset: datetime) -> None:
    d = account_driver(now=reset - timedelta(minutes=1))
    d.send(position(MNQ, 5, "21000", at=d.now))
    out = d.at(reset)
    assert reduces(out) == [] and closes(out) == []
    assert d.acct.day.start == reset
    out = d.send(position(MNQ, 6, "21000", at=reset))
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 1)]


def test_per_instrument_months_at_the_limit_across_a_restart_cut_nothing() -> None:
    d = root_driver()
    d.send(position(MNQ, 3, "21000"), position(MNQ_H27, 2, "21100"))
    again = restart(d, root_engine, at=T0 + timedelta(minutes=5))
    out = start_up_read(again, position(MNQ, 3, "21000"), position(MNQ_H27, 2, "21100"))
    assert reduces(out) == [] and closes(out) == []


def test_per_instrument_a_month_added_while_down_cuts_the_largest_month() -> None:
    d = root_driver()
    d.send(position(MNQ, 3, "21000"), position(MNQ_H27, 2, "21100"))
    again = restart(d, root_engine, at=T0 + timedelta(minutes=5))
    out = start_up_read(again, position(MNQ, 3, "21000"), position(MNQ_H27, 3, "21100"))
    cut = [(r.contract_id, r.size) for r in reduces(out)]
    assert sum(size for _, size in cut) == 1  # 6 MNQ held, limit 5: one contract, no more
    assert again.acct.state is State.Trading


def test_per_instrument_exactly_at_the_limit_and_one_past_it() -> None:
    d = root_driver()
    assert reduces(d.send(position(MNQ, 5, "21000"))) == []
    out = d.send(position(MNQ, 7, "21000"))
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 2)]
    assert d.acct.contracts[MNQ].target_size == 5
