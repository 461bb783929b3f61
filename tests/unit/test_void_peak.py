"""A voided winning trade gives back the intraday peak it raised (RULE-004, ``intraday``).

The hunt's case: drawdown 1000, balance 50,000. Long 2 MNQ from 21,000, marked and sold at
21,200 (+$800): the peak rose to 50,800. The firm voided the sale (balance back to 50,000) and
the peak stayed at 50,800, its floor 49,800: the next trade's real drawdown of $300 (equity
49,700, 300 below the true peak) flattened the account and locked it for the week, a lock on
a drawdown that did not happen (as `test_late_void`'s end-of-day case). The void now gives
back what the trade raised, ``max(peak before it, peak - its net P&L)`` (see `core.gains`):
never below what equity without the trade reached, to the cent, after a restart as well; a
voided loss raised nothing, and a trade of an earlier day gives nothing back."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.events import Fill, Side
from fsm_risk.core.states import State
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    MES,
    MNQ,
    Driver,
    account,
    fill,
    flat,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
)

D = Decimal
RAW = {"drawdown": "1000", "mode": "intraday", "freeze_at_start": "false"}


def driver() -> Driver:
    return rule_driver(TrailingDrawdown, **RAW)


def peak(d: Driver) -> Decimal:
    return D(d.acct.rule_state["RULE-004"]["peak"])


def round_trip(
    d: Driver,
    sell_at: str,
    pnl: str,
    balance: str,
    trade_id: int,
    contract: str = MNQ,
    buy_at: str = "21000",
) -> Fill:
    """Buy 2 at ``buy_at``, marked and sold at ``sell_at`` (``pnl``); the balance after."""
    d.now += timedelta(seconds=1)
    d.send(quote(contract, buy_at, at=d.now))
    d.send(
        fill(contract, Side.BUY, 2, buy_at, order_id=trade_id, at=d.now, trade_id=trade_id - 1),
        position(contract, 2, buy_at, at=d.now),
    )
    d.now += timedelta(seconds=1)
    sale = fill(
        contract, Side.SELL, 2, sell_at, pnl=pnl, order_id=trade_id + 1, at=d.now, trade_id=trade_id
    )
    d.send(quote(contract, sell_at, at=d.now), sale, flat(contract, at=d.now), account(balance))
    return sale


def void(d: Driver, f: Fill, balance: str) -> None:
    """The firm voids ``f``: the fill again with ``voided``, then the balance without it."""
    d.now += timedelta(seconds=1)
    d.send(dataclasses.replace(f, voided=True, at=d.now), account(balance))


def test_a_voided_win_gives_back_the_intraday_peak_it_raised() -> None:
    d = driver()
    win = round_trip(d, "21200", "800", "50800", 5001)
    assert peak(d) == D("50800")
    void(d, win, "50000")
    assert (peak(d), d.acct.equity, d.acct.day.realized) == (D("50000"), D("50000"), 0)
    assert d.acct.rule_state["RULE-004"]["peak"] == "50000"
    # the next trade loses $300: 700 above the true floor (49,000), the account trades on
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "21000", at=d.now))
    d.send(
        fill(MNQ, Side.BUY, 2, "21000", order_id=9, at=d.now, trade_id=9),
        position(MNQ, 2, "21000", at=d.now),
    )
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "20925", at=d.now))
    assert d.acct.equity == D("49700")
    assert d.acct.state is State.Trading
    d.send(quote(MNQ, "20750", at=d.now))  # 49,000: the true floor is reached
    assert d.acct.state is State.Flattening


def test_a_voided_loss_leaves_the_peak() -> None:
    d = driver()
    round_trip(d, "21200", "800", "50800", 5001)
    loss = round_trip(d, "20950", "-200", "50600", 5011, buy_at="21000")
    assert peak(d) == D("50800")
    void(d, loss, "50800")
    assert (peak(d), d.acct.equity) == (D("50800"), D("50800"))
    assert d.acct.rule_state["RULE-004"]["gains"] == {"5001": ["50000", "800"]}


def test_a_void_after_a_restart_gives_back_the_peak_the_trade_raised() -> None:
    d = driver()
    win = round_trip(d, "21200", "800", "50800", 5001)
    again = restart(
        d, lambda: rule_engine(TrailingDrawdown, **RAW), at=d.now + timedelta(minutes=5)
    )
    assert peak(again) == D("50800")
    assert again.acct.rule_state["RULE-004"]["gains"] == {"5001": ["50000", "800"]}
    void(again, win, "50000")
    assert peak(again) == D("50000")


def test_a_void_of_an_earlier_days_trade_gives_nothing_back_today() -> None:
    d = driver()
    win = round_trip(d, "21200", "800", "50800", 5001)
    d.now += timedelta(hours=9)  # past the daily reset (17:00 Chicago)
    d.send(account("50800"))
    assert d.acct.day.start < d.now and d.acct.day.fills == []
    assert not d.acct.rule_state["RULE-004"]["gains"]  # forgotten at the reset
    void(d, win, "50000")
    assert peak(d) == D("50800")


def test_later_trades_keep_what_they_raised_whether_the_void_comes_before_or_after() -> None:
    # after: +800 (peak 50,800), +400 (51,200), then the first voided: 51,200 - 800
    after = driver()
    first = round_trip(after, "21200", "800", "50800", 5001)
    round_trip(after, "21100", "400", "51200", 5011)
    assert peak(after) == D("51200")
    void(after, first, "50400")
    assert peak(after) == D("50400")
    # before: +800, voided (50,000), then +400 (50,400)
    before = driver()
    first = round_trip(before, "21200", "800", "50800", 5001)
    void(before, first, "50000")
    assert peak(before) == D("50000")
    round_trip(before, "21100", "400", "50400", 5011)
    assert peak(before) == D("50400")
    # the second voided as well: back to the start
    void(after, dataclasses.replace(first, trade_id=5011, pnl=D("400")), "50000")
    assert peak(after) == D("50000")


def test_a_win_given_back_in_part_before_its_sale_gives_back_its_net_only() -> None:
    """Marked +1000, sold +800: the peak before the trade and ``peak - net`` bound what equity
    without it reached; 51,000 - 800 = 50,200 (200 above the start: the peak never falls below
    what it is sure of)."""
    d = driver()
    d.send(quote(MNQ, "21000", at=d.now))
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=1), position(MNQ, 2, "21000"))
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "21250", at=d.now))
    assert peak(d) == D("51000")
    sale = fill(MNQ, Side.SELL, 2, "21200", pnl="800", order_id=2, at=d.now, trade_id=2)
    d.send(quote(MNQ, "21200", at=d.now), sale, flat(MNQ, at=d.now), account("50800"))
    void(d, sale, "50000")
    assert peak(d) == D("50200")


def test_with_another_position_open_the_peak_is_not_lowered_below_its_level_at_the_sale() -> None:
    """MES rises while MNQ is open (its gain, real, raised the peak), then falls back: the
    peak is not lowered below what it was when the MNQ sale was seen (the marks of the other
    position may have raised it), only by what it rose after."""
    d = driver()
    d.send(quote(MNQ, "21000", at=d.now), quote(MES, "6000", at=d.now))
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=1), position(MNQ, 2, "21000"))
    d.send(fill(MES, Side.BUY, 2, "6000", order_id=2, trade_id=2), position(MES, 2, "6000"))
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "21150", at=d.now), quote(MES, "6050", at=d.now))  # +600 +500
    assert peak(d) == D("51100")
    d.send(quote(MES, "6000", at=d.now), quote(MNQ, "21200", at=d.now))  # +0 +800
    sale = fill(MNQ, Side.SELL, 2, "21200", pnl="800", order_id=3, at=d.now, trade_id=3)
    d.send(sale, flat(MNQ, at=d.now), account("50800"))
    assert peak(d) == D("51100")
    void(d, sale, "50000")
    assert peak(d) == D("51100")  # (51,100 - 800 would be below the 50,500 MES alone reached)
