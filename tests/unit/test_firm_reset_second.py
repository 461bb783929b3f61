"""A second confirmed firm's reset in the period takes off what its own wiped trades made.

Found by a review: Monday -450, the firm resets the account to 50,000 (confirmed: the wiped
loss kept, the week at -450); Tuesday +396.52, the firm resets it to 50,000 again (down
396.52 with no fill). What the second reset's wiped trades made was reckoned as the week's
realized less what it still holds of trades, -53.48 - 0: Monday's loss, which the first
reset had already handled (and its balance already undone), counted again, so nothing came
off and the week stayed at -53.48 where it must be -450: the weekly limit 396.52 looser. The
loss a confirmed reset's wiped trades leave on a book is remembered (`Book.wiped_loss`,
stored with the books) and left out of what a later reset's wiped trades made.
"""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import Driver, account, gateway_read, restart, rule_driver, rule_engine
from tests.unit.test_firm_reset_books import reset, round_trip, said
from tests.unit.test_firm_reset_confirmed import answer
from tests.unit.test_firm_reset_fall import next_day

D = Decimal


def monday_lost_and_reset(d: Driver) -> None:
    """Monday -450 (49,550), the firm's reset to 50,000 confirmed: the wiped loss kept."""
    round_trip(d, "-450", "0", "49550.00", 1)
    answer(d, reset(d, "50000.00"))
    assert d.acct.week.realized == D("-450")


def tuesday_won_and_reset(d: Driver) -> str:
    """Tuesday +396.52 (50,396.52), the firm's reset to 50,000 again: its confirmation said."""
    next_day(d)
    d.send(account("50000.00"))
    round_trip(d, "400", "3.48", "50396.52", 3)
    assert d.acct.week.realized == D("-53.48")
    [text] = said(answer(d, reset(d, "50000.00")), "ACCOUNT_RESET_CONFIRMED")
    return text


def test_a_second_reset_in_the_week_takes_its_wiped_profit_off_the_week() -> None:
    """The review's case: the week comes down by the second reset's wiped 396.52 (to -450),
    and a -600 after it locks the week (weekly limit 1000)."""
    d = rule_driver(WeeklyLossLimit, limit="1000", balance="50000")
    monday_lost_and_reset(d)
    text = tuesday_won_and_reset(d)
    assert (d.acct.day.realized, d.acct.week.realized) == (D("0"), D("-450")), (
        f"day {d.acct.day.realized}, week {d.acct.week.realized}"
    )
    assert "week realized -53.48 -> -450.00" in text, text
    d.advance(minutes=1)
    round_trip(d, "-600", "0", "49400.00", 5)
    assert d.acct.state is State.LockedWeekly, (d.acct.week.realized, d.acct.state)


def test_a_second_reset_in_the_day_takes_its_wiped_profit_off_the_day() -> None:
    """The same within one day: -450, reset to 50,000 (kept: day -450), +396.52, reset to
    50,000 again: the day comes back to -450, and a -60 after it locks the day (limit 500)."""
    d = rule_driver(DailyLossLimit, limit="500", balance="50000")
    monday_lost_and_reset(d)
    d.advance(minutes=1)
    round_trip(d, "400", "3.48", "50396.52", 3)
    assert d.acct.day.realized == D("-53.48")
    answer(d, reset(d, "50000.00"))
    assert (d.acct.day.realized, d.acct.week.realized) == (D("-450"), D("-450")), (
        f"day {d.acct.day.realized}, week {d.acct.week.realized}"
    )
    d.advance(minutes=1)
    round_trip(d, "-60", "0", "49940.00", 5)
    assert d.acct.state is State.LockedDaily, (d.acct.day.realized, d.acct.state)


def test_a_restart_between_the_resets_keeps_the_wiped_loss() -> None:
    """The first reset's kept loss is stored with the books: a restart between the two
    resets changes nothing."""
    d = rule_driver(WeeklyLossLimit, limit="1000", balance="50000")
    monday_lost_and_reset(d)
    assert d.acct.week.wiped_loss == D("-450") and d.acct.day.wiped_loss == D("-450")
    d = restart(d, lambda: rule_engine(WeeklyLossLimit, limit="1000"))
    assert d.acct.week.wiped_loss == D("-450")
    tuesday_won_and_reset(d)
    assert d.acct.week.realized == D("-450"), f"week {d.acct.week.realized}"


def test_a_rebuild_from_a_list_of_every_trade_forgets_the_wiped_loss() -> None:
    """The reset's confirmation was a glitch: the list lists Monday's trades again. Once, it
    may be a list served stale: the loss is still remembered. Twice, the books agree with
    it: the trades are the list's again, so no later reset leaves their loss out a second
    time (`Book.wiped_loss` back to 0); the week holds its -450."""
    d = rule_driver(WeeklyLossLimit, limit="1000", balance="50000")
    trades = round_trip(d, "-450", "0", "49550.00", 1)
    answer(d, reset(d, "50000.00"))
    assert d.acct.week.wiped_loss == D("-450")
    d.advance(minutes=1)
    gateway_read(d, account("50000.00"), trades=trades, since=d.acct.week.start)
    assert (d.acct.week.realized, d.acct.week.wiped_loss) == (D("-450"), D("-450"))
    d.advance(minutes=1)
    gateway_read(d, account("50000.00"), trades=trades, since=d.acct.week.start)
    assert (d.acct.week.realized, d.acct.week.wiped_loss) == (D("-450"), D("0"))


def test_a_wiped_profit_the_fall_kept_is_not_remembered() -> None:
    """A wiped profit left on the books because the balance fell less (a $5 fee beside a list
    empty twice: 5 taken off of 396.52) is no loss: nothing is remembered, and a later
    reset's reckoning is as before (never looser)."""
    d = rule_driver(DailyLossLimit, limit="500", balance="50000")
    round_trip(d, "400", "3.48", "50396.52", 1)
    d.send(account("50391.52"))
    answer(d, gateway_read(d, account("50391.52"), trades=(), since=d.acct.week.start))
    assert (d.acct.day.realized, d.acct.day.wiped_loss) == (D("391.52"), D("0"))
