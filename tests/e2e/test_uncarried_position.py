"""Found by a hunt (real SDK, paper gateway): a position opened before the daily reset whose
records reach the service only after it (the user hub silent across the reset, a read picking
it up) carried nothing: the new day counted as its own the whole open P&L made before the
reset. Long 3 MNQ bought 30 min before the reset at 21,000, MNQ 21,300 at the reset: the day
read +$1,800 more than it made, and a fall of $600 since the reset (limit $500) left the
account Trading. The engine asks the gateway's price at the reset (its last one-minute bar
before it) and the day carries the position at it; the journal replays to the same audit."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from fsm_risk.core.states import State
from fsm_risk.paper.gateway import USER_TARGETS
from fsm_risk.replay import replay_exact
from fsm_risk.replay_sources import RecordedSettings
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness
from tests.e2e.test_replay_journal import journal_and_audit

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 500
"""  # (no periodic read: the test's own read picks the position up, after the reset)


async def test_a_position_silenced_across_the_reset_carries_its_value_at_the_reset(
    h: Harness,
) -> None:
    await h.start(RULES)
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    h.clock.set(reset - timedelta(minutes=30))
    h.gateway.set_price("MNQ", "21000", bid="21000", ask="21000")
    for target in USER_TARGETS:  # the account's records go quiet before the buy
        h.gateway.silence(target)
    h.trade("MNQ", "buy", 3)  # at 21,000, unheard
    h.clock.set(reset - timedelta(minutes=2))
    h.gateway.set_price("MNQ", "21300", bid="21300", ask="21300")  # the price at the reset
    h.clock.set(reset)
    await h.until(lambda: h.acct.day.start == reset, "the reset")
    assert MNQ not in h.acct.positions and h.acct.day.carry == 0
    h.clock.set(reset + timedelta(minutes=5))
    h.gateway.set_price("MNQ", "21350", bid="21350", ask="21350")  # +$300 since the reset
    for target in USER_TARGETS:
        h.gateway.silence(target, silent=False)
    await h.svc.reconcile(ACCOUNT)  # the read picks the buy and the position up
    await h.until(lambda: MNQ in h.acct.positions and h.acct.positions[MNQ].priced, "valued")
    with contextlib.suppress(TimeoutError):  # (the price read, then its answer applied)
        await h.until(lambda: h.acct.day.carry != 0, "the carry of the position", 5)
    assert h.acct.day.carry == 1800, "the position valued at the gateway's price at the reset"
    assert h.acct.day_pnl(with_unrealized=True) == 300  # (the buy's fees: the old day's)
    h.gateway.set_price("MNQ", "21200", bid="21200", ask="21200")  # -$600 since the reset
    await h.until(lambda: h.acct.state is not State.Trading, "the daily limit fired", 10)
    settings = h.settings
    await h.stop()
    entries, recorded = journal_and_audit(settings)
    assert any(a.rule_id == "RULE-003" for a in recorded)
    # the journal replays to the same audit (the price read is journaled as its answer)
    assert replay_exact(entries, RecordedSettings(settings)).audit == recorded
