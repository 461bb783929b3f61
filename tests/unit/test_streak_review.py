"""Found by a review of RULE-011 firing on a Tick (a stored streak at ``losses``): a streak
kept while the rule was off, from days ago, flattened and locked a trader who had lost nothing
that day (the first, second and last tests failed before); the others guard what held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fsm_risk import config
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Tick
from fsm_risk.core.states import State
from tests.factories import Driver, account
from tests.unit.test_reload_direction import do_reload, engine_of, settings
from tests.unit.test_reload_review import trip

MON = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # Monday 10:00 Chicago
WED = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # Wednesday 10:00 Chicago


def test_a_streak_from_days_ago_kept_while_off_does_not_lock_at_its_re_enabling() -> None:
    """Monday: 2 losing round trips under losses = 3 (Trading). The admin turns RULE-011 off
    (a loosening: staged for Monday's 17:00 reset). Wednesday 10:00: no trade yet today; the
    admin turns it on again with losses = 2 (stricter: applied now, a Tick judges the
    account). The trader has lost nothing today: he must stay Trading."""
    on3 = settings("[rule.max_consecutive_losses]\nlosses = 3\n")
    off = settings("[rule.max_consecutive_losses]\nenabled = false\n")
    on2 = settings("[rule.max_consecutive_losses]\nlosses = 2\n")
    d = Driver(engine_of(on3), now=MON)
    d.send(account())
    trip(d, "-50")
    trip(d, "-50")
    assert d.acct.state is State.Trading
    p = do_reload(d, on3, off)
    assert p.held and not p.tightened  # the disabling waits for the reset
    ctx = RiskEngine.context(d.engine.settings, d.engine.instruments, d.engine.marks)
    reset = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday 17:00 Chicago
    d.engine.stage_rules(config.with_rules(on3, p.target).build_rules(ctx), reset)
    d.now = reset + timedelta(seconds=1)
    d.send(Tick())
    assert "RULE-011" not in d.engine.swap.book.ids  # off since the reset
    d.now = WED
    d.send(Tick(d.acc))
    assert d.acct.state is State.Trading
    p = do_reload(d, off, on2)
    assert p.tightened
    d.send(Tick(d.acc))  # what Service.reload submits after a tightening
    audit = [e.entry for e in d.effects if type(e).__name__ == "RecordTransition"]
    fired = [(a.to_state.value, a.rule_id, a.reason) for a in audit if a.rule_id == "RULE-011"]
    assert d.acct.state is State.Trading, (d.acct.state, fired)


def test_a_stale_streak_does_not_count_toward_todays_first_loss() -> None:
    """As above, re-enabled Wednesday with losses = 3 (the stored streak, 2, is under it):
    Wednesday's first losing round trip is 1 in a row, not 3."""
    on3 = settings("[rule.max_consecutive_losses]\nlosses = 3\n")
    off = settings("[rule.max_consecutive_losses]\nenabled = false\n")
    d = Driver(engine_of(on3), now=MON)
    d.send(account())
    trip(d, "-50")
    trip(d, "-50")
    p = do_reload(d, on3, off)
    ctx = RiskEngine.context(d.engine.settings, d.engine.instruments, d.engine.marks)
    reset = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    d.engine.stage_rules(config.with_rules(on3, p.target).build_rules(ctx), reset)
    d.now = reset + timedelta(seconds=1)
    d.send(Tick())
    d.now = WED
    d.send(Tick(d.acc))  # (any event of Wednesday's, while off: the day rolls without it)
    assert do_reload(d, off, on3).tightened
    d.send(Tick(d.acc))
    trip(d, "-50")
    assert d.acct.state is State.Trading, "one loss today locked (Monday's 2 counted)"
    trip(d, "-50")
    assert d.acct.state is State.Trading
    trip(d, "-50")
    assert d.acct.state is not State.Trading, "the 3rd loss in a row today locks"


# -- checked sound (these pass on the reviewed commit too) ---------------------------------


def _locked_by_the_tick() -> tuple[Driver, config.Settings]:
    old = settings("[rule.max_consecutive_losses]\nlosses = 3\n")
    new = settings("[rule.max_consecutive_losses]\nlosses = 2\n")
    d = Driver(engine_of(old), now=MON)
    d.send(account())
    trip(d, "-50")
    trip(d, "-50")
    assert do_reload(d, old, new).tightened
    d.send(Tick(d.acc))
    assert d.acct.state is State.LockedDaily
    return d, new


def test_an_admin_release_of_the_tick_lock_is_not_overruled_by_the_next_tick() -> None:
    from fsm_risk.core.events import AdminCommand
    from tests.factories import ACC

    d, _ = _locked_by_the_tick()
    d.send(AdminCommand(ACC, State.Trading, "desk", "ops"))
    assert d.acct.state is State.Trading
    for _ in range(3):
        d.now += timedelta(minutes=1)
        d.send(Tick(d.acc))
    assert d.acct.state is State.Trading and d.acct.rule_state["RULE-011"]["streak"] == 0
    trip(d, "-50")
    assert d.acct.state is State.Trading  # a new streak of 1
    trip(d, "-50")
    assert d.acct.state is not State.Trading  # a full new streak of 2


def test_a_restart_while_locked_by_the_tick_does_not_lock_again() -> None:
    from tests.factories import restart, transitions

    d, new = _locked_by_the_tick()
    n = len([t for t in transitions(d.effects) if t[1] == "Trading"])
    d2 = restart(d, lambda: engine_of(new), at=d.now + timedelta(minutes=5))
    assert d2.acct.state is State.LockedDaily
    assert d2.acct.rule_state["RULE-011"].get("streak", 0) == 0
    assert n == 1


def test_a_cooldown_lock_from_the_tick_ends_and_the_next_tick_does_not_relock() -> None:
    old = settings("[rule.max_consecutive_losses]\nlosses = 3\nlock = cooldown\n")
    new = settings("[rule.max_consecutive_losses]\nlosses = 2\nlock = cooldown\n")
    d = Driver(engine_of(old), now=MON)
    d.send(account())
    trip(d, "-50")
    trip(d, "-50")
    assert do_reload(d, old, new).tightened
    d.send(Tick(d.acc))
    assert d.acct.state is State.Cooldown
    d.now += timedelta(minutes=61)
    d.send(Tick())
    assert d.acct.state is State.Trading
    d.now += timedelta(minutes=1)
    d.send(Tick(d.acc))
    assert d.acct.state is State.Trading


def test_a_streak_kept_while_off_does_not_lock_at_a_start_with_the_rule_on() -> None:
    """As the first test, but RULE-011 comes back by a restart (settings.ini edited while
    stopped, same Wednesday): the start's Tick judges the stored streak of Monday."""
    from tests.factories import restart

    on3 = settings("[rule.max_consecutive_losses]\nlosses = 3\n")
    off = settings("[rule.max_consecutive_losses]\nenabled = false\n")
    on2 = settings("[rule.max_consecutive_losses]\nlosses = 2\n")
    d = Driver(engine_of(on3), now=MON)
    d.send(account())
    trip(d, "-50")
    trip(d, "-50")
    p = do_reload(d, on3, off)
    ctx = RiskEngine.context(d.engine.settings, d.engine.instruments, d.engine.marks)
    reset = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    d.engine.stage_rules(config.with_rules(on3, p.target).build_rules(ctx), reset)
    d.now = reset + timedelta(seconds=1)
    d.send(Tick())
    d.now = WED
    d.send(Tick(d.acc))
    d2 = restart(d, lambda: engine_of(on2), at=WED + timedelta(minutes=5))
    assert d2.acct.state is State.Trading, d2.acct.state
