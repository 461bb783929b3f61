"""A close the gateway refuses while the market is closed goes again when it reopens.

Reported: a flatten due in the daily maintenance break (16:00-17:00 Chicago) had every close
refused and re-sent after 1, 2, 4 ... s up to `close_backoff_max` (60 s shipped): a refusal a
minute through the break, each with its reads, and at the reopen the position (its stop
cancelled by the flatten) sat unclosed until the next step of the backoff, up to a minute
into the open. The market's hours are known (`MarketHours`): a refusal while it is closed
waits for the reopen, and the close goes at the reopen itself; a refusal while it is open
keeps the backoff, from a second again once the market has reopened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fsm_risk.core.effects import Level
from fsm_risk.core.events import EnforcementRejected, Event, OrderStatus, OrderType, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Verdict
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    Scripted,
    account,
    alerts,
    cancels,
    closes,
    make_engine,
    order,
    position,
)

# Monday 23 November 2026, Chicago (CST, UTC-6)
BEFORE = datetime(2026, 11, 23, 21, 50, tzinfo=UTC)  # 15:50: the market is open
BREAK = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # 16:00: the maintenance break begins
REOPEN = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 17:00: the market opens again
STOP = 71

#: locked for the week once the clock reaches ``at`` (a self-lock, an admin's, any rule's)
WEEKLY = Verdict(
    "RULE-T01",
    Reason.WEEKLY_LOSS_LIMIT,
    Action.FLATTEN,
    lock=State.LockedWeekly,
    until=datetime(2026, 11, 29, 23, 0, tzinfo=UTC),
)


def breached(at: datetime, **settings: Any) -> Driver:
    """Long 2 MNQ with a sell stop since 15:50; the account flattens at ``at``."""

    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        return (WEEKLY,) if now >= at else ()

    d = Driver(make_engine(extra=[lambda ctx: Scripted(ctx, script)], **settings), now=BEFORE)
    d.send(
        account(),
        position(MNQ, 2, "21000", at=BEFORE),
        order(STOP, MNQ, Side.SELL, 2, type=OrderType.STOP, stop="20950", at=BEFORE),
    )
    assert closes(d.effects) == []
    d.now = at
    d.send(account())
    assert d.acct.state is State.Flattening
    assert len(closes(d.effects)) == 1
    return d


def refuse(d: Driver) -> list[Any]:
    return d.send(EnforcementRejected(ACC, MNQ, None, "Market is closed"))


def test_a_close_refused_in_the_break_goes_again_at_the_reopen_and_not_before() -> None:
    d = breached(BREAK + timedelta(minutes=30))
    # the flatten cancels the trader's stop with its close (see the README: a stop kept
    # beside our close could fill with it at the reopen and reverse the position)
    assert [c.order_id for c in cancels(d.effects)] == [STOP]
    d.send(order(STOP, MNQ, Side.SELL, 2, type=OrderType.STOP, status=OrderStatus.CANCELLED))
    out = refuse(d)
    [alert] = alerts(out)
    assert (alert.level, alert.reason) == (Level.CRITICAL, Reason.CLOSE_REJECTED)
    assert alert.message == (
        "enforcement request refused: Market is closed (the market is closed: the close goes "
        "again when it opens, Mon 2026-11-23 17:00 CST)"
    )
    assert d.acct.contracts[MNQ].retry_at == REOPEN
    assert d.acct.wakeup == REOPEN  # the shell wakes the engine at the reopen itself
    # through the rest of the break: not one close (the old code sent one at 1, 2, 4, 8 ...
    # s, then every minute, and the next at up to a minute past the reopen)
    for step in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600):
        d.advance(seconds=step)
        assert d.now < REOPEN and len(closes(d.effects)) == 1, d.now
    d.at(REOPEN - timedelta(milliseconds=1))
    assert len(closes(d.effects)) == 1
    d.at(REOPEN)
    assert len(closes(d.effects)) == 2
    assert closes(d.effects)[-1].attempt == 1  # the tries while it was closed do not count


def test_a_close_refused_again_at_the_reopen_goes_again_after_a_second() -> None:
    """The gateway may open a moment after the calendar: the backoff starts from a second
    again, not from where the refusals before the break had taken it (a minute)."""
    d = breached(BREAK - timedelta(seconds=63))  # 15:58:57: refused six times before it
    for wait in (1, 2, 4, 8, 16):
        refuse(d)
        d.advance(seconds=wait)
    assert len(closes(d.effects)) == 6 and d.now < BREAK
    refuse(d)  # its next try, 32 s later, is at 16:00:00
    d.advance(seconds=32)
    assert d.now == BREAK and len(closes(d.effects)) == 7
    refuse(d)  # refused in the break: at the reopen
    assert d.acct.contracts[MNQ].retry_at == REOPEN
    d.at(REOPEN)
    assert len(closes(d.effects)) == 8
    refuse(d)  # refused at the reopen (the market counts as open now): a second later
    d.advance(seconds=0.999)
    assert len(closes(d.effects)) == 8
    d.advance(seconds=0.001)
    assert len(closes(d.effects)) == 9


def test_a_close_refused_the_second_before_the_break_backs_off_into_it_then_waits() -> None:
    d = breached(BREAK - timedelta(seconds=1))
    refuse(d)  # 15:59:59: the market is open, a refusal for another reason: 1 s
    assert d.acct.contracts[MNQ].retry_at == BREAK
    d.at(BREAK)
    assert len(closes(d.effects)) == 2  # 16:00:00 sharp: tried, the market now closed
    refuse(d)
    assert d.acct.contracts[MNQ].retry_at == REOPEN


def test_a_close_refused_while_the_market_is_open_keeps_the_backoff() -> None:
    d = breached(BEFORE + timedelta(minutes=1))
    for n, wait in enumerate((1, 2, 4), start=1):
        refuse(d)
        d.advance(seconds=wait - 0.1)
        assert len(closes(d.effects)) == n
        d.advance(seconds=0.1)
        assert len(closes(d.effects)) == n + 1
    [alert, *_] = alerts(d.effects)
    assert alert.message == "enforcement request refused: Market is closed"  # (said; not so)


def test_a_close_refused_on_friday_evening_waits_for_sunday_evening() -> None:
    friday = BREAK + timedelta(days=4, minutes=10)  # Fri 16:10 Chicago: the weekend
    sunday = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # Sun 17:00
    d = breached(friday)
    refuse(d)
    assert d.acct.contracts[MNQ].retry_at == sunday
    d.at(datetime(2026, 11, 28, 23, 0, tzinfo=UTC))  # Saturday 17:00: still closed
    assert len(closes(d.effects)) == 1
    d.at(sunday)
    assert len(closes(d.effects)) == 2


def test_a_cancel_refused_in_the_break_goes_again_at_the_reopen() -> None:
    d = breached(BREAK + timedelta(minutes=30))
    out = d.send(EnforcementRejected(ACC, MNQ, STOP, "Market is closed"))
    assert "the cancel goes again when it opens" in alerts(out)[0].message
    d.at(REOPEN - timedelta(milliseconds=1))
    assert len(cancels(d.effects)) == 1
    d.at(REOPEN)
    assert [c.order_id for c in cancels(d.effects)] == [STOP, STOP]


def test_without_market_hours_every_refusal_backs_off() -> None:
    d = breached(BREAK + timedelta(minutes=30), market=None)
    refuse(d)
    d.advance(seconds=1)
    assert len(closes(d.effects)) == 2
