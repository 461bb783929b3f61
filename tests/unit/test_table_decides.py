"""The table decides: transitions fire when the machine table's guards say so, entering
``Flattening`` is set up in one place, exposure has one definition, and each engine has its
own machines (a dropped engine's models are not kept alive by a shared one)."""

from __future__ import annotations

import dataclasses
import gc
import weakref
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk.core.effects import Alert, Level, WatchContract
from fsm_risk.core.events import (
    AdminCommand,
    EnforcementAccepted,
    Event,
    Listing,
    OrderStatus,
    OrderType,
    Quote,
    Side,
)
from fsm_risk.core.exposure import exposed
from fsm_risk.core.reads import RECENT, read_since
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Verdict
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ACC,
    MNQ,
    T0,
    Driver,
    Scripted,
    account,
    cancels,
    closes,
    fill,
    make_engine,
    order,
    position,
    quote,
    transitions,
)


def test_an_admin_forcing_a_contract_into_flattening_closes_and_cancels_at_once() -> None:
    """Forced, a contract enters Flattening like any other way in: its close goes with the
    command (attributed to the admin) and the trader's working orders there are cancelled,
    so it can be confirmed flat instead of waiting on an order nobody cancels."""
    d = Driver(make_engine())
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 2, "21000"))
    d.send(order(7, MNQ, Side.BUY, 1, limit="20990"))
    out = d.send(AdminCommand(ACC, State.Flattening, "desk", "ops", contract_id=MNQ))
    [close] = closes(out)
    assert (close.contract_id, close.rule_id, close.reason) == (MNQ, "ADMIN", Reason.ADMIN_OVERRIDE)
    assert [c.order_id for c in cancels(out)] == [7]
    cm = d.acct.contracts[MNQ]
    assert cm.state is State.Flattening and cm.attempts == 1 and cm.close_in_flight


def test_failing_closed_records_when_and_why_the_account_flattens() -> None:
    def boom(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, Quote):
            raise RuntimeError("bug")
        return ()

    d = Driver(make_engine(extra=[lambda ctx: Scripted(ctx, boom)]))
    d.send(account(), position(MNQ, 1, "21000"))
    d.send(quote(MNQ, "21000"))
    acct = d.acct
    assert acct.state is State.Flattening
    assert (acct.flatten_started, acct.flatten_cause, acct.flatten_reason) == (
        d.now,
        "ENGINE",
        Reason.FAILSAFE,
    )


