"""Trailing drawdown (RULE-004) judges an account whose wait a capped trades list kept: a kept
estimate outlives an admin's unlock (until its day ends), and a lock made on the fall kept for
the week keeps the account judged on the estimate at every capped read. Trading again after an
unlock, a floor touched flattens and locks, the estimate kept or not."""

from __future__ import annotations

import pytest

from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import AdminCommand, Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import ACC, MNQ, closes, fill, make_engine, position, quote
from tests.unit import test_hidden_loss_kept_for_the_week as kept_week
from tests.unit.test_estimate_lock_kept_by_an_incomplete_list import read


def with_a_2000_trailing_drawdown() -> RiskEngine:
    return make_engine(
        {
            DailyLossLimit: {"limit": "500"},
            WeeklyLossLimit: {"limit": "1500"},
            TrailingDrawdown: {"drawdown": "2000", "starting_balance": "50000"},
        }
    )


def test_a_trailing_floor_touched_after_an_unlock_of_the_weeks_lock_flattens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a review of f9ca9b8: a wait kept by a capped list, nothing taken into the
    balance, left RULE-004 waiting for a balance read it had: after an admin's unlock, equity $50
    under the floor stayed Trading for the rest of the day. It must judge.

    Monday: $50,000, a $2,000 trailing drawdown (floor 48,000); -$1,000 lost while down,
    kept by a capped list and kept for the week. Tuesday: -$600 booked (balance 48,400) locks
    RULE-003 and RULE-013 (-1,600 with the fall kept); the periodic read, capped still, keeps the
    account judged on the estimate. An admin unlocks with a waiver (RULE-003 re-armed at -1,100,
    RULE-013 at -3,100). The trader buys 1 MNQ at 21,000, its bid falls to 20,775: -$450 open,
    equity 47,950, $50 under the floor of 48,000. RULE-004 must flatten and lock."""
    monkeypatch.setattr(kept_week, "daily_500_weekly_1500", with_a_2000_trailing_drawdown)
    d, _ = kept_week.kept_down_1000()
    kept_week.tuesday(d)
    kept_week.lose(d, "600")
    assert d.acct.state is State.LockedWeekly, d.acct.holds
    read(d, (), balance="48400")  # capped: lacks trade 101
    d.send(AdminCommand(ACC, State.Trading, "checked", "ops"))
    d.advance(seconds=1)
    assert d.acct.state is State.Trading, d.acct.holds
    t = d.now
    d.send(
        fill(MNQ, Side.BUY, 1, "21000", order_id=170, trade_id=170, at=t),
        position(MNQ, 1, "21000", at=t),
        quote(MNQ, "21000", at=t),
    )
    out = d.send(quote(MNQ, "20775", at=t))
    out += d.advance(seconds=1)
    assert "RULE-004" in d.acct.holds and closes(out), (
        f"equity {d.acct.equity} under the floor of 48,000: {d.acct.state} "
        f"{ {k: v.detail for k, v in d.acct.holds.items()} }, unjudged {d.acct.unjudged}"
    )
