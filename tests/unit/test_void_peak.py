"""A trade the gateway voids gives back the ``intraday`` peak of RULE-004 it raised.

Found by a hunt: drawdown 1000, intraday. Long 2 MNQ from 21,000 (the quotes seen while it
was open never above), sold at 21,200 (+800): the balance update raised the peak to 50,800.
The firm voided the sell: the books gave the 800 back (`core.voids`), but the peak stayed at
50,800, so a real loss of 300 (equity 49,700, 300 under the true peak of 50,000) was taken
for a drawdown of 1,100: the account was flattened and locked for the week on a drawdown that
did not happen.

Now the void lowers the peak to ``max(b, peak - n)``, ``b`` the peak just before the trade
was applied and ``n`` its net P&L: never below what equity reached without the trade (a peak
a mark of the open position raised before the sell stays: that equity was the unvoided
buy's), after a restart, and for each of several voids in any order. A void of a loss, of an
earlier day's trade or of a wiped one moves no peak.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from functools import partial

from fsm_risk.core.effects import Effect, ReadTrades
from fsm_risk.core.events import Fill, PositionUpdate, Side
from fsm_risk.core.states import State
from fsm_risk.rules.trailing_drawdown import RAISED_KEPT, TrailingDrawdown
from tests.factories import (
    MNQ,
    Driver,
    account,
    fill,
    flat,
    gateway_read,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    trade_reads,
)
from tests.unit.test_firm_reset_books import reset, round_trip, said
from tests.unit.test_firm_reset_confirmed import answer
from tests.unit.test_late_fill_peak import MON_RESET

D = Decimal
SETTINGS = {"drawdown": "1000", "mode": "intraday", "freeze_at_start": "false"}
driver = partial(rule_driver, TrailingDrawdown, **SETTINGS)
engine = partial(rule_engine, TrailingDrawdown, **SETTINGS)


def peak(d: Driver) -> Decimal:
    return D(d.acct.rule_state["RULE-004"]["peak"])


def voided(d: Driver, trade: Fill, balance: str, *held: PositionUpdate) -> list[Effect]:
    """A minute on, the gateway voids ``trade``: the fill again, voided, then the balance, as
    the paper gateway does (the position left as it was). The read of the account the rule
    asks for then lists that balance and the positions ``held`` (none: flat)."""
    d.advance(minutes=1)
    out = d.send(dataclasses.replace(trade, voided=True), account(balance))
    if trade_reads(out):
        assert trade_reads(out) == [ReadTrades(d.acc)]
        d.advance(seconds=1)
        out += gateway_read(d, account(balance), *(replace(p, snapshot=True) for p in held))
    return out


def win(d: Driver, pnl: str, balance: str, order_id: int) -> Fill:
    """A round trip of 2 MNQ with no quote while it is open, ``pnl`` on the sell."""
    return round_trip(d, pnl, "0", balance, order_id)[1]


def test_a_voided_win_gives_back_the_intraday_peak_it_raised() -> None:
    """The hunt's case: the floor is the true one, 49,000 (it was 49,800: flattened at -300)."""
    d = driver()
    d.send(quote(MNQ, "21000", at=d.now))
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now), position(MNQ, 2, "21000"))
    d.now += timedelta(seconds=1)
    sell = fill(MNQ, Side.SELL, 2, "21200", pnl="800", order_id=2, at=d.now, trade_id=5001)
    d.send(sell, flat(MNQ, at=d.now), account("50800"), quote(MNQ, "21200", at=d.now))
    assert peak(d) == D("50800")
    voided(d, sell, "50000")
    assert (d.acct.day.realized, d.acct.equity) == (D("0"), D("50000"))
    assert peak(d) == D("50000") and d.acct.rule_state["RULE-004"]["peak"] == "50000"
    # the trader loses 300 on the next trade: 700 under the true peak, inside 1,000
    d.send(quote(MNQ, "21000", at=d.now))
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=3, at=d.now), position(MNQ, 2, "21000"))
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "20925", at=d.now))
    assert d.acct.equity == D("49700")
    assert d.acct.state is State.Trading, f"flattened at equity 49700, peak {peak(d)}"
    d.send(quote(MNQ, "20750.25", at=d.now))  # 49,001: above the floor
    assert d.acct.state is State.Trading
    d.send(quote(MNQ, "20750", at=d.now))  # 49,000: on it
    assert d.acct.state is State.Flattening


