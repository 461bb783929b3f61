"""Found by a hunt (does status tell the truth): with a held position's quote gone quiet at a loss,
what does `status` say of RULE-003's room, and what does the rule do when the same price is
quoted again?"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from fsm_risk import status
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import MNQ, T0, position, quote, rule_driver

driver = partial(rule_driver, DailyLossLimit, limit="1000")


def test_status_room_on_the_daily_loss_with_a_stale_losing_quote() -> None:
    d = driver()
    d.send(position(MNQ, 5, "21000"), quote(MNQ, "20901"))  # -$990.00 open
    d.now = T0 + timedelta(seconds=31)  # no MNQ tick for 31 s (stale_after 30 s)
    snap = status.snapshot(d.engine, d.now)
    text = status.render(snap, color=False, source="running service")
    row = next(r for r in snap["accounts"][0]["rules"] if r["id"] == "RULE-003")
    # the next tick, one point lower (-$10 more): the day is at -$1,000
    d.send(quote(MNQ, "20900", at=d.now))
    assert d.acct.state is State.Flattening
    # status, just before, must not have shown the day's loss limit as (nearly) untouched
    assert row["fraction"] >= 0.99 or "not counted" in (row["detail"] or ""), row
    assert "loss -990.00" in text, text
