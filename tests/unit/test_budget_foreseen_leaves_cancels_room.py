"""Found by a review of f0ee92d/8c8cace: the reads of accounts whose balance foresees a breach
(`for_foreseen`, at `Priority.PRICE`) may fill the window up to the cancels' cap (limit -
close_room = 175 of 200), where the ordinary reads stop at 150 (+ `lent`): a restart with the
reads' share full and 100 foreseen accounts' trades reads queued leaves a locked account's
cancel (and the read a close answered 503 waits on) no room: it waits for the window to slide."""

from __future__ import annotations

import asyncio

import pytest

from fsm_risk.adapters.broker import Priority, RequestBudget
from tests.unit.test_budget_reads_for_close import Client, broker


async def settle() -> None:
    for _ in range(200):
        await asyncio.sleep(0)


@pytest.mark.parametrize("foreseen", [False, True])
async def test_a_cancel_keeps_room_beside_100_foreseen_accounts_reads(foreseen: bool) -> None:
    clock = [1000.0]
    budget = RequestBudget(limit=200, window=60.0, reserve=50, monotonic=lambda: clock[0])
    client = Client()
    b = broker(budget, client)
    for _ in range(150):  # the start-up reads: the reads' share of this window used
        async with budget.slot(Priority.READ):
            pass
    clock[0] += 1.0

    async def trades_read(account_id: int) -> None:
        if foreseen:
            with b.for_foreseen(account_id):
                await b.exposure(account_id)
        else:
            await b.exposure(account_id)

    tasks = [asyncio.ensure_future(trades_read(5001 + i)) for i in range(100)]
    for _ in range(50):
        await asyncio.sleep(0.02)
    clock[0] += 1.0
    waits = {p.name: budget.wait_for(p) for p in (Priority.CANCEL, Priority.READ_FOR_CLOSE)}
    for t in tasks:
        t.cancel()
    await settle()
    assert waits["CANCEL"] == 0, f"a locked account's cancel waits {waits['CANCEL']:.1f} s"
    assert waits["READ_FOR_CLOSE"] == 0, f"a close's read waits {waits['READ_FOR_CLOSE']:.1f} s"
