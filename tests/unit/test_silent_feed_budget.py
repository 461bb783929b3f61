"""Found by a review: a silent contract's price read (`ProjectXBroker.last_price`) went at
`Priority.READ_FOR_CLOSE`, which ranks before `Priority.CANCEL` and shares its cap (the
enforcement reserve but the close room). With the window full, a cancel of a locked account's
working order already waiting was overtaken by the pricing reads asked after it: each freed slot
goes to a read, one per silent contract (up to 20 in 30 s), before the cancel. They go at
`Priority.PRICE` now: after cancels, before ordinary reads."""

from __future__ import annotations

import asyncio

from fsm_risk.adapters.broker import Priority, RequestBudget


async def test_a_pricing_read_asked_later_never_overtakes_a_waiting_cancel() -> None:
    assert Priority.CANCEL < Priority.PRICE < Priority.READ
    t = [0.0]
    b = RequestBudget(limit=200, window=60.0, reserve=50, monotonic=lambda: t[0])
    cap = 200 - b.close_room  # what cancels and these reads may use
    for _ in range(cap):  # the window full for both (a locked trader's order storm)
        await b.acquire(Priority.CANCEL)
    order: list[str] = []

    async def take(priority: Priority, name: str) -> None:
        await b.acquire(priority)
        order.append(name)

    cancel = asyncio.create_task(take(Priority.CANCEL, "cancel"))
    await asyncio.sleep(0)
    reads = [asyncio.create_task(take(Priority.PRICE, f"price read {i}")) for i in range(5)]
    await asyncio.sleep(0)
    for _ in range(6):  # six requests answered: six slots free, one by one
        b.release()
        t[0] += 61.0  # (aged out of the window)
        b._serve()
        await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(cancel, *reads), timeout=5)
    assert order[0] == "cancel", f"the cancel waited behind {order.index('cancel')} price reads"
