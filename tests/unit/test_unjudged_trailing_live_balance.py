"""Found by a review of f0ee92d/8c8cace: RULE-004 judged on the estimate (its trades unread past
the grace) goes blind at the first balance the gateway pushes live after the restart: the stored
balance does not hold the move made while down, so any live balance (the listing's own, or one
after a trader's fill) is `unexplained` by that move, `unjudged.listed` answers None and the
rule waits; and while the account is behind no read of the balance is asked (`Ledger.account`):
only the trades read confirms it, the very read that keeps failing."""

from __future__ import annotations

from fsm_risk.core.states import State
from tests.factories import MNQ, account, quote
from tests.unit.test_unjudged_trailing import PAST, closes, restarted


def test_a_fall_through_the_floor_after_a_live_balance_equal_to_the_listing() -> None:
    d = restarted("49400.00")  # -$600 while down (listed, a read): equity 49,400, floor 49,000
    d.now += PAST
    d.send(quote(MNQ, "21000", at=d.now))
    assert d.acct.state is State.Trading  # (49,400 > 49,000)
    d.send(account("49400.00"))  # the gateway pushes the very balance the listing read
    out = d.send(quote(MNQ, "20850", at=d.now))  # -$600 open: equity 48,800 <= 49,000
    assert d.acct.open_upnl == -600
    assert d.acct.state is State.Flattening and closes(out) == [MNQ], (
        f"equity 48,800 (listed 49,400, open -600) under the floor 49,000, not closed: "
        f"state {d.acct.state.name}, holds {d.acct.holds}"
    )


def test_control_the_same_fall_with_no_live_balance_is_closed() -> None:
    d = restarted("49400.00")
    d.now += PAST
    d.send(quote(MNQ, "21000", at=d.now))
    out = d.send(quote(MNQ, "20850", at=d.now))
    assert d.acct.state is State.Flattening and closes(out) == [MNQ]
