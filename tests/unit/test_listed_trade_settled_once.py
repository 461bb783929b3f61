"""Found by a review: a lost trade record was booked twice, from the trades list and as the
settlement of the position it closed. ES long 1; the trader sells it himself at -$250; the
service hears the order event (Filled) and the position going flat, but the trade record is
lost. The next reconciliation (a trades list that lists the sale, the balance read after it,
a Tick) booked the list's -250, and the confirmed balance move (50,000 -> 49,750) again as
the vanished position's settlement: the day read -$500 and locked on a $400 limit, the real
day -$250. A trade the list brings that closes such a position is applied as its fill, which
came after all: counted once, whichever comes first; a position no trade closes is settled
by the balance as before, once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.events import (
    Fill,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    Tick,
    TradesSnapshot,
)
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import ACC, ES, Driver, account, fill, flat, make_engine, position, quote

D = Decimal


def sold_unheard(size: int = 1, sold: int = 1) -> tuple[Driver, Fill, Fill]:
    """Long ``size`` ES at 6,000 on a $400 daily limit; the trader sells ``sold`` himself at
    5,995 (-$250 each): its order event and the position come, its trade record never does."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "400"}}))
    d.send(account())
    buy = fill(ES, Side.BUY, size, "6000", order_id=20, trade_id=1)
    d.send(buy, position(ES, size, "6000"), quote(ES, "6000"))
    d.now += timedelta(seconds=5)
    done = OrderUpdate(
        ACC, 30, ES, OrderStatus.FILLED, OrderType.MARKET, Side.SELL, sold, d.now, fill_volume=sold
    )
    d.send(done, flat(ES, at=d.now) if size == sold else position(ES, size - sold, "6000"))
    pnl = str(-250 * sold)
    sale = fill(ES, Side.SELL, sold, "5995", pnl=pnl, order_id=30, trade_id=2, at=d.now)
    return d, buy, sale


def reconcile(d: Driver, trades: tuple[Fill, ...], balance: str) -> None:
    """A reconciliation as an exposed account's trades step submits it: the trades list,
    the balance read after it (it includes every trade listed), a Tick."""
    d.advance(seconds=30)
    applied = frozenset(d.acct.seen_trades)
    d.send(TradesSnapshot(ACC, d.acct.week.start, trades, applied))
    listed = applied | {t.trade_id for t in trades}
    d.send(dataclasses.replace(account(balance), applied=listed), Tick(ACC))


def test_a_lost_trade_the_list_brings_is_not_booked_again_as_a_settlement() -> None:
    d, buy, sale = sold_unheard()
    for _ in range(2):
        reconcile(d, (buy, sale), "49750")  # the real day: -$250
        assert d.acct.day.realized == D("-250"), f"day booked {d.acct.day.realized}"
        assert d.acct.week.realized == D("-250") and d.acct.day.settled == 0
        assert d.acct.state is State.Trading
        assert d.acct.balance == D("49750") and d.acct.equity == D("49750")
    assert 2 in d.acct.seen_trades and not d.acct.vanished and not d.acct.settled


def test_a_settlement_booked_first_is_replaced_by_the_trade_a_later_list_brings() -> None:
    d, buy, sale = sold_unheard()
    reconcile(d, (buy,), "49750")  # a list without the sale: the balance settles it
    assert d.acct.day.realized == D("-250") and d.acct.day.settled == D("-250")
    reconcile(d, (buy, sale), "49750")  # the sale listed at last: the same $250
    assert d.acct.day.realized == D("-250"), f"day booked {d.acct.day.realized}"
    assert d.acct.week.realized == D("-250") and d.acct.day.settled == 0
    assert d.acct.state is State.Trading and d.acct.equity == D("49750")


def test_a_listed_trade_closing_part_of_it_leaves_the_rest_settled_once() -> None:
    # long 2; he sells 1 (-$250, record lost); the gateway settles the other at -$300
    d, buy, sale = sold_unheard(size=2, sold=1)
    d.send(flat(ES, at=d.now))
    for _ in range(2):
        reconcile(d, (buy, sale), "49450")  # -250 - 300
        assert d.acct.day.realized == D("-550"), f"day booked {d.acct.day.realized}"
        assert d.acct.day.settled == D("-300")
        assert d.acct.state in (State.Flattening, State.LockedDaily)  # a real -$550: locked


def test_a_position_gone_with_no_trade_listed_is_settled_by_the_balance_once() -> None:
    d, buy, _ = sold_unheard()  # (no trade: the gateway removed it, -$250)
    for _ in range(2):
        reconcile(d, (buy,), "49750")
        assert d.acct.day.realized == D("-250") and d.acct.day.settled == D("-250")
        assert d.acct.week.realized == D("-250") and d.acct.state is State.Trading
    assert d.acct.settled[ES][0] == 1 and 2 not in d.acct.seen_trades
