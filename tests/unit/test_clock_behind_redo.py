"""Found by a review of the new day's fills booked before our clock's reset (`core.early`): a
redo of the missed resets after a restore kept what they moved (the carry of a position the
new day opened or closed); and the review's checks that hold (a lock across the reset, a
reversal, a void of a moved fill, a clock ahead)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    MES,
    MNQ,
    account,
    fill,
    flat,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
)
from tests.unit.test_clock_behind_new_day import BEHIND, MON_RESET, trip

D = Decimal


def test_new_days_loss_past_the_limit_locks_again_at_our_reset() -> None:
    """-1,100 at 17:00:30 gateway time (16:58:30 ours), limit 1,000: it locks the old day
    (right: it is over the limit anyway). At our reset the lock ends; the -1,100 is now the
    new day's: the new day must be locked at once."""
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="1000")
    trip(d, MON_RESET, (30, 60), "20816.67", "-1100", 20)
    d.at(MON_RESET)
    assert d.acct.day.realized == -1100
    assert d.acct.state is not State.Trading, "new day at -1,100 under a 1,000 limit, Trading"


def test_redo_after_restore_carries_the_new_days_position_again() -> None:
    """Long 3 MNQ at 21,000 at 17:00:30 gateway time (16:58:30 ours); stopped at 16:59 ours,
    started 17:05 ours; the gateway's price at the reset 20,900. The restore carries nothing
    (0be2ca2). The start-up read lists an MES round trip the stream never delivered, stamped
    16:59:20-16:59:40 gateway time (after our stop, before the reset): it redoes the resets
    (`MissedResets.redo`), which sets the carry from the positions at the stop, the new
    day's long 3 among them: -600 carried again. At 20,850 the day is at -900 (limit 800)."""
    rebuild = lambda: rule_engine(DailyLossLimit, limit="800")  # noqa: E731
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="800")
    d.send(account("50000"))
    stamp = MON_RESET + timedelta(seconds=30)
    d.now = stamp - BEHIND
    d.send(
        fill(MNQ, Side.BUY, 3, "21000", order_id=20, at=stamp),
        position(MNQ, 3, "21000", at=stamp),
        quote(MNQ, "20950", at=d.now),
    )
    d.now = MON_RESET - timedelta(minutes=1)  # our clock: the stop
    at_reset = {MON_RESET: {MNQ: D("20900")}}
    d = restart(d, rebuild, at=MON_RESET + timedelta(minutes=5), at_reset=at_reset)
    assert (d.acct.day.start, d.acct.day.carry) == (MON_RESET, 0)
    t1 = MON_RESET - timedelta(seconds=40)
    t2 = MON_RESET - timedelta(seconds=20)
    d.send(fill(MES, Side.BUY, 1, "6000", order_id=40, at=t1))
    d.send(fill(MES, Side.SELL, 1, "6000", pnl="0", order_id=41, at=t2))
    start_up_read(d, position(MNQ, 3, "21000", at=stamp), flat(MES, at=t2), account("50000"))
    d.send(quote(MNQ, "20850", at=d.now))
    assert d.acct.day.carry == 0
    assert d.acct.day_pnl(with_unrealized=True) == -900
    assert d.acct.state is not State.Trading


