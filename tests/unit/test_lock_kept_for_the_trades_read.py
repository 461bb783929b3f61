"""A lock of a rule judging realized P&L outlives its deadline while the account's trades are
still being read (a restart that applied missed resets, an exposed account's read): running,
a blown account is released and locked again at the same instant of the weekly reset; a
restart over that reset must not leave it free until its start-up read lands. Once the trades
are read the rule judges in that same event: locked again where its cause holds, released
(audited) where it is gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from fsm_risk import status
from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.events import Listing, Side, Tick, TradesSnapshot
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ACC,
    NQ,
    Driver,
    account,
    balance_read,
    closes,
    fill,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
    transitions,
)

SUNDAY = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # Sunday 17:00 CST, the weekly reset
FALL = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # the fall-back Sunday's weekly reset
RELEASE = (None, "LockedWeekly", "Trading", "release")

engine = partial(rule_engine, TrailingDrawdown, drawdown="2000")


def blown(at: datetime) -> Driver:
    """A 50k account with a 2,000 trailing drawdown at its floor: locked for the week."""
    d = rule_driver(TrailingDrawdown, now=at, drawdown="2000")
    balance_read(d, "48000")
    assert d.acct.state is State.LockedWeekly
    return d


def trader_buys_10_nq(d: Driver) -> list[Effect]:
    """The trader buys 10 NQ at once, $2,000 down on them, and the balance drops further."""
    now = d.now
    return d.send(
        fill(NQ, Side.BUY, 10, "20000", fees="14.00", order_id=77, at=now),
        position(NQ, 10, "20000", at=now),
        quote(NQ, "19990", at=now),
        account("47986"),
    )


def release_reasons(d: Driver) -> list[str]:
    """The audited reasons of the account's releases, as the records say them."""
    return [
        e.entry.reason
        for e in d.effects
        if isinstance(e, RecordTransition) and e.entry.trigger == "release"
    ]


@pytest.mark.parametrize("reset", [SUNDAY, FALL])
def test_a_blown_account_restored_after_the_weekly_reset_stays_locked(reset: datetime) -> None:
    d = blown(reset - timedelta(days=2))
    # the service is down over the weekend; it starts a minute after Sunday's reset
    again = restart(d, engine, at=reset + timedelta(minutes=1))
    assert again.acct.missed is not None  # its trades are not read yet
    restored = (RELEASE in transitions(again.effects), again.acct.state)
    # the lock is held, its passed deadline no wake-up (else the account is woken over and over)
    wake = again.engine.next_deadline()
    # before the account's start-up read: the trader's entry is left to it (the lock is kept
    # only for the read), and the read, still blown, closes it in its own step
    out = trader_buys_10_nq(again)
    seen = (*restored, wake is not None and wake > again.now, again.acct.state)
    assert seen == (False, State.LockedWeekly, True, State.LockedWeekly)
    assert closes(out) == []
    again.now += timedelta(seconds=5)
    read = start_up_read(again, position(NQ, 10, "20000", at=again.now), account("47986"))
    assert [c.contract_id for c in closes(read)] == [NQ]


@pytest.mark.parametrize("reset", [SUNDAY, FALL])
def test_a_blown_account_restored_before_the_weekly_reset_stays_locked_past_it(
    reset: datetime,
) -> None:
    d = blown(reset - timedelta(days=2, hours=1))  # Friday, before its daily reset
    # started a minute before Sunday's reset (Friday's missed): its read has not landed by then
    again = restart(d, engine, at=reset - timedelta(minutes=1))
    assert again.acct.missed is not None
    at_reset = again.at(reset)
    out = trader_buys_10_nq(again)
    closed = [c.contract_id for c in closes(out)]
    seen = (RELEASE in transitions(at_reset), again.acct.state, closed)
    assert seen == (False, State.LockedWeekly, [])  # left to the read, which closes it
    again.now += timedelta(seconds=5)
    read = start_up_read(again, position(NQ, 10, "20000", at=again.now), account("47986"))
    assert [c.contract_id for c in closes(read)] == [NQ]


@pytest.mark.parametrize("reset", [SUNDAY, FALL])
def test_the_start_up_read_judges_the_kept_lock_at_once_and_locks_again(reset: datetime) -> None:
    d = blown(reset - timedelta(days=2))
    again = restart(d, engine, at=reset + timedelta(minutes=1))
    again.now += timedelta(seconds=5)
    out = start_up_read(again, account("48000"))  # still at the floor
    # as a running service at the reset: released and locked again in one event, for a week
    assert transitions(out)[0] == RELEASE
    assert again.acct.state is State.LockedWeekly
    assert again.acct.holds["RULE-004"].until == reset + timedelta(days=7)
    assert again.acct.missed is None
    assert Reason.LOCK_EXPIRED.name in release_reasons(again)[0]


