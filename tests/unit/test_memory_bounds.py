"""What an account keeps in memory is bounded by what can still be needed: the trade ids in two
flat arrays, the scheduler's heap one entry per account, our enforcement orders only while they
work or their week lasts."""

from __future__ import annotations

import json
import tracemalloc
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fsm_risk.adapters import payloads, shared
from fsm_risk.adapters.store import Store
from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.core.seen import SeenTrades, micros
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ES,
    MNQ,
    NQ,
    T0,
    Driver,
    account,
    fill,
    make_engine,
    order,
    position,
    quote,
)
from tests.store_load import round_trips
from tests.unit.test_payloads import TRADE


def test_the_trade_ids_seen_take_16_bytes_a_trade_and_answer_exactly() -> None:
    trades = [(7_000_000 + 3 * i, T0 + timedelta(seconds=i)) for i in range(20_000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        seen = SeenTrades(trades[::-1])  # any order in, id order kept
        size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert size < 20 * len(trades)  # a dict of ints to datetimes: about 110 bytes a trade
    assert len(seen) == len(trades) and list(seen) == [i for i, _ in trades]
    assert all(i in seen and seen[i] == t for i, t in trades[::997])
    assert 7_000_001 not in seen and 6 not in seen and "7000000" not in seen
    assert max(seen.values()) == trades[-1][1] and dict(seen.items()) == dict(trades)
    assert seen.latest() == trades[-1][1] and SeenTrades().latest() is None  # start-up order
    seen[7_000_001] = T0  # between two: inserted in place
    assert list(seen)[:3] == [7_000_000, 7_000_001, 7_000_003]
    assert seen.since(T0 + timedelta(seconds=19_998)) == {7_059_994, 7_059_997}
    seen.keep_since(T0 + timedelta(seconds=10_000))
    assert len(seen) == 10_000 and min(seen) == 7_030_000


def test_the_wakeup_heap_stays_one_entry_an_account_however_often_it_moves() -> None:
    """An order reported filled before its fills moves the wake-up to the settle deadline, its
    fill moves it back: each move used to leave an entry behind until its time came."""
    d = Driver(make_engine())
    d.send(account())
    for n in range(400):
        side = Side.BUY if n % 2 == 0 else Side.SELL
        d.send(order(1000 + n, MNQ, side, 1, type=OrderType.MARKET, status=OrderStatus.FILLED))
        assert d.acct.wakeup == T0 + d.engine.settings.settle_timeout
        d.send(fill(MNQ, side, 1, "21000", order_id=1000 + n))
        assert d.acct.wakeup == d.acct.day.end
    assert len(d.engine.timers._heap) <= 2 * len(d.engine.accounts) + 64
    assert d.engine.timers.next_wakeup() == d.acct.day.end
    start = d.acct.day.start
    d.at(d.acct.day.end)
    assert d.acct.day.start > start  # the live wake-up still comes


def test_our_orders_that_no_longer_work_are_forgotten_once_their_week_is_over() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), position(MNQ, 2, "21000"), position(ES, 1, "6000", long=False))
    d.send(order(77, NQ, Side.BUY, 1, limit="20000"))
    d.send(quote(ES, "6000"), quote(MNQ, "20000"))  # -$4,000: the account is flattened
    d.send(order(900, MNQ, Side.SELL, 2, type=OrderType.MARKET))  # our close, filled
    d.send(fill(MNQ, Side.SELL, 2, "20000", pnl="-4000", fees="1.48", order_id=900))
    d.send(order(900, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.FILLED))
    d.send(order(901, ES, Side.BUY, 1, type=OrderType.MARKET))  # our close, still working
    assert {900, 901} <= d.acct.own_orders
    d.at(d.acct.day.end + timedelta(minutes=1))  # a new day of the same week: all kept
    assert {900, 901} <= d.acct.own_orders
    d.at(d.acct.week.end + timedelta(minutes=1))
    assert 900 not in d.acct.own_orders  # filled last week: nothing of it can come now
    assert 901 in d.acct.own_orders and 901 in d.acct.orders  # working: still ours
    d.send(fill(ES, Side.BUY, 1, "6000", fees="2.50", order_id=901, at=d.now))
    assert d.acct.day.fills[-1].enforcement  # its fill is still the service's own
    assert d.acct.day.realized == Decimal("-2.50")


def test_fills_read_from_the_gateway_share_their_equal_numbers_and_contract_ids() -> None:
    # each payload as a websocket gives it: its own strings
    a, b = (payloads.trade(json.loads(json.dumps({**TRADE, "id": i}))) for i in (1, 2))
    assert a.contract_id == b.contract_id and a.contract_id is b.contract_id
    assert a.price is b.price and a.fees is b.fees and a.pnl is b.pnl
    assert a.price == Decimal("6000.5") and a.fees == Decimal("1.4")
    # numbers are shared as written: the same digits and exponent, never just equal ones
    assert str(shared.number("1.50")) == "1.50" and str(shared.number("1.5")) == "1.5"
    assert shared.same(Decimal("2.00")) is shared.number("2.00")


def test_the_table_of_shared_numbers_is_bounded() -> None:
    for n in range(shared.LIMIT + 10):  # a stream of new prices
        shared.number(f"{21000 + n}.25")
    assert len(shared._NUMBERS) <= shared.LIMIT


def test_a_restored_day_of_fills_shares_its_prices_fees_and_contract_ids(tmp_path: Path) -> None:
    d = Driver(make_engine())
    d.send(account(), *round_trips(50, MNQ))
    store = Store(tmp_path / "s.db")
    store.commit(d.engine.take_changes())
    [stored] = store.accounts()
    store.close()
    fills = stored.history.fills
    assert len(fills) == 100 and fills == sorted(d.acct.day.fills, key=lambda f: f.at)
    assert len({id(f.price) for f in fills}) == len({id(f.fees) for f in fills}) == 1
    assert len({id(f.contract_id) for f in fills}) == 1
    assert len({id(t.net) for t in stored.history.trips}) == 1


def test_the_trade_ids_seen_built_at_once_equal_those_built_trade_by_trade() -> None:
    """A restore builds each account's seen trades from the rows at once, in any order."""
    trades = [(7_000_000 + 3 * i, T0 + timedelta(seconds=i)) for i in range(500)]
    at_once = SeenTrades.of({i: micros(t) for i, t in trades[::-1]})
    assert at_once == SeenTrades(trades) and dict(at_once.items()) == dict(trades)
    at_once[7_000_001] = T0  # still kept in id order after
    assert list(at_once)[:3] == [7_000_000, 7_000_001, 7_000_003]


def test_a_reset_of_many_accounts_at_one_instant_works_the_day_out_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At start-up every account restored past a daily reset opens the same new day: the
    calendar's time-zone maths runs once, not once an account (a tenth of a second at 1,000)."""
    timers = make_engine().timers
    calls: list[object] = []
    real = type(timers.calendar).next_daily_reset

    def counted(cal: object, t: object) -> object:
        calls.append(t)
        return real(cal, t)  # type: ignore[arg-type]

    monkeypatch.setattr(type(timers.calendar), "next_daily_reset", counted)
    now = T0 + timedelta(days=1)
    books = [timers.day_book(now) for _ in range(50)]
    assert len(calls) <= 2  # next_daily_reset and trading_day's own call
    assert len({id(b) for b in books}) == 50  # each account its own (a book is mutable)
    assert {(b.label, b.start, b.end) for b in books} == {
        (books[0].label, books[0].start, books[0].end)
    }
    later = timers.day_book(now + timedelta(days=1))
    assert later.start > books[0].start and len(calls) <= 4
