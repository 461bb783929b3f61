"""A lock kept past its deadline only for the trades read (`overdue`) leaves a position that
appears to that read (found by a crash hunt: a new day's legal 2 MNQ closed as
POSITION_WHILE_LOCKED before the read released the day's lock). An order that would open is
still cancelled on sight; the read closes the position in its own step where the rule locks
again, and keeps it where the lock ends; a minute without the read closes it as before. A live
hold beside the kept one (an admin's, a contract's own) closes on sight as ever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from fsm_risk import status
from fsm_risk.core.awaiting import WAIT
from fsm_risk.core.events import AdminCommand, OrderType, SelfLock, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ACC,
    ES,
    MNQ,
    NQ,
    Driver,
    account,
    balance_read,
    cancels,
    closes,
    fill,
    make_engine,
    order,
    position,
    quote,
    reduces,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
    transitions,
)

TUESDAY = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # Tuesday 17:00 CST, a daily reset
SUNDAY = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # the weekly reset
daily = partial(rule_engine, DailyLossLimit, limit="500")
blown_engine = partial(rule_engine, TrailingDrawdown, drawdown="2000")
RELEASE_D = (None, "LockedDaily", "Trading", "release")


def locked_daily_restarted(minutes: int = 5) -> Driver:
    """LockedDaily by a -603 day; restored ``minutes`` into the next trading day, unread."""
    d = rule_driver(DailyLossLimit, now=TUESDAY - timedelta(hours=2), limit="500")
    d.send(
        fill(MNQ, Side.BUY, 2, "20150", order_id=4, trade_id=8, at=d.now),
        position(MNQ, 2, "20150", at=d.now),
        fill(MNQ, Side.SELL, 2, "20000", pnl="-603", order_id=5, trade_id=9, at=d.now),
        position(MNQ, 0, "20000", at=d.now),
    )
    assert d.acct.state is State.LockedDaily
    again = restart(d, daily, at=TUESDAY + timedelta(minutes=minutes))
    assert (again.acct.missed is not None, again.acct.state) == (True, State.LockedDaily)
    return again


def buys(d: Driver, contract: str, size: int, price: str, trade_id: int = 50) -> list:
    """The trader's market buy, filled: the fill, its position and a quote at its price."""
    return d.send(
        fill(contract, Side.BUY, size, price, order_id=trade_id, trade_id=trade_id, at=d.now),
        position(contract, size, price, at=d.now),
        quote(contract, price, at=d.now),
    )


def test_a_new_days_position_is_left_to_the_read_and_kept_when_the_lock_ends() -> None:
    d = locked_daily_restarted()
    out = buys(d, MNQ, 2, "20000")
    assert (closes(out), d.acct.state) == ([], State.LockedDaily)
    d.now += timedelta(seconds=3)
    read = start_up_read(d, position(MNQ, 2, "20000", at=d.now), account("49397"))
    assert transitions(read) == [RELEASE_D]  # the new day is under the limit: free
    assert (closes(d.effects), d.acct.state, d.acct.positions[MNQ].size) == (
        [],
        State.Trading,
        2,
    )
    assert Reason.POSITION_WHILE_LOCKED.name not in str(d.effects)


def test_an_order_that_would_open_is_still_cancelled_on_sight() -> None:
    d = locked_daily_restarted()
    out = d.send(order(70, MNQ, Side.BUY, 1, type=OrderType.LIMIT, limit="19900", at=d.now))
    assert [c.order_id for c in cancels(out)] == [70]


def test_the_read_that_locks_again_closes_the_position_in_its_own_step() -> None:
    d = rule_driver(TrailingDrawdown, now=SUNDAY - timedelta(days=2), drawdown="2000")
    balance_read(d, "48000")
    again = restart(d, blown_engine, at=SUNDAY + timedelta(minutes=1))
    out = buys(again, NQ, 10, "20000")  # the blown account buys 10 NQ at once
    assert (closes(out), again.acct.state) == ([], State.LockedWeekly)
    again.now += timedelta(seconds=4)
    read = start_up_read(again, position(NQ, 10, "20000", at=again.now), account("47986"))
    steps = transitions(read)
    assert steps[:2] == [
        (None, "LockedWeekly", "Trading", "release"),
        (None, "Trading", "Flattening", "breach"),
    ]
    assert [c.contract_id for c in closes(read)] == [NQ]


