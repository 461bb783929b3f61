"""RULE-007's lock without flatten (``flatten_existing = false``) lets what is open stay and
only shrink, but never the entry that broke the limit, whichever of that entry's two records
reaches the service first: the gateway sends a position and the trade that made it on
separate streams, in either order."""

from __future__ import annotations

from functools import partial

import pytest

from fsm_risk.core.events import Event, OrderStatus, OrderType, Side
from fsm_risk.core.states import State
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from tests.factories import (
    ES,
    MNQ,
    NQ,
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
FIRST = pytest.mark.parametrize("record_first", [False, True], ids=["trade", "record"])


def two_entries() -> Driver:
    """Limit 2: MNQ long 1 held (entry 1), then an ES scalp (entry 2)."""
    d = driver()
    d.send(fill(MNQ, Side.BUY, 1, "100", order_id=1), position(MNQ, 1, "100"))
    d.send(
        fill(ES, Side.BUY, 1, "100", order_id=2),
        position(ES, 1, "100"),
        fill(ES, Side.SELL, 1, "100", pnl="0", order_id=3),
        flat(ES),
    )
    assert d.acct.state is State.Trading and d.acct.net[MNQ] == 1
    return d


def third_entry(d: Driver, cid: str, held: int, record_first: bool) -> None:
    """Entry 3, a market buy of 1 in ``cid`` (``held`` after it), its records in one order."""
    d.send(order(4, cid, Side.BUY, 1, type=OrderType.MARKET))
    filled = order(4, cid, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED)
    trade, pos = fill(cid, Side.BUY, 1, "100", order_id=4), position(cid, held, "100")
    records: tuple[Event, ...] = (filled, pos, trade) if record_first else (filled, trade, pos)
    d.send(*records)


@FIRST
def test_an_entry_past_the_limit_is_closed_whichever_record_comes_first(
    record_first: bool,
) -> None:
    """Found by a hunt: limit 2, MNQ long 1 held, an ES scalp, then a buy of 1 NQ (entry 3).
    With NQ's trade first the lock tolerated {MNQ: 1} and NQ was closed on sight; with NQ's
    position record first it tolerated {MNQ: 1, NQ: 1}: NQ long 1 stayed open in the locked
    account, never closed, until the daily reset."""
    d = two_entries()
    third_entry(d, NQ, 1, record_first)
    assert d.acct.state is State.LockedDaily
    assert [c.contract_id for c in closes(d.effects)] == [NQ]
    assert d.acct.tolerated == {MNQ: 1}


@FIRST
def test_an_add_past_the_limit_is_reduced_back_whichever_record_comes_first(
    record_first: bool,
) -> None:
    """Found by a hunt: limit 2, MNQ long 1 held, an ES scalp, then a buy of 1 more MNQ
    (entry 3: long 2). With the trade first the lock tolerated MNQ long 1 and reduced the add
    back; with the position record (long 2) first it tolerated long 2: the add stayed."""
    d = two_entries()
    third_entry(d, MNQ, 2, record_first)
    assert d.acct.state is State.LockedDaily
    assert [(r.contract_id, r.size) for r in reduces(d.effects)] == [(MNQ, 1)]
    assert d.acct.tolerated == {MNQ: 1}
