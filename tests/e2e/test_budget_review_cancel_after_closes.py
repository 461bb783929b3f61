"""Found by a review of the request budget (closes out of the reserve): a locked account's new
order, at a restart where 30 accounts were reduced at once and the whole login's start-up reads
fill the window. Real SDK, real service, paper gateway on loopback at its real 200 requests a
minute, the shipped budget (200, 50 kept).

SPEC: "While locked, every order that would open or increase exposure is cancelled on sight".
Before 33727ee the window's 30 closes counted against the reads' 150, and cancels kept 25 slots
above them; after it, reads fill the window to 175 and the cancel waits for it to slide."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from fsm_risk.adapters.broker import Priority
from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderType
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, lock_by_daily_loss
from tests.e2e.test_enforcement_while_reads_fill_the_window import start_serving

HOLDING = [3001 + i for i in range(30)]
OTHERS = [2001 + i for i in range(150)]
ACCOUNTS = (
    PaperAccount(ACCOUNT, "PAPER-1", Decimal("50000.00"), True),
    *(PaperAccount(a, f"BOOK-{a}", Decimal("50000.00"), True) for a in OTHERS),
    *(PaperAccount(a, f"HOLD-{a}", Decimal("50000.00"), True) for a in HOLDING),
)
RULES = """
[rule.daily_loss_limit]
limit = 500
[rule.max_contracts]
limit = 5
"""


def settings(h: Harness, accounts: str | None, fast: bool) -> None:
    path = h.write_settings(RULES)
    text = path.read_text()
    if accounts is not None:
        text = text.replace("[general]\n", f"[general]\naccounts = {accounts}\n", 1)
    if fast:
        text += "[broker]\nrequests_per_minute = 10000\n"
    path.write_text(text)


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_locked_accounts_order_is_cancelled_on_sight_after_30_reductions(
    h: Harness,
) -> None:
    h.gateway.set_rate_limit(None)
    settings(h, "1001", fast=True)
    await h.start()
    await lock_by_daily_loss(h)  # 1001 LockedDaily (alone: nobody else holds MNQ)
    await h.stop()
    settings(h, ",".join(str(a) for a in [ACCOUNT, *HOLDING]), fast=True)
    for a in HOLDING:
        h.gateway.place_order(a, MNQ, 0, 5)  # at the size limit, not over it
    await h.start()
    await h.until(lambda: all(a in h.svc.known for a in HOLDING), "holders reconciled", 120)
    await h.until(
        lambda: all(MNQ in h.svc.engine.accounts[a].positions for a in HOLDING), "positions"
    )
    await h.stop()
    for a in HOLDING:  # while the service is down: 6, over the limit of 5
        h.gateway.place_order(a, MNQ, 0, 1)
    settings(h, None, fast=False)  # the whole login (181 accounts), the shipped budget
    h.gateway.set_rate_limit(200, 60)
    refused: list[str] = []
    limited = h.gateway._rate_limited

    def counting(token: str, path: str = "") -> float | None:
        wait = limited(token, path)
        if wait is not None:
            refused.append(path)
        return wait

    h.gateway._rate_limited = counting  # type: ignore[method-assign]
    await start_serving(h)
    assert h.acct.state is State.LockedDaily
    cid = h.gateway.contract(MNQ).id

    def reduced() -> int:
        return sum(
            1 for a in HOLDING if (p := h.gateway.position(a, cid)) is not None and p.size == 5
        )

    await h.gw_until(lambda: reduced() == len(HOLDING), "the 30 reductions", 30)
    budget = h.svc.broker.budget
    deadline = time.monotonic() + 30
    while budget.wait_for(Priority.READ) == 0:  # reads up to what they may use
        assert time.monotonic() < deadline, f"reads never filled the window ({budget.used})"
        await asyncio.sleep(0.05)
    assert ACCOUNT in h.svc.known, "the locked account enforces (reconciled first)"
    low = h.gateway.quote(MNQ).last - 500
    order = h.trade("MNQ", "buy", 1, type=OrderType.LIMIT, limit_price=low)
    placed = time.monotonic()
    await h.gw_until(lambda: not h.gateway.order(order.order_id).working, "cancelled", 120)
    took = time.monotonic() - placed
    assert not refused, f"the gateway answered 429 to {refused}"
    assert took <= 5, f"the cancel of a locked account's order waited {took:.1f} s behind reads"
