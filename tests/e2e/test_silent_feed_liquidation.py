"""Found by a review: with ``mark = liquidation`` a read's print replaces the book the last quote
gave. Long 10 MNQ at 21,000; the last trade printed 21,015 but the book is back at 21,000 /
21,000.25 with no trade since (a spike print): valued at the bid the day is 0. The market hub
goes silent; nothing trades. The read's bar close is the same old print, 21,015, and becomes
bid 21,014.75 stamped now: the day reads +$295 and the $250 daily profit target flattens and
locks a day that is flat."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from fsm_risk.core.states import State
from tests.e2e.service_harness import MNQ, Harness

RULES = """
[market]
mark = liquidation
[broker]
reconcile_interval_seconds = 1
[rule.daily_profit_target]
target = 250
"""
SILENCE = 30


async def test_a_read_of_an_old_print_never_replaces_the_quoted_bid(h: Harness) -> None:
    await h.start(RULES)
    h.gateway.set_price("MNQ", "21000", bid="21000", ask="21000.25")
    h.trade("MNQ", "buy", 10)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    # a spike print at 21,015, the book back at 21,000 / 21,000.25 (no trade since)
    h.gateway.set_price("MNQ", "21015", bid="21000", ask="21000.25")
    await h.until(
        lambda: getattr(h.svc.engine.marks.get(MNQ), "last", None) == Decimal("21015"),
        "the quote reached the service",
    )
    assert h.acct.state is State.Trading
    h.gateway.silence("GatewayMarket")  # nothing more quoted; nothing trades either
    for _ in range(SILENCE + 6):
        h.clock.advance(seconds=1)
        await asyncio.sleep(0.1)
    # no new print, no new book: the known bid (21,000) still values the position
    assert h.acct.state is State.Trading, "flattened and locked at a profit never made"
    assert not h.closes()
    mark = h.svc.engine.marks[MNQ]
    assert mark.bid == Decimal("21000"), f"bid became {mark.bid}"
    assert h.acct.positions[MNQ].upnl == Decimal("-5.00")


DLL = """
[market]
mark = liquidation
[broker]
reconcile_interval_seconds = 1
[rule.daily_loss_limit]
limit = 300
"""


async def test_a_read_of_an_old_print_never_makes_a_short_lose(h: Harness) -> None:
    """Short 10 MNQ at 21,000, the book 21,000 x 21,000.25 after a spike print at 21,015 (no
    trade since): valued at the ask the day is -$5. Silent: the read's same old print made the
    ask 21,015.25 and the day -$305: the $300 daily loss limit flattened and locked it."""
    await h.start(DLL)
    h.gateway.set_price("MNQ", "21000", bid="21000", ask="21000.25")
    h.trade("MNQ", "sell", 10)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.set_price("MNQ", "21015", bid="21000", ask="21000.25")
    await h.until(
        lambda: getattr(h.svc.engine.marks.get(MNQ), "last", None) == Decimal("21015"),
        "the quote reached the service",
    )
    h.gateway.silence("GatewayMarket")
    for _ in range(SILENCE + 6):
        h.clock.advance(seconds=1)
        await asyncio.sleep(0.1)
    assert h.acct.state is State.Trading, "flattened and locked at a loss never made"
    assert not h.closes()
    assert h.svc.engine.marks[MNQ].ask == Decimal("21000.25")
