"""Order rows stored before a lock's cancel was told apart from a leg's (``lock_cancel``):
what such a row loads as is decided from the account as restored. Found by a review: loaded
as 'not a lock's cancel', the first start after the upgrade kept re-sending the cancel a lock
that ended while the service was stopped had asked of the trader's order (a false
enforcement); loaded as a lock's, a leg of a position we closed would be handed back when its
lock ends (a missed one)."""

from __future__ import annotations

import json
from datetime import timedelta

from fsm_risk.core.effects import Effect
from fsm_risk.core.events import EnforcementRejected, OrderType, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from tests.factories import MNQ, Driver, cancels, order, position, start_up_read
from tests.unit.test_cancels_across_locks import (
    BUY_7,
    REFUSED,
    Locks,
    cancels_of_7,
    lock,
    run,
    with_an_opening_order,
)


def old_restart(d: Driver, locks: Locks, minutes: int) -> Driver:
    """Stop and start again ``minutes`` on, the account stored as a version before
    ``lock_cancel`` wrote it: its order rows lack the key."""
    rows = []
    for a in d.engine.accounts.values():
        snap = json.loads(json.dumps(a.to_dict()))
        for row in snap["orders"]:
            assert row.pop("lock_cancel") is not None  # (the key the old rows lack)
        rows.append((snap, [json.loads(json.dumps(c.to_dict())) for c in a.contracts.values()]))
    fresh = Driver(locks.engine(), now=d.now + timedelta(minutes=minutes), acc=d.acc)
    for snap, contracts in rows:
        fresh.effects.extend(fresh.engine.restore_account(snap, contracts, fresh.now))
    return fresh


def refused_through_a_lock(seconds: int) -> tuple[Driver, Locks]:
    """The trader's opening buy 7, a lock for ``seconds`` cancelling it, each cancel refused."""
    d, locks = with_an_opening_order()
    assert cancels_of_7(lock(d, locks, seconds)) == [Reason.ORDER_WHILE_LOCKED]
    d.send(EnforcementRejected(1001, MNQ, 7, REFUSED))
    run(d, 10, refuse=True)
    assert d.acct.orders[7].cancel_sent_at is not None  # stored so
    return d, locks


def test_an_old_row_whose_lock_ended_while_stopped_is_not_cancelled_again() -> None:
    d, locks = refused_through_a_lock(30)
    d = old_restart(d, locks, minutes=5)  # the lock ended meanwhile
    out = start_up_read(d, BUY_7)  # the order still works
    assert d.acct.state is State.Trading
    out += run(d, 60)
    assert cancels_of_7(out) == [], "the ended lock's cancel re-sent at the first start"
    assert cancels_of_7(lock(d, locks, 60)) == [Reason.ORDER_WHILE_LOCKED]  # a new lock's


def test_an_old_row_whose_lock_still_holds_is_cancelled_until_the_lock_ends() -> None:
    d, locks = refused_through_a_lock(120)
    d = old_restart(d, locks, minutes=1)
    out = start_up_read(d, BUY_7)
    assert d.acct.state is State.Cooldown
    assert cancels_of_7(out) == [Reason.CANCEL_NOT_CONFIRMED]
    out = run(d, 50, refuse=True)  # the lock ends 2 minutes after it began
    assert d.acct.state is State.Trading
    assert cancels_of_7(out), "not asked again while the lock held"
    assert cancels_of_7(run(d, 60)) == [], "asked after the lock ended"


def test_an_old_row_of_a_leg_of_a_position_still_closing_stands() -> None:
    """At the stop the lock's close of a position opened while locked is on its way: the
    stop on its closing side it cancelled (a leg: an exit, which no lock cancels) is still
    asked gone after the lock ends, and the trader's buy 7 the lock cancelled is not."""
    d, locks = with_an_opening_order()
    assert cancels_of_7(lock(d, locks, 30)) == [Reason.ORDER_WHILE_LOCKED]
    stop = order(8, MNQ, Side.SELL, 2, type=OrderType.STOP, stop="1")
    out = d.send(position(MNQ, 2, "20000"), stop)
    assert {c.order_id: c.reason for c in cancels(out)} == {8: Reason.ORDER_RESIZED}
    d = old_restart(d, locks, minutes=5)  # the lock ended meanwhile; MNQ closed
    out = start_up_read(d, BUY_7, stop)
    assert d.acct.state is State.Trading
    out += run(d, 30)
    assert cancels_of_7(out) == [], "the ended lock's cancel re-sent at the first start"
    assert leg_cancels(out), "the leg of the position closed was handed back"


def leg_cancels(out: list[Effect]) -> list[int]:
    return [c.order_id for c in cancels(out) if c.order_id == 8]
