"""A voided win gives back RULE-004's intraday peak once the account's read, asked for by the
void, says the position was left as it was (the paper gateway leaves it). Real SDK, paper
gateway."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.trailing_drawdown]
drawdown = 1000
mode = intraday
freeze_at_start = false
"""  # (no periodic read: the read that settles the void is the one it asks for)


def peak(h: Harness) -> Decimal:
    return Decimal(h.acct.rule_state["RULE-004"]["peak"])


async def test_a_voided_win_gives_the_peak_back_on_the_read_it_asks_for(h: Harness) -> None:
    await h.start(RULES)
    h.gateway.set_price("MNQ", "21000", bid="21000", ask="21000")
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions and h.acct.pending_realized == 0, "bought 2")
    before = peak(h)
    h.gateway.set_price("MNQ", "21200", bid="21200", ask="21200")
    h.trade("MNQ", "sell", 2)
    await h.until(lambda: MNQ not in h.acct.positions and h.acct.pending_realized == 0, "sold")
    won = h.gateway.trades(ACCOUNT)[-1]
    await h.until(lambda: peak(h) > before + 700, "the peak raised by the win")
    h.gateway.void_trade(won.trade_id)
    await h.until(lambda: won.trade_id in h.acct.voided, "the void heard")
    # the read lists the day's trades again (repeats, which move nothing) and the MNQ flat
    await h.until(lambda: peak(h) == before, "the peak given back on the read's word")
    assert h.acct.equity is not None and h.acct.equity <= before
    assert h.acct.state is State.Trading
