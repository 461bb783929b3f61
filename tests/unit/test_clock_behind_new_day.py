"""Found by a hunt: this machine's clock 2 minutes behind the gateway's (no time
synchronisation; the service starts: only a clock *ahead* by over 60 s is refused). The
trader's round trip at 17:00:30-17:01:00 gateway time (the new trading day, Globex just
opened) reached the service at 16:58:30-16:59:00 by its clock: its $900 loss was booked into
the day that was ending (the day rolls on a fill's stamp only within 60 s, and a book never
looked at its end), and the new day began at 0 when the service's clock reached 17:00. A
further $600 loss (-$1,500 today, limit $1,000) left the account Trading.

At the reset the fills stamped at or after the new day's start go over to it (`core.early`):
their P&L, fees, records and round trips, out of the old books; the contracts they moved out
of the carry; the week's book too; RULE-004's end-of-day peak and RULE-011's streak as of the
gateway's reset. A fill of the old day stays in it, arriving before or after the reset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fsm_risk.core.events import Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_consecutive_losses import MaxConsecutiveLosses
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import (
    MNQ,
    Driver,
    account,
    alerts,
    fill,
    flat,
    make_engine,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
)

D = Decimal
MON_RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday 17:00 CST
SUN_RESET = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # the weekly reset (and a daily one)
BEHIND = timedelta(minutes=2)


def trip(d: Driver, reset: datetime, secs: tuple[int, int], sell: str, pnl: str, oid: int) -> None:
    """Buy 3 MNQ at 21,000 and sell them at ``sell``, stamped ``secs`` after ``reset`` by
    the gateway's clock, each reaching the service on its clock 2 min behind."""
    for i, (at, side, price) in enumerate(
        [(secs[0], Side.BUY, "21000"), (secs[1], Side.SELL, sell)]
    ):
        stamp = reset + timedelta(seconds=at)
        d.now = stamp - BEHIND
        p = None if side is Side.BUY else pnl
        d.send(fill(MNQ, side, 3, price, pnl=p, order_id=oid + i, at=stamp))
        d.send(position(MNQ, 3, price, at=stamp) if p is None else flat(MNQ, at=stamp))


def test_new_days_loss_reaching_a_clock_behind_counts_in_the_new_day() -> None:
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="1000")
    trip(d, MON_RESET, (30, 60), "20850", "-900", 20)
    assert d.acct.day.realized == -900  # (our clock still in Monday: booked there for now)
    d.at(MON_RESET)  # the service's clock reaches the reset
    assert (d.acct.day.start, d.acct.day.realized) == (MON_RESET, -900), "the -900 left Monday"
    assert [f.order_id for f in d.acct.day.fills] == [20, 21]
    assert [t.net for t in d.acct.day.trips] == [-900]
    assert d.acct.week.realized == -900  # the week counts it once
    assert d.acct.state is State.Trading
    trip(d, MON_RESET, (600, 610), "20900", "-600", 30)  # 17:10 gateway: -$600 more
    assert d.acct.day.realized == -1500
    assert d.acct.week.realized == -1500
    assert d.acct.state is not State.Trading


def test_a_fill_stamped_exactly_at_the_reset_is_the_new_days() -> None:
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="1000")
    trip(d, MON_RESET, (0, 1), "20850", "-900", 20)
    d.at(MON_RESET)
    assert d.acct.day.realized == -900
    assert [f.at for f in d.acct.day.fills] == [MON_RESET, MON_RESET + timedelta(seconds=1)]


