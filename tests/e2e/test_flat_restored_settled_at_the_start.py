"""A restored account flat at the stop, real SDK against the paper gateway: it has no
enforcing step, and its whole read comes after every exposed account's steps. Its first read
is the balances listed after the subscriptions: settled by them, its rules judge it at once."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_enforcement_while_reads_fill_the_window import RULES, start_serving

N = 100  # exposed accounts at the stop: their enforcing steps fill the first budget window
EXPOSED = [3001 + i for i in range(N)]
FLAT = 4001
ACCOUNTS = tuple(PaperAccount(a, f"ACC-{a}", Decimal("50000.00"), True) for a in (*EXPOSED, FLAT))
MES = "MES"


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_flat_restored_account_past_its_limit_after_the_restart_is_closed_at_once(
    h: Harness,
) -> None:
    """Found by a review: -$400 on the day, flat at the stop, a $500 daily loss limit; right
    after the restart it buys 2 MES and they fall $200 (the day -$600). At the shipped budget
    (200 a minute) beside 100 exposed accounts its rules waited for its whole read: closed
    60.6 s after the fall (0.1 s before restored accounts waited for their first read)."""
    h.gateway.set_rate_limit(None)
    path = h.write_settings(RULES)
    path.write_text(path.read_text() + "[broker]\nrequests_per_minute = 10000\n")
    await start_serving(h)
    for a in EXPOSED:
        h.gateway.place_order(a, MNQ, 0, 2)
    h.gateway.place_order(FLAT, MES, 0, 2)  # -$400 round trip: 2 MES, 160 ticks x $1.25 each
    h.gateway.move_price(MES, -160)
    h.gateway.place_order(FLAT, MES, 1, 2)
    await h.until(lambda: len(h.svc.known) == len(ACCOUNTS), "all reconciled", 120)
    await h.until(
        lambda: all(MNQ in h.svc.engine.accounts[a].positions for a in EXPOSED), "positions"
    )
    await h.until(lambda: -410 < h.svc.engine.accounts[FLAT].day.realized <= -400, "-400")
    await h.stop()
    h.write_settings(RULES)  # the shipped budget: 200 a minute
    h.gateway.set_rate_limit(200, 60)
    await start_serving(h)
    h.gateway.place_order(FLAT, MES, 0, 2)  # right after the restart
    h.gateway.move_price(MES, -80)  # -$200 open: the day -$600 on a $500 limit
    moved = time.monotonic()
    cid = h.gateway.contract(MES).id

    opened: list[bool] = []

    def closed() -> bool:
        p = h.gateway.position(FLAT, cid)
        if p is not None and p.size:
            opened.append(True)
        return bool(opened) and (p is None or p.size == 0)

    await h.until(closed, "the flat account opened, then flattened", 400)
    took = time.monotonic() - moved
    assert took < 5, f"past its limit and open {took:.1f} s"
    acct = h.svc.engine.accounts[FLAT]
    await h.until(lambda: acct.day.realized <= Decimal("-590"), "the close's loss booked", 10)