def test_a_peak_a_mark_raised_while_the_position_was_open_stays() -> None:
    """Marked at 21,200 while long (equity 50,800, the buy unvoided), the peak was there before
    the sell: it stays. Marked at 21,100 (50,400), the void gives back the rest, to 50,400."""
    for mark, left in (("21200", "50800"), ("21100", "50400")):
        d = driver()
        d.send(quote(MNQ, "21000", at=d.now))
        d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now), position(MNQ, 2, "21000"))
        d.now += timedelta(seconds=1)
        d.send(quote(MNQ, mark, at=d.now))
        assert peak(d) == D(left)
        sell = fill(MNQ, Side.SELL, 2, "21200", pnl="800", order_id=2, at=d.now)
        d.send(sell, flat(MNQ, at=d.now), account("50800"))
        assert peak(d) == D("50800")
        voided(d, sell, "50000")
        assert peak(d) == D(left), mark


def test_a_voided_loss_leaves_the_peak() -> None:
    d = driver()
    win(d, "800", "50800", 1)
    loss = win(d, "-300", "50500", 3)
    assert peak(d) == D("50800")
    voided(d, loss, "50800")
    assert peak(d) == D("50800") and d.acct.day.realized == D("800")


def test_fees_count_and_the_peak_is_exact() -> None:
    """+812.40 less 3.48 of fees (808.92, peak 50,808.92), then +100.13 (50,909.05): the first
    voided, the peak is 50,100.13 to the cent."""
    d = driver()
    first = round_trip(d, "812.40", "3.48", "50808.92", 1)[1]
    round_trip(d, "100.13", "0", "50909.05", 3)
    assert peak(d) == D("50909.05")
    voided(d, first, "50100.13")
    assert str(peak(d)) == "50100.13"


def test_a_void_after_a_restart_gives_back_the_peak() -> None:
    d = driver()
    sell = win(d, "800", "50800", 1)
    again = restart(d, engine, at=d.now + timedelta(minutes=5))
    assert peak(again) == D("50800")
    voided(again, sell, "50000")
    assert peak(again) == D("50000")


def test_a_void_of_an_earlier_days_trade_moves_no_peak() -> None:
    """Monday's win raised the peak; the daily reset lets go of what the day's trades did (the
    books give an older trade's P&L back only at the next rebuild from the gateway's trades,
    and the peak it raised stays: see the report)."""
    d = driver()
    sell = win(d, "800", "50800", 1)
    d.at(MON_RESET + timedelta(minutes=1))
    assert "raised" not in d.acct.rule_state["RULE-004"]
    voided(d, sell, "50000")
    assert peak(d) == D("50800")


def test_a_void_after_a_later_trade_raised_the_peak_further() -> None:
    """+800 (peak 50,800), +400 (51,200): the first voided, 50,400 (equity without it reached
    that); the second then, 50,000; or the other way round, the same at each step's end."""
    d = driver()
    first = win(d, "800", "50800", 1)
    second = win(d, "400", "51200", 3)
    assert peak(d) == D("51200")
    voided(d, first, "50400")
    assert peak(d) == D("50400")
    voided(d, second, "50000")
    assert peak(d) == D("50000")

    d = driver()
    first = win(d, "800", "50800", 1)
    second = win(d, "400", "51200", 3)
    voided(d, second, "50800")
    assert peak(d) == D("50800")
    voided(d, first, "50000")
    assert peak(d) == D("50000")