def test_a_verdict_that_adds_nothing_is_not_recorded_and_one_that_adds_is() -> None:
    """The same daily loss breach seen twice on a locked account: the second adds no hold,
    so the table refuses it and the audit log has one breach, not two."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "100"}}))
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 1, "21000"))
    d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=5))
    d.send(quote(MNQ, "20900"))  # -200: past the limit
    d.send(
        fill(
            MNQ, Side.SELL, 1, "20900", pnl="-200", order_id=d.acct.contracts[MNQ].close_order or 6
        )
    )
    d.send(position(MNQ, 0, "0"))
    assert d.acct.state is State.LockedDaily
    before = len(transitions(d.effects))
    out = d.send(quote(MNQ, "20800"))
    assert transitions(out) == [] and len(transitions(d.effects)) == before


def test_exposure_has_one_definition_for_both_machines_and_the_breach() -> None:
    d = Driver(make_engine())
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 2, "21000"))
    d.send(order(7, MNQ, Side.BUY, 1, limit="20990"))
    acct = d.acct
    assert acct.exposed() is exposed(acct) is True
    d.send(AdminCommand(ACC, State.Flattening, "desk", "ops", contract_id=MNQ))
    cm = acct.contracts[MNQ]
    for target in (0, 1, 2, 3):
        cm.target_size = target
        for cancel in (True, False):
            cm.cancel_orders = cancel
            assert cm.exposed() is exposed(acct, MNQ, target, cancel_orders=cancel)
    assert exposed(acct, MNQ, 2, cancel_orders=False) is False
    assert exposed(acct, MNQ, 2, cancel_orders=True) is True  # the trader's order 7


def test_each_engine_has_its_own_machines_and_a_dropped_engine_frees_its_models() -> None:
    a, b = make_engine(), make_engine()
    assert a.work.machines.account is not b.work.machines.account
    d = Driver(a)
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 1, "21000"))
    acct, cm = (
        weakref.ref(d.acct),
        weakref.ref(a.work.contract(d.acct, MNQ)),
    )
    assert acct() in a.work.machines.account.models
    assert acct() not in b.work.machines.account.models
    del d, a
    gc.collect()
    assert acct() is None and cm() is None


# --- decisions leave the shell ------------------------------------------------------------------


def test_a_reconciliation_listing_is_decided_by_the_engine() -> None:
    """The shell only says what the read listed and what the engine held when it began; the
    engine closes what it held then and still, unlisted, and ends such orders. Whatever
    opened live meanwhile (not held at the start of the read) is left alone."""
    d = Driver(make_engine())
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 1, "21000"))
    d.send(order(7, MNQ, Side.BUY, 1, limit="20990"), order(8, MNQ, Side.BUY, 1, limit="20980"))
    # read began holding MNQ and orders 7, 8; order 9 came live meanwhile
    d.send(order(9, MNQ, Side.BUY, 1, limit="20970"))
    listing = Listing(
        ACC, frozenset(), frozenset({8}), frozenset({MNQ}), frozenset({7, 8}), frozenset()
    )
    out = d.send(listing)
    assert MNQ not in d.acct.positions and MNQ not in d.engine.holders.get(MNQ, ())
    assert set(d.acct.orders) == {8, 9}
    assert [w.on for w in out if isinstance(w, WatchContract)] == [False]


def test_a_listed_order_that_ended_live_after_the_read_began_stays_ended() -> None:
    """The read listed order 7 working, but its cancel arrived live after the read began:
    the engine, not the shell, keeps it ended (the read is older news). An order the engine
    did not hold when the read began is taken from the read as before."""
    d = Driver(make_engine())
    d.send(account(), order(7, MNQ, Side.BUY, 1, limit="20990"))
    # the read begins holding order 7; its cancel arrives live before the read is applied
    d.send(order(7, MNQ, Side.BUY, 1, limit="20990", status=OrderStatus.CANCELLED))
    d.send(dataclasses.replace(order(7, MNQ, Side.BUY, 1, limit="20990"), held=True))
    d.send(dataclasses.replace(order(8, MNQ, Side.BUY, 1, limit="20980"), held=False))
    d.send(Listing(ACC, frozenset(), frozenset({7, 8}), frozenset(), frozenset({7}), frozenset()))
    assert set(d.acct.orders) == {8}
    # held and still working: the listed update is applied (a changed price is taken)
    d.send(dataclasses.replace(order(8, MNQ, Side.BUY, 1, limit="20975"), held=True))
    assert d.acct.orders[8].limit_price == Decimal("20975")


def test_the_engine_decides_whether_a_periodic_read_diverged() -> None:
    """A periodic re-read that agrees with the engine is answered with nothing (the shell
    does not apply it); one that finds what the live feed did not say is answered with one
    warning naming each difference, and the engine's state is left untouched by the answer."""
    d = Driver(make_engine())
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 1, "21000"))
    d.send(order(7, MNQ, Side.BUY, 1, limit="20990"))
    seen = fill(MNQ, Side.BUY, 1, "21000")
    d.send(seen)
    agree = [seen, account(), position(MNQ, 1, "21000"), order(7, MNQ, Side.BUY, 1, limit="20990")]
    assert d.engine.diverged(ACC, agree) == []
    unseen = fill(MNQ, Side.BUY, 1, "21001")
    read = [seen, unseen, account(can_trade=False), position(MNQ, 2, "21000")]
    [alert] = d.engine.diverged(ACC, read)
    assert isinstance(alert, Alert) and alert.account_id == ACC
    assert (alert.level, alert.reason) == (Level.WARNING, Reason.STATE_DIVERGED)
    assert alert.message == (
        "the periodic read found what the live feed did not say: "
        f"trade {unseen.trade_id} not seen; canTrade False, the engine held True; "
        f"{MNQ} at +2, the engine held +1; order 7 no longer working"
    )
    assert d.acct.positions[MNQ].size == 1 and set(d.acct.orders) == {7}
    assert d.engine.diverged(ACC + 1, read) == []  # an account the engine does not monitor


def test_a_periodic_read_lists_the_trades_from_a_minute_before_the_latest_seen() -> None:
    """Where a periodic read's trades begin: a minute before the account's latest trade (the
    gateway's clock), never before the reconciliation's window; the whole window when asked
    or when the account has seen no trade."""
    d = Driver(make_engine())
    d.send(account())
    window = min(d.acct.day.start, d.acct.week.start)
    assert read_since(d.acct, window, whole=False) == window  # no trade seen yet
    d.send(fill(MNQ, Side.BUY, 1, "21000", at=T0), fill(MNQ, Side.SELL, 1, "21001", at=T0))
    assert read_since(d.acct, window, whole=False) == T0 - RECENT
    assert read_since(d.acct, window, whole=True) == window
    # a trade within a minute of the window's start: the window bounds the read
    d2 = Driver(make_engine(), now=window + timedelta(seconds=30))
    d2.send(account(), fill(MNQ, Side.BUY, 1, "21000", at=window + timedelta(seconds=30)))
    assert read_since(d2.acct, window, whole=False) == window


def test_an_accepted_close_names_its_order_and_its_fills_are_the_services_own() -> None:
    d = Driver(make_engine())
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 2, "21000"))
    d.send(AdminCommand(ACC, State.Flattening, "desk", "ops", contract_id=MNQ))
    d.send(EnforcementAccepted(ACC, MNQ, 99))
    cm = d.acct.contracts[MNQ]
    assert cm.close_order == 99 and 99 in d.acct.own_orders
    # a limit order would never be taken for our (market) close by its looks alone
    d.send(order(99, MNQ, Side.SELL, 2, type=OrderType.LIMIT, status=OrderStatus.FILLED))
    d.send(fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=99))
    assert d.acct.day.fills[-1].enforcement and not cm.close_in_flight
