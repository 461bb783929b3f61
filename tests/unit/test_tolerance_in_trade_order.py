"""RULE-007's lock without flatten lets the position held stay and only shrink, by the fills:
flat or past flat by them, the tolerance is over. The gateway's trades reach the service in
either order (each event is its own task), so the fills are taken in the order they were made
(their time, then their trade id), not the order they were heard: an add past the limit and
the sell that takes it back, heard sell first, never took the position held flat."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

from fsm_risk.core.events import Fill, OrderStatus, OrderType, Side
from fsm_risk.core.states import State
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from tests.factories import (
    ES,
    MNQ,
    NQ,
    T0,
    Driver,
    closes,
    fill,
    flat,
    order,
    our_close_filled,
    position,
    reduces,
    rule_driver,
)

driver = partial(rule_driver, MaxTradesPerDay, limit="2")
AT = T0 + timedelta(seconds=30)
ID = 700_000_000  # (the trade ids the test gives: the gateway's grow as trades are made)


def locked_with_mnq_1() -> Driver:
    """Limit 2: MNQ long 1 (entry 1), an ES scalp, then NQ (entry 3), closed: the lock
    without flatten tolerates the MNQ long 1."""
    d = driver()
    d.send(fill(MNQ, Side.BUY, 1, "100", order_id=1, trade_id=ID + 1), position(MNQ, 1, "100"))
    d.send(
        fill(ES, Side.BUY, 1, "100", order_id=2, trade_id=ID + 2),
        position(ES, 1, "100"),
        fill(ES, Side.SELL, 1, "100", pnl="0", order_id=3, trade_id=ID + 3),
        flat(ES),
    )
    d.send(fill(NQ, Side.BUY, 1, "100", order_id=4, trade_id=ID + 4), position(NQ, 1, "100"))
    d.send(flat(NQ))
    assert d.acct.state is State.LockedDaily and d.acct.tolerated == {MNQ: 1}
    return d


def trade(side: Side, order_id: int, n: int, at: datetime, size: int = 1) -> Fill:
    """The trader's trade of MNQ made at ``at``, its trade id the ``n``-th of the test's."""
    pnl = "2.00" if side is Side.SELL else None
    return fill(MNQ, side, size, "101", pnl=pnl, order_id=order_id, trade_id=ID + n, at=at)


def read_later(d: Driver, size: int) -> None:
    """Five minutes on, the periodic read lists MNQ long ``size``."""
    d.now = later = T0.replace(minute=5)
    d.send(replace(position(MNQ, size, "101", at=later), snapshot=True))


def test_an_add_and_its_exit_heard_exit_first_keep_the_tolerance() -> None:
    """The trader buys 1 MNQ (entry 4, past the limit) and sells it back a second later; the
    position feed quiet, the sell's trade is heard before the buy's. Before: the sell took the
    fills flat and ended the tolerance, the buy then made a long 1 opened while locked: the
    read closed the long 1 the lock lets stay (a false flatten)."""
    d = locked_with_mnq_1()
    n = len(d.effects)
    d.send(trade(Side.SELL, 11, 11, AT + timedelta(seconds=1)))
    d.send(trade(Side.BUY, 10, 10, AT))
    assert d.acct.tolerated == {MNQ: 1}
    read_later(d, 1)
    assert closes(d.effects[n:]) == [] and reduces(d.effects[n:]) == []
    assert d.acct.tolerated == {MNQ: 1}


def test_our_reduce_of_an_add_heard_before_the_add_keeps_the_tolerance() -> None:
    """The add's position record (long 2) comes first: the lock reduces it back to 1 with a
    sell of ours, whose trade is heard before the add's. Before: the sell ended the tolerance
    and the add's trade then made the long 1 one opened while locked: closed."""
    d = locked_with_mnq_1()
    n = len(d.effects)
    d.send(order(10, MNQ, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED))
    out = d.send(position(MNQ, 2, "100"))
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 1)]
    done, sold = our_close_filled(MNQ, Side.SELL, 1, "101", pnl="2.00")
    d.send(done, position(MNQ, 1, "100"))
    d.send(replace(sold, trade_id=ID + 12, at=AT + timedelta(seconds=1)))
    d.send(trade(Side.BUY, 10, 10, AT))
    assert d.acct.tolerated == {MNQ: 1}
    read_later(d, 1)
    assert closes(d.effects[n:]) == []
    assert [(r.contract_id, r.size) for r in reduces(d.effects[n:])] == [(MNQ, 1)]


def test_the_position_held_sold_and_bought_back_still_ends_it() -> None:
    """Made and heard in the same order, a sell of the long 1 held and a buy back is a new
    position opened while locked: the read closes it (as before)."""
    d = locked_with_mnq_1()
    n = len(d.effects)
    d.send(trade(Side.SELL, 11, 11, AT))
    d.send(trade(Side.BUY, 10, 12, AT + timedelta(seconds=1)))
    assert d.acct.tolerated == {}
    read_later(d, 1)
    assert [c.contract_id for c in closes(d.effects[n:])] == [MNQ]


def test_heard_reversed_a_round_trip_made_in_order_still_ends_it() -> None:
    """The long 1 held sold (t1), 2 bought (t2), 1 sold (t3): heard t3, t1, t2. In the
    order they were made the position held went flat at t1: the long 1 left is new."""
    d = locked_with_mnq_1()
    n = len(d.effects)
    d.send(trade(Side.SELL, 13, 13, AT + timedelta(seconds=2)))
    d.send(trade(Side.SELL, 11, 11, AT))
    d.send(trade(Side.BUY, 12, 12, AT + timedelta(seconds=1), size=2))
    assert d.acct.tolerated == {}
    read_later(d, 1)
    assert [c.contract_id for c in closes(d.effects[n:])] == [MNQ]


def test_a_round_trip_heard_fully_reversed_still_ends_it() -> None:
    """Found by a review: the long 1 held sold at t1 (flat), 2 bought at t2, 1 sold at t3 (a
    long 1 opened while locked), the trades heard t3, t2, t1. Walked from where the last one
    heard left the size, the replay never reached flat and brought the tolerance back: the
    new long 1 was kept for the rest of the lock (end to end too). Walked in the order made
    from the size before the first fill heard, the position went flat: the long 1 is closed."""
    d = locked_with_mnq_1()
    n = len(d.effects)
    d.send(trade(Side.SELL, 13, 13, AT + timedelta(seconds=2)))
    d.send(trade(Side.BUY, 12, 12, AT + timedelta(seconds=1), size=2))
    d.send(trade(Side.SELL, 11, 11, AT))
    assert d.acct.net[MNQ] == 1
    assert d.acct.tolerated == {}
    read_later(d, 1)
    assert [c.contract_id for c in closes(d.effects[n:])] == [MNQ]


def test_a_sale_and_a_buy_back_heard_buy_first_still_ends_it() -> None:
    """Found by a review: the long 1 held sold (t1: flat) and 1 bought back (t2), the buy's
    trade heard first: the size heard went 1, 2, 1 and never flat, so the tolerance stayed
    (before the replay was written too). Made in this order the position went flat: the long
    1 is new and closed."""
    d = locked_with_mnq_1()
    n = len(d.effects)
    d.send(trade(Side.BUY, 12, 12, AT + timedelta(seconds=1)))
    d.send(trade(Side.SELL, 11, 11, AT))
    assert d.acct.tolerated == {}
    read_later(d, 1)
    assert [c.contract_id for c in closes(d.effects[n:])] == [MNQ]
