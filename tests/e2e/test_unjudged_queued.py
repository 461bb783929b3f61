"""Found by a review: a breach on a restarted account whose trades read is merely QUEUED behind
the request budget (not failed) was enforced only when that read landed, at the back of the
line of the exposed accounts' trades reads. Real SDK, real service, paper gateway on loopback
at its real 200 requests a minute, the shipped budget (200, 50 kept from reads).

500 accounts, 100 long 2 MNQ. While the service is down each exposed account makes an MES
round trip: 99 win +$200 (their balances moved: unsettled, their trades decide), one loses
$1,200 against its $500 daily loss limit. Its estimate (the balance's fall) says the limit is
breached; the others' say nothing fires (a rise is not counted for a loss limit). Its trades
are read ahead of theirs, and the exact books close it within seconds of its enforcing step."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from fsm_risk.core.unjudged import ESTIMATED
from fsm_risk.paper.settings import PaperAccount
from fsm_risk.service import Service
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_enforcement_while_reads_fill_the_window import RULES, start_serving

EXPOSED = [3001 + i for i in range(100)]
FLAT = [4001 + i for i in range(400)]
ACCOUNTS = tuple(PaperAccount(a, f"ACC-{a}", Decimal("50000.00"), True) for a in [*EXPOSED, *FLAT])
#: the account past its limit: the last of the exposed in line (their trades all at one
#: instant, the line is in the accounts' order), its enforcing step the last
LOSER = EXPOSED[-1]


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_breach_the_estimate_foresees_is_read_and_closed_within_seconds(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.gateway.set_rate_limit(None)
    path = h.write_settings(RULES)
    path.write_text(path.read_text() + "[broker]\nrequests_per_minute = 10000\n")
    await start_serving(h)
    for a in EXPOSED:
        h.gateway.place_order(a, MNQ, 0, 2)
    await h.until(lambda: len(h.svc.known) == len(ACCOUNTS), "all reconciled", 300)
    await h.until(
        lambda: all(MNQ in h.svc.engine.accounts[a].positions for a in EXPOSED), "positions"
    )
    await h.stop()
    winners = [a for a in EXPOSED if a != LOSER]
    for a in winners:  # while down: +$200 on 1 MES each (160 ticks x $1.25)
        h.gateway.place_order(a, "MES", 0, 1)
    h.gateway.move_price("MES", 160)
    for a in winners:
        h.gateway.place_order(a, "MES", 1, 1)
    h.gateway.place_order(LOSER, "MES", 0, 1)  # and -$1,200 on 1 MES (960 ticks)
    h.gateway.move_price("MES", -960)
    h.gateway.place_order(LOSER, "MES", 1, 1)
    h.write_settings(RULES)
    h.gateway.set_rate_limit(200, 60)
    began = time.monotonic()
    seen: dict[str, float] = {}
    step = Service._enforcing_step

    async def enforcing_step(self: Service, account_id: int) -> None:
        await step(self, account_id)
        if account_id == LOSER:  # its positions read and handled: it enforces from now on
            seen["enforcing"] = time.monotonic() - began

    monkeypatch.setattr(Service, "_enforcing_step", enforcing_step)
    await start_serving(h)
    cid = h.gateway.contract(MNQ).id

    while "closed" not in seen:  # sampled every 20 ms: when it enforces, when it is flat
        now = time.monotonic() - began
        assert now < 400, f"the loser not closed within 400 s ({seen})"
        if h.task is not None and h.task.done():
            h.task.result()
        p = h.gateway.position(LOSER, cid)
        if p is None or p.size == 0:
            seen["closed"] = now
        await asyncio.sleep(0.02)
    assert "enforcing" in seen, "closed before its enforcing step was seen"
    took = seen["closed"] - seen["enforcing"]
    acct = h.svc.engine.accounts[LOSER]
    hold = acct.holds.get("RULE-003")
    assert hold is not None and ESTIMATED not in hold.detail, f"not judged on its trades: {hold}"
    assert acct.day.realized <= -1200, f"its trades not booked: {acct.day.realized}"
    unread = sum(1 for a in winners if h.svc.engine.accounts[a].behind is not None)
    assert took <= 10, (
        f"the breach closed {took:.1f} s after its enforcing step (at {seen['enforcing']:.1f} s "
        f"from the start, closed at {seen['closed']:.1f} s; {unread} of 99 others' trades "
        "still unread then)"
    )
    assert unread, "every other account's trades were read first: nothing was jumped"
