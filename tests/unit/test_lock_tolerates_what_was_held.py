"""RULE-007's lock without flatten lets stay no more than the fills held before the entry
that broke the limit, for every position (found by a review of 128d7c0/e942f4f):

- two entries past the limit at once, both position records ahead of both trades: the lock
  fired on the first entry's trade and tolerated the second (MES long 1 kept to the reset);
- entries made while the service was down, read back at a restart (positions first, then the
  trades): the positions read held the add made after the breaking entry, and it was kept;
- a first start (nothing stored) with a position held from yesterday: the fills' running size
  knew nothing of it, so the whole position was closed (a false flatten) where only the add
  past the limit goes, and an add sold off again ended the tolerance of the overnight contract.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.core.states import State
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from tests.factories import (
    ES,
    MES,
    MNQ,
    NQ,
    T0,
    Driver,
    account,
    closes,
    fill,
    flat,
    order,
    position,
    reduces,
    restart,
    rule_driver,
    rule_engine,
)
from tests.unit.test_missed_reset_trades_while_down import two_step_read

driver = partial(rule_driver, MaxTradesPerDay, limit="2")
engine = partial(rule_engine, MaxTradesPerDay, limit="2")


def two_entries(d: Driver) -> Driver:
    d.send(fill(MNQ, Side.BUY, 1, "100", order_id=1), position(MNQ, 1, "100"))
    d.send(
        fill(ES, Side.BUY, 1, "100", order_id=2),
        position(ES, 1, "100"),
        fill(ES, Side.SELL, 1, "100", pnl="0", order_id=3),
        flat(ES),
    )
    assert d.acct.state is State.Trading and d.acct.net[MNQ] == 1
    return d


def test_two_entries_past_the_limit_at_once_records_first() -> None:
    """Entries 3 (NQ) and 4 (MES) sent at once; both position records before both trades."""
    d = two_entries(driver())
    d.send(
        order(4, NQ, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        order(5, MES, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        position(NQ, 1, "100"),
        position(MES, 1, "100"),
        fill(NQ, Side.BUY, 1, "100", order_id=4),
        fill(MES, Side.BUY, 1, "100", order_id=5),
    )
    assert d.acct.state is State.LockedDaily
    assert sorted(c.contract_id for c in closes(d.effects)) == sorted([NQ, MES])
    assert d.acct.tolerated == {MNQ: 1}


def test_two_entries_past_the_limit_an_add_second_records_first() -> None:
    """Entry 3 NQ, entry 4 an add of 1 MNQ (long 2), records first."""
    d = two_entries(driver())
    d.send(
        order(4, NQ, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        order(5, MNQ, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        position(NQ, 1, "100"),
        position(MNQ, 2, "100"),
        fill(NQ, Side.BUY, 1, "100", order_id=4),
        fill(MNQ, Side.BUY, 1, "100", order_id=5),
    )
    assert [(r.contract_id, r.size) for r in reduces(d.effects)] == [(MNQ, 1)]
    assert d.acct.tolerated == {MNQ: 1}


def test_entries_past_the_limit_made_while_down_replayed_at_restart() -> None:
    """Restart: entry 3 (NQ) then entry 4 (add 1 MNQ) were made while the service was down;
    positions are read first (MNQ 2, NQ 1), then the trades replayed."""
    d = two_entries(driver())
    down = T0 + timedelta(minutes=1)
    again = restart(d, engine, at=T0 + timedelta(minutes=10))
    nq = fill(NQ, Side.BUY, 1, "100", order_id=4, at=down)
    add = fill(MNQ, Side.BUY, 1, "100", order_id=5, at=down + timedelta(seconds=5))
    two_step_read(
        again, [nq, add], "50000", positions=[position(MNQ, 2, "100"), position(NQ, 1, "100")]
    )
    a = again.acct
    assert a.state is State.LockedDaily
    assert a.tolerated == {MNQ: 1}
    assert [(r.contract_id, r.size) for r in reduces(again.effects)] == [(MNQ, 1)]


def test_first_start_mid_day_overnight_position_breaking_add() -> None:
    """First start (nothing stored): MNQ long 1 held from yesterday; today an ES scalp
    (x2: entries 1, 2) and an add of 1 MNQ (entry 3, long 2), all before the service started."""
    d = Driver(engine(), now=T0 + timedelta(minutes=10))
    d.send(account())
    es1 = fill(ES, Side.BUY, 1, "100", order_id=2, at=T0)
    es2 = fill(ES, Side.SELL, 1, "100", pnl="0", order_id=3, at=T0 + timedelta(seconds=5))
    es3 = fill(ES, Side.BUY, 1, "100", order_id=5, at=T0 + timedelta(seconds=10))
    es4 = fill(ES, Side.SELL, 1, "100", pnl="0", order_id=6, at=T0 + timedelta(seconds=15))
    add = fill(MNQ, Side.BUY, 1, "100", order_id=4, at=T0 + timedelta(minutes=1))
    trades = [es1, es2, es3, es4, add]
    two_step_read(d, trades, "50000", positions=[position(MNQ, 2, "100")])
    a = d.acct
    assert a.state is State.LockedDaily
    assert a.tolerated == {MNQ: 1}
    assert not closes(d.effects)
    assert [(r.contract_id, r.size) for r in reduces(d.effects)] == [(MNQ, 1)]


def test_first_start_overnight_position_add_then_exit_of_the_add() -> None:
    """First start (nothing stored): MNQ long 1 held from yesterday; today two ES scalps
    (entries 1, 2), an add of 1 MNQ (entry 3: long 2), then a sell of 1 (long 1 again), all
    before the service started. The read lists MNQ long 1: the overnight contract, which a
    lock without flatten lets stay."""
    d = Driver(engine(), now=T0 + timedelta(minutes=10))
    d.send(account())
    at = [T0 + timedelta(seconds=5 * i) for i in range(6)]
    trades = [
        fill(ES, Side.BUY, 1, "100", order_id=2, at=at[0]),
        fill(ES, Side.SELL, 1, "100", pnl="0", order_id=3, at=at[1]),
        fill(ES, Side.BUY, 1, "100", order_id=5, at=at[2]),
        fill(ES, Side.SELL, 1, "100", pnl="0", order_id=6, at=at[3]),
        fill(MNQ, Side.BUY, 1, "100", order_id=4, at=at[4]),
        fill(MNQ, Side.SELL, 1, "101", pnl="2", order_id=7, at=at[5]),
    ]
    two_step_read(d, trades, "50002", positions=[position(MNQ, 1, "100")])
    a = d.acct
    assert a.state is State.LockedDaily
    assert a.tolerated == {MNQ: 1}
    assert not closes(d.effects)
