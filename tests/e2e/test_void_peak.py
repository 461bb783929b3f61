"""A winning trade the firm voids gives back the intraday peak it raised (RULE-004): the peak
it left made the next trade's real drawdown of $300 (of 1000) flatten the account and lock it
for the week. Real SDK, paper gateway (its void: the trade's P&L and charges leave the
balance, the account pushed)."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[rule.trailing_drawdown]
drawdown = 1000
mode = intraday
freeze_at_start = false
"""


def peak(h: Harness) -> Decimal:
    return Decimal(h.acct.rule_state["RULE-004"]["peak"])


def price(h: Harness, p: str) -> None:
    h.gateway.set_price("MNQ", p, bid=p, ask=p)


async def test_a_voided_win_gives_back_the_intraday_peak_it_raised(h: Harness) -> None:
    await h.start(RULES)
    price(h, "21000")
    await h.until(lambda: "RULE-004" in h.acct.rule_state, "the peak seeded")
    before = peak(h)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions and h.acct.pending_realized == 0, "bought 2")
    price(h, "21200")
    await h.until(lambda: h.acct.positions[MNQ].upnl == 800, "the mark of 21,200")
    h.trade("MNQ", "sell", 2)
    await h.until(lambda: MNQ not in h.acct.positions and h.acct.pending_realized == 0, "sold")
    sold = h.gateway.trades(ACCOUNT)[-1]
    assert sold.profit_and_loss == 800
    assert peak(h) > before + 700
    h.gateway.void_trade(sold.trade_id)
    await h.until(lambda: h.acct.day.realized < 0, "the void")
    await h.until(lambda: peak(h) == before, "the peak given back")
    # the next trade loses $300: 700 above the true floor
    price(h, "21000")
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions and h.acct.pending_realized == 0, "bought 2")
    price(h, "20925")
    await h.until(lambda: h.acct.positions[MNQ].upnl == -300, "the mark of 20,925")
    assert h.acct.equity is not None and h.acct.equity > before - 1000
    assert h.acct.state is State.Trading and "RULE-004" not in h.acct.holds