def test_without_the_read_the_position_is_closed_a_minute_after_it_was_left() -> None:
    d = locked_daily_restarted()
    buys(d, MNQ, 2, "20000")
    left = d.now
    assert d.engine.flatten.awaiting.wakeup(d.acct, d.now) == left + WAIT
    almost = d.advance(seconds=WAIT.total_seconds() - 1)
    assert closes(almost) == []
    out = d.advance(seconds=1)
    assert [(c.contract_id, c.reason) for c in closes(out)] == [(MNQ, Reason.POSITION_WHILE_LOCKED)]
    assert d.acct.missed is not None  # (still unread)
    # a later entry, the read still late: closed on sight
    d.now += timedelta(seconds=30)
    later = buys(d, ES, 1, "6000", trade_id=51)
    assert [c.contract_id for c in closes(later)] == [ES]


def test_a_live_lock_beside_the_kept_one_closes_on_sight() -> None:
    for live in (
        AdminCommand(ACC, State.LockedDaily, "supervisor: no trading today", "ops"),
        SelfLock(ACC, State.LockedDaily, TUESDAY + timedelta(days=1), "trader"),
    ):
        d = locked_daily_restarted()
        buys(d, MNQ, 2, "20000")
        out = d.send(live)
        assert [c.contract_id for c in closes(out)] == [MNQ], live


def test_a_contracts_own_lock_closes_it_while_the_accounts_kept_lock_leaves_another() -> None:
    d = locked_daily_restarted()
    d.send(AdminCommand(ACC, State.LockedDaily, "no MNQ today", "ops", contract_id="MNQ"))
    out = buys(d, MNQ, 2, "20000") + buys(d, ES, 1, "6000", trade_id=51)
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_an_admin_freeing_the_account_during_the_wait_keeps_the_position_past_the_read() -> None:
    d = locked_daily_restarted()
    buys(d, MNQ, 2, "20000")
    d.send(AdminCommand(ACC, State.Trading, "reinstated", "ops"))
    d.now += timedelta(seconds=3)
    start_up_read(d, position(MNQ, 2, "20000", at=d.now), account("49397"))
    assert (closes(d.effects), d.acct.state) == ([], State.Trading)


def test_status_says_what_the_kept_lock_does_with_positions() -> None:
    d = locked_daily_restarted()
    text = status.render(status.snapshot(d.engine, d.now), color=False, source="running")
    assert "orders that open are cancelled; a position waits for the read:" in text, text
    assert "    closed if it locks again, kept if not\n" in text, text
    buys(d, MNQ, 2, "20000")
    snap = status.snapshot(d.engine, d.now)
    lock = snap["accounts"][0]["lock"]
    assert lock["closes_unread_at"] == (d.now + WAIT).isoformat()
    text = status.render(snap, color=False, source="running")
    assert "closed if it locks again, kept if not; closed at 17:06:00 CST without it" in text, text


def test_a_size_limit_during_the_wait_reduces_as_it_would_unlocked() -> None:
    rules = {DailyLossLimit: {"limit": "500"}, MaxContractsPerInstrument: {"default_limit": "3"}}
    both = partial(make_engine, rules)
    d = Driver(both(), now=TUESDAY - timedelta(hours=2))
    d.send(account("50000"))
    d.send(
        fill(MNQ, Side.BUY, 2, "20150", order_id=4, trade_id=8, at=d.now),
        position(MNQ, 2, "20150", at=d.now),
        fill(MNQ, Side.SELL, 2, "20000", pnl="-603", order_id=5, trade_id=9, at=d.now),
        position(MNQ, 0, "20000", at=d.now),
    )
    again = restart(d, both, at=TUESDAY + timedelta(minutes=5))
    assert again.acct.state is State.LockedDaily
    out = buys(again, MNQ, 5, "20000")  # 2 over RULE-002's 3
    # the kept lock does not turn the reduce into a close of all 5 (nor tighten it later)
    assert ([r.size for r in reduces(out)], closes(out)) == ([2], [])
    assert again.acct.contracts[MNQ].target_size == 3
    out = again.advance(seconds=2)
    assert (closes(out), again.acct.contracts[MNQ].target_size) == ([], 3)
