"""A confirmed firm's reset takes the wiped profit off each book no further than the balance
fell with no fill in the read that looked wiped. Found by reviews: that fall is not always
what the book's wiped trades made.

- An earlier day's wiped loss raised the balance the reset set as much as it lost: Monday
  -450, Tuesday +396.52, reset to 50,000, the balance rose 53.48, the cap took nothing off
  the day, and Tuesday's wiped profit cushioned the daily limit (a 600 loss after the reset
  left the day at -203.48, Trading), the alert saying there was no wiped profit to take off.
- A loss whose balance came ahead of its fills is in that fall: up 396.52, a -300 round
  trip's balance first, the read's list and the confirming read's both empty (a list empty
  for a moment, twice): the day came down 300, then the loss's fills, heard late, took 300
  more (-203.48 where the account made 96.52: a false lock 300 early).
"""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.events import Fill, Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import MNQ, Driver, account, fill, flat, gateway_read, position, rule_driver
from tests.unit.test_firm_reset_books import reset, round_trip, said, won
from tests.unit.test_firm_reset_confirmed import answer

D = Decimal
LIMIT = "500"


def next_day(d: Driver) -> None:
    """On to the next trading day (the same week)."""
    today = d.acct.day.start
    while d.acct.day.start == today:
        d.advance(hours=1)


def test_an_earlier_days_wiped_loss_leaves_no_wiped_profit_on_the_day() -> None:
    """Monday -450; Tuesday +396.52 (balance 49,946.52); the firm resets to 50,000 (up 53.48
    with no fill), confirmed: the day's wiped 396.52 comes off (the week's wiped trades made
    -53.48 in all: a wiped loss, kept), and a 600 loss after the reset locks the day."""
    d = rule_driver(DailyLossLimit, limit=LIMIT, balance="50000")
    round_trip(d, "-450", "0", "49550.00", 1)
    next_day(d)
    d.send(account("49550.00"))
    round_trip(d, "400", "3.48", "49946.52", 3)
    assert d.acct.day.realized == D("396.52") and d.acct.week.realized == D("-53.48")
    got = answer(d, reset(d, "50000.00"))
    [text] = said(got, "ACCOUNT_RESET_CONFIRMED")
    assert "day realized 396.52 -> 0.00" in text, text
    assert (d.acct.day.realized, d.acct.week.realized) == (D("0"), D("-53.48")), (
        f"day {d.acct.day.realized}, week {d.acct.week.realized}"
    )
    d.advance(minutes=1)
    round_trip(d, "-600", "0", "49400.00", 5)
    assert d.acct.state is State.LockedDaily, (d.acct.day.realized, d.acct.state)


def test_an_earlier_days_wiped_profit_takes_no_more_off_the_day() -> None:
    """Monday +300; Tuesday +396.52; reset to 50,000 (down 696.52): the day comes down by
    its own wiped 396.52 alone, the week by both days' 696.52."""
    d = rule_driver(DailyLossLimit, limit=LIMIT, balance="50000")
    round_trip(d, "300", "0", "50300.00", 1)
    next_day(d)
    d.send(account("50300.00"))
    round_trip(d, "400", "3.48", "50696.52", 3)
    answer(d, reset(d, "50000.00"))
    assert (d.acct.day.realized, d.acct.week.realized) == (D("0"), D("0"))


def late_loss(d: Driver, balance: str) -> list[object]:
    """A -300 round trip (2 MNQ, ten minutes) whose balance (``balance``) comes live ahead of
    its records: returned, to be sent later (stamped when they were made)."""
    buy = fill(MNQ, Side.BUY, 2, "21000", order_id=3, at=d.now)
    d.advance(minutes=10)
    sell = fill(MNQ, Side.SELL, 2, "20925", pnl="-300", order_id=4, at=d.now)
    d.send(account(balance))  # the balance first: 300 below what the fills explain
    d.advance(seconds=2)
    return [buy, position(MNQ, 2, "21000", at=buy.at), sell, flat(MNQ, at=sell.at)]


def test_a_loss_heard_late_in_the_falls_balance_is_not_counted_twice() -> None:
    """Up 396.52; a -300 loss's balance (50,096.52) comes first; the read's list is empty and
    so is the confirming read's: taken for a reset, the day comes down 300 (what the balance
    fell). The loss's fills then come, stamped before that read, and a read confirms the
    balance where it was (up 300 beyond them: they were in it): the 300 is given back, the
    day at 96.52, what the account made; the next -300 does not lock it."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    records = late_loss(d, "50096.52")
    out = gateway_read(d, account("50096.52"), trades=(), since=d.acct.week.start)
    answer(d, out)  # (empty again)
    assert d.acct.day.realized == D("96.52")  # the fall taken off, for now
    d.advance(seconds=5)
    d.send(*records)  # heard late
    d.send(account("50096.52"))  # did not move: a read is asked for
    d.advance(seconds=1)
    got = gateway_read(d, account("50096.52"), trades=(), since=d.acct.week.start)
    assert (d.acct.day.realized, d.acct.week.realized) == (D("96.52"), D("96.52")), (
        f"day {d.acct.day.realized}, week {d.acct.week.realized} (the account made 96.52)"
    )
    [text] = said(got, "ACCOUNT_RESET_CONFIRMED")
    assert "not counted twice: day realized -203.48 -> 96.52" in text, text
    d.advance(minutes=1)
    round_trip(d, "-300", "0", "49796.52", 5)
    assert d.acct.state is State.Trading, (d.acct.day.realized, d.acct.state)


def test_a_loss_heard_late_whose_fills_moved_the_balance_is_kept() -> None:
    """Up 396.52, the firm's reset to 50,000 confirmed (day 0). A loss made after it whose
    balance (49,700) came first, confirmed by a read before its fills: when they come, the
    balance stays there, yet they are stamped after the read that found the reset: nothing
    is given back (day -300), and the next -250 locks the day."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    answer(d, reset(d, "50000.00"))
    assert d.acct.day.realized == D("0")
    d.advance(minutes=1)
    records = late_loss(d, "49700.00")
    gateway_read(d, account("49700.00"), trades=(), since=d.acct.week.start)  # (not listed yet)
    d.send(*records)
    d.send(account("49700.00"))
    trades = [r for r in records if isinstance(r, Fill)]
    gateway_read(d, account("49700.00"), trades=trades, since=d.acct.week.start)
    assert d.acct.day.realized == D("-300"), d.acct.day.realized
    round_trip(d, "-250", "0", "49450.00", 5)
    assert d.acct.state is State.LockedDaily, (d.acct.day.realized, d.acct.state)


def test_a_second_reset_gives_back_nothing_of_the_first() -> None:
    """Up 396.52, reset to 50,000 confirmed (day 0); -450 since; the firm resets the account
    again, to 50,000 (up 450 with no fill), confirmed: the day keeps its -450 (a wiped loss
    is kept), nothing given back of the first reset's 396.52."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    answer(d, reset(d, "50000.00"))
    d.advance(minutes=1)
    round_trip(d, "-450", "0", "49550.00", 3)
    assert d.acct.day.realized == D("-450")
    answer(d, reset(d, "50000.00"))
    assert (d.acct.day.realized, d.acct.week.realized) == (D("-450"), D("-450"))
