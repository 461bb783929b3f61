"""Found by a review of 2447b19 + 97abca4: a cut the account's LOCK made (a position grown while
locked, cut back to what the lock let stay), alone or kept under a later flatten, outlived the
admin's unlock that waived that lock's rule: ES 3 reduced to 2 for RULE-007 after the unlock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fsm_risk.core.admin import force
from fsm_risk.core.events import AdminCommand, EnforcementRejected, Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from tests.factories import (
    ACC,
    ES,
    Driver,
    account,
    closes,
    fill,
    make_engine,
    position,
    quote,
    reduces,
)


@pytest.mark.parametrize("loss", [True, False])
def test_a_lock_cut_of_a_waived_rule_ends_at_the_unlock(loss: bool) -> None:
    """RULE-007 (limit 1 entry, lock without flatten): ES 2, then a 2nd entry of 1 (ES 3):
    LockedDaily, ES 2 tolerated, ES cut back to 2 (POSITION_WHILE_LOCKED); the cut refused.
    ``loss``: RULE-003 then flattens the account too (ES's cut kept as its "own" target). The
    admin unlocks, waiving RULE-007 (and RULE-003): ES 3 must be let stay."""
    d = Driver(make_engine({MaxTradesPerDay: {"limit": "1"}, DailyLossLimit: {"limit": "500"}}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 2, "6000", order_id=20), position(ES, 2, "6000"))
    d.send(quote(ES, "6000"))
    d.now += timedelta(seconds=1)
    out = d.send(
        fill(ES, Side.BUY, 1, "6000", order_id=21, at=d.now), position(ES, 3, "6000", at=d.now)
    )
    cm = d.acct.contracts[ES]
    sent = closes(out) + reduces(out)
    assert d.acct.state is State.LockedDaily and cm.state is State.Flattening
    for c in sent:
        d.send(EnforcementRejected(ACC, ES, None, "refused", seq=c.seq))
    d.now += timedelta(seconds=1)
    out = d.send(
        quote(ES, "5996.5" if loss else "5999", at=d.now)
    )  # -525 on the $500 daily loss limit
    for _ in range(3):  # the account's closes of ES refused too
        for c in closes(out) + reduces(out):
            d.send(EnforcementRejected(ACC, ES, None, "refused", seq=c.seq))
        out = d.advance(seconds=1)
    assert d.acct.state is (State.Flattening if loss else State.LockedDaily)
    d.now += timedelta(milliseconds=100)
    force(d.engine, AdminCommand(ACC, State.Trading, "let him be", "ana"), d.now)
    later = []
    for _ in range(6):
        step = d.advance(seconds=15)
        later += closes(step) + reduces(step)
    assert cm.state is State.Trading and not later, (
        f"ES 3 the admin let stay cut for RULE-007, the rule he waived: {later}"
    )
