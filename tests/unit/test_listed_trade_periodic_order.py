"""A guard written by a review of the fix of a lost trade booked twice: the periodic
reconciliation's order (the read's listed trades submitted as Fill events, then the
TradesSnapshot, the balance, a Tick): the lost sale is counted once."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from fsm_risk.core.events import Tick, TradesSnapshot
from fsm_risk.core.states import State
from tests.factories import ACC, account
from tests.unit.test_listed_trade_settled_once import sold_unheard


def test_the_periodic_path_counts_a_lost_sale_once() -> None:
    d, buy, sale = sold_unheard()
    for _ in range(2):
        d.advance(seconds=30)
        applied = frozenset(d.acct.seen_trades)
        d.send(buy, sale)  # the service submits the read's fills first
        d.send(TradesSnapshot(ACC, d.acct.week.start, (buy, sale), applied))
        listed = applied | {buy.trade_id, sale.trade_id}
        d.send(dataclasses.replace(account("49750"), applied=listed), Tick(ACC))
        assert d.acct.day.realized == Decimal("-250"), d.acct.day.realized
        assert d.acct.state is State.Trading
