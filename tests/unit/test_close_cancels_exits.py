"""A close of everything by the service cancels the trader's exits in that contract.

Short 3 MNQ with a bracket (a buy stop of 3 and a buy target of 3) reduced to 0 by RULE-001:
the gateway leaves both legs working, and once the position is flat either one, reached,
buys 3 and opens a long the trader never asked for (then seen as our close's overshoot and
closed a second time). So a reduce to 0, like a lock's close, cancels the exits on the
closing side right after its close, in the same batch; a reduce that leaves contracts still
resizes them (`test_bracket_resize`)."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.effects import CancelOrder, ClosePosition, Effect, ReducePosition, ResizeOrder
from fsm_risk.core.events import AdminCommand, OrderType, OrderUpdate, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from fsm_risk.rules.position_hold_time import PositionHoldTime
from tests.factories import (
    ACC,
    MNQ,
    MNQ_H27,
    NQ,
    T0,
    alerts,
    cancels,
    closes,
    flat,
    order,
    position,
    rule_driver,
)

STOP, TAKE, ENTRY = 11, 12, 13
HOLD_LIMIT = timedelta(minutes=240)  # RULE-009's default


def bracket(side: Side = Side.BUY, size: int = 3) -> tuple[OrderUpdate, OrderUpdate]:
    """The legs of a short's bracket: a buy stop above the price, a buy target below it."""
    return (
        order(STOP, MNQ, side, size, type=OrderType.STOP, stop="21020"),
        order(TAKE, MNQ, side, size, limit="20980"),
    )


def sent(out: list[Effect]) -> list[tuple[str, object]]:
    """The enforcement requests in the order the shell sends them."""
    kinds = (ClosePosition, ReducePosition, CancelOrder, ResizeOrder)
    return [
        (type(e).__name__, e.contract_id if isinstance(e, ClosePosition) else e.order_id)
        for e in out
        if isinstance(e, kinds) and not isinstance(e, ReducePosition)
    ]


def test_a_reduce_to_zero_cancels_the_brackets_legs_right_after_its_close() -> None:
    d = rule_driver(MaxContracts, limit="2")
    d.send(position(NQ, 2, "21000"), *bracket())
    out = d.send(position(MNQ, 3, "21000", long=False))  # gross 5 > 2: MNQ 3 -> 0
    assert [(c.contract_id, c.rule_id) for c in closes(out)] == [(MNQ, "RULE-001")]
    # the close first, then both legs, in the same batch
    assert sent(out) == [
        ("ClosePosition", MNQ),
        ("CancelOrder", STOP),
        ("CancelOrder", TAKE),
    ]
    assert {c.reason for c in cancels(out)} == {Reason.ORDER_RESIZED}
    # flat: the contract is done; the legs' cancels are not sent twice meanwhile
    out = d.send(flat(MNQ))
    assert d.acct.contracts[MNQ].state is State.Trading
    assert cancels(out) == []
    # a cancel unconfirmed in time is re-sent: none is left to reopen the position
    out = d.advance(seconds=30)
    assert sorted(c.order_id for c in cancels(out)) == [STOP, TAKE]
    assert [c.reason for c in cancels(out)] == [Reason.CANCEL_NOT_CONFIRMED] * 2
    assert not [a for a in alerts(d.effects) if a.reason is Reason.CLOSE_OVERSHOT]


def test_a_reduce_to_zero_leaves_the_opening_side_and_other_contracts_alone() -> None:
    d = rule_driver(MaxContracts, limit="2")
    d.send(
        position(NQ, 2, "21000"),
        order(STOP, MNQ, Side.BUY, 3, type=OrderType.STOP, stop="21020"),
        order(ENTRY, MNQ, Side.SELL, 1, limit="21050"),  # adds to the short: his entry
        order(21, NQ, Side.SELL, 2, type=OrderType.STOP, stop="20900"),
    )
    out = d.send(position(MNQ, 3, "21000", long=False))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert [c.order_id for c in cancels(out)] == [STOP]


