"""Found by a hunt (real SDK, paper gateway): the case of
`test_a_reset_missed_while_stopped_is_valued_at_the_gateway_s_price_at_the_reset`, with the
admin's `fsm-risk transition` made through the database while the service is stopped after
the reset (a contract locked for the day). That change caught the account up with the missed
reset at the prices of the stop and wrote it; the service's start then found no reset missed,
read no price at it, and the new day counted the $2,100 gained before the reset as its own: a
$540 fall since the reset (limit $500) left the account Trading (day read +$1,560).

The change is written, and the start still reads the gateway's price at the reset; the journal
replays to the same audit log (the start's restore redoes the reset at the price it read)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fsm_risk import bootstrap
from fsm_risk.cli import _transition_offline
from fsm_risk.core.states import State
from fsm_risk.replay import replay_exact
from fsm_risk.replay_sources import RecordedSettings
from tests.e2e.service_harness import ACCOUNT, Harness
from tests.e2e.test_replay_journal import journal_and_audit

DAILY_LOSS = """
[rule.daily_loss_limit]
limit = 500
"""
MNQ = "CON.F.US.MNQ.Z26"
MES = "CON.F.US.MES.Z26"


@pytest.mark.parametrize("offline_admin", [False, True])
async def test_an_offline_change_after_a_missed_reset_leaves_its_price_to_the_start(
    h: Harness, monkeypatch: pytest.MonkeyPatch, offline_admin: bool
) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: MNQ in h.acct.positions, "MNQ seen")
    entry = h.acct.positions[MNQ].average_price
    h.gateway.set_price("MNQ", entry - 50)  # -$300 at the stop
    await h.until(lambda: h.acct.open_upnl == -300, "the loss seen")
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    await h.stop()
    h.clock.set(reset - timedelta(minutes=30))
    h.gateway.set_price("MNQ", entry + 300)  # +$1,800: the last price before the reset
    h.clock.set(reset + timedelta(minutes=5))
    h.gateway.set_price("MNQ", entry + 250)  # -$300 since the reset
    if offline_admin:
        monkeypatch.setattr("fsm_risk.cli._now", h.clock.now)  # the CLI's clock, here the test's
        settings = bootstrap.load_settings(str(h.home / "settings.ini"))
        store = bootstrap.open_store(settings)
        try:
            said = _transition_offline(
                settings, store, str(ACCOUNT), MES, State.LockedDaily, "desk", None, "admin", True
            )
        finally:
            store.close()
        assert "LockedDaily" in said
    h.clock.set(reset + timedelta(minutes=10))
    await h.start()
    await h.until(lambda: MNQ in h.acct.positions and h.acct.positions[MNQ].priced, "valued")
    assert h.acct.day.start == reset
    assert h.acct.day.carry == 1800, "the day carries the open P&L at the gateway's reset price"
    assert h.acct.day_pnl(with_unrealized=True) == -300
    if offline_admin:  # the admin's lock, written through the database, holds
        assert h.acct.contracts[MES].state is State.LockedDaily
    h.gateway.set_price("MNQ", entry + 210)  # -$540 since the reset: past the $500 limit
    await h.until(lambda: h.acct.state is not State.Trading, "the daily limit fired", 10)
    settings = h.settings
    await h.stop()
    entries, recorded = journal_and_audit(settings)
    assert any(a.rule_id == "RULE-003" for a in recorded)
    assert replay_exact(entries, RecordedSettings(settings)).audit == recorded
