"""Our cancels of the trader's opening order stand only while a lock (or a flatten) covers it.

Found by a reading: once a lock ended (the scope trading again) the retry kept re-sending the
cancels the lock had asked of the trader's opening order, every cancel timeout, for good: a
lock outliving itself. And a new lock did not cancel that order on sight while the earlier
lock's cancel was still marked sent: it waited for that cancel's timeout (up to 10 s, the order
free to fill meanwhile), and its cancel counted as unconfirmed since the first lock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fsm_risk.core.cancels import StuckCancel, unconfirmed_cancels
from fsm_risk.core.effects import Effect, Level
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import (
    AdminCommand,
    EnforcementRejected,
    Event,
    OrderType,
    SelfLock,
    Side,
    Tick,
)
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Verdict
from tests.factories import (
    MNQ,
    T0,
    Driver,
    Scripted,
    account,
    alerts,
    cancels,
    flat,
    make_engine,
    order,
    position,
    restart,
    start_up_read,
)

REFUSED = "Order cannot be cancelled"
BUY_7 = order(7, MNQ, Side.BUY, 2, limit="20000")  # the trader's opening buy: it would open 2


class Locks:
    """A scripted rule locking the account (a `Cooldown`, no flatten) at the next tick asked."""

    def __init__(self) -> None:
        self.asked: list[datetime] = []

    def script(self, view: object, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if not isinstance(event, Tick) or not self.asked:
            return ()
        until = self.asked.pop()
        why = Reason.TRADE_COOLDOWN
        return (Verdict("RULE-T01", why, Action.LOCK, lock=State.Cooldown, until=until),)

    def engine(self) -> RiskEngine:
        return make_engine(extra=[lambda ctx: Scripted(ctx, self.script)])


def lock(d: Driver, locks: Locks, seconds: float) -> list[Effect]:
    """Lock the account now for ``seconds``: the effects of that lock."""
    locks.asked.append(d.now + timedelta(seconds=seconds))
    out = d.send(Tick(d.acc))
    assert d.acct.state is State.Cooldown, d.acct.state
    return out


def with_an_opening_order() -> tuple[Driver, Locks]:
    locks = Locks()
    d = Driver(locks.engine(), now=T0)
    d.send(account(), BUY_7)
    return d, locks


def cancels_of_7(out: list[Effect]) -> list[Reason]:
    return [c.reason for c in cancels(out) if c.order_id == 7]


def run(d: Driver, seconds: int, *, refuse: bool = False) -> list[Effect]:
    """Time passes second by second; with ``refuse`` the gateway refuses each cancel sent."""
    out: list[Effect] = []
    for _ in range(seconds):
        step = d.advance(seconds=1)
        if refuse and cancels_of_7(step):
            step += d.send(EnforcementRejected(1001, MNQ, 7, REFUSED))
        out += step
    return out


def test_a_cancel_unanswered_when_the_lock_ends_is_not_sent_again() -> None:
    d, locks = with_an_opening_order()
    assert cancels_of_7(lock(d, locks, 5)) == [Reason.ORDER_WHILE_LOCKED]
    run(d, 5)  # no answer yet; the lock ends
    assert d.acct.state is State.Trading
    after = run(d, 60)
    assert cancels_of_7(after) == [], "the ended lock's cancel re-sent to a trading account"
    assert 7 in d.acct.orders and d.acct.orders[7].cancel_sent_at is None


def test_a_cancel_refused_through_the_lock_stops_when_it_ends() -> None:
    d, locks = with_an_opening_order()
    lock(d, locks, 30)
    d.send(EnforcementRejected(1001, MNQ, 7, REFUSED))
    during = run(d, 30, refuse=True)
    assert len(cancels_of_7(during)) >= 2  # re-sent while locked, each refused
    assert d.acct.state is State.Trading
    after = run(d, 120, refuse=True)
    assert cancels_of_7(after) == [], f"{len(cancels_of_7(after))} cancels after the lock ended"
    assert unconfirmed_cancels(d.acct, d.now, d.engine.settings.close_timeout) == []


def test_a_refusal_answering_a_cancel_sent_before_the_lock_ended_is_not_critical() -> None:
    d, locks = with_an_opening_order()
    lock(d, locks, 2)
    run(d, 2)  # the lock ends while its cancel is on its way
    assert d.acct.state is State.Trading
    said = d.send(EnforcementRejected(1001, MNQ, 7, REFUSED))
    assert [a.level for a in alerts(said)] == [Level.INFO], alerts(said)
    assert not d.acct.orders[7].cancel_refused
    assert cancels_of_7(run(d, 60)) == []


def test_a_new_lock_cancels_the_order_at_once() -> None:
    d, locks = with_an_opening_order()
    lock(d, locks, 5)  # its cancel unanswered
    run(d, 7)  # the lock ended 2 s ago: the order the trader's again
    assert d.acct.state is State.Trading
    again = lock(d, locks, 60)  # a second lock, within the first cancel's timeout
    assert cancels_of_7(again) == [Reason.ORDER_WHILE_LOCKED], "the new lock left the order"
    timeout = d.engine.settings.close_timeout
    assert unconfirmed_cancels(d.acct, d.now, timeout) == []
    run(d, 11)
    assert unconfirmed_cancels(d.acct, d.now, timeout) == [
        StuckCancel(7, MNQ, d.now - timedelta(seconds=11), False)
    ]


def test_a_new_lock_counts_its_own_cancel_not_the_ended_locks() -> None:
    d, locks = with_an_opening_order()
    lock(d, locks, 60)
    d.send(EnforcementRejected(1001, MNQ, 7, REFUSED))
    run(d, 90, refuse=True)  # refused for the whole lock, and then trading 30 s
    again = lock(d, locks, 60)
    assert cancels_of_7(again) == [Reason.ORDER_WHILE_LOCKED]
    second = d.now
    d.send(EnforcementRejected(1001, MNQ, 7, REFUSED))
    timeout = d.engine.settings.close_timeout
    run(d, 1, refuse=True)
    assert unconfirmed_cancels(d.acct, d.now, timeout) == [], "counted from the first lock"
    run(d, 10, refuse=True)
    assert unconfirmed_cancels(d.acct, d.now, timeout) == [StuckCancel(7, MNQ, second, True)]


def test_a_lock_that_ended_while_stopped_sends_no_cancel_at_the_restart() -> None:
    d, locks = with_an_opening_order()
    lock(d, locks, 30)
    d.send(EnforcementRejected(1001, MNQ, 7, REFUSED))
    run(d, 10, refuse=True)
    assert d.acct.orders[7].cancel_sent_at is not None  # stored so
    d = restart(d, locks.engine, at=d.now + timedelta(minutes=5))  # the lock ended meanwhile
    out = start_up_read(d, BUY_7)  # the order still works
    assert d.acct.state is State.Trading
    out += run(d, 60)
    assert cancels_of_7(out) == [], "the ended lock's cancel re-sent after the restart"
    again = lock(d, locks, 60)
    assert cancels_of_7(again) == [Reason.ORDER_WHILE_LOCKED]


def test_a_lock_still_on_at_the_restart_sends_its_cancel_again() -> None:
    d, locks = with_an_opening_order()
    lock(d, locks, 600)
    d.send(EnforcementRejected(1001, MNQ, 7, REFUSED))
    d = restart(d, locks.engine, at=d.now + timedelta(minutes=1))
    out = start_up_read(d, BUY_7)
    assert d.acct.state is State.Cooldown
    assert cancels_of_7(out) == [Reason.CANCEL_NOT_CONFIRMED]


def test_a_root_the_admin_unlocks_stops_its_cancel_and_a_relock_cancels_at_once() -> None:
    d, _ = with_an_opening_order()
    out = d.send(AdminCommand(1001, State.LockedDaily, "desk", "ops", contract_id="MNQ"))
    assert cancels_of_7(out) == [Reason.ORDER_WHILE_LOCKED]
    d.advance(seconds=3)
    d.send(AdminCommand(1001, State.Trading, "desk", "ops", contract_id="MNQ"))
    assert cancels_of_7(run(d, 60)) == [], "re-sent after the admin unlocked the root"
    out = d.send(AdminCommand(1001, State.LockedDaily, "desk", "ops", contract_id="MNQ"))
    assert cancels_of_7(out) == [Reason.ORDER_WHILE_LOCKED]


def test_the_legs_of_a_position_we_closed_stay_cancelled_after_the_lock() -> None:
    """Not the lock's cancel: a leg left by the position the lock's close took flat would open
    one, lock or none (as after a rule's close without a lock)."""
    d, _ = with_an_opening_order()
    d.send(position(MNQ, 2, "20000"), order(8, MNQ, Side.SELL, 2, type=OrderType.STOP, stop="1"))
    out = d.send(AdminCommand(1001, State.LockedDaily, "desk", "ops"))
    assert {c.order_id: c.reason for c in cancels(out)} == {
        7: Reason.ORDER_WHILE_LOCKED,  # the lock's (it would open)
        8: Reason.ORDER_RESIZED,  # the leg of the position closed beside it
    }
    d.send(flat(MNQ))
    d.advance(seconds=3)
    d.send(AdminCommand(1001, State.Trading, "desk", "ops"))
    again = run(d, 30)
    assert [c.order_id for c in cancels(again)] == [8, 8, 8]


def test_an_admins_unlock_hands_the_order_back_with_its_own_event() -> None:
    """Dropped as the scope trades again, not at the next event: a cancel of the lock still
    waiting for its turn in the request budget is then not sent (its turn asks the order)."""
    d, locks = with_an_opening_order()
    lock(d, locks, 600)
    d.advance(seconds=3)
    assert d.acct.orders[7].cancel_sent_at is not None
    d.send(AdminCommand(1001, State.Trading, "desk", "ops"))
    assert d.acct.state is State.Trading
    assert d.acct.orders[7].cancel_sent_at is None


class Phases:
    """RULE-T01 holds a LockedDaily while its condition lasts; at ``swap`` its condition ends
    and, on that same event, RULE-T02 locks the account LockedDaily (a real pair: RULE-018's
    canTrade back to true and RULE-003's loss on one account update)."""

    def __init__(self) -> None:
        self.phase = ""

    def t01(self, view: object, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if not isinstance(event, Tick):
            return ()
        if self.phase == "lock":
            self.phase = "held"
            return (
                Verdict("RULE-T01", Reason.TRADING_PERMISSION, Action.LOCK, lock=State.LockedDaily),
            )
        if self.phase == "swap":
            return (Verdict("RULE-T01", Reason.TRADING_PERMISSION_RESTORED, Action.RELEASE),)
        return ()

    def t02(self, view: object, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if not isinstance(event, Tick) or self.phase != "swap":
            return ()
        self.phase = "done"
        return (Verdict("RULE-T02", Reason.DAILY_LOSS_LIMIT, Action.LOCK, lock=State.LockedDaily),)


def test_one_event_ends_a_lock_and_starts_another_the_new_lock_cancels_on_sight() -> None:
    """Found by a review: one event ended a lock and started another (RULE-018's canTrade
    back and RULE-004's breach on one read): the marks were lifted before the release or after
    the new lock, never between, so the new lock sent no cancel (the ended lock's cancel_sent_at
    still set) and counted from the first lock: the order worked 6 s (10 s after a refusal)."""
    p = Phases()
    eng = make_engine(
        extra=[lambda c: Scripted(c, p.t01), lambda c: Scripted(c, p.t02, rule_id="RULE-T02")]
    )
    d = Driver(eng, now=T0)
    d.send(account(), BUY_7)
    p.phase = "lock"
    first = d.send(Tick(d.acc))
    assert d.acct.state is State.LockedDaily and cancels_of_7(first)
    d.advance(seconds=4)  # its cancel unanswered (in flight, or lost)
    p.phase = "swap"
    swap: list[Effect] = d.send(Tick(d.acc))
    assert d.acct.state is State.LockedDaily, d.acct.state
    stuck = unconfirmed_cancels(d.acct, d.now, d.engine.settings.close_timeout)
    o = d.acct.orders[7]
    assert cancels_of_7(swap) == [Reason.ORDER_WHILE_LOCKED] and stuck == [], (
        f"new lock's cancel: {cancels_of_7(swap)}; cancel_since {o.cancel_since} "
        f"(lock began {d.now}); unconfirmed now: {stuck}"
    )


def test_an_account_cooldown_ending_under_a_root_lock_keeps_cancelling() -> None:
    """The account's Cooldown ends, the admin's MNQ root lock stays: the order's
    cancel still stands and is re-sent."""
    d, locks = with_an_opening_order()
    lock(d, locks, 5)
    d.send(AdminCommand(1001, State.LockedDaily, "desk", "ops", contract_id="MNQ"))
    d.send(EnforcementRejected(1001, d.acct.orders[7].contract_id, 7, REFUSED))
    after = run(d, 30, refuse=True)
    assert d.acct.state is State.Trading
    assert d.acct.contracts["MNQ"].state is State.LockedDaily
    assert len(cancels_of_7(after)) >= 2, cancels_of_7(after)
    assert d.acct.orders[7].cancel_sent_at is not None


def test_a_self_lock_over_a_cooldown_that_ends_keeps_cancelling() -> None:
    """A self-lock placed over a Cooldown: the Cooldown's end hands nothing back."""
    d, locks = with_an_opening_order()
    lock(d, locks, 5)
    d.send(SelfLock(1001, State.LockedDaily, d.now + timedelta(hours=2), "trader"))
    d.send(EnforcementRejected(1001, d.acct.orders[7].contract_id, 7, REFUSED))
    after = run(d, 30, refuse=True)
    assert d.acct.state is not State.Trading, d.acct.state  # (the self-lock flattens first)
    assert len(cancels_of_7(after)) >= 2, cancels_of_7(after)


def test_the_cancel_due_at_the_instant_the_lock_ends_is_not_sent() -> None:
    """Found by a review (no test failed without the `lifted` in `Pursuit.retry`): a lock of
    exactly the cancel timeout; its cancel falls due at the event that ends it, and is not
    sent."""
    d, locks = with_an_opening_order()
    timeout = d.engine.settings.cancel_timeout
    lock(d, locks, timeout.total_seconds())
    out = d.advance(seconds=timeout.total_seconds())
    assert d.acct.state is State.Trading
    assert cancels_of_7(out) == [], cancels_of_7(out)
