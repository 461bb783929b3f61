"""Found by a review of the request budget (closes out of the reserve): a breach's close answered
503 (outcome unknown) is re-sent once the gateway is read (a read at READ_FOR_CLOSE), at a
restart where 30 other accounts were reduced at once and the whole login's start-up reads fill
the window. Real SDK, real service, paper gateway on loopback at its real 200 requests a minute,
the shipped budget (200, 50 kept from reads).

Before 33727ee the window's 30 closes counted against the reads' 150, and the reads a close
waits on kept 25 slots above them; after it, ordinary reads fill the window to 175 and the
breached position stays open until the window slides."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from fsm_risk.adapters.broker import Priority
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness
from tests.e2e.test_budget_review_cancel_after_closes import ACCOUNTS, HOLDING, settings
from tests.e2e.test_enforcement_while_reads_fill_the_window import start_serving, ticking


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_close_answered_503_is_sent_again_within_seconds_after_30_reductions(
    h: Harness,
) -> None:
    h.gateway.set_rate_limit(None)
    mes = h.gateway.contract("MES").id
    settings(h, ",".join(str(a) for a in [ACCOUNT, *HOLDING]), fast=True)
    await h.start()
    h.trade("MNQ", "buy", 2)
    for a in HOLDING:
        h.gateway.place_order(a, mes, 0, 5)  # at the size limit, not over it
    await h.until(lambda: MNQ in h.acct.positions, "1001's position reached the service")
    await h.until(
        lambda: all(mes in h.svc.engine.accounts[a].positions for a in HOLDING), "positions", 60
    )
    await h.stop()
    for a in HOLDING:  # while the service is down: 6, over the limit of 5
        h.gateway.place_order(a, mes, 0, 1)
    settings(h, None, fast=False)  # the whole login (181 accounts), the shipped budget
    h.gateway.set_rate_limit(200, 60)
    await start_serving(h)

    def reduced() -> int:
        return sum(
            1 for a in HOLDING if (p := h.gateway.position(a, mes)) is not None and p.size == 5
        )

    await h.gw_until(lambda: reduced() == len(HOLDING), "the 30 reductions", 30)
    budget = h.svc.broker.budget
    deadline = time.monotonic() + 30
    while budget.wait_for(Priority.READ) == 0:
        assert time.monotonic() < deadline, f"reads never filled the window ({budget.used})"
        await asyncio.sleep(0.05)
    await h.until(lambda: ACCOUNT in h.svc.known, "the exposed account reconciled first")
    tick = asyncio.create_task(ticking(h))
    try:
        h.gateway.fail_rest("/api/Position/closeContract", 503)
        h.gateway.move_price("MNQ", -600)  # -$600: over the $500 daily loss limit
        moved = time.monotonic()

        async def falls_on() -> None:  # the market does not wait: 5 s later, 50 points lower
            await asyncio.sleep(5)
            if h.position("MNQ"):
                h.gateway.move_price("MNQ", -200)

        fall = asyncio.create_task(falls_on())
        await h.gw_until(lambda: h.position("MNQ") == 0, "closed", 120)
        took = time.monotonic() - moved
    finally:
        tick.cancel()
    fall.cancel()
    lost = Decimal("50000.00") - h.gateway.account(ACCOUNT).balance
    assert lost < 700, f"lost {lost} on a $500 daily loss limit (the $600 fall, then $200 more)"
    assert took <= 5, f"the breached position stayed open {took:.1f} s behind reads"
