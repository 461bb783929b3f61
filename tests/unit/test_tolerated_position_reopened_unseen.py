"""A position RULE-007's lock without flatten tolerates ends with the fills that close it,
not only with the gateway's record saying so: that record may be late, lost (a position feed
gone quiet) or never sent to the service at all (a round trip made while it was down, its
trades read back at the restart). What the fills open after is a new position, opened while
locked."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from fsm_risk.core.events import OrderStatus, OrderType, Side
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
    position,
    reduces,
    rule_driver,
)

driver = partial(rule_driver, MaxTradesPerDay, limit="2")


def locked_with_mnq_tolerated(held: int) -> Driver:
    """Limit 2: MNQ long ``held`` (entry 1), an ES scalp, then NQ (entry 3), closed."""
    d = driver()
    d.send(fill(MNQ, Side.BUY, held, "100", order_id=1), position(MNQ, held, "100"))
    d.send(
        fill(ES, Side.BUY, 1, "100", order_id=2),
        position(ES, 1, "100"),
        fill(ES, Side.SELL, 1, "100", pnl="0", order_id=3),
        flat(ES),
    )
    d.send(fill(NQ, Side.BUY, 1, "100", order_id=4), position(NQ, 1, "100"))
    d.send(flat(NQ))  # the lock's close of NQ confirmed
    assert d.acct.state is State.LockedDaily and d.acct.tolerated == {MNQ: held}
    return d


def round_trip_unseen(d: Driver, size: int) -> None:
    """The trader sells ``size`` MNQ and buys it back, at market: the trades come, the
    position records do not. Five minutes on, the periodic read lists MNQ as held now."""
    held = d.acct.net[MNQ]
    d.send(
        order(10, MNQ, Side.SELL, size, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, size, "101", pnl=f"{2 * size}.00", order_id=10),
        order(11, MNQ, Side.BUY, size, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.BUY, size, "101", order_id=11),
    )
    d.now = later = T0.replace(minute=5)
    d.send(replace(position(MNQ, held, "101", at=later), snapshot=True))


def test_a_tolerated_position_closed_and_opened_again_unseen_is_closed() -> None:
    """Found by a hunt: locked with MNQ long 1 tolerated, the trader sold it (allowed) and
    bought 1 back, the position feed quiet. The new long 1 was taken for the old one: kept,
    tolerated {MNQ: 1}, and the read five minutes on closed nothing."""
    d = locked_with_mnq_tolerated(held=1)
    before = len(closes(d.effects))
    round_trip_unseen(d, 1)
    assert [c.contract_id for c in closes(d.effects)[before:]] == [MNQ]
    assert d.acct.tolerated == {}


def test_a_tolerated_position_halved_and_added_back_unseen_is_reduced_back() -> None:
    """The same with part of it: the tolerated long 2 sold down to 1 (allowed) and 1 bought
    back, unseen. The lock lets only the long 1 left stay: the add is reduced back."""
    d = locked_with_mnq_tolerated(held=2)
    round_trip_unseen(d, 1)
    assert [(r.contract_id, r.size) for r in reduces(d.effects)] == [(MNQ, 1)]
    assert d.acct.tolerated == {MNQ: 1}