def test_a_void_before_later_trades_raised_the_peak() -> None:
    d = driver()
    first = win(d, "800", "50800", 1)
    voided(d, first, "50000")
    assert peak(d) == D("50000")
    d.advance(minutes=1)
    second = win(d, "400", "50400", 3)
    assert peak(d) == D("50400")
    voided(d, second, "50000")
    assert peak(d) == D("50000")


def test_a_void_of_one_of_an_orders_two_trades_gives_back_its_part() -> None:
    """A void is of one trade: an order of 2 filled as two trades of 1 (+400 each) keeps the
    other's 400."""
    d = driver()
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now), position(MNQ, 2, "21000"))
    d.advance(minutes=1)
    a = fill(MNQ, Side.SELL, 1, "21200", pnl="400", order_id=2, at=d.now)
    b = fill(MNQ, Side.SELL, 1, "21200", pnl="400", order_id=2, at=d.now)
    d.send(a, position(MNQ, 1, "21000", at=d.now), b, flat(MNQ, at=d.now), account("50800"))
    assert peak(d) == D("50800")
    voided(d, a, "50400")
    assert peak(d) == D("50400")
    voided(d, b, "50000")
    assert peak(d) == D("50000")


def test_a_void_of_a_wiped_trade_moves_no_peak() -> None:
    """A void of a trade a confirmed firm's reset wiped gives nothing back (`voids`): not
    the peak either."""
    d = driver()
    sell = win(d, "396.52", "50396.52", 1)
    got = answer(d, reset(d, "50000.00"))
    assert said(got, "ACCOUNT_RESET_CONFIRMED")
    before = peak(d)
    voided(d, sell, "50000.00")
    assert peak(d) == before


def test_what_is_kept_is_bounded() -> None:
    """The state row holds the latest `RAISED_KEPT` winning trades, whatever the day's count
    (an older one's void moves no peak); a loss is not kept."""
    d = driver(now=MON_RESET + timedelta(minutes=1))  # (a day of 14 hours ahead)
    balance = D("50000")
    wins = []
    for i in range(RAISED_KEPT + 8):
        balance += 10
        wins.append(win(d, "10", str(balance), 10 * i + 1))
    win(d, "-5", str(balance - 5), 999)
    raised = d.acct.rule_state["RULE-004"]["raised"]
    assert list(raised) == [str(w.trade_id) for w in wins[-RAISED_KEPT:]]
    voided(d, wins[0], str(balance - 15))
    assert peak(d) == balance
    voided(d, wins[-1], str(balance - 25))
    assert peak(d) == balance - 10


def test_the_end_of_day_peak_is_not_moved_by_a_void_of_the_days_trade() -> None:
    """End of day: Monday's +800 is taken into the peak at the reset (50,800). Tuesday's +400
    (51,200) is voided: the peak stays 50,800 (no read asked, nothing kept), and Tuesday's
    reset takes the equity then, 50,800 without the voided win (it was weak: its peak never
    rose above 50,000, so only the memo's check asserted anything)."""
    d = rule_driver(TrailingDrawdown, drawdown="1000", mode="end_of_day")
    win(d, "800", "50800", 1)
    d.at(MON_RESET + timedelta(minutes=1))
    assert peak(d) == D("50800")
    sell = win(d, "400", "51200", 3)
    assert peak(d) == D("50800") and "raised" not in d.acct.rule_state["RULE-004"]
    assert not trade_reads(voided(d, sell, "50800"))
    assert peak(d) == D("50800") and d.acct.equity == D("50800")
    d.at(MON_RESET + timedelta(days=1, minutes=1))
    assert peak(d) == D("50800"), "the voided win's 400 was taken at the reset"
    memo = d.acct.rule_state["RULE-004"]
    assert memo["reset"] == d.acct.day.start.isoformat() and d.acct.day.start > MON_RESET
    assert memo["equity"] == "50800"
