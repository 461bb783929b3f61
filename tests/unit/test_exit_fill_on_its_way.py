"""A reduce is never sized while a fill of the contract is on its way.

The gateway tells a fill as the order's final record first, then the trade, then the position.
Long 6 MNQ against a limit of 5, our reduce refused and due again; the trader's own sell of 1
fills meanwhile. Its "Filled" record arrives ahead of its trade: the last position still says
6, yet 5 is what the account holds. A reduce of 1 sent then would fill too and leave 4: a
contract the trader was allowed, closed by us. The reduce waits for the fills the order
announced (the trade and the position tell what is left), at most the settle timeout."""

from __future__ import annotations

from functools import partial

from fsm_risk.core.events import EnforcementRejected, OrderStatus, OrderType, Side
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts import MaxContracts
from tests.factories import ACC, MNQ, T0, fill, order, position, reduces, rule_driver

driver = partial(rule_driver, MaxContracts, limit="5")
EXIT = 77


def refused_and_due_again() -> object:
    d = driver()
    d.send(fill(MNQ, Side.BUY, 6, "21000", order_id=5))  # the trader's buy, then its position
    assert [r.size for r in reduces(d.send(position(MNQ, 6, "21000")))] == [1]
    d.send(EnforcementRejected(ACC, MNQ, None, "busy"))  # the reduce refused: sent again at 1 s
    return d


def test_a_reduce_waits_for_the_fills_a_final_order_record_announced() -> None:
    d = refused_and_due_again()
    filled = order(EXIT, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.FILLED)
    assert reduces(d.send(filled)) == []
    assert reduces(d.advance(seconds=2)) == []  # due again, but a fill is on its way
    out = d.send(fill(MNQ, Side.SELL, 1, "21000", order_id=EXIT, at=T0))
    out += d.send(position(MNQ, 5, "21000"))
    assert reduces(out) == []  # 5 held: nothing more to close
    cm = d.acct.contracts.get(MNQ)
    assert cm is None or cm.state is State.Trading  # within the limit: the reduce is done


def test_a_fill_that_adds_is_waited_for_too_and_the_reduce_goes_once_it_arrives() -> None:
    d = refused_and_due_again()
    filled = order(EXIT, MNQ, Side.BUY, 2, type=OrderType.MARKET, status=OrderStatus.FILLED)
    assert reduces(d.send(filled)) == []
    assert reduces(d.advance(seconds=2)) == []
    # the trade arrives: the reduce goes at once, never more than the gateway's position
    # shows over the limit (the rest once the position says 8 and this one is done)
    out = d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=EXIT, at=T0))
    assert [r.size for r in reduces(out)] == [1]


def test_fills_that_never_come_hold_the_reduce_no_longer_than_the_settle_timeout() -> None:
    d = refused_and_due_again()
    d.send(order(EXIT, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.FILLED))
    assert reduces(d.advance(seconds=5)) == []
    # the trade record lost: after the settle timeout (10 s) the positions tell
    assert [r.size for r in reduces(d.advance(seconds=6))] == [1]


def test_a_position_ahead_of_its_trade_is_the_gateways_word_and_the_breach_is_reduced_at_once() -> (
    None
):
    """The trader's buy told filled, then the position (6 > 5) ahead of its trade: the
    position already holds the fill, so the reduce does not wait for the trade."""
    d = driver()
    d.send(order(EXIT, MNQ, Side.BUY, 6, type=OrderType.MARKET, status=OrderStatus.FILLED))
    assert [r.size for r in reduces(d.send(position(MNQ, 6, "21000")))] == [1]