def test_redo_after_restore_drops_the_carry_of_a_position_the_new_day_closed() -> None:
    """Long 3 MNQ at 21,000 from Monday; 21,500 at the reset (+3,000 of Monday's). Sold at
    21,500 at 17:00:30 gateway time (16:58:30 ours: +3,000 realized, Monday's gain); stopped at
    16:59 ours, started 17:05 ours. The restore's reset moves the sale to the new day and
    carries the +3,000 held at the reset: the day at 0. A missed MES round trip stamped
    16:59:20-16:59:40 gateway time redoes the reset: the carry from the positions at the stop
    (flat): 0, and the day reads +3,000: Monday's gain is the new day's room."""
    rebuild = lambda: rule_engine(DailyLossLimit, limit="1000")  # noqa: E731
    start = MON_RESET - timedelta(hours=1)
    d = rule_driver(DailyLossLimit, now=start, limit="1000")
    d.send(
        account("50000"),
        fill(MNQ, Side.BUY, 3, "21000", order_id=1, at=start),
        position(MNQ, 3, "21000", at=start),
        quote(MNQ, "21500", at=start),
    )
    stamp = MON_RESET + timedelta(seconds=30)
    d.now = stamp - BEHIND
    d.send(
        fill(MNQ, Side.SELL, 3, "21500", pnl="3000", order_id=20, at=stamp),
        flat(MNQ, at=stamp),
    )
    d.now = MON_RESET - timedelta(minutes=1)  # our clock: the stop
    at_reset = {MON_RESET: {MNQ: D("21500")}}
    d = restart(d, rebuild, at=MON_RESET + timedelta(minutes=5), at_reset=at_reset)
    assert d.acct.day_pnl(with_unrealized=True) == 0
    t1 = MON_RESET - timedelta(seconds=40)
    t2 = MON_RESET - timedelta(seconds=20)
    d.send(fill(MES, Side.BUY, 1, "6000", order_id=40, at=t1))
    d.send(fill(MES, Side.SELL, 1, "6000", pnl="0", order_id=41, at=t2))
    start_up_read(d, flat(MNQ, at=stamp), flat(MES, at=t2), account("53000"))
    # a $1,500 loss since the reset (short 3 at 21,500 marked 21,750): over the limit
    d.now += timedelta(seconds=1)
    d.send(
        fill(MNQ, Side.SELL, 3, "21500", order_id=50, at=d.now),
        position(MNQ, 3, "21500", long=False, at=d.now),
        quote(MNQ, "21750", at=d.now),
    )
    assert d.acct.day_pnl(with_unrealized=True) == -1500, "Monday's +3,000 is the new day's room"
    assert d.acct.state is not State.Trading


def test_a_reversal_the_new_day_made_carries_the_two_held() -> None:
    """Long 2 from Monday at 21,000; sold 3 at 21,100 at 17:00:30 gateway time (+400, short
    1); 21,300 at our reset: the 2 held carry +1,200 at it, the day is -800 - 400 = -1,200."""
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="5000")
    d.send(
        fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now),
        position(MNQ, 2, "21000", at=d.now),
        quote(MNQ, "21000", at=d.now),
    )
    stamp = MON_RESET + timedelta(seconds=30)
    d.now = stamp - BEHIND
    d.send(
        fill(MNQ, Side.SELL, 3, "21100", pnl="400", order_id=2, at=stamp),
        position(MNQ, 1, "21100", long=False, at=stamp),
        quote(MNQ, "21300", at=d.now),
    )
    d.at(MON_RESET)
    assert d.acct.day.carried[MNQ] == (D("1200"), 2)
    assert d.acct.day_pnl(with_unrealized=True) == -1200


def test_a_void_of_a_moved_fill_leaves_both_books() -> None:
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="5000")
    trip(d, MON_RESET, (30, 60), "20850", "-900", 20)
    d.at(MON_RESET)
    sell = next(f for f in d.acct.day.fills if f.side is Side.SELL)
    d.now += timedelta(seconds=5)
    d.send(
        fill(
            MNQ,
            Side.SELL,
            3,
            "20850",
            pnl="-900",
            order_id=21,
            at=sell.at,
            trade_id=sell.trade_id,
            voided=True,
        )
    )
    assert (d.acct.day.realized, d.acct.week.realized) == (0, 0)


def test_a_clock_ahead_changes_nothing() -> None:
    """Our clock 2 min ahead: a -900 trip at 16:59:00-16:59:30 gateway time reaches us at
    17:01:00-17:01:30, after our reset: Monday's (late), the new day at 0, the week -900."""
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(hours=1), limit="1000")
    d.at(MON_RESET)
    for i, (secs, side, price, pnl) in enumerate(
        [(-60, Side.BUY, "21000", None), (-30, Side.SELL, "20850", "-900")]
    ):
        stamp = MON_RESET + timedelta(seconds=secs)
        d.now = stamp + BEHIND
        d.send(fill(MNQ, side, 3, price, pnl=pnl, order_id=60 + i, at=stamp))
        d.send(position(MNQ, 3, price, at=stamp) if pnl is None else flat(MNQ, at=stamp))
    assert (d.acct.day.start, d.acct.day.realized) == (MON_RESET, 0)
    assert d.acct.week.realized == -900
    assert d.acct.state is State.Trading
