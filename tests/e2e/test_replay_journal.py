"""The journal: a session recorded by the running service (real SDK, paper gateway) and
replayed into a fresh engine gives the same audit log and the same effects, exactly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fsm_risk import cli, replay_sources, selflock
from fsm_risk.adapters.store import Store
from fsm_risk.config import Settings
from fsm_risk.core.effects import AuditEntry, Effect, RecordTransition
from fsm_risk.core.states import State
from fsm_risk.replay import Entry, Exact, replay_exact
from fsm_risk.replay_sources import RecordedSettings, journal_entries
from tests.e2e.service_harness import ACCOUNT, Harness

RULES = """
[rule.daily_loss_limit]
limit = 500
[rule.max_contracts]
limit = 3
"""
MNQ = "CON.F.US.MNQ.Z26"


def journal_and_audit(settings: Settings) -> tuple[list[Entry], list[AuditEntry]]:
    """What the stopped service left in its database: the journal and the audit log."""
    store = Store(settings.database)
    try:
        return journal_entries(store), store.audit(ACCOUNT)
    finally:
        store.close()


def replay(settings: Settings, entries: list[Entry]) -> Exact:
    return replay_exact(entries, RecordedSettings(settings))


async def test_a_recorded_session_replays_to_the_same_audit_log_and_effects(h: Harness) -> None:
    svc = await h.start(RULES)
    live: list[Effect] = []
    execute = svc._execute

    def recording(effects: list[Effect]) -> None:
        live.extend(e for e in effects if not isinstance(e, RecordTransition))
        execute(effects)

    svc._execute = recording  # type: ignore[method-assign]
    # RULE-001 reduces 5 to 3; a loss then locks the day (RULE-003)
    h.trade("MNQ", "buy", 5)
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit")
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "reduce confirmed")
    h.gateway.move_price("MNQ", -400)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    # while locked: an opening order is cancelled, a new position closed
    h.trade("ES", "buy", 1, type=1, limit_price=5000)
    h.trade("MES", "buy", 1)
    await h.gw_until(lambda: h.closes("MES") and h.position("MES") == 0, "closed on sight")
    await h.until(lambda: h.contract_state("CON.F.US.MES.Z26") is State.Trading, "close confirmed")
    # every enforcement answered and its answer handled first (the hub's records of a close
    # may come before its reply): an event handled after the clock moves would end the lock
    # itself, before the scheduler's tick
    await h.until(
        lambda: (
            h.svc.queue.empty()
            and not any(t.get_name().startswith("enforce:") for t in h.svc._tasks)
        ),
        "every enforcement answered and handled",
    )
    # the reset ends the lock (a scheduler tick)
    hold = h.acct.holds["RULE-003"]
    assert hold.until is not None
    h.clock.set(hold.until + timedelta(seconds=1))
    await h.until(lambda: h.acct.state is State.Trading, "released at the reset")
    settings = h.settings
    await h.stop()

    entries, recorded = journal_and_audit(settings)
    kinds = {type(e.event).__name__ for e in entries if e.event is not None}
    assert {"Fill", "PositionUpdate", "OrderUpdate", "Quote", "Tick", "AccountUpdate"} <= kinds
    assert any(e.event is None and e.account_id == ACCOUNT for e in entries)  # the start

    replayed = replay(settings, entries)
    assert len(recorded) >= 6
    assert replayed.audit == recorded
    assert replayed.effects == live
    assert {type(e).__name__ for e in live} >= {"ReducePosition", "ClosePosition", "CancelOrder"}

    # the what-if under the same settings, enforcement re-derived (the live closes left out):
    # the same rules fire at the same instants
    store = Store(settings.database)
    try:
        [plan] = replay_sources.journal_plans(store, str(ACCOUNT), entries[0].at, h.clock.now())
    finally:
        store.close()
    assert plan.own_trades  # the live service's close fills, known from the fill table
    report = replay_sources.run(settings, plan)
    live_firings = [
        (e.at, e.rule_id, e.contract_id)
        for e in recorded
        if e.trigger in ("breach", "lock")
        and e.rule_id in ("RULE-001", "RULE-003")
        and not e.reason.startswith(("DAILY_LOSS_LIMIT: account", "POSITION_WHILE_LOCKED"))
    ]
    assert [(f.at, f.rule_id, f.contract_id) for f in report.firings] == live_firings
    assert [b.contract_id for b in report.blocked] == ["CON.F.US.MES.Z26"]


async def test_a_journal_across_a_restart_replays_to_the_same_audit_log(h: Harness) -> None:
    """Locked, stopped; traded while down; restarted (the lock holds, the new position is
    closed); the reset missed while stopped the second time is applied at start-up."""
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    reset = h.acct.holds["RULE-003"].until
    assert reset is not None
    await h.stop()
    h.clock.advance(hours=1)
    h.trade("ES", "buy", 1)  # while the service was down
    await h.start()
    await h.gw_until(lambda: h.position("ES") == 0, "the position found at start-up closed")
    await h.until(lambda: h.contract_state("CON.F.US.EP.Z26") is State.Trading, "close confirmed")
    await h.stop()
    h.clock.set(reset + timedelta(hours=2))
    await h.start()
    assert h.acct.state is State.Trading  # released at start-up
    settings = h.settings
    await h.stop()

    entries, recorded = journal_and_audit(settings)
    assert [e.name for e in entries if e.name in ("Restart", "Restore")] == [
        "Restart",
        "Restore",
    ] * 3
    assert any(e.name == "Rules" for e in entries)  # the settings in force, at each start
    replayed = replay(settings, entries)
    assert [a.trigger for a in recorded].count("release") == 1
    assert replayed.audit == recorded


async def test_a_journal_across_reloads_and_a_restart_replays_to_the_same_audit_log(
    h: Harness,
) -> None:
    """A looser limit staged for the reset, a restart holding it, a stricter one at once that
    fires; the staged loosening applied at the reset: every settings call is in the journal."""
    await h.start("[rule.daily_loss_limit]\nlimit = 700\n")
    h.write_settings("[rule.daily_loss_limit]\nlimit = 1000\n")
    assert "looser from the daily reset" in await h.svc.reload("admin:ops")
    await h.stop()
    await h.start()  # the looser file is held across the restart
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)  # -$600: inside the $700 limit in force
    await h.until(lambda: h.acct.day_pnl(with_unrealized=True) <= -600, "the loss seen")
    assert h.acct.state is State.Trading
    h.write_settings("[rule.daily_loss_limit]\nlimit = 500\n")
    assert "stricter now" in await h.svc.reload("admin:ops")
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by the stricter limit")
    settings = h.settings
    await h.stop()

    entries, recorded = journal_and_audit(settings)
    names = [e.name for e in entries if e.event is None and e.account_id is None]
    assert {"Rules", "Stage", "Note"} <= set(names)
    assert [a.trigger for a in recorded].count("settings") >= 2
    assert replay(settings, entries).audit == recorded


async def test_a_disabled_journal_records_nothing(h: Harness) -> None:
    await h.start("[journal]\nenabled = false\n" + RULES)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    settings = h.settings
    await h.stop()
    store = Store(settings.database)
    try:
        assert journal_entries(store) == []
        assert store.audit(ACCOUNT) == [] and store.fills(ACCOUNT)
    finally:
        store.close()


async def test_changes_made_while_the_service_is_down_replay_from_the_journal(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin lock and a trader's self-lock made through the database while no service runs
    are journaled with the restore before them: the journal still replays to the audit log."""
    await h.start(RULES)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    await h.stop()

    h.clock.advance(minutes=5)
    store = Store(h.settings.database)
    try:  # `fsm-risk lock` with no service running
        body = {"account": str(ACCOUNT), "for": "2h", "reason": "tilted"}
        assert "locked" in selflock.offline(h.settings, store, body, h.clock.now()).lower()
    finally:
        store.close()
    h.clock.advance(hours=3)  # the self-lock has expired: released at the next start
    monkeypatch.setattr(cli, "_now", h.clock.now)
    store = Store(h.settings.database)
    try:  # `fsm-risk transition` with no service running
        text = cli._transition_offline(
            h.settings, store, str(ACCOUNT), None, State.LockedDaily, "desk call", None,
            "ops", True,
        )  # fmt: skip
        assert "LockedDaily" in text
    finally:
        store.close()
    h.clock.advance(minutes=5)
    await h.start()
    assert h.acct.state is State.LockedDaily
    await h.gw_until(lambda: h.position("MNQ") == 0, "the locked account's position closed")
    settings = h.settings
    await h.stop()

    entries, recorded = journal_and_audit(settings)
    locks = [(a.from_state, a.to_state, a.actor) for a in recorded if a.rule_id == "ADMIN"]
    assert locks == [(State.Flattening, State.LockedDaily, "admin:ops")]
    assert next(a.actor for a in recorded if a.rule_id == "SELF:Cooldown") == "trader:trader"
    assert replay(settings, entries).audit == recorded
