"""A confirmed firm's reset takes the wiped profit off each book no further than the balance
fell with no fill in the read that looked wiped. Found by reviews: that fall is not always
what the book's wiped trades made.

- An earlier day's wiped loss raised the balance the reset set as much as it lost: Monday
  -450, Tuesday +396.52, reset to 50,000, the balance rose 53.48, the cap took nothing off
  the day, and Tuesday's wiped profit cushioned the daily limit (a 600 loss after the reset
  left the day at -203.48, Trading), the alert saying there was no wiped profit to take off.
"""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import Driver, account, rule_driver
from tests.unit.test_firm_reset_books import reset, round_trip, said
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
