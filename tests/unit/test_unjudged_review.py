"""Found by a review of the P&L rules judged on the balance's move while the trades are unread
(`core.unjudged`): a read merely late (no read failed) flattened on the estimate (yesterday's
loss counted in today, a firm's reset taken for a profit), and the estimate's marker in a
self-lock's reason let the trades read end it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from fsm_risk.core.events import SelfLock, Side, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import GRACE
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ACC,
    MNQ,
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
)
from tests.unit.test_unread import BOUGHT, restarted

RESET = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # Tuesday 17:00 CST
PAST = GRACE + timedelta(seconds=1)


def test_yesterdays_loss_while_down_does_not_flatten_today_on_a_healthy_late_read() -> None:
    """Down across the daily reset: -$450 lost YESTERDAY (16:00 CST, before the reset) while
    the service was down; today long 2 MNQ, -$60 open (today's truth: -$60 on a $500 limit).
    The read is healthy, only later than 5 s (a start-up queue at the request budget)."""
    d = rule_driver(DailyLossLimit, now=RESET - timedelta(hours=2), limit="500")
    again = restart(d, partial(rule_engine, DailyLossLimit, limit="500"),
                    at=RESET + timedelta(minutes=1))  # fmt: skip
    now = again.now
    again.send(
        account("49550"),  # the balance after yesterday's -450
        fill(MNQ, Side.BUY, 2, "21000", order_id=77, trade_id=501, at=now),
        position(MNQ, 2, "21000", at=now),
        quote(MNQ, "20985", at=now),  # -$60 open
    )
    assert again.acct.missed is not None and again.acct.state is State.Trading
    again.now += PAST
    out = again.send(quote(MNQ, "20985", at=again.now))
    sent = [c.contract_id for c in closes(out)]
    if sent:  # our close fills at -$60; then the healthy read arrives
        closed = our_close_filled(MNQ, Side.SELL, 2, "20985", pnl="-60", at=again.now)
        again.send(*closed, flat(MNQ))
        yday = RESET - timedelta(hours=1)
        lost = (
            fill(MNQ, Side.BUY, 1, "21000", order_id=5, trade_id=401, at=yday),
            fill(MNQ, Side.SELL, 1, "20775", pnl="-450", order_id=6, trade_id=402, at=yday),
        )
        bought = fill(MNQ, Side.BUY, 2, "21000", order_id=77, trade_id=501, at=now)
        sold = [closed[1]]
        applied = frozenset(again.acct.seen_trades)
        again.now += timedelta(seconds=30)
        again.send(TradesSnapshot(ACC, again.acct.week.start, (*lost, bought, *sold), applied))
        balance_read(again, "49490")
        again.advance(seconds=60)
    assert not sent, "2 MNQ closed on yesterday's loss: today's truth is -$60 on a $500 limit"


def test_a_self_lock_whose_reason_holds_the_marker_is_not_ended_by_the_trades_read() -> None:
    """A trader's own lock (only an admin removes one) whose free text carries the marker
    is ended at the trades read like a lock on the estimate."""
    d = restarted("49999.26")  # fees while down: not settled, its trades unread
    until = d.now + timedelta(hours=3)
    d.send(SelfLock(ACC, State.LockedDaily, until, "trader",
                    "my trades unread, balance move too big: stop me"))  # fmt: skip
    d.send(*our_close_filled(MNQ, Side.SELL, 2, "21000", pnl="0", at=d.now), flat(MNQ))
    assert d.acct.state is State.LockedDaily
    d.now += PAST
    d.send(quote(MNQ, "21000", at=d.now))
    d.send(TradesSnapshot(ACC, d.acct.week.start, (BOUGHT,), frozenset(d.acct.seen_trades)))
    balance_read(d, "49999.26")
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "21000", at=d.now))
    assert d.acct.state is State.LockedDaily, "the trader's own lock ended by a read"


def test_a_firm_reset_while_down_does_not_fire_the_profit_target_on_a_late_read() -> None:
    """A combine blown to $47,000 before the stop; while down the firm resets it to $50,000
    (a new start, nothing realized). Restarted after the daily reset, the trader opens 2 MNQ
    (+$20 open). Past the grace the +$3,000 'move' counts as today's profit against a $1,000
    target: his position is closed and the day locked on money never made."""
    from fsm_risk.rules.daily_profit_target import DailyProfitTarget

    d = rule_driver(
        DailyProfitTarget, now=RESET - timedelta(hours=2), balance="47000", target="1000"
    )
    again = restart(
        d, partial(rule_engine, DailyProfitTarget, target="1000"), at=RESET + timedelta(minutes=1)
    )
    now = again.now
    again.send(
        account("50000"),  # the firm's reset while down
        fill(MNQ, Side.BUY, 2, "21000", order_id=77, trade_id=501, at=now),
        position(MNQ, 2, "21000", at=now),
        quote(MNQ, "21005", at=now),  # +$20 open
    )
    assert again.acct.state is State.Trading
    again.now += PAST
    out = again.send(quote(MNQ, "21005", at=again.now))
    sent = [c.contract_id for c in closes(out)]
    assert not sent, "closed by the profit target on a firm's reset counted as profit"
