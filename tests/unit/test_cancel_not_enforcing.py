"""A locked account's order that would open a position, whose cancel the gateway keeps refusing
(or never answers): the account is not enforcing as it should, and every view says so.

Reported: on a locked account an opening buy of 10 MNQ was working and the gateway refused
every cancel, 34 in 5.5 minutes, the order still working; `status`, `status --json`, the
dashboard, readiness and /readyz all said the account was enforcing (only closes counted). If
that order fills, a position opens during the lock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fsm_risk import status
from fsm_risk.core.cancels import StuckCancel, unconfirmed_cancels
from fsm_risk.core.effects import CancelOrder
from fsm_risk.core.events import EnforcementRejected, OrderStatus, OrderUpdate, Side
from fsm_risk.core.orders import Order
from fsm_risk.core.states import State
from tests.factories import DAILY, MNQ, T0, Driver, account, make_engine, order, trip_on

REFUSED = "Order cannot be cancelled"


def locked_with_an_opening_order() -> tuple[Driver, datetime]:
    """Account 1001 locked by an order event (its daily loss), its opening buy of 10 MNQ
    (order 7) working, our first cancel of it sent at the returned instant."""
    d = Driver(make_engine(extra=[trip_on(OrderUpdate, DAILY)]), now=T0)
    d.send(account("50000"))
    out = d.send(order(7, MNQ, Side.BUY, 10, limit="20000"))
    assert d.acct.state in (State.Flattening, State.LockedDaily), d.acct.state
    assert [(c.order_id, c.contract_id) for c in out if isinstance(c, CancelOrder)] == [(7, MNQ)]
    return d, d.now


def refuse_every_cancel(d: Driver, seconds: int) -> int:
    """The gateway refuses the first cancel and each re-send, for ``seconds``: the cancels
    sent meanwhile (the first not counted)."""
    d.send(EnforcementRejected(1001, MNQ, 7, REFUSED))
    sent = 0
    for _ in range(seconds):
        if any(isinstance(e, CancelOrder) for e in d.advance(seconds=1)):
            sent += 1
            d.send(EnforcementRejected(1001, MNQ, 7, REFUSED))
    return sent


def test_a_cancel_refused_for_minutes_is_not_enforcing_and_status_names_the_order() -> None:
    d, first = locked_with_an_opening_order()
    resent = refuse_every_cancel(d, 330)  # 5.5 minutes
    assert resent >= 30  # each refused, each sent again: the order still working
    assert 7 in d.acct.orders
    timeout = d.engine.settings.close_timeout
    assert unconfirmed_cancels(d.acct, d.now, timeout) == [StuckCancel(7, MNQ, first, True)]

    # the view as the running service builds it (see `Service.status`)
    snap = status.snapshot(d.engine, d.now)
    snap["accounts"][0]["readiness"] = "cancel not confirmed"
    snap["accounts"][0]["cancels_unconfirmed"] = status.cancels_view(
        unconfirmed_cancels(d.acct, d.now, timeout)
    )
    snap["readiness"] = {"ready": 0, "reconciled": 1, "accounts": 1, "cancels_unconfirmed": 1}
    lines = status.render(snap, color=False, source="running service").splitlines()
    assert lines[0] == "NOT ENFORCING: 1 account(s) with a cancel not confirmed in time"
    clock = status._clock(first.isoformat(), snap["timezone"])
    i = lines.index(f"  NOT ENFORCING: cancel of order 7 in {MNQ} refused")
    assert lines[i + 1] == f"    since {clock} (5 min 30 s)"
    assert not [s for s in lines if "NOT ENFORCING YET" in s]


def test_counted_from_the_first_cancel_past_a_close_timeout_unanswered_or_refused() -> None:
    d, first = locked_with_an_opening_order()
    timeout = d.engine.settings.close_timeout
    d.at(first + timeout)  # a close timeout exactly: not yet
    assert unconfirmed_cancels(d.acct, d.now, timeout) == []
    d.at(first + timeout + timedelta(seconds=1))  # unanswered: re-sent at its cancel timeout
    assert unconfirmed_cancels(d.acct, d.now, timeout) == [StuckCancel(7, MNQ, first, False)]
    assert d.acct.orders[7].cancel_sent_at > first  # (the re-send moved it, not the count)
    d.send(EnforcementRejected(1001, MNQ, 7, REFUSED))
    assert unconfirmed_cancels(d.acct, d.now, timeout) == [StuckCancel(7, MNQ, first, True)]
    d.send(EnforcementRejected(1001, MNQ, 7, "429", limited=True))  # turned away, not refused
    assert unconfirmed_cancels(d.acct, d.now, timeout) == [StuckCancel(7, MNQ, first, False)]


def test_the_order_gone_at_the_gateway_ends_it() -> None:
    d, _ = locked_with_an_opening_order()
    refuse_every_cancel(d, 60)
    timeout = d.engine.settings.close_timeout
    assert [c.order_id for c in unconfirmed_cancels(d.acct, d.now, timeout)] == [7]
    d.send(order(7, MNQ, Side.BUY, 10, limit="20000", status=OrderStatus.CANCELLED))
    assert 7 not in d.acct.orders
    assert unconfirmed_cancels(d.acct, d.now, timeout) == []


def test_a_new_word_on_the_order_and_a_restart_keep_when_the_first_cancel_went() -> None:
    d, first = locked_with_an_opening_order()
    refuse_every_cancel(d, 30)
    d.send(order(7, MNQ, Side.BUY, 10, limit="20010"))  # the trader moved its price
    o = d.acct.orders[7]
    assert (o.cancel_since, o.cancel_refused) == (first, True)
    stored = Order.from_dict(o.to_dict())
    assert stored.cancel_since == first
    old = o.to_dict()  # one stored before the first cancel's time was kept
    del old["cancel_since"]
    assert Order.from_dict(old).cancel_since == o.cancel_sent_at


def test_a_gateway_order_id_fits_the_line() -> None:
    at = T0 + timedelta(minutes=2)
    snap = status.snapshot(make_engine(), at)
    snap["accounts"] = [
        {
            **a,
            "readiness": "cancel not confirmed",
            "cancels_unconfirmed": status.cancels_view([StuckCancel(70_000_123, MNQ, T0, False)]),
        }
        for a in status.snapshot(locked_with_an_opening_order()[0].engine, at)["accounts"]
    ]
    lines = status.render(snap, color=False, source="running service").splitlines()
    head = f"  NOT ENFORCING: cancel of order 70000123 in {MNQ} not confirmed"
    i = lines.index(head)
    assert lines[i + 1] == f"    since {status._clock(T0.isoformat(), snap['timezone'])} (2 min)"
    assert all(len(s) <= status.WIDTH for s in lines[: i + 2])
