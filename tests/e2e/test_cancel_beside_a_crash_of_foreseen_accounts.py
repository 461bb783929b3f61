"""Found by a review of f0ee92d/8c8cace: a market crash at a restart turns 100 exposed accounts
foreseen at once, after their enforcing steps, their trades reads still queued (their balances
fell $300 while the service was down: no P&L rule fired on that alone; the crash's -$400 open on
2 MNQ makes each estimate -$700 on a $500 daily loss limit). Their trades reads then go back to
back at the foreseen priority, past the reads' share. A locked account's trader places an order:
it must be cancelled on sight. Real SDK, real service, paper gateway on loopback at its real 200
requests a minute, the shipped budget (200, 50 kept from reads)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderType
from fsm_risk.paper.settings import PaperAccount
from fsm_risk.service import Service
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, lock_by_daily_loss
from tests.e2e.test_enforcement_while_reads_fill_the_window import RULES, start_serving

EXPOSED = [3001 + i for i in range(100)]
FLAT = [4001 + i for i in range(400)]
ACCOUNTS = (
    PaperAccount(ACCOUNT, "PAPER-1", Decimal("50000.00"), True),
    *(PaperAccount(a, f"ACC-{a}", Decimal("50000.00"), True) for a in [*EXPOSED, *FLAT]),
)


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_locked_accounts_cancel_after_a_crash_makes_100_accounts_foreseen(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.gateway.set_rate_limit(None)
    path = h.write_settings(RULES)
    path.write_text(path.read_text() + "[broker]\nrequests_per_minute = 10000\n")
    await start_serving(h)
    await h.until(lambda: len(h.svc.known) == len(ACCOUNTS), "all reconciled", 300)
    await lock_by_daily_loss(h)
    for a in EXPOSED:
        h.gateway.place_order(a, MNQ, 0, 2)
    await h.until(
        lambda: all(MNQ in h.svc.engine.accounts[a].positions for a in EXPOSED), "positions"
    )
    await h.stop()
    for a in EXPOSED:  # while down: $300 gone from each (no trade): no rule fires on it
        h.gateway.set_balance(a, Decimal("49700.00"))
    h.write_settings(RULES)
    h.gateway.set_rate_limit(200, 60)
    enforced: set[int] = set()
    step = Service._enforcing_step

    async def enforcing_step(self: Service, account_id: int) -> None:
        await step(self, account_id)
        enforced.add(account_id)

    monkeypatch.setattr(Service, "_enforcing_step", enforcing_step)
    await start_serving(h)
    assert h.acct.state is State.LockedDaily
    budget = h.svc.broker.budget
    await h.until(lambda: len(enforced & set(EXPOSED)) == len(EXPOSED), "enforcing steps", 400)
    h.gateway.move_price(MNQ, -400)  # -$400 open on 2 MNQ: each estimate -$700
    peak = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 8:
        peak = max(peak, budget.used)
        await asyncio.sleep(0.05)
    low = h.gateway.quote(MNQ).last - 500
    order = h.trade("MNQ", "buy", 1, type=OrderType.LIMIT, limit_price=low)
    placed = time.monotonic()
    await h.gw_until(lambda: not h.gateway.order(order.order_id).working, "cancelled", 120)
    took = time.monotonic() - placed
    assert took <= 5, f"the cancel of a locked account's order waited {took:.1f} s (window {peak})"
