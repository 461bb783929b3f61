"""Found by a review: 942bc64..5fdfee7 make every exposed account's enforcing step wait (up to
`START_BALANCES_WAIT`, 5 s, each) for the balances listed after the subscriptions. 12 accounts
locked for the day by RULE-003; while the service is stopped each trader opens 1 MNQ;
restarted, the gateway is slow to answer that one `/Account/search` (its first answer never
comes; the broker sends it again after its 10 s read timeout). The locked accounts' new
positions wait for it: measured against the same restart with the wait off (0 s, as before
942bc64)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk import service as service_module
from fsm_risk.core.states import State
from fsm_risk.paper import rest
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_enforcement_while_reads_fill_the_window import RULES, start_serving

LOCKED = [5001 + i for i in range(12)]
ACCOUNTS = tuple(PaperAccount(a, f"ACC-{a}", Decimal("50000.00"), True) for a in LOCKED)
HANG: dict[str, Any] = {"armed": False, "hung": 0}


@pytest.fixture(autouse=True)
def slow_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once armed, the next `/Account/search` is answered after 30 s (the broker gives up at
    10 s and sends it again, answered at once)."""
    original = rest.ProjectXApi.endpoint

    def endpoint(self: rest.ProjectXApi, handler: Any, needs_token: bool) -> Any:
        serve = original(self, handler, needs_token)

        async def slow(request: Any) -> Any:
            if request.path == "/api/Account/search" and HANG["armed"]:
                HANG["armed"] = False
                HANG["hung"] += 1
                await asyncio.sleep(30)
            return await serve(request)

        return slow

    monkeypatch.setattr(rest.ProjectXApi, "endpoint", endpoint)
    HANG.update(armed=False, hung=0)


async def measured(h: Harness, wait: float, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    monkeypatch.setattr(service_module, "START_BALANCES_WAIT", wait)
    h.gateway.set_rate_limit(None)
    h.write_settings(RULES)
    await start_serving(h)
    await h.until(lambda: set(LOCKED) <= h.svc.known, "all reconciled", 60)
    for a in LOCKED:
        h.gateway.place_order(a, MNQ, 0, 2)
    await h.until(
        lambda: all(MNQ in h.svc.engine.accounts[a].positions for a in LOCKED), "positions"
    )
    h.gateway.move_price("MNQ", -600)  # -$600 each: every account locked for the day
    await h.until(
        lambda: all(h.svc.engine.accounts[a].state is State.LockedDaily for a in LOCKED),
        "every account locked",
        60,
    )
    await h.stop()
    cid = h.gateway.contract(MNQ).id
    for a in LOCKED:  # while the service is stopped: each trader opens 1 MNQ
        h.gateway.place_order(a, MNQ, 0, 1)
    assert all(h.gateway.position(a, cid) is not None for a in LOCKED)

    began = time.monotonic()
    task = asyncio.create_task(start_serving(h))
    while not any(h.gateway.subscribers(a) for a in LOCKED):  # the login's reads are done
        await asyncio.sleep(0.001)
    HANG["armed"] = True
    await task
    flat: dict[int, float] = {}

    def every_one() -> bool:
        for a in LOCKED:
            p = h.gateway.position(a, cid)
            if a not in flat and (p is None or p.size == 0):
                flat[a] = time.monotonic() - began
        return len(flat) == len(LOCKED)

    await h.gw_until(every_one, "every locked account flat", 120)
    took = sorted(flat.values())
    return took


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_locked_accounts_new_positions_never_wait_for_a_slow_listing(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    took = await measured(h, service_module.START_BALANCES_WAIT, monkeypatch)
    assert took[-1] < 5, f"the last locked account's new position closed {took[-1]:.1f} s late"


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_the_same_with_no_wait_at_all(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    took = await measured(h, 0.0, monkeypatch)
    assert took[-1] < 5
