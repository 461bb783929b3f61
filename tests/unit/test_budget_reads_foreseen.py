"""The reads a breach foreseen on a restarted account waits on (`ProjectXBroker.for_foreseen`,
`core.foreseen`) go past the ordinary reads' share of the window, after the cancels waiting:
with the reads' share full (a restart's enforcing steps), its trades read waited for the
window to slide (a -$1,200 breach by the balance on a $500 limit closed 60 s after its
positions were read)."""

from __future__ import annotations

import asyncio

from fsm_risk.adapters.broker import Priority, RequestBudget, read_priority
from tests.unit.test_budget_reads_for_close import Client, broker


async def test_a_foreseen_accounts_read_goes_while_the_reads_share_is_full() -> None:
    clock = [0.0]
    budget = RequestBudget(limit=5, window=60.0, reserve=3, monotonic=lambda: clock[0])
    client = Client()
    b = broker(budget, client)
    for _ in range(2):  # the reads' share (2) used this window
        async with budget.slot(Priority.READ):
            pass
    ordinary = asyncio.ensure_future(b.exposure(8))
    with b.for_foreseen(7):
        await asyncio.wait_for(b.exposure(7), 1.0)
    assert client.sent == [7] and not ordinary.done()  # (8 waits for the window to slide)
    ordinary.cancel()
    assert read_priority(False, False) is Priority.READ
    assert read_priority(False, True) is Priority.FORESEEN
    assert read_priority(True, True) is Priority.READ_FOR_CLOSE
    assert Priority.CANCEL < read_priority(False, True) < Priority.READ  # (cancels first)
    assert not b.reads_foreseen  # (ended with the context)