def test_rule_002_reducing_a_contract_to_zero_cancels_its_exits() -> None:
    """A root over its limit, reduced largest month first: the month taken to 0 loses its
    exits, the month kept keeps its own."""
    d = rule_driver(MaxContractsPerInstrument, limits="MNQ: 2", default_limit="3")
    d.send(
        position(MNQ, 2, "21000"),
        order(31, MNQ, Side.SELL, 2, type=OrderType.STOP, stop="20900"),
        order(STOP, MNQ_H27, Side.SELL, 3, type=OrderType.STOP, stop="20900"),
        order(TAKE, MNQ_H27, Side.SELL, 3, limit="21100"),
    )
    out = d.send(position(MNQ_H27, 3, "21000"))  # MNQ 5 > 2: the larger month, 3 -> 0
    assert [(c.contract_id, c.rule_id) for c in closes(out)] == [(MNQ_H27, "RULE-002")]
    assert sent(out) == [
        ("ClosePosition", MNQ_H27),
        ("CancelOrder", STOP),
        ("CancelOrder", TAKE),
    ]


def test_a_locks_close_cancels_the_exits_it_leaves_nothing_for() -> None:
    """An account forced into a lock closes every position at once; the bracket's legs,
    left to work beside that close, would reverse it once flat."""
    d = rule_driver(MaxContracts, limit="5")
    d.send(position(MNQ, 3, "21000", long=False), *bracket())
    out = d.send(AdminCommand(ACC, State.Cooldown, "cool off", "ops", minutes=30))
    assert d.acct.state is State.Cooldown
    assert sent(out) == [
        ("ClosePosition", MNQ),
        ("CancelOrder", STOP),
        ("CancelOrder", TAKE),
    ]


def test_a_reduce_that_leaves_contracts_still_resizes_and_cancels_nothing() -> None:
    d = rule_driver(MaxContracts, limit="2")
    d.send(*bracket())
    out = d.send(position(MNQ, 3, "21000", long=False))
    assert [o.resize_to for o in d.acct.orders.values()] == [2, 2]  # (3 -> 2 each)
    assert [e.size for e in out if isinstance(e, ReducePosition)] == [1]
    assert cancels(out) == []


def test_a_flatten_cancels_the_orders_once_each() -> None:
    d = rule_driver(MaxContracts, limit="2", action="flatten")
    d.send(*bracket())
    out = d.send(position(MNQ, 3, "21000", long=False))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert sorted(c.order_id for c in cancels(out)) == [STOP, TAKE]
    assert {c.reason for c in cancels(out)} == {Reason.MAX_CONTRACTS}  # the flatten's own


def test_an_exit_placed_while_the_reduce_to_zero_is_on_its_way_is_cancelled() -> None:
    """Short 3 reduced to 0: the trader's buy stop of 3, placed while that close is on its
    way (under a slow fill, seconds), would buy 3 once flat and open a long; it is cancelled
    as soon as it is seen, like the exits that worked when the close went, and only once."""
    d = rule_driver(MaxContracts, limit="2")
    d.send(position(NQ, 2, "21000"))
    out = d.send(position(MNQ, 3, "21000", long=False))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    out = d.send(order(STOP, MNQ, Side.BUY, 3, type=OrderType.STOP, stop="21020"))
    assert [(c.order_id, c.reason) for c in cancels(out)] == [(STOP, Reason.ORDER_RESIZED)]
    out = d.send(order(ENTRY, MNQ, Side.SELL, 1, limit="21050"))  # his entry: left alone
    assert cancels(out) == []
    out = d.send(flat(MNQ))
    assert d.acct.contracts[MNQ].state is State.Trading
    assert cancels(out) == []


def test_a_flatten_that_cancels_the_orders_cancels_those_placed_while_it_closes() -> None:
    """Found by review: RULE-009 closes the whole position and cancels its orders, but only
    those working when it began: a buy stop placed on a short 3 while that close was on its
    way stayed working once flat (and the contract stayed `Flattening` for it), to open a
    long 3 when reached."""
    d = rule_driver(PositionHoldTime)
    d.send(position(MNQ, 3, "21000", long=False))
    d.at(T0 + HOLD_LIMIT)
    assert len(closes(d.effects)) == 1
    out = d.send(order(50, MNQ, Side.BUY, 3, type=OrderType.STOP, stop="21020"))
    assert [c.order_id for c in cancels(out)] == [50]
    out = d.send(flat(MNQ)) + d.advance(seconds=1)
    assert cancels(out) == []  # once


def test_a_reduce_to_zero_leaves_another_month_of_the_root_alone() -> None:
    d = rule_driver(MaxContracts, limit="2")
    d.send(position(NQ, 2, "21000"), position(MNQ, 3, "21000", long=False))
    d.send(position(MNQ_H27, 1, "21000", long=False))
    out = d.send(order(51, MNQ_H27, Side.BUY, 1, type=OrderType.STOP, stop="21020"))
    assert 51 not in [c.order_id for c in cancels(out)]
