"""Found by a review: a resting buy limit the market gapped through fills AT ITS LIMIT (as the
paper gateway fills it): the fill is no trade of the market's. Stamped after the gap's quote
(the gateway's clock moves between the quote and the fill it causes), its "print" valued the
long above the market and hid the day's loss past its limit. Real SDK, paper gateway."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from itertools import count

from fsm_risk.core.states import State
from fsm_risk.paper.hub import invocation
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 300
"""


def partial_quote(h: Harness, bid: str, ask: str) -> int:
    """A GatewayQuote with only the fields that changed (bid and ask: no trade, no
    lastPrice), stamped on the gateway's clock, sent to the market hub's subscribers."""
    payload = {
        "symbol": "F.US.MNQ",
        "bestBid": float(bid),
        "bestAsk": float(ask),
        "timestamp": h.gateway.engine.now().isoformat(),
    }
    text = invocation("GatewayQuote", [MNQ, payload])
    sent = 0
    for conn in h.gateway._conns["market"]:
        if not conn.closed and MNQ in conn.quotes:
            conn.send(text)
            sent += 1
    return sent


async def test_an_off_market_limit_fill_hides_a_daily_loss(h: Harness) -> None:
    ticking = {"on": False}
    step = count(1)
    # the gateway's clock: the service's, plus 1 ms per reading while ``ticking`` (the fill
    # a quote causes is made, and stamped, after that quote)
    h.gateway.set_clock(
        lambda: h.clock.now() + timedelta(milliseconds=next(step) if ticking["on"] else 0)
    )
    h.gateway.set_price("MNQ", "21000", bid="21000", ask="21000")
    await h.start(RULES)
    h.trade("MNQ", "buy", 10)
    await h.until(lambda: MNQ in h.acct.positions and h.acct.pending_realized == 0, "long 10")
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 1, "quotes watched")
    h.trade("MNQ", "buy", 5, type=1, limit_price="20990")  # a resting buy limit
    await asyncio.sleep(0.3)
    h.clock.set(h.clock.now() + timedelta(seconds=1))
    ticking["on"] = True
    h.gateway.set_price("MNQ", "20986", bid="20986", ask="20986")  # gaps through 20,990
    ticking["on"] = False
    filled = h.gateway.trades(ACCOUNT)[-1]
    assert filled.price == Decimal("20990")  # at its limit, 4 points above the market
    # (the production profile fills the larger half, 3, on the first touch)
    await h.until(
        lambda: (
            (MNQ in h.acct.positions and h.acct.positions[MNQ].size > 10)
            or h.acct.state is not State.Trading
        ),
        "filled",
    )
    await asyncio.sleep(1.0)
    m = h.svc.engine.marks.get(MNQ)
    day = h.acct.day_pnl(with_unrealized=True)
    # at the gap's quote: 10 x -14 pts x $2 = -280 (inside 300); the market's truth after the
    # fill of 3: -280 + 3 x -4 pts x $2 = -304, less fees (past 300); at the print: -200
    h.clock.set(h.clock.now() + timedelta(seconds=1))
    partial_quote(h, "20985.75", "20986")  # the market, no trade since
    await asyncio.sleep(1.0)
    m = h.svc.engine.marks.get(MNQ)
    day = h.acct.day_pnl(with_unrealized=True)
    assert h.acct.state is not State.Trading, f"day {day} at mark {m}: still Trading"