def test_the_old_days_fills_stay_in_it_before_and_after_the_reset() -> None:
    """Two sells of the old day's long (16:59:50 and 16:59:59 gateway time): one arriving among
    the new day's fills, before our clock's reset; one after it (a late record). Neither is
    the new day's: its P&L is only the new day's -$900."""
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(minutes=30), limit="5000")
    d.send(
        fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now),
        position(MNQ, 2, "21000", at=d.now),
        quote(MNQ, "21000", at=d.now),
    )
    # the new day's round trip beside the long: buy 3 at 21,000 at 17:00:30 gateway time
    stamp = MON_RESET + timedelta(seconds=30)
    d.now = stamp - BEHIND
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=20, at=stamp))
    d.now += timedelta(seconds=5)  # an old day's sale (16:59:50) comes among them
    old = MON_RESET - timedelta(seconds=10)
    d.send(fill(MNQ, Side.SELL, 1, "21100", pnl="200", order_id=2, at=old))
    d.now += timedelta(seconds=5)  # and the new day's sale of the 3 at 20,850
    d.send(fill(MNQ, Side.SELL, 3, "20850", pnl="-900", order_id=21, at=stamp))
    d.send(position(MNQ, 1, "21000", at=stamp))
    d.send(quote(MNQ, "20850", at=d.now))
    d.at(MON_RESET)
    assert d.acct.day.realized == -900
    assert d.acct.day.carried[MNQ] == (D("-300"), 1)  # the long 1 of Monday, at 20,850
    d.now = MON_RESET + timedelta(seconds=5)  # the last sell of Monday's long, its record late
    old = MON_RESET - timedelta(seconds=1)
    d.send(
        fill(MNQ, Side.SELL, 1, "20850", pnl="-300", order_id=3, at=old),
        flat(MNQ, at=old),
    )
    assert d.acct.day.realized == -900
    assert d.acct.day_pnl(with_unrealized=True) == -900
    assert d.acct.week.realized == 200 - 900 - 300


def test_a_position_the_new_day_opened_carries_nothing_into_it() -> None:
    """Long 3 at 17:00:30 gateway time (16:58:30 here) and 21,000 quoted 20,950 when our clock
    resets: its -$300 is the new day's loss, not carried. At 20,800 the day is at -$1,200
    (limit $1,000)."""
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="1000")
    stamp = MON_RESET + timedelta(seconds=30)
    d.now = stamp - BEHIND
    d.send(
        fill(MNQ, Side.BUY, 3, "21000", order_id=20, at=stamp),
        position(MNQ, 3, "21000", at=stamp),
        quote(MNQ, "20950", at=d.now),
    )
    d.at(MON_RESET)
    assert d.acct.day.carry == 0 and MNQ not in d.acct.day.carried
    assert d.acct.day_pnl(with_unrealized=True) == -300
    d.send(quote(MNQ, "20800", at=d.now + timedelta(seconds=1)))
    assert d.acct.day_pnl(with_unrealized=True) == -1200
    assert d.acct.state is not State.Trading


def test_a_held_position_the_new_day_cut_carries_what_was_held_at_the_reset() -> None:
    """Long 2 from Monday; 1 sold at 21,100 at 17:00:30 gateway time (+$200); 21,300 when our
    clock resets: the 2 held at the boundary carry $1,200 (at that price), and the new day's
    P&L is the sale's $400 short of it."""
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="5000")
    d.send(
        fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now),
        position(MNQ, 2, "21000", at=d.now),
        quote(MNQ, "21000", at=d.now),
    )
    stamp = MON_RESET + timedelta(seconds=30)
    d.now = stamp - BEHIND
    d.send(
        fill(MNQ, Side.SELL, 1, "21100", pnl="200", order_id=2, at=stamp),
        position(MNQ, 1, "21000", at=stamp),
        quote(MNQ, "21300", at=d.now),
    )
    d.at(MON_RESET)
    assert d.acct.day.realized == 200
    assert d.acct.day.carried[MNQ] == (D("1200"), 2)
    assert d.acct.day.carry == 1200
    assert d.acct.day_pnl(with_unrealized=True) == -400


def test_a_restart_before_our_reset_moves_them_at_it() -> None:
    rebuild = lambda: rule_engine(DailyLossLimit, limit="1000")  # noqa: E731
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="1000")
    trip(d, MON_RESET, (30, 60), "20850", "-900", 20)
    d = restart(d, rebuild, at=MON_RESET - timedelta(seconds=30))  # stopped and started
    assert d.acct.day.end == MON_RESET and d.acct.day.realized == -900
    d.at(MON_RESET)
    assert d.acct.day.realized == -900
    trip(d, MON_RESET, (600, 610), "20900", "-600", 30)
    assert d.acct.day.realized == -1500
    assert d.acct.state is not State.Trading


def test_a_restart_after_our_reset_moves_them_at_its_catch_up() -> None:
    rebuild = lambda: rule_engine(DailyLossLimit, limit="1000")  # noqa: E731
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="1000")
    trip(d, MON_RESET, (30, 60), "20850", "-900", 20)
    d = restart(d, rebuild, at=MON_RESET + timedelta(minutes=5))  # the reset missed
    assert (d.acct.day.start, d.acct.day.realized) == (MON_RESET, -900)
    assert d.acct.week.realized == -900
    out = start_up_read(d, flat(MNQ, at=d.now), account("49100"))
    assert not [a for a in alerts(out) if a.reason is Reason.REALIZED_REBUILT]  # it agrees
    assert d.acct.day.realized == -900
    trip(d, MON_RESET, (600, 610), "20900", "-600", 30)
    assert d.acct.day.realized == -1500
    assert d.acct.state is not State.Trading


