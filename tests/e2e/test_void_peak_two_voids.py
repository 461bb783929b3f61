"""Found by a review: two winning trades the firm voids together (real SDK, paper gateway): the
second heard while the first waited cancelled both, and a real -300 locked the week."""

from __future__ import annotations

import asyncio
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
"""


def peak(h: Harness) -> Decimal:
    return Decimal(h.acct.rule_state["RULE-004"]["peak"])


def price(h: Harness, p: str) -> None:
    h.gateway.set_price("MNQ", p, bid=p, ask=p)


async def test_two_wins_voided_together_are_each_given_back(
    h: Harness,
) -> None:
    await h.start(RULES)
    price(h, "21000")
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions and h.acct.pending_realized == 0, "bought")
    start = peak(h)
    wins = []
    for at in ("21200", "21400"):
        price(h, at)
        h.trade("MNQ", "sell", 1)
        await h.until(lambda: MNQ not in h.acct.positions and h.acct.pending_realized == 0, "sold")
        wins.append(h.gateway.trades(ACCOUNT)[-1])
        if at == "21200":
            h.trade("MNQ", "buy", 1)
            await h.until(lambda: MNQ in h.acct.positions and h.acct.pending_realized == 0, "re")
    await h.until(lambda: peak(h) > start + 700, "the peak raised by the two wins")
    top = peak(h)  # (the 21,400 mark came before the second sell: it raised the peak itself)
    # one at a time, each read answering: the first gives back its net, the second nothing
    # (equity without the first reached top - its net, long 1 marked at 21,400)
    expected = top - (wins[0].profit_and_loss - wins[0].fees - (wins[0].commissions or 0))
    h.gateway.void_trade(wins[0].trade_id)
    h.gateway.void_trade(wins[1].trade_id)
    await h.until(lambda: all(w.trade_id in h.acct.voided for w in wins), "both voids heard")
    from fsm_risk.rules.trailing_drawdown import TrailingDrawdown

    rule = next(r for r in h.service.engine.book.voiders if isinstance(r, TrailingDrawdown))
    for _ in range(40):
        await asyncio.sleep(0.25)
        if not rule.waiting:
            break
    assert peak(h) == expected, f"peak {peak(h)}, one void at a time gives {expected}"
    # a real loss of 300 from here: long 1 at 21,400, marked at 21,250
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions and h.acct.pending_realized == 0, "bought")
    price(h, "21250")
    await asyncio.sleep(1.5)
    assert h.acct.equity is not None and h.acct.equity > start - 400
    assert h.acct.state is State.Trading, f"false lock: peak {peak(h)}, equity {h.acct.equity}"
