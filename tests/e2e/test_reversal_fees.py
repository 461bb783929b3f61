"""A reversal through zero in one fill, with the real SDK against the paper gateway: the
gateway charges the reversal's fees per contract (its one trade carries them all), and the
short it opens is a round trip of its own that pays the fee of its entry contract.

Found by a hunt: the reversal's whole fees went to the long's round trip and the short's
started at 0.00: a short that lost 0.24 net of its fees read +0.13, a winner, and RULE-011's
streak of three losers was reset instead of locking the day."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness
from tests.e2e.test_service_rules import enter, round_trip, seen

pytestmark = pytest.mark.paper(commission=Decimal(0))


async def test_the_short_leg_of_a_reversal_counts_its_entry_fee_in_the_streak(
    h: Harness,
) -> None:
    """MNQ ($0.37 a side a contract), losses = 3. Trip 1: long 1, -4 ticks, out: a loser.
    Trip 2: long 1, +1 tick, sell 2: the long made its gross less 0.74 of fees, a loser. The
    short 1 it opened is bought back 2 ticks lower (1 tick better than its entry, across the
    spread): +0.50 less its fee in (0.37, on the reversal's trade) and out (0.37) = -0.24,
    the third loser in a row: the day locks. The day's books are the gateway's trades'."""
    await h.start("[rule.max_consecutive_losses]\nlosses = 3\n")
    assert (await round_trip(h, "MNQ", 1, -4)).net < 0
    await enter(h, "MNQ", "buy", 1)
    h.gateway.move_price("MNQ", 1)
    h.trade("MNQ", "sell", 2)
    await seen(h, "MNQ", 1)
    await h.until(lambda: len(h.acct.day.trips) == 2, "the long's round trip recorded")
    h.gateway.move_price("MNQ", -2)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: len(h.acct.day.trips) == 3, "the short's round trip recorded")
    trades = sorted(h.gateway.engine.account_trades(), key=lambda t: t.id)
    reversal, exit_ = trades[-2:]
    shown = [(t.price, t.size, t.profit_and_loss, t.fees) for t in trades]
    assert (reversal.size, exit_.size, exit_.profit_and_loss) == (2, 1, Decimal("0.50")), shown
    # the short's round trip: its exit's P&L less the fee of its contract on the reversal's
    # trade (half of it: one of two contracts) and its exit's fee
    short_net = exit_.profit_and_loss - reversal.fees / 2 - exit_.fees
    assert short_net == Decimal("-0.24"), shown
    nets = [t.net for t in h.acct.day.trips]
    assert nets[-1] == short_net, (nets, shown)
    # the long's round trip: its entry's fee, the reversal's P&L and its closing contract's fee
    entry = trades[-3]
    long_net = (reversal.profit_and_loss or 0) - entry.fees - reversal.fees / 2
    assert nets[-2] == long_net, (nets, shown)
    whole = sum(((t.profit_and_loss or 0) - t.fees for t in trades), Decimal(0))
    assert h.acct.day.realized == whole, (h.acct.day.realized, whole, shown)
    await h.until(lambda: h.acct.state is not State.Trading, "locked by RULE-011")
