"""Found by a review of the positions left to the trades read (core.awaiting): an add made
during the wait is reduced to what was left, a crash loop does not start the wait again, and
status does not say a position waits while a live lock beside the kept one closes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from fsm_risk import status
from fsm_risk.core.events import SelfLock, Side
from fsm_risk.core.states import State
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ACC,
    NQ,
    Driver,
    balance_read,
    closes,
    fill,
    position,
    quote,
    reduces,
    restart,
    rule_driver,
    rule_engine,
)

SUNDAY = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # the weekly reset
blown_engine = partial(rule_engine, TrailingDrawdown, drawdown="2000")


def blown_restarted() -> Driver:
    """A 50k account blown (RULE-004 at its floor), restored a minute after Sunday's reset."""
    d = rule_driver(TrailingDrawdown, now=SUNDAY - timedelta(days=2), drawdown="2000")
    balance_read(d, "48000")
    assert d.acct.state is State.LockedWeekly
    again = restart(d, blown_engine, at=SUNDAY + timedelta(minutes=1))
    assert again.acct.missed is not None and again.acct.state is State.LockedWeekly
    return again


def buy(d: Driver, size: int, total: int, n: int) -> list:
    return d.send(
        fill(NQ, Side.BUY, size, "20000", order_id=60 + n, trade_id=60 + n, at=d.now),
        position(NQ, total, "20000", at=d.now),
        quote(NQ, "20000", at=d.now),
    )


def test_an_add_during_the_wait_is_reduced_to_what_was_left() -> None:
    """The blown account's first 10 NQ are left to the read; every add after them is an
    opening market order that filled before its cancel: it must not stay (at b486ca9 the
    position grows to 40 NQ and nothing is closed or reduced for the whole wait)."""
    d = blown_restarted()
    out = buy(d, 10, 10, 0)
    assert (closes(out), reduces(out)) == ([], [])  # the first: left to the read
    d.now += timedelta(seconds=10)
    out = buy(d, 10, 20, 1)  # an add
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(NQ, 10)], out
    assert d.acct.contracts[NQ].target_size == 10


def test_a_crash_loop_does_not_restart_the_wait() -> None:
    """A service restarting every 50 s whose read never lands: the blown account's 10 NQ
    must be closed a minute after they were first left (at b486ca9: never, the wait is
    runtime only and starts again at each restart)."""
    d = blown_restarted()
    seen = closes(buy(d, 10, 10, 0))
    for _ in range(5):
        seen += closes(d.advance(seconds=50))
        d = restart(d, blown_engine, at=d.now + timedelta(seconds=1))
        seen += closes(d.send(position(NQ, 10, "20000", at=d.now), quote(NQ, "19990", at=d.now)))
    assert d.acct.missed is not None and d.acct.state is State.LockedWeekly
    assert [c.contract_id for c in seen][:1] == [NQ]


def test_status_does_not_say_a_position_waits_while_a_live_self_lock_closes_it() -> None:
    """The strongest hold is the kept RULE-004 one; a live self-lock beside it closes every
    position on sight: status must not say "a position waits for the read" (b486ca9 does)."""
    d = blown_restarted()
    d.send(SelfLock(ACC, State.LockedDaily, SUNDAY + timedelta(days=1), "trader"))
    text = status.render(status.snapshot(d.engine, d.now), color=False, source="running")
    out = buy(d, 1, 1, 0)
    assert [c.contract_id for c in closes(out)] == [NQ]
    assert "a position waits for the read" not in text, text
