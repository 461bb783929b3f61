"""A position in an unknown contract that a reduce only cuts stays held: closed when the gateway
has no such contract or says nothing (a reduce let the hold go, and the rest stayed open
unvalued for good)."""

from __future__ import annotations

from fsm_risk.core.effects import LearnInstrument
from fsm_risk.core.events import (
    EnforcementAccepted,
    InstrumentMissing,
    OrderStatus,
    OrderType,
    Side,
)
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts import MaxContracts
from tests.factories import ACC, closes, fill, order, position, reduces, rule_driver

DA6 = "CON.F.US.DA6.M26"  # no built-in ticks


def test_an_unknown_contract_reduced_then_denied_is_still_closed() -> None:
    d = rule_driver(MaxContracts, limit="3")
    out = d.send(position(DA6, 5, "0.65210"))
    assert LearnInstrument(DA6) in out
    assert [r.size for r in reduces(out)] == [2]
    d.send(
        EnforcementAccepted(ACC, DA6, 70),
        order(70, DA6, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(DA6, Side.SELL, 2, "0.65200", pnl="-10", order_id=70),
        position(DA6, 3, "0.65210"),
    )
    assert d.acct.contracts[DA6].state is State.Trading
    assert d.acct.positions[DA6].size == 3
    # the gateway has no such contract: fail closed, the 3 must close
    out = d.send(InstrumentMissing(DA6))
    out += d.advance(seconds=30)
    assert [c.contract_id for c in closes(out)] == [DA6], (
        f"3 {DA6} left open unvalued, no hold: unpriced={d.acct.unpriced}"
    )


def test_an_unknown_contract_reduced_and_the_gateway_silent_is_still_closed() -> None:
    d = rule_driver(MaxContracts, limit="3")
    d.send(position(DA6, 5, "0.65210"))
    d.send(
        EnforcementAccepted(ACC, DA6, 70),
        order(70, DA6, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(DA6, Side.SELL, 2, "0.65200", pnl="-10", order_id=70),
        position(DA6, 3, "0.65210"),
    )
    out = d.advance(seconds=60)  # the searchById never answered
    assert [c.contract_id for c in closes(out)] == [DA6], "held unvalued for good"
