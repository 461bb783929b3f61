"""P&L arithmetic against hand-computed values: longs, shorts, partial closes, fees, equity."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.models import DEFAULT_INSTRUMENTS, Mark
from fsm_risk.core.pnl import MarkMode, mark_price, realized_net, unrealized
from tests.factories import (
    CL,
    ES,
    M2K,
    MNQ,
    T0,
    Driver,
    account,
    fill,
    make_engine,
    position,
    quote,
)

D = Decimal


@pytest.mark.parametrize(
    ("root", "long", "size", "avg", "mark", "expected"),
    [
        # (21010.75 - 21000.25) / 0.25 = 42 ticks x $0.50 x 2 = $42.00
        ("MNQ", True, 2, "21000.25", "21010.75", "42.00"),
        # short 3 ES from 6000.00 to 5990.25: 39 ticks x $12.50 x 3 = $1,462.50 gain
        ("ES", False, 3, "6000.00", "5990.25", "1462.50"),
        # long CL 70.01 -> 69.95: -6 ticks x $10 = -$60.00
        ("CL", True, 1, "70.01", "69.95", "-60.00"),
        # a fractional average (two fills at 2050.1 and 2050.2): 8.5 ticks x $0.50 x 2 = $8.50
        ("M2K", True, 2, "2050.15", "2051.0", "8.50"),
        # short MYM against the trader: 1 point ticks, 12 ticks x $0.50 x 4 = -$24.00
        ("MYM", False, 4, "44000", "44012", "-24.00"),
        # GC: 0.1 ticks at $10; long 1 from 2650.3 to 2648.0 = -23 ticks = -$230.00
        ("GC", True, 1, "2650.3", "2648.0", "-230.00"),
    ],
)
def test_unrealized_matches_hand_computed_values(
    root: str, long: bool, size: int, avg: str, mark: str, expected: str
) -> None:
    inst = DEFAULT_INSTRUMENTS[root]
    assert unrealized(long, size, D(avg), D(mark), inst) == D(expected)


def test_realized_is_profit_and_loss_minus_fees_and_half_turns_carry_only_fees() -> None:
    assert realized_net(D("125.00"), D("1.48")) == D("123.52")
    assert realized_net(None, D("0.74")) == D("-0.74")


def test_liquidation_mark_uses_the_bid_for_longs_and_the_ask_for_shorts() -> None:
    m = Mark(D("100.50"), D("100.25"), D("100.75"), T0)
    assert mark_price(m, True, MarkMode.LIQUIDATION) == D("100.25")
    assert mark_price(m, False, MarkMode.LIQUIDATION) == D("100.75")
    assert mark_price(m, True, MarkMode.LAST) == D("100.50")


def test_partial_close_then_close_accumulates_net_realized_and_fees_exactly() -> None:
    d = Driver(make_engine())
    d.send(account("50000"))
    fee = "0.37"  # per side, per contract: 3 contracts -> $1.11
    d.send(fill(MNQ, Side.BUY, 3, "21000.00", fees="1.11"))
    d.send(position(MNQ, 3, "21000.00"))
    # sell 1 at 21012.50: 50 ticks x $0.50 = $25.00
    d.send(fill(MNQ, Side.SELL, 1, "21012.50", pnl="25.00", fees=fee))
    d.send(position(MNQ, 2, "21000.00"), quote(MNQ, "21010.00"))
    # open: 2 x 40 ticks x $0.50 = $40.00 unrealized
    assert d.acct.open_upnl == D("40.00")
    assert d.acct.day.realized == D("25.00") - D("1.11") - D(fee)
    # sell 2 at 20995.00: 2 x -20 ticks x $0.50 = -$20.00
    d.send(fill(MNQ, Side.SELL, 2, "20995.00", pnl="-20.00", fees="0.74"))
    d.send(position(MNQ, 0, "0"))
    assert d.acct.day.realized == D("25.00") - D("20.00") - D("1.11") - D(fee) - D("0.74")
    assert d.acct.day.fees == D("2.22")
    assert d.acct.open_upnl == 0
    [trip] = d.acct.day.trips
    assert trip.net == D("2.78") and trip.size == 3 and not trip.enforced


def test_equity_counts_realized_pnl_until_the_balance_update_reflects_it() -> None:
    d = Driver(make_engine())
    d.send(account("50000"), fill(ES, Side.BUY, 1, "6000", fees="2.50"))
    d.send(position(ES, 1, "6000"), quote(ES, "6004"))
    assert d.acct.equity == D("50000") - D("2.50") + D("200.00")
    d.send(fill(ES, Side.SELL, 1, "6004", pnl="200.00", fees="2.50"), position(ES, 0, "0"))
    # the position is gone but the balance update has not arrived yet: no phantom drop
    assert d.acct.equity == D("50195.00")
    d.send(account("50195.00"))
    assert d.acct.equity == D("50195.00")


def test_reversal_closes_one_round_trip_and_opens_the_next() -> None:
    d = Driver(make_engine())
    d.send(account())
    d.send(fill(CL, Side.BUY, 1, "70.00", fees="2.00"))
    # sell 3: closes the long (+10 ticks = $100) and opens 2 short; fees are per contract:
    # 2.00 of the 6.00 close the long (100 - 2 in - 2 out), 4.00 open the short
    d.send(fill(CL, Side.SELL, 3, "70.10", pnl="100.00", fees="6.00"))
    [trip] = d.acct.day.trips
    assert trip.net == D("96.00") and trip.long
    assert not d.acct.trips_open[CL].long and d.acct.trips_open[CL].size == 2
    assert d.acct.trips_open[CL].net == D("-4.00")
    assert d.acct.day.realized == D("92.00")  # the books take the whole fill, as before
    rec = d.acct.day.fills[-1]
    assert (rec.entry, rec.exit) == (2, 1)


def test_m2k_fractional_ticks_stay_exact() -> None:
    d = Driver(make_engine())
    d.send(account(), position(M2K, 2, "2050.15"), quote(M2K, "2051.0"))
    assert d.acct.open_upnl == D("8.50")
