"""What `status` shows of the week must add up to what RULE-013 judges: a fall kept for the
week (`Book.hidden`) is said where the week's P&L is shown."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.states import State
from fsm_risk.status import snapshot
from tests.unit.test_hidden_loss_kept_for_the_week import kept_down_1000, lose, tuesday


def test_status_shows_the_weeks_pnl_with_the_fall_kept_for_the_week() -> None:
    """Found by a review of f9ca9b8: `status` showed the week's P&L without the fall kept for
    it, the week line at -$400 where RULE-013 judged -$1,400.

    Monday's -$1,000 kept for the week, Tuesday's -$400 booked: RULE-013 judges -$1,400 on a
    $1,500 limit ($100 of room). `status` must not show the week at -$400 (the trader reading
    $1,100 of room): its week line, or the rule's line, says the -$1,000 kept for the week."""
    d, _ = kept_down_1000()
    tuesday(d)
    lose(d, "400")
    assert d.acct.state is State.Trading and d.acct.week.hidden == Decimal("-1000")
    snap = snapshot(d.engine, d.now)
    acct = next(a for a in snap["accounts"] if a["account_id"] == d.acct.account_id)
    rule = next(r for r in acct["rules"] if r["id"] == "RULE-013")
    week = acct["week"]
    assert (Decimal(week["net"]), week["hidden"]) == (Decimal("-1400"), "-1000.00"), (
        f"week shown {week}, RULE-013 shown {rule['value']} / {rule['limit']} ({rule['detail']})"
    )
    assert Decimal(rule["value"]) == Decimal(week["net"])  # (the rule's line, the week's line)
