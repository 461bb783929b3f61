"""While an account is locked, an order that only reduces a position is an exit the trader
may make; one that would open or add is cancelled on sight. It is judged by what each order
has left to fill against what is still open: a partly filled exit still only reduces, and a
position its fills already closed (the gateway's record of it late) holds nothing to exit."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.core.states import State
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from tests.factories import ES, MNQ, NQ, Driver, cancels, fill, flat, order, position, rule_driver

driver = partial(rule_driver, MaxTradesPerDay, limit="2")


def locked_with_mnq_2() -> Driver:
    """Limit 2: MNQ long 2 (entry 1), an ES scalp, then NQ (entry 3), closed: RULE-007's
    lock without flatten tolerates the MNQ long 2."""
    d = driver()
    d.send(fill(MNQ, Side.BUY, 2, "100", order_id=1), position(MNQ, 2, "100"))
    d.send(
        fill(ES, Side.BUY, 1, "100", order_id=2),
        position(ES, 1, "100"),
        fill(ES, Side.SELL, 1, "100", pnl="0", order_id=3),
        flat(ES),
    )
    d.send(fill(NQ, Side.BUY, 1, "100", order_id=4), position(NQ, 1, "100"), flat(NQ))
    assert d.acct.state is State.LockedDaily and d.acct.tolerated == {MNQ: 2}
    return d


def test_an_exit_partly_filled_keeps_working() -> None:
    """Found by a hunt: a sell limit of 2 exiting the tolerated long 2 was let work; once 1
    of it filled (long 1 left, 1 of the order left) its total of 2 was judged against the
    long 1 and the rest of the exit was cancelled (ORDER_WHILE_LOCKED)."""
    d = locked_with_mnq_2()
    sell = order(50, MNQ, Side.SELL, 2, limit="101")
    assert cancels(d.send(sell)) == []
    out = d.send(
        replace(sell, fill_volume=1),
        fill(MNQ, Side.SELL, 1, "101", pnl="2.00", order_id=50),
        position(MNQ, 1, "100"),
    )
    assert cancels(out) == []


def test_an_order_past_an_exit_already_filled_is_cancelled_on_sight() -> None:
    """Found by a hunt: the whole tolerated long 2 exited at market, its trade heard and the
    gateway's position record not yet: a new sell limit of 2 (a short opened in the locked
    account) was judged against the long 2 still listed and let work, until the record came."""
    d = locked_with_mnq_2()
    d.send(
        order(60, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 2, "101", pnl="4.00", order_id=60),
    )
    out = d.send(order(61, MNQ, Side.SELL, 2, limit="102"))
    assert [c.order_id for c in cancels(out)] == [61]


def test_a_sell_that_would_reverse_after_a_drop_no_trade_explains_yet_is_cancelled() -> None:
    """Found by a review: locked, MNQ long 2 tolerated, the trader's sell limit 2 (an exit)
    works; one contract is closed by another order (the platform's, or the trader's market
    close) whose record and trade come late: the position record says long 1. The sell limit
    2 would take the long 1 to short 1 in the locked account: cancelled on sight, not kept
    until the drop's fills come or the settle timeout (10 s: it filled short 1 end to end
    when the drop was counted the exit's). The same record shape comes from the exit's own
    partial fill with its record late: that exit is cancelled too (the trader places the rest
    again), for the two cannot be told apart when the record arrives."""
    d = locked_with_mnq_2()
    sell = order(50, MNQ, Side.SELL, 2, limit="101")
    assert cancels(d.send(sell)) == []
    out = d.send(position(MNQ, 1, "100"))
    assert [c.order_id for c in cancels(out)] == [50]
    assert d.acct.state is State.LockedDaily


def test_an_order_past_an_exit_its_position_record_first_is_cancelled() -> None:
    """The contract the record dropped ahead of its trade is a market exit's whose record
    says filled (1 of the long 2 gone): a sell limit of 2 beside it would go short 1, and is
    cancelled on sight. With a partly filled exit's record (1 filled, 1 left), a sell of 1
    beside it would too: the dropped contract is counted once."""
    d = locked_with_mnq_2()
    d.send(
        order(60, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        position(MNQ, 1, "100"),
    )
    out = d.send(order(61, MNQ, Side.SELL, 2, limit="102"))
    assert [c.order_id for c in cancels(out)] == [61]
    d = locked_with_mnq_2()
    d.send(replace(order(50, MNQ, Side.SELL, 2, limit="101"), fill_volume=1))
    d.send(position(MNQ, 1, "100"))
    out = d.send(order(51, MNQ, Side.SELL, 1, limit="102"))
    assert [c.order_id for c in cancels(out)] == [51]
