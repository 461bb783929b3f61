"""A close stamped before the daily reset whose records reach the service only after it (the
user hub silent across the reset, a read picking the trade up) leaves RULE-004's end-of-day
peak what it would have been had the close been known at the reset: the tester's false
`LockedWeekly` came from a peak 62 cents (the close's fees) too high. Real SDK, paper gateway."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.states import State
from fsm_risk.paper.gateway import USER_TARGETS
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.trailing_drawdown]
drawdown = 500
mode = end_of_day
"""  # (no periodic read: the test's own read picks the trade up, after the reset)


def peak(h: Harness) -> Decimal:
    return Decimal(h.acct.rule_state["RULE-004"]["peak"])


async def test_a_close_silenced_across_the_reset_leaves_the_peak_of_the_equity_then(
    h: Harness,
) -> None:
    await h.start(RULES)
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    h.clock.set(reset - timedelta(minutes=5))
    h.gateway.set_price("MNQ", "21000", bid="21000", ask="21000")
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions and h.acct.pending_realized == 0, "bought 2")
    h.gateway.set_price("MNQ", "21010", bid="21010", ask="21010")
    await h.until(lambda: h.acct.positions[MNQ].upnl == 20 * 2, "the mark of 21,010")
    for target in USER_TARGETS:  # the account's records go quiet from just before the reset
        h.gateway.silence(target)
    h.clock.set(reset - timedelta(seconds=1))
    h.trade("MNQ", "sell", 1)  # at 21,010, stamped a second before the reset, unheard
    h.gateway.set_price("MNQ", "21020", bid="21020", ask="21020")  # the mark at the reset
    await h.until(lambda: h.acct.positions[MNQ].upnl == 40 * 2, "the mark of 21,020")
    h.clock.set(reset)
    await h.until(lambda: h.acct.day.start == reset, "the reset")
    taken = peak(h)  # as known at the reset: two contracts open at 21,020
    assert taken == h.acct.balance + 40 * 2
    for target in USER_TARGETS:
        h.gateway.silence(target, silent=False)
    h.clock.set(reset + timedelta(seconds=5))
    sold = h.gateway.trades(ACCOUNT)[-1]
    assert (sold.price, sold.size, sold.time) == (21010, 1, reset - timedelta(seconds=1))
    await h.svc.reconcile(ACCOUNT)  # the read picks the trade up
    await h.until(lambda: sold.trade_id in h.acct.seen_trades, "the late sell read")
    await h.until(lambda: h.acct.positions[MNQ].size == 1, "one contract left")
    balance = h.gateway.account(ACCOUNT).balance
    # the equity at the reset: the balance after the sell, one contract open at 21,020
    assert peak(h) == balance + 20 * 2
    # what the reset took too much: the sell's fees, and 21,020 - 21,010 on the contract sold
    assert taken - peak(h) == sold.fees + sold.commissions + 10 * 2
    assert h.acct.day_pnl(with_unrealized=True) == 0
    # equity 50 cents above the true floor (a breach under the peak taken at the reset)
    floor = peak(h) - 500
    h.gateway.set_price("MNQ", "20770.25", bid="20770.25", ask="20770.25")
    await h.until(lambda: h.acct.positions[MNQ].upnl == Decimal("-229.75") * 2, "20,770.25")
    assert h.acct.equity == floor + Decimal("0.50") and h.acct.equity <= taken - 500
    assert h.acct.state is State.Trading and "RULE-004" not in h.acct.holds
    h.gateway.set_price("MNQ", "20770", bid="20770", ask="20770")  # at the floor: it fires
    await h.until(lambda: h.acct.state is not State.Trading, "RULE-004 fired at the floor")
    assert "RULE-004" in h.acct.holds
