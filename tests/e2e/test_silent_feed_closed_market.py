"""Found by a review: a held contract in a closed market (the daily halt, a weekend) whose price
reads keep failing (the real gateway has no bar in the last `LAST_PRICE_LOOKBACK`; modelled
here by the bar history refusing). The failed read's wait doubles with no cap on the doublings:
at the 47th failure (about 21 minutes in) the ``timedelta`` overflows, every later failure
raises inside the read's task, the wait is never set, and the contract is read again at every
look (0.25 s): the bars share (20 per 30 s) all night instead of one read per 30 s."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

from tests.e2e.service_harness import MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 500
"""


async def test_failed_reads_back_off_for_a_whole_halt(h: Harness) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    broker = h.svc.broker
    read = broker.last_price
    asked: list[datetime] = []

    async def counted(contract_id: str) -> Decimal | None:
        asked.append(h.clock.now())
        return await read(contract_id)

    broker.last_price = counted  # type: ignore[method-assign]
    h.gateway.silence("GatewayMarket")  # the market closed: no quote
    h.gateway.fail_rest("/api/History/retrieveBars", status=400, count=10**6)
    start = h.clock.now()
    for _ in range(60 * 35):  # 35 minutes of the service clock, one second a look
        h.clock.advance(seconds=1)
        await asyncio.sleep(0.01)
    await asyncio.sleep(8)  # (reads the fast clock left waiting on the wall-clock retries)

    asked.clear()
    for _ in range(60):  # one more minute, at a look per second of the service clock
        h.clock.advance(seconds=1)
        await asyncio.sleep(0.25)
    assert (h.clock.now() - start).total_seconds() == 36 * 60
    assert len(asked) <= 2, f"{len(asked)} reads in one minute of a closed market"