def test_a_position_the_new_day_opened_carries_nothing_across_a_restart_after_our_reset() -> None:
    """Long 3 at 21,000 at 17:00:30 gateway time, stopped before our clock's reset and started
    after it, the gateway's price at the reset 20,900: the restore's reset carries nothing of
    it (-$600 at that price was not held at the reset). At 20,850 the day is at -$900."""
    rebuild = lambda: rule_engine(DailyLossLimit, limit="800")  # noqa: E731
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="800")
    stamp = MON_RESET + timedelta(seconds=30)
    d.now = stamp - BEHIND
    d.send(
        fill(MNQ, Side.BUY, 3, "21000", order_id=20, at=stamp),
        position(MNQ, 3, "21000", at=stamp),
        quote(MNQ, "20950", at=d.now),
    )
    at_reset = {MON_RESET: {MNQ: D("20900")}}
    d = restart(d, rebuild, at=MON_RESET + timedelta(minutes=5), at_reset=at_reset)
    assert (d.acct.day.start, d.acct.day.carry) == (MON_RESET, 0)
    start_up_read(d, position(MNQ, 3, "21000", at=stamp), account("50000"))
    d.send(quote(MNQ, "20850", at=d.now))
    assert d.acct.day_pnl(with_unrealized=True) == -900
    assert d.acct.state is not State.Trading


def test_the_weeks_book_at_a_weekly_reset() -> None:
    d = rule_driver(WeeklyLossLimit, now=SUN_RESET - timedelta(hours=1), limit="1000")
    trip(d, SUN_RESET, (30, 60), "20850", "-900", 20)
    d.at(SUN_RESET)
    assert (d.acct.week.start, d.acct.week.realized) == (SUN_RESET, -900)
    assert d.acct.day.realized == -900
    trip(d, SUN_RESET, (600, 610), "20900", "-600", 30)
    assert d.acct.week.realized == -1500
    assert d.acct.state is not State.Trading


def test_rule_004_end_of_day_peak_is_the_equity_at_the_gateways_reset() -> None:
    """A +$900 win at 17:00:30 gateway time is the new day's: the end-of-day peak stays at
    the equity at the reset (50,000), not 50,900 (the $500 drawdown's floor at 50,400: the
    win's first $500 given back would lock)."""
    d = rule_driver(
        TrailingDrawdown,
        now=MON_RESET - timedelta(hours=1),
        drawdown="500",
        freeze_at_start="false",
    )
    trip(d, MON_RESET, (30, 60), "21150", "900", 20)
    d.at(MON_RESET)
    assert D(d.acct.rule_state["RULE-004"]["peak"]) == 50000
    d.send(account("50900"))
    d.now += timedelta(seconds=30)
    d.send(account("50400"))  # a $500 loss after the win: the floor is 49,500
    assert d.acct.state is State.Trading


def test_rule_004_end_of_day_peak_at_a_restore_after_our_reset() -> None:
    """The same win, the service stopped before our clock's reset and started after it: the
    peak its restore takes at the reset is the equity then, 50,000."""
    raw = {"drawdown": "500", "freeze_at_start": "false"}
    d = rule_driver(TrailingDrawdown, now=MON_RESET - timedelta(hours=1), **raw)
    trip(d, MON_RESET, (30, 60), "21150", "900", 20)
    d = restart(
        d, lambda: rule_engine(TrailingDrawdown, **raw), at=MON_RESET + timedelta(minutes=5)
    )
    assert D(d.acct.rule_state["RULE-004"]["peak"]) == 50000


def test_rule_011_streak_counts_the_new_days_losses_booked_before_our_reset() -> None:
    d = Driver(make_engine({MaxConsecutiveLosses: {"losses": "2"}}))
    d.now = MON_RESET - timedelta(hours=1)
    d.send(account("50000"))
    trip(d, MON_RESET, (30, 60), "20850", "-900", 20)
    d.at(MON_RESET)
    assert d.acct.rule_state["RULE-011"]["streak"] == 1
    trip(d, MON_RESET, (600, 610), "20990", "-60", 30)  # the second loss in a row
    assert d.acct.state is not State.Trading
