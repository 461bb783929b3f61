"""Found by a review of the loss a confirmed firm's reset's wiped trades left on the books
(`Book.wiped_loss`): stale lists never forget it, a clock behind the gateway's carries it to
the new day; and the review's checks that hold (a glitch the same day, a restart, a third
reset, a mixed first reset)."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import account, gateway_read, restart, rule_driver, rule_engine
from tests.unit.test_firm_reset_books import reset, round_trip
from tests.unit.test_firm_reset_confirmed import answer
from tests.unit.test_firm_reset_fall import next_day

D = Decimal


def _monday(d, pnl="-450", bal="49550.00"):
    trades = round_trip(d, pnl, "0", bal, 1)
    answer(d, reset(d, "50000.00"))
    return trades


def test_the_same_glitch_the_same_day_takes_only_the_fall() -> None:
    """Control for the above: the glitch on the day of the first reset takes 5 off."""
    d = rule_driver(DailyLossLimit, limit="500", balance="50000")
    _monday(d)
    d.advance(minutes=1)
    round_trip(d, "400", "3.48", "50396.52", 3)
    d.send(account("50391.52"))
    answer(d, gateway_read(d, account("50391.52"), trades=(), since=d.acct.week.start))
    assert d.acct.day.realized == D("-58.48"), f"day {d.acct.day.realized}"


def test_two_stale_lists_never_forget_the_wiped_loss() -> None:
    """LOOSENING (stale lists): Monday -450, reset to 50,000 confirmed (week remembers -450).
    Two reads served stale (each relists Monday's wiped trades) then the truth again (none).
    Tuesday +396.52, reset to 50,000 again: the week must be -450 (a -600 locks it)."""
    d = rule_driver(WeeklyLossLimit, limit="1000", balance="50000")
    trades = _monday(d)
    for _ in range(2):
        d.advance(minutes=1)
        gateway_read(d, account("50000.00"), trades=trades, since=d.acct.week.start)
    d.advance(minutes=1)
    gateway_read(d, account("50000.00"), trades=(), since=d.acct.week.start)
    next_day(d)
    d.send(account("50000.00"))
    round_trip(d, "400", "3.48", "50396.52", 3)
    answer(d, reset(d, "50000.00"))
    d.advance(minutes=1)
    round_trip(d, "-600", "0", "49400.00", 5)
    assert d.acct.week.realized == D("-1050"), f"week {d.acct.week.realized}"
    assert d.acct.state is State.LockedWeekly, (d.acct.week.realized, d.acct.state)


def test_a_tuesday_restart_and_read_keep_the_wiped_loss() -> None:
    """Sound? Monday reset (kept -450), restart on Tuesday, a whole-window read (empty list,
    balance unmoved), then Tuesday's win and second reset: week -450."""
    d = rule_driver(WeeklyLossLimit, limit="1000", balance="50000")
    _monday(d)
    next_day(d)
    d = restart(d, lambda: rule_engine(WeeklyLossLimit, limit="1000"))
    gateway_read(d, account("50000.00"), trades=(), since=d.acct.week.start)
    assert d.acct.week.wiped_loss == D("-450")
    d.send(account("50000.00"))
    round_trip(d, "400", "3.48", "50396.52", 3)
    answer(d, reset(d, "50000.00"))
    assert d.acct.week.realized == D("-450"), f"week {d.acct.week.realized}"


def test_a_third_reset_after_a_losing_second() -> None:
    """Sound? Mon -450 reset; Tue -100 reset (up 100); Tue +396.52 reset: day -100, week -550."""
    d = rule_driver(WeeklyLossLimit, limit="1000", balance="50000")
    _monday(d)
    next_day(d)
    d.send(account("50000.00"))
    round_trip(d, "-100", "0", "49900.00", 3)
    answer(d, reset(d, "50000.00"))
    assert (d.acct.day.wiped_loss, d.acct.week.wiped_loss) == (D("-100"), D("-550"))
    d.advance(minutes=1)
    round_trip(d, "400", "3.48", "50396.52", 5)
    answer(d, reset(d, "50000.00"))
    got = (d.acct.day.realized, d.acct.week.realized)
    assert got == (D("-100"), D("-550")), got


def test_a_mixed_first_reset_then_a_second() -> None:
    """Sound? Mon -450; Tue +396.52, reset (up 53.48): day 0, week -53.48 (wiped_loss
    -53.48). Tue +300, reset again: day 0, week -53.48."""
    d = rule_driver(WeeklyLossLimit, limit="1000", balance="50000")
    round_trip(d, "-450", "0", "49550.00", 1)
    next_day(d)
    d.send(account("49550.00"))
    round_trip(d, "400", "3.48", "49946.52", 3)
    answer(d, reset(d, "50000.00"))
    assert (d.acct.day.realized, d.acct.week.realized) == (D("0"), D("-53.48"))
    assert (d.acct.day.wiped_loss, d.acct.week.wiped_loss) == (D("0"), D("-53.48"))
    d.advance(minutes=1)
    round_trip(d, "300", "0", "50300.00", 5)
    answer(d, reset(d, "50000.00"))
    got = (d.acct.day.realized, d.acct.week.realized)
    assert got == (D("0"), D("-53.48")), got


def test_a_clock_behind_moves_a_wiped_loss_to_the_new_day_remembered() -> None:
    """LOOSENING (clock behind, 9a2b98c x 581ec0b): our clock 2 min behind the gateway's. A
    -450 round trip at 17:00:30-17:00:40 gateway time (the new day's) is booked into Monday;
    the firm resets the account at ~17:01 gateway (16:59 ours), confirmed: the loss kept and
    remembered on Monday's book. At our 17:00 the -450 goes over to the new day (`early`),
    but its `wiped_loss` stays with Monday's dead book. Then +396.52 and a second reset to
    50,000: the new day must be at -450 (a -60 locks it at 500)."""
    from datetime import timedelta

    from tests.unit.test_clock_behind_new_day import BEHIND, MON_RESET, trip

    d = rule_driver(
        DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="500", balance="50000"
    )
    trip(d, MON_RESET, (30, 40), "20925", "-450", 20)
    d.send(account("49550.00"))
    assert d.acct.day.realized == D("-450")
    d.now = MON_RESET + timedelta(seconds=60) - BEHIND  # 17:01 gateway, 16:59 ours
    answer(d, reset(d, "50000.00"))
    d.at(MON_RESET)
    d.advance(minutes=5)
    round_trip(d, "400", "3.48", "50396.52", 30)
    answer(d, reset(d, "50000.00"))
    d.advance(minutes=1)
    round_trip(d, "-60", "0", "49940.00", 40)
    assert d.acct.day.realized == D("-510"), f"day {d.acct.day.realized}"
    assert d.acct.state is State.LockedDaily, (d.acct.day.realized, d.acct.state)
