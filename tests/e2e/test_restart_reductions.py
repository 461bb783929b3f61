"""Found by the scale bench: after a restart, accounts over the size limit were reduced a
minute late. Real SDK, real service, paper gateway on loopback at its real 200 requests a
minute, the shipped budget (200, 50 kept from reads).

50 accounts hold 5 MNQ (the max_contracts limit) when the service stops; while it is down each
buys one more. Restarted, each needs its working orders and positions read (100 reads beside
the login, the account and contract lists and the balances) and a reduce of 1 (50 closes): they
fit the first window. Before, the reads' share of 150 counted the closes already sent, and the
last accounts' positions reads waited for the window to slide: their reductions went 60 s
after the others'."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_enforcement_while_reads_fill_the_window import start_serving

HOLDING = [3001 + i for i in range(50)]
ACCOUNTS = tuple(PaperAccount(a, f"ACC-{a}", Decimal("50000.00"), True) for a in HOLDING)
RULES = """
[rule.max_contracts]
limit = 5
"""


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_50_restarted_accounts_over_the_size_limit_are_all_reduced_within_seconds(
    h: Harness,
) -> None:
    h.gateway.set_rate_limit(None)  # yesterday's run: no limit on requests, so it is quick
    path = h.write_settings(RULES)
    path.write_text(path.read_text() + "[broker]\nrequests_per_minute = 10000\n")
    await start_serving(h)
    for a in HOLDING:
        h.gateway.place_order(a, MNQ, 0, 5)
    await h.until(lambda: len(h.svc.known) == len(HOLDING), "all reconciled", 120)
    await h.until(
        lambda: all(MNQ in h.svc.engine.accounts[a].positions for a in HOLDING), "positions"
    )
    await h.stop()
    for a in HOLDING:  # while the service is down: 6, over the limit of 5
        h.gateway.place_order(a, MNQ, 0, 1)
    h.write_settings(RULES)  # the shipped budget
    h.gateway.set_rate_limit(200, 60)
    began = time.monotonic()
    await start_serving(h)
    cid = h.gateway.contract(MNQ).id
    reduced: dict[int, float] = {}

    def every_one() -> bool:
        for a in HOLDING:
            p = h.gateway.position(a, cid)
            if a not in reduced and p is not None and p.size == 5:
                reduced[a] = time.monotonic() - began
        return len(reduced) == len(HOLDING)

    await h.gw_until(every_one, "every account reduced to 5", 120)
    late = sorted((t, a) for a, t in reduced.items() if t > 20)
    assert not late, f"{len(late)} of 50 reduced late, e.g. {late[0][1]} at {late[0][0]:.1f} s"
    assert all(h.gateway.position(a, cid).size == 5 for a in HOLDING)  # never past the excess