def test_a_kept_lock_whose_cause_is_gone_ends_at_the_read_audited() -> None:
    d = blown(SUNDAY - timedelta(days=2))
    again = restart(d, engine, at=SUNDAY + timedelta(minutes=1))
    again.now += timedelta(seconds=5)
    out = start_up_read(again, account("50000"))  # e.g. the firm reset the account meanwhile
    assert transitions(out) == [RELEASE]
    assert again.acct.state is State.Trading and not again.acct.holds
    assert Reason.LOCK_EXPIRED.name in release_reasons(again)[0]
    assert again.engine.next_deadline() is not None
    assert again.engine.next_deadline() > again.now  # nothing left overdue


def test_a_daily_loss_lock_restored_after_the_daily_reset_is_kept_until_the_read() -> None:
    reset = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # Tuesday 17:00 CST
    rebuild = partial(rule_engine, DailyLossLimit, limit="1000")
    d = rule_driver(DailyLossLimit, now=reset - timedelta(hours=2), limit="1000")
    d.send(
        fill(NQ, Side.SELL, 1, "20000", pnl="-1000", order_id=5, trade_id=9, at=d.now),
        position(NQ, 0, "20000", at=d.now),
    )
    assert d.acct.state is State.LockedDaily
    again = restart(d, rebuild, at=reset + timedelta(minutes=1))
    kept = (again.acct.missed is not None, again.acct.state, again.engine.next_deadline())
    assert kept[:2] == (True, State.LockedDaily) and kept[2] is not None and kept[2] > again.now
    # its read: the new day's P&L is under the limit, and the lock ends then (audited)
    again.now += timedelta(seconds=5)
    out = start_up_read(again, account("49000"))
    assert transitions(out) == [(None, "LockedDaily", "Trading", "release")]
    assert again.acct.state is State.Trading
    assert Reason.LOCK_EXPIRED.name in release_reasons(again)[0]


@pytest.mark.parametrize("reset", [SUNDAY, FALL])
def test_a_lock_is_kept_past_its_deadline_while_an_exposed_accounts_read_is_behind(
    reset: datetime,
) -> None:
    d = blown(reset - timedelta(hours=2))
    # a reconnect's enforcing step: positions and orders read, its trades to follow
    empty = frozenset[str]()
    d.send(Listing(ACC, empty, frozenset(), empty, frozenset(), frozenset(), behind=True))
    assert d.acct.behind is not None
    at_reset = d.at(reset)
    out = trader_buys_10_nq(d)
    assert (RELEASE in transitions(at_reset), d.acct.state) == (False, State.LockedWeekly)
    assert closes(out) == []  # left to the read (the lock is kept only for it)
    # its trades read: judged at once, still blown (the live loss too): locked for the week
    d.now += timedelta(seconds=3)
    trades = TradesSnapshot(ACC, d.acct.week.start, (), frozenset(d.acct.seen_trades))
    out = d.send(trades)
    assert (RELEASE in transitions(out), closes(out)) == (False, [])  # its balance judges
    read = d.send(account("47986"), Tick(ACC))  # (as the service's history step sends them)
    assert RELEASE in transitions(read)
    assert [c.contract_id for c in closes(read)] == [NQ]  # closed in the judging step
    assert d.acct.state in (State.LockedWeekly, State.Flattening)
    assert d.acct.holds["RULE-004"].until == reset + timedelta(days=7)


def test_status_says_the_lock_is_held_until_the_trades_are_read() -> None:
    d = blown(SUNDAY - timedelta(days=2))
    again = restart(d, engine, at=SUNDAY + timedelta(minutes=1))
    snap = status.snapshot(again.engine, again.now)
    lock = snap["accounts"][0]["lock"]
    text = status.render(snap, color=False, source="running service")
    assert (lock["kind"], lock["awaits_read"]) == ("LockedWeekly", True)
    line = "LockedWeekly until its trades are read (its end, Sun 17:00 CST, has passed)"
    assert line in text, text
    start_up_read(again, account("48000"))  # judged: locked for another week
    lock = status.snapshot(again.engine, again.now)["accounts"][0]["lock"]
    assert (lock["until"], lock["awaits_read"]) == ("2026-12-06T23:00:00+00:00", False)
