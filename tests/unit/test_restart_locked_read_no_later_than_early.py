"""Found by a review of 6ff6453: the enforcing step of every restored account flat at the stop
that trades after the restart (`read_early`) goes in the FORESEEN class, ahead of a restored
LOCKED account's enforcing step (EXPOSED). A locked account's position opened while the service
was down is in no books until that step reads it ("every position that appears is closed at
once"): it now waits behind every flat account that trades after the restart (2 reads each, 150
reads a window: 75 of them put it a minute later). Before 6ff6453 those accounts were EXPOSED
too, and the locked one, asked for first at start-up, went first."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

import fsm_risk.service as service_mod
from fsm_risk import reconciler
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.reconciler import Reconciler
from fsm_risk.service import Service
from tests.factories import MNQ, Driver, account, fill, position, quote, restart
from tests.unit.test_flat_restored_opening_before_the_start_listing import (
    opened_two_mnq_live,
    restored_flat_down_400_unlisted,
)
from tests.unit.test_reconciler import Gate
from tests.unit.test_restored_settled_by_the_start_listing import DOWN, daily_500

K = 5  # flat-at-the-stop accounts that trade after the restart
LOCKED = 1


def restored_locked_flat() -> Driver:
    """-$500 realized before the stop on a $500 daily limit: flattened and locked; restored."""
    d = Driver(daily_500())
    d.send(account("50000"), fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=101))
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    d.send(fill(MNQ, Side.SELL, 2, "20875", pnl="-500", order_id=2, trade_id=102))
    d.send(position(MNQ, 0, "21000"), account("49500"))
    assert d.acct.state is State.LockedDaily and d.acct.day.realized == Decimal("-500")
    return restart(d, daily_500, at=d.now + DOWN)


def service() -> Service:
    accounts = {LOCKED: restored_locked_flat().acct}
    for i in range(K):
        again = restored_flat_down_400_unlisted()
        opened_two_mnq_live(again)
        accounts[100 + i] = again.acct
    svc = Service.__new__(Service)  # (`_urgency` reads only what is set here)
    svc.engine = SimpleNamespace(accounts=accounts)  # type: ignore[assignment]
    svc.known, svc.held_back, svc.probed = set(), {}, {}
    return svc


async def order_of_steps(svc: Service) -> list[int]:
    g = Gate()
    r = Reconciler(g.run, svc._urgency, parallel=1)
    r.start()
    r.request(999)  # occupies the only worker while the start-up line fills
    await g.until(1)
    for a in [LOCKED, *range(100, 100 + K)]:  # the locked one asked for first (_start_order)
        r.request(a)
    for n in range(2, K + 3):
        g.finish(g.started[-1])
        await g.until(n)
    g.finish(g.started[-1])
    await r.stop()
    return g.started[1:]


def test_a_locked_accounts_enforcing_step_goes_no_later_than_an_early_one() -> None:
    svc = service()
    assert {svc._urgency(100 + i) for i in range(K)} == {reconciler.FORESEEN}
    steps = asyncio.run(order_of_steps(svc))
    assert steps.index(LOCKED) == 0, f"the locked account's enforcing step is #{steps}"


def test_guard_before_6ff6453_the_locked_account_went_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service_mod, "read_early", lambda acct: False)
    steps = asyncio.run(order_of_steps(service()))
    assert steps.index(LOCKED) == 0, steps
    _ = timedelta
