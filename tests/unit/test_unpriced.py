"""A position in a contract whose tick size and value are unknown waits a moment for the
gateway's word (see `core.unpriced`): valued when it tells them, closed (fail closed) when it
has no such contract or says nothing within the settle timeout; an account-wide breach closes
it meanwhile as any other position."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.effects import Alert, LearnInstrument, Level
from fsm_risk.core.events import InstrumentInfo, InstrumentMissing
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    MNQ,
    Driver,
    account,
    alerts,
    closes,
    flat,
    make_engine,
    position,
    quote,
    restart,
)

#: an Australian dollar contract under the gateway's code: no built-in tick size or value
DA6 = "CON.F.US.DA6.M26"
AUD = InstrumentInfo(DA6, Decimal("0.00005"), Decimal("5.00"))


def unknown(out: list[object], level: Level) -> list[Alert]:
    return [a for a in alerts(out) if a.reason is Reason.UNKNOWN_INSTRUMENT and a.level is level]


def held() -> Driver:
    d = Driver(make_engine())
    d.send(account())
    return d


def test_a_position_in_an_unknown_contract_asks_the_gateway_and_is_not_closed() -> None:
    d = held()
    out = d.send(position(DA6, 2, "0.65210"))
    assert LearnInstrument(DA6) in out
    assert closes(out) == []
    assert unknown(out, Level.CRITICAL) == []
    [warning] = unknown(out, Level.WARNING)
    assert "asking the gateway" in warning.message and "10 s" in warning.message
    assert DA6 in d.acct.unpriced
    assert d.acct.contracts.get(DA6) is None or d.acct.contracts[DA6].state is State.Trading


def test_told_by_the_gateway_it_is_valued_and_never_closed() -> None:
    d = held()
    d.send(position(DA6, 2, "0.65210"), quote(DA6, "0.65200"))
    out = d.send(AUD)
    assert closes(out) == [] and d.acct.unpriced == {}
    # 2 contracts, 2 ticks down at $5.00 a tick
    assert d.acct.positions[DA6].upnl == Decimal("-20.00")
    assert closes(d.advance(seconds=30)) == []
    assert d.acct.state is State.Trading


def test_a_position_again_while_held_keeps_its_first_deadline_and_asks_once() -> None:
    d = held()
    d.send(position(DA6, 1, "0.65210"))
    d.advance(seconds=6)
    out = d.send(position(DA6, 2, "0.65210"))
    assert LearnInstrument(DA6) not in out
    assert closes(d.advance(seconds=3.9)) == []
    assert [c.contract_id for c in closes(d.advance(seconds=0.1))] == [DA6]


def test_closed_when_the_gateway_does_not_tell_within_the_settle_timeout() -> None:
    d = held()
    d.send(position(DA6, 1, "0.65210"))
    assert closes(d.advance(seconds=9.9)) == []
    out = d.advance(seconds=0.1)
    assert [c.contract_id for c in closes(out)] == [DA6]
    [critical] = unknown(out, Level.CRITICAL)
    assert "did not tell them within 10 s" in critical.message
    assert d.acct.contracts[DA6].state is State.Flattening
    assert d.acct.unpriced == {}


def test_closed_at_once_when_the_gateway_has_no_such_contract() -> None:
    d = held()
    d.send(position(DA6, 1, "0.65210"))
    out = d.send(InstrumentMissing(DA6))
    assert [c.contract_id for c in closes(out)] == [DA6]
    [critical] = unknown(out, Level.CRITICAL)
    assert "the gateway has no such contract" in critical.message
    assert closes(d.advance(seconds=30)) == []  # one close, not a second at the deadline


def test_no_such_contract_said_of_a_contract_not_held_changes_nothing() -> None:
    d = held()
    d.send(position(MNQ, 1, "21000"))
    out = d.send(InstrumentMissing(MNQ))  # MNQ is known by its root: a default stays
    assert closes(out) == [] and alerts(out) == []


def test_an_account_wide_breach_closes_the_held_position_too() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    d.send(account(), position(DA6, 1, "0.65210"), position(MNQ, 2, "21000"))
    out = d.send(quote(MNQ, "20500"))  # 2 x -1,000 points x $0.50 = -1,000
    assert d.acct.state is State.Flattening
    assert {c.contract_id for c in closes(out)} == {MNQ, DA6}
    assert unknown(out, Level.CRITICAL) == []
    assert unknown(d.advance(seconds=30), Level.CRITICAL) == []  # the hold ended with it


def test_valued_when_told_it_is_judged_at_once() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    d.send(account(), position(DA6, 10, "0.65210"), quote(DA6, "0.64200"))
    assert d.acct.state is State.Trading  # no value yet: nothing to judge
    out = d.send(AUD)  # 10 x -202 ticks x $5.00 = -10,100
    assert d.acct.state is State.Flattening
    assert [c.contract_id for c in closes(out)] == [DA6]
    assert unknown(out, Level.CRITICAL) == []


def test_gone_before_the_deadline_ends_the_hold() -> None:
    d = held()
    d.send(position(DA6, 1, "0.65210"))
    d.send(flat(DA6))
    out = d.advance(seconds=30)
    assert closes(out) == [] and unknown(out, Level.CRITICAL) == []
    assert d.acct.unpriced == {}


def test_a_restart_does_not_keep_the_hold_and_the_read_holds_it_anew() -> None:
    d = held()
    d.send(position(DA6, 1, "0.65210"))
    d.advance(seconds=5)
    fresh = restart(d, make_engine)
    assert fresh.acct.unpriced == {}
    assert closes(fresh.advance(seconds=30)) == []
    out = fresh.send(position(DA6, 1, "0.65210"))  # the start-up read lists it
    assert LearnInstrument(DA6) in out and closes(out) == []
    assert closes(fresh.send(AUD)) == []
