"""After a restart the shell holds enforcement back until the gateway's working orders are
known; `resume` then decides every pending close from them (pure engine)."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import OrderType, Side
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts import MaxContracts
from tests.factories import (
    MNQ,
    Driver,
    account,
    make_engine,
    order,
    position,
    reads,
    reduces,
    restart,
)


def engine() -> RiskEngine:
    return make_engine({MaxContracts: {"limit": "3"}}, close_timeout=timedelta(seconds=2))


def crashed_while_reducing() -> Driver:
    """8 MNQ over a limit of 3: the reduce by 5 was sent, then the service died."""
    d = Driver(engine())
    d.send(account())
    assert [r.size for r in reduces(d.send(position(MNQ, 8, "21000")))] == [5]
    return restart(d, engine, at=d.now + timedelta(seconds=5))  # the retry is due


def test_a_close_still_working_at_the_gateway_is_not_sent_again() -> None:
    d = crashed_while_reducing()
    # the reconciliation shows the reduce working (market, the closing side), position 8
    d.send(order(77, MNQ, Side.SELL, 5, type=OrderType.MARKET), position(MNQ, 8, "21000"))
    out = d.engine.resume(d.acc, {MNQ}, d.now)
    assert reduces(out) == []
    assert d.acct.contracts[MNQ].state is State.Flattening


def test_a_close_that_never_reached_the_gateway_is_sent_once_and_not_counted_twice() -> None:
    d = crashed_while_reducing()
    # its timeout passed while the service was down: the restore asks for a read of the
    # gateway and sends nothing blind
    assert reduces(d.effects) == [] and [r.contract_id for r in reads(d.effects)] == [MNQ]
    d.send(position(MNQ, 8, "21000"))  # no working order: the first reduce never arrived
    out = d.engine.resume(d.acc, set(), d.now)  # the start's reconciliation is that read
    assert [r.size for r in reduces(out)] == [5]
    assert d.acct.contracts[MNQ].attempts == 2  # the first reduce and this one, sent


def test_a_breach_held_back_before_the_start_read_is_sent_once_and_counted_once() -> None:
    d = Driver(engine())
    d.send(account())
    d = restart(d, engine)
    # a live position breaches before the start's read: the shell holds the reduce back
    assert [r.size for r in reduces(d.send(position(MNQ, 8, "21000")))] == [5]
    out = d.engine.resume(d.acc, {MNQ}, d.now)  # the read: still 8, nothing working
    assert [r.size for r in reduces(out)] == [5] and reads(out) == []
    assert d.acct.contracts[MNQ].attempts == 1  # the one that went out
