"""A restarted account whose trades cannot be read (the trades search failing) is not left
unjudged: past `unjudged.GRACE` the period P&L rules judge on its balance's move, counted only
on the side that can make them fire; a read within the grace judges exactly; a lock made on
the estimate that the trades read contradicts ends at the read, audited (`core.unjudged`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from fsm_risk.core.events import Side, Tick, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import ESTIMATED, GRACE
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ACC,
    MNQ,
    NQ,
    account,
    balance_read,
    closes,
    fill,
    flat,
    our_close_filled,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    transitions,
)
from tests.unit.test_unread import BOUGHT, EARLIER, restarted

RESET = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # Tuesday 17:00 CST
PAST = GRACE + timedelta(seconds=1)
engine = partial(rule_engine, DailyLossLimit, limit="1000")
FAILED = Tick(ACC, unread=True)  # the shell: a read of the trades failed


def test_a_loss_past_the_daily_limit_after_a_missed_reset_is_closed_past_the_grace() -> None:
    """The review's reproducer: an account restarted after a daily reset it missed, its
    trades unread (`acct.missed`), loses 8x its limit on a fresh position."""
    d = rule_driver(DailyLossLimit, now=RESET - timedelta(hours=2), limit="1000")
    again = restart(d, engine, at=RESET + timedelta(minutes=1))
    assert again.acct.missed is not None and again.acct.state is State.Trading
    now = again.now
    again.send(
        fill(NQ, Side.BUY, 10, "20000", fees="14.00", order_id=77, trade_id=501, at=now),
        position(NQ, 10, "20000", at=now),
        quote(NQ, "19960", at=now),  # 160 ticks x $5 x 10 = -8,000 open: 8x the 1,000 limit
        account("49986"),
        FAILED,
    )
    assert again.acct.state is State.Trading  # (the grace: a working read lands within it)
    again.now += PAST
    out = again.send(quote(NQ, "19960", at=again.now))
    seen = (again.acct.state, [c.contract_id for c in closes(out)])
    assert seen == (State.Flattening, [NQ]), seen


def test_fees_while_down_the_breach_is_closed_once_the_grace_runs_out() -> None:
    """The balance moved by a round trip's fees while down (not settled): a -$1,200 open
    loss on a $500 limit waits the grace, then is closed, its detail saying why."""
    d = restarted("49999.26")
    acct = d.acct
    assert acct.behind is not None and not acct.behind.settled
    d.send(quote(MNQ, "20700"), FAILED)  # -$1,200 open
    assert acct.state is State.Trading and not closes(d.effects)
    d.now += PAST
    out = d.send(quote(MNQ, "20700", at=d.now))
    assert acct.state is State.Flattening and [c.contract_id for c in closes(out)] == [MNQ]
    assert ESTIMATED in acct.holds["RULE-003"].detail, acct.holds


def test_the_wake_up_at_the_grace_judges_without_a_new_quote() -> None:
    d = restarted("49999.26")
    d.send(quote(MNQ, "20700"))
    assert d.engine.next_deadline() != d.now + GRACE  # (no read failed: none to wait out)
    d.send(FAILED)
    assert d.engine.next_deadline() == d.now + GRACE
    out = d.advance(seconds=PAST.total_seconds())  # (the quote is still fresh: 30 s)
    assert d.acct.state is State.Flattening and closes(out)


def test_a_loss_while_down_counts_past_the_grace_and_the_read_keeps_the_lock() -> None:
    d = restarted("49600")  # -$400 realized while down
    d.send(quote(MNQ, "20970"), FAILED)  # -$120 open: -$520 on the day with the loss
    assert d.acct.state is State.Trading
    d.now += PAST
    d.send(quote(MNQ, "20970", at=d.now))
    assert d.acct.state is State.Flattening
    d.send(*our_close_filled(MNQ, Side.SELL, 2, "20970", pnl="-120", at=d.now), flat(MNQ))
    assert d.acct.state is State.LockedDaily
    lost = (
        fill(MNQ, Side.BUY, 1, "21000", order_id=2, trade_id=102, at=EARLIER),
        fill(MNQ, Side.SELL, 1, "20800", pnl="-400", order_id=3, trade_id=103, at=EARLIER),
    )
    d.send(TradesSnapshot(ACC, d.acct.week.start, (BOUGHT, *lost), frozenset({101})))
    balance_read(d, "49480")  # (read after the trades: 50,000 - 400 - 120)
    assert d.acct.behind is None and d.acct.day.realized == -520
    assert d.acct.state is State.LockedDaily  # the truth locks it again: -520 <= -500
    assert ESTIMATED not in d.acct.holds["RULE-003"].detail


WON = (
    fill(MNQ, Side.BUY, 1, "20800", order_id=2, trade_id=102, at=EARLIER),
    fill(MNQ, Side.SELL, 1, "21000", pnl="400", order_id=3, trade_id=103, at=EARLIER),
)


def test_a_read_within_the_grace_judges_exactly_a_win_while_down_no_false_lock() -> None:
    """+$400 won while down, -$600 open on a $500 limit: -$200 on the day. The estimate
    (a win not counted) would lock; the read, landing within the grace, judges exactly."""
    d = restarted("50400")
    d.send(quote(MNQ, "20850"))  # -$600 open
    d.now += GRACE / 2
    d.send(TradesSnapshot(ACC, d.acct.week.start, (BOUGHT, *WON), frozenset({101})))
    assert d.acct.behind is None and d.acct.day.realized == 400
    d.now += PAST
    d.send(quote(MNQ, "20850", at=d.now))
    assert d.acct.state is State.Trading and not closes(d.effects)


def test_a_lock_on_the_estimate_the_trades_contradict_ends_at_the_read_audited() -> None:
    """The same win while down, the read failing past the grace: the estimate locks (the
    strict way); the read, when it lands, ends the lock (audited) and nothing locks again."""
    d = restarted("50400")
    d.send(quote(MNQ, "20850"), FAILED)
    d.now += PAST
    d.send(quote(MNQ, "20850", at=d.now))
    assert d.acct.state is State.Flattening
    d.send(*our_close_filled(MNQ, Side.SELL, 2, "20850", pnl="-600", at=d.now), flat(MNQ))
    assert d.acct.state is State.LockedDaily
    d.now += timedelta(seconds=30)
    trades = (BOUGHT, *WON)
    out = d.send(TradesSnapshot(ACC, d.acct.week.start, trades, frozenset({101})))
    assert d.acct.state is State.LockedDaily  # (until its balance, read after the trades)
    out += balance_read(d, "49800")  # 50,000 + 400 - 600
    assert d.acct.behind is None and d.acct.day.realized == Decimal("-200")
    assert d.acct.state is State.Trading and "RULE-003" not in d.acct.holds
    assert (None, "LockedDaily", "Trading") in [t[:3] for t in transitions(out)]


def test_a_settled_restart_is_judged_at_once_as_before() -> None:
    d = restarted("50000")
    out = d.send(quote(MNQ, "20700"))
    assert d.acct.state is State.Flattening and closes(out)
    assert ESTIMATED not in d.acct.holds["RULE-003"].detail


def test_a_loss_while_down_over_a_missed_reset_counts_in_the_new_day() -> None:
    """Down across the daily reset, -$400 realized meanwhile (a balance heard live): its day
    is not known; past the grace the whole fall counts in the new day, the strict way."""
    d = rule_driver(DailyLossLimit, now=RESET - timedelta(hours=2), limit="500")
    rebuild = partial(rule_engine, DailyLossLimit, limit="500")
    again = restart(d, rebuild, at=RESET + timedelta(minutes=1))
    now = again.now
    again.send(
        account("49600"),  # -$400 while down: no fill explains it
        fill(MNQ, Side.BUY, 2, "21000", order_id=77, trade_id=501, at=now),
        position(MNQ, 2, "21000", at=now),
        quote(MNQ, "20950", at=now),  # -$200 open
        FAILED,
    )
    assert again.acct.missed is not None and again.acct.state is State.Trading
    again.now += PAST
    again.send(quote(MNQ, "20950", at=again.now))
    assert again.acct.state is State.Flattening
    assert "-400.00 of it counted" in again.acct.holds["RULE-003"].detail


def test_a_loss_while_down_confirmed_by_a_balance_read_stays_counted() -> None:
    """The balance heard live, then confirmed by the read it asks for, is taken: its move
    is in the balance, not in the books, and still counts until the trades are read."""
    d = rule_driver(DailyLossLimit, now=RESET - timedelta(hours=2), limit="500")
    rebuild = partial(rule_engine, DailyLossLimit, limit="500")
    again = restart(d, rebuild, at=RESET + timedelta(minutes=1))
    now = again.now
    again.send(account("49600"))  # -$400 while down: no fill explains it
    balance_read(again, "49600")  # confirmed: taken
    assert again.acct.balance == Decimal("49600") and not again.acct.unexplained
    again.send(
        fill(MNQ, Side.BUY, 2, "21000", order_id=77, trade_id=501, at=now),
        position(MNQ, 2, "21000", at=now),
        quote(MNQ, "20950", at=now),  # -$200 open
        FAILED,
    )
    again.now += PAST
    again.send(quote(MNQ, "20950", at=again.now))
    assert again.acct.state is State.Flattening
    assert "-400.00 of it counted" in again.acct.holds["RULE-003"].detail


def test_a_lock_on_the_estimate_is_not_ended_by_a_restart_before_the_read() -> None:
    d = restarted("50400")
    d.send(quote(MNQ, "20850"), FAILED)
    d.now += PAST
    d.send(quote(MNQ, "20850", at=d.now))
    d.send(*our_close_filled(MNQ, Side.SELL, 2, "20850", pnl="-600", at=d.now), flat(MNQ))
    assert d.acct.state is State.LockedDaily
    again = restart(d, partial(rule_engine, DailyLossLimit, limit="500"))
    again.advance(seconds=1)
    assert again.acct.state is State.LockedDaily
    assert ESTIMATED in again.acct.holds["RULE-003"].detail
    assert again.acct.holds["RULE-003"].until == again.acct.day.end
