"""Fills at the live reset boundary: a fill belongs to the trading day its gateway time falls in,
whenever its record reaches the service.

- A close stamped before the reset whose record arrives after it (late by milliseconds, or only
  with a later read) is the old day's, and the contracts it closed were not held at the reset:
  they carry nothing into the new day (`Book.take_fill` takes their part of the carry back).
- A fill stamped at or after the reset, handled while the service's clock is still just before
  it (by no more than a gateway time may be ahead), opens the new day then (`Timers.roll`):
  it is the new day's, and the locks ending at the reset end with it.

The restart path (resets missed while the service was stopped) is tested elsewhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import partial

from fsm_risk.core.events import Listing, Side, Tick, TradesSnapshot
from fsm_risk.core.models import Book
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    closes,
    fill,
    flat,
    make_engine,
    position,
    quote,
    restart,
    rule_driver,
    start_up_read,
)

D = Decimal
#: Monday 16:00 CST: the reset of a firm whose day ends at 17:00 New York
NY_CLOSE = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
#: Monday 17:00 CST: the default reset, Globex's open of Tuesday's trading day
MON_RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
#: Sunday 17:00 CST: the default weekly reset (and a daily one)
SUN_RESET = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)


def ny_close_driver() -> Driver:
    """A $1,000 daily loss limit, ``[session] daily_reset = 16:00`` (the reset while the market
    trades), the account seen five minutes before the reset."""
    cal = SessionCalendar(daily_reset=time(16, 0))
    d = Driver(
        make_engine({DailyLossLimit: {"limit": "1000"}}, calendar=cal),
        now=NY_CLOSE - timedelta(minutes=5),
    )
    d.send(account("50000"))
    return d


def long_three_at(d: Driver, mark: str) -> None:
    """Long 3 MNQ @21,000 ($2 a point each), bought five minutes before the reset and valued at
    ``mark`` one second before it."""
    d.send(
        fill(MNQ, Side.BUY, 3, "21000", order_id=8, at=d.now),
        position(MNQ, 3, "21000", at=d.now),
        quote(MNQ, "21000", at=d.now),
    )
    d.now = NY_CLOSE - timedelta(seconds=1)
    d.send(quote(MNQ, mark, at=d.now))


def test_reviewer_losing_close_stamped_before_the_reset_arriving_after_leaves_day_at_zero() -> None:
    """(The reviewer's probe, x5.) Long 3 MNQ @21,000, at 20,800 (-$1,200) at 15:59:59; the
    trader sells at 15:59:59.800 (the fill's time) and its record reaches the service at
    16:00:00.300, after the reset. The loss is Monday's and the contracts were not held at the
    reset: Tuesday starts at 0, not $1,200 up."""
    cal = SessionCalendar(daily_reset=time(16, 0))
    d = Driver(
        make_engine({DailyLossLimit: {"limit": "1000"}}, calendar=cal),
        now=NY_CLOSE - timedelta(minutes=5),
    )
    d.send(account("50000"), position(MNQ, 3, "21000", at=d.now), quote(MNQ, "20900", at=d.now))
    d.now = NY_CLOSE - timedelta(seconds=1)
    d.send(quote(MNQ, "20800", at=d.now))
    stamped = NY_CLOSE - timedelta(milliseconds=200)
    d.now = NY_CLOSE + timedelta(milliseconds=300)
    d.send(
        fill(MNQ, Side.SELL, 3, "20800", pnl="-1200", order_id=9, at=stamped),
        flat(MNQ, at=stamped),
    )
    assert d.acct.day_pnl(with_unrealized=True) == 0


def test_losing_close_stamped_before_the_reset_gives_the_new_day_no_room() -> None:
    """Long 3 @21,000 at 20,900 (-$600) a second before the reset; the sell stamped 200 ms
    before it arrives 300 ms after it. Tuesday starts at 0 (not +$600 of room the trader
    never had), and Tuesday's own -$1,200 on a new position locks at the $1,000 limit (it
    would read -$600 with the carry left in)."""
    d = ny_close_driver()
    long_three_at(d, "20900")
    stamped = NY_CLOSE - timedelta(milliseconds=200)
    d.now = NY_CLOSE + timedelta(milliseconds=300)
    d.send(
        fill(MNQ, Side.SELL, 3, "20900", pnl="-600", order_id=9, at=stamped),
        flat(MNQ, at=stamped),
    )
    assert d.acct.day.start == NY_CLOSE
    assert (d.acct.day.carry, d.acct.day.realized) == (0, 0)
    assert d.acct.day_pnl(with_unrealized=True) == 0
    d.now += timedelta(minutes=5)
    d.send(
        fill(MNQ, Side.BUY, 3, "20900", order_id=10, at=d.now),
        position(MNQ, 3, "20900", at=d.now),
        quote(MNQ, "20750", at=d.now),
    )
    assert d.acct.day_pnl(with_unrealized=True) == D("-900")
    assert d.acct.state is State.Trading
    d.send(quote(MNQ, "20700", at=d.now))  # -$1,200 today
    assert d.acct.state is State.Flattening


def test_winning_close_stamped_before_the_reset_takes_back_its_value_at_the_reset() -> None:
    """Long 3 @21,000 at 21,200 (+$1,200) when the reset comes (the scheduler's wake-up); the
    trader's sell at 21,200 was stamped 15:59:59.800 and its record comes after a quote of
    21,300 revalued the position. The new day counts nothing of those contracts: not -$1,200
    (a false loss from a carry of a position not held) nor +$600 (the move since the reset)."""
    d = ny_close_driver()
    long_three_at(d, "21200")
    d.at(NY_CLOSE)  # the reset: +$1,200 carried
    assert d.acct.day.carry == D("1200")
    d.now = NY_CLOSE + timedelta(milliseconds=100)
    d.send(quote(MNQ, "21300", at=d.now))
    assert d.acct.day_pnl(with_unrealized=True) == D("600")  # (not known to be closed yet)
    d.now += timedelta(milliseconds=200)
    stamped = NY_CLOSE - timedelta(milliseconds=200)
    d.send(fill(MNQ, Side.SELL, 3, "21200", pnl="1200", order_id=9, at=stamped))
    d.send(flat(MNQ, at=stamped))
    assert d.acct.day_pnl(with_unrealized=True) == 0
    assert d.acct.day.carry == 0 and d.acct.state is State.Trading


def test_partial_close_stamped_before_the_reset_takes_back_its_share_of_the_carry() -> None:
    """Long 3 @21,000 at 20,900 (-$600 carried); a sell of 1 stamped before the reset arrives
    after it: 2 contracts were held at the reset (-$400 carried). At 20,800 the new day has
    lost $400 on those two, and nothing on the one sold before it."""
    d = ny_close_driver()
    long_three_at(d, "20900")
    d.at(NY_CLOSE)
    d.now = NY_CLOSE + timedelta(milliseconds=300)
    stamped = NY_CLOSE - timedelta(milliseconds=200)
    d.send(
        fill(MNQ, Side.SELL, 1, "20900", pnl="-200", order_id=9, at=stamped),
        position(MNQ, 2, "21000", at=stamped),
    )
    assert d.acct.day.carry == D("-400")
    d.send(quote(MNQ, "20800", at=d.now))
    assert d.acct.day_pnl(with_unrealized=True) == D("-400")


def test_close_stamped_before_the_weekly_reset_carries_nothing_into_the_week() -> None:
    """Sunday 17:00 is both the weekly and the daily reset. Long 3 @21,000 at 20,900 at the
    service's last quote; the trader's sell stamped before Sunday's reset arrives after it:
    neither the new week nor the new day starts $600 up."""
    d = rule_driver(DailyLossLimit, now=SUN_RESET - timedelta(minutes=5), limit="1000")
    d.send(
        fill(MNQ, Side.BUY, 3, "21000", order_id=8, at=d.now),
        position(MNQ, 3, "21000", at=d.now),
        quote(MNQ, "20900", at=d.now),
    )
    stamped = SUN_RESET - timedelta(seconds=1)
    d.now = SUN_RESET + timedelta(seconds=2)
    d.send(
        fill(MNQ, Side.SELL, 3, "20900", pnl="-600", order_id=9, at=stamped),
        flat(MNQ, at=stamped),
    )
    assert (d.acct.week.start, d.acct.day.start) == (SUN_RESET, SUN_RESET)
    assert (d.acct.week.carry, d.acct.day.carry) == (0, 0)
    assert d.acct.week_pnl(with_unrealized=True) == 0
    assert d.acct.day_pnl(with_unrealized=True) == 0


def restarted_the_same_day(d: Driver) -> Driver:
    cal = SessionCalendar(daily_reset=time(16, 0))
    mk = partial(make_engine, {DailyLossLimit: {"limit": "1000"}}, calendar=cal)
    return restart(d, mk, at=NY_CLOSE + timedelta(minutes=10))


def test_what_the_reset_carried_of_each_contract_survives_a_restart() -> None:
    """The reset carried -$600 of 3 MNQ; the service restarts the same day and its start-up
    read lists the sell stamped before the reset that it never received, and no position: the
    new day still takes the carry back and starts at 0."""
    d = ny_close_driver()
    long_three_at(d, "20900")
    d.at(NY_CLOSE)
    again = restarted_the_same_day(d)
    stamped = NY_CLOSE - timedelta(milliseconds=200)
    start_up_read(again, fill(MNQ, Side.SELL, 3, "20900", pnl="-600", order_id=9, at=stamped))
    assert again.acct.day.start == NY_CLOSE
    assert again.acct.day_pnl(with_unrealized=True) == 0
    book = d.acct.day  # (kept as the store keeps it: through JSON)
    assert book.carried == {MNQ: (D("-600"), 3)}
    assert Book.from_dict(json.loads(json.dumps(book.persisted()))).carried == book.carried


def test_a_close_read_after_the_positions_at_a_restart_takes_back_its_carry() -> None:
    """As above, but the account is read as an exposed one is: its positions first (MNQ not
    listed: closed), its trades after (the sell, booked without moving the size again)."""
    d = ny_close_driver()
    long_three_at(d, "20900")
    d.at(NY_CLOSE)
    again = restarted_the_same_day(d)
    applied = frozenset(again.acct.seen_trades)
    none: frozenset[int] = frozenset()
    again.send(Listing(ACC, frozenset(), none, frozenset({MNQ}), none, applied, behind=True))
    stamped = NY_CLOSE - timedelta(seconds=1)
    sold = fill(MNQ, Side.SELL, 3, "20900", pnl="-600", order_id=9, at=stamped)
    again.send(TradesSnapshot(ACC, again.acct.week.start, (sold,), applied), Tick(ACC))
    assert again.acct.behind is None and again.acct.day.carry == 0
    assert again.acct.day_pnl(with_unrealized=True) == 0


def test_entry_at_the_open_counts_in_the_new_day_while_our_clock_is_behind() -> None:
    """(The reviewer's probe, x5.) max_trades_per_day limit 2. Globex opens Monday 17:00:00 CST
    and the trader's resting order fills at 17:00:00.400 (gateway time) while the service's
    clock reads 16:59:59.900. Two more entries follow at 17:05 and 17:10: three entries in
    Tuesday's trading day, so the third locks (the first is not Monday's)."""
    d = rule_driver(MaxTradesPerDay, now=MON_RESET - timedelta(minutes=1), limit="2")
    stamp = MON_RESET + timedelta(milliseconds=400)
    d.now = MON_RESET - timedelta(milliseconds=100)
    d.send(
        fill(MNQ, Side.BUY, 1, "21000", order_id=1, at=stamp),
        position(MNQ, 1, "21000", at=stamp),
    )
    assert d.acct.day.start == MON_RESET
    assert [f.at for f in d.acct.day.fills] == [stamp]
    for i, m in enumerate((5, 10)):
        d.now = MON_RESET + timedelta(minutes=m)
        d.send(
            fill(MNQ, Side.BUY, 1, "21000", order_id=2 + i, at=d.now),
            position(MNQ, 2 + i, "21000", at=d.now),
        )
    assert len(d.acct.day.fills) == 3
    assert d.acct.state is State.LockedDaily


def test_daily_lock_ends_at_the_open_fill_stamp_and_its_entry_is_not_closed() -> None:
    """Locked for the day on Monday ($1,000 lost); the trader's resting order fills at
    17:00:00.400 (gateway time), the service's clock at 16:59:59.900. By the gateway's clock
    the lock has ended: the account trades again and the new entry is not closed."""
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="1000")
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=1, at=d.now))
    d.send(fill(MNQ, Side.SELL, 3, "20800", pnl="-1200", order_id=2, at=d.now))
    assert d.acct.state is State.LockedDaily
    d.now = MON_RESET - timedelta(milliseconds=100)
    stamp = MON_RESET + timedelta(milliseconds=400)
    out = d.send(
        fill(MNQ, Side.BUY, 1, "21000", order_id=3, at=stamp),
        position(MNQ, 1, "21000", at=stamp),
    )
    assert d.acct.state is State.Trading and d.acct.day.start == MON_RESET
    assert closes(out) == []


def test_fill_stamped_further_ahead_than_a_gateway_clock_may_be_does_not_roll_the_day() -> None:
    """A fill stamped two minutes after the reset while our clock reads a minute before it is a
    wrong stamp, not a later clock (the payload boundary accepts 60 s): the day rolls, and a
    lock ending at the reset ends, only when our clock gets there."""
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="1000")
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=1, at=d.now))
    d.send(fill(MNQ, Side.SELL, 3, "20800", pnl="-1200", order_id=2, at=d.now))
    d.now = MON_RESET - timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=3, at=MON_RESET + timedelta(minutes=2)))
    assert d.acct.day.start < MON_RESET
    assert d.acct.state is not State.Trading
    d.at(MON_RESET)
    assert d.acct.day.start == MON_RESET


def test_reset_while_flat_carries_nothing_and_a_late_close_changes_nothing() -> None:
    """Flat at the reset: nothing is carried, and a trade stamped before the reset that comes
    after it (a round trip's fills, late) moves neither the carry nor the new day."""
    d = ny_close_driver()
    d.at(NY_CLOSE)
    assert d.acct.day.carry == 0
    d.now = NY_CLOSE + timedelta(seconds=1)
    before = NY_CLOSE - timedelta(seconds=2)
    d.send(
        fill(MNQ, Side.BUY, 1, "21000", order_id=1, at=before),
        fill(MNQ, Side.SELL, 1, "20900", pnl="-200", order_id=2, at=before),
    )
    assert d.acct.day_pnl(with_unrealized=True) == 0 and d.acct.day.carry == 0
    assert (d.acct.week.realized, d.acct.day.realized) == (D("-200"), 0)
