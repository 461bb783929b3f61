"""RULE-004 ``end_of_day``: a fill stamped before the daily reset whose record reaches the service
after it (the user hub silent across the reset, a record late by milliseconds, or one only a
read lists) leaves the peak the reset took what it would have been had the fill been known
then: ``max(peak before, equity at the reset)``, the equity corrected by the fill's net P&L less
the value the reset carried of the contracts it closed (`Book.late`).

The tester's case: long 2 MNQ from 21,000.25 at 21,010 (+$39.00 open, balance 49,998.76) when
the reset comes; the sell of 1 at 21,010 (P&L 19.50, fees 0.62) stamped before the reset came
after it. The equity at the reset was 50,017.64 + 19.50 = 50,037.14, not 50,037.76: a peak
62 cents too high fired a false trailing-drawdown lock at equity 49,537.64."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from fsm_risk.config import build_rule
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    MNQ,
    Driver,
    account,
    balance_read,
    fill,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
)

D = Decimal
MON_RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday 17:00 CST: Tuesday's day opens
TUE_RESET = MON_RESET + timedelta(days=1)
SUN_RESET = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # the weekly reset (and a daily one)
STAMPED = timedelta(milliseconds=593)  # how long before the reset the late fill was made

driver = partial(rule_driver, TrailingDrawdown, drawdown="500")
engine = partial(rule_engine, TrailingDrawdown, drawdown="500")


def swap_to(d: Driver, mode: str) -> None:
    """The settings reloaded with RULE-004 in ``mode`` (its memory kept)."""
    e = d.engine
    ctx = RiskEngine.context(e.settings, e.instruments, e.marks)
    rule = build_rule(TrailingDrawdown, ctx, {"drawdown": "500", "mode": mode})
    d.engine.replace_rules([rule], d.now, actor="admin:ops", detail=f"mode {mode}")


def peak(d: Driver) -> Decimal:
    return D(d.acct.rule_state["RULE-004"]["peak"])


def long_two(d: Driver, reset: datetime, mark: str, balance: str = "49998.76") -> None:
    """Buy 2 MNQ at 21,000.25 (fees 1.24) ten minutes before ``reset``; quoted at ``mark`` a
    second before it; then the reset (the scheduler's wake-up) takes the peak."""
    d.now = reset - timedelta(minutes=10)
    d.send(
        fill(MNQ, Side.BUY, 2, "21000.25", fees="1.24", order_id=1, at=d.now),
        position(MNQ, 2, "21000.25", at=d.now),
        account(balance),
    )
    d.now = reset - timedelta(seconds=1)
    d.send(quote(MNQ, mark, at=d.now))
    d.at(reset)


def sell_one_late(d: Driver, reset: datetime, price: str, pnl: str, balance: str) -> None:
    """The sell of 1 stamped before ``reset``, its records (fill, position, balance) after it."""
    stamped = reset - STAMPED
    d.now = reset + timedelta(seconds=2)
    d.send(
        fill(MNQ, Side.SELL, 1, price, pnl=pnl, fees="0.62", order_id=2, at=stamped),
        position(MNQ, 1, "21000.25", at=stamped),
        account(balance),
    )


def test_testers_late_winning_close_takes_the_peak_of_the_equity_with_it_at_the_reset() -> None:
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    assert peak(d) == D("50037.76")  # (as known at the reset: both contracts open)
    sell_one_late(d, MON_RESET, "21010", "19.50", "50017.64")
    assert d.acct.day_pnl(with_unrealized=True) == 0
    assert d.acct.week.realized == D("17.64")
    assert peak(d) == D("50037.14")  # 50,017.64 + 1 x 9.75 points x $2
    # equity 49,537.64: above the floor of 49,537.14 (the old peak made it 49,537.76)
    d.send(quote(MNQ, "20760.25", at=d.now))
    assert d.acct.equity == D("49537.64")
    assert d.acct.state is State.Trading
    d.send(quote(MNQ, "20760", at=d.now))  # 49,537.14: at the floor
    assert d.acct.state is State.Flattening


def test_a_late_losing_close_takes_the_move_between_its_price_and_the_reset_mark() -> None:
    """The balance 50,100 (a gain earlier): long 2 from 21,000.25 at 20,990 (-$41.00) at the
    reset, equity 50,057.76 a new peak. The sell of 1 at 20,995 (-$10.50, fees 0.62) stamped
    before it: 5 points better than the reset's mark, so the equity then was 50,067.14."""
    d = driver(now=MON_RESET - timedelta(minutes=20))
    balance_read(d, "50100")
    long_two(d, MON_RESET, "20990", balance="50098.76")
    assert peak(d) == D("50057.76")
    sell_one_late(d, MON_RESET, "20995", "-10.50", "50087.64")
    # 50,087.64 + 1 x (20,990 - 21,000.25) x $2 = 50,067.14
    assert peak(d) == D("50067.14")


def test_a_late_close_below_the_reset_mark_lowers_the_peak_the_reset_raised() -> None:
    d = driver(now=MON_RESET - timedelta(minutes=20))
    balance_read(d, "50100")
    long_two(d, MON_RESET, "20990", balance="50098.76")
    sell_one_late(d, MON_RESET, "20980", "-40.50", "50057.64")
    # 50,057.64 + 1 x (20,990 - 21,000.25) x $2 = 50,037.14: still above the peak before
    assert peak(d) == D("50037.14")


def test_the_correction_never_takes_the_peak_below_the_one_before_the_reset() -> None:
    """Monday's reset set the peak at 50,100; at Tuesday's the equity, 50,057.76, is below it
    (the reset leaves the peak). A late loss leaves it at 50,100, not at the equity less it."""
    d = driver(now=MON_RESET - timedelta(minutes=20))
    balance_read(d, "50100")
    d.at(MON_RESET)
    assert peak(d) == D("50100")
    balance_read(d, "50100")
    long_two(d, TUE_RESET, "20990", balance="50098.76")
    assert peak(d) == D("50100")
    sell_one_late(d, TUE_RESET, "20950", "-100.50", "49997.64")
    assert peak(d) == D("50100")


def test_a_late_gain_at_a_reset_that_did_not_raise_the_peak_raises_it_as_it_would_have() -> None:
    """The peak 50,100 from Monday; Tuesday's reset saw 50,057.76 (long 2 at 20,990). The sell
    of 1 at 21,090 stamped before it (+$179.50, fees 0.62): the equity then was 50,057.76 +
    178.88 - (-20.50) = 50,257.14, the peak it would have taken."""
    d = driver(now=MON_RESET - timedelta(minutes=20))
    balance_read(d, "50100")
    d.at(MON_RESET)
    long_two(d, TUE_RESET, "20990", balance="50098.76")
    sell_one_late(d, TUE_RESET, "21090", "179.50", "50277.64")
    assert peak(d) == D("50257.14")


def test_the_peak_is_corrected_after_a_restart_between_the_reset_and_the_late_record() -> None:
    """The service restarts after the reset, the same day; its start-up read lists the sell
    stamped before the reset that it never received: the stored peak is corrected."""
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    again = restart(d, engine, at=MON_RESET + timedelta(minutes=5))
    assert again.acct.day.start == MON_RESET and peak(again) == D("50037.76")
    stamped = MON_RESET - STAMPED
    start_up_read(
        again,
        fill(MNQ, Side.SELL, 1, "21010", pnl="19.50", fees="0.62", order_id=2, at=stamped),
        position(MNQ, 1, "21000.25", at=stamped),
        account("50017.64"),
    )
    again.send(quote(MNQ, "21010", at=again.now))
    assert again.acct.behind is None
    assert peak(again) == D("50037.14")


def test_the_weekly_reset_takes_the_corrected_peak_too() -> None:
    d = driver(now=SUN_RESET - timedelta(minutes=20))
    long_two(d, SUN_RESET, "21010")
    assert (d.acct.week.start, d.acct.day.start) == (SUN_RESET, SUN_RESET)
    sell_one_late(d, SUN_RESET, "21010", "19.50", "50017.64")
    assert peak(d) == D("50037.14")


def test_the_next_reset_takes_its_own_equity_whatever_was_corrected_before() -> None:
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    sell_one_late(d, MON_RESET, "21010", "19.50", "50017.64")
    d.now = TUE_RESET - timedelta(seconds=1)
    d.send(quote(MNQ, "21020", at=d.now))  # 50,017.64 + $39.50
    d.at(TUE_RESET)
    assert peak(d) == D("50057.14")
    assert d.acct.day.late == 0


def test_a_fill_of_the_new_day_corrects_nothing() -> None:
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    d.now = MON_RESET + timedelta(seconds=2)
    d.send(
        fill(MNQ, Side.SELL, 1, "21010", pnl="19.50", fees="0.62", order_id=2, at=d.now),
        position(MNQ, 1, "21000.25", at=d.now),
        account("50017.64"),
    )
    assert d.acct.day.late == 0
    assert peak(d) == D("50037.76")


def test_the_freeze_caps_the_corrected_peak() -> None:
    """Starting balance 50,000, drawdown 500: the peak never rises above 50,500."""
    d = driver(now=MON_RESET - timedelta(minutes=20))
    balance_read(d, "50400")
    d.at(MON_RESET)
    long_two(d, TUE_RESET, "20990", balance="50398.76")
    sell_one_late(d, TUE_RESET, "21090", "179.50", "50577.64")
    assert peak(d) == D("50500")


def test_intraday_keeps_no_record_of_the_reset() -> None:
    d = driver(now=MON_RESET - timedelta(minutes=20), mode="intraday")
    long_two(d, MON_RESET, "21010")
    sell_one_late(d, MON_RESET, "21010", "19.50", "50017.64")
    assert "reset" not in d.acct.rule_state["RULE-004"]


def test_a_peak_moved_since_the_reset_by_other_means_is_left_as_it_is() -> None:
    """The mode switched to intraday after the reset (the peak rose to 50,077.76 on a mark)
    and back: a late record then corrects nothing of a peak the reset no longer set."""
    d = driver(now=MON_RESET - timedelta(minutes=20))
    long_two(d, MON_RESET, "21010")
    d.now = MON_RESET + timedelta(seconds=1)
    swap_to(d, "intraday")
    d.send(quote(MNQ, "21020", at=d.now))
    assert peak(d) == D("50077.76")
    swap_to(d, "end_of_day")
    sell_one_late(d, MON_RESET, "21010", "19.50", "50017.64")
    assert peak(d) == D("50077.76")
