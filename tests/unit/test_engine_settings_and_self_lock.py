"""The engine's two small additions: swapping the rule set at an instant (audited), and the
trader's self-lock (anyone may add a lock; it never shortens or weakens one)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fsm_risk.config import build_rule
from fsm_risk.core.effects import RecordTransition, SettingsApplied
from fsm_risk.core.engine import RiskEngine, self_source
from fsm_risk.core.events import SelfLock
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import MNQ, T0, Driver, account, closes, make_engine, position, quote


def loss_limit(engine: RiskEngine, limit: str) -> DailyLossLimit:
    ctx = RiskEngine.context(engine.settings, engine.instruments, engine.marks)
    rule = build_rule(DailyLossLimit, ctx, {"limit": limit})
    assert isinstance(rule, DailyLossLimit)
    return rule


def test_replaced_rules_judge_the_next_event_and_the_change_is_audited() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), position(MNQ, 1, "20000"), quote(MNQ, "19850"))
    assert d.acct.state is State.Trading  # -$300 against a $1000 limit
    out = d.engine.replace_rules(
        [loss_limit(d.engine, "250")], d.now, actor="admin:ops", detail="stricter now"
    )
    [entry] = [e.entry for e in out if isinstance(e, RecordTransition)]
    assert (entry.trigger, entry.actor, entry.reason) == ("settings", "admin:ops", "stricter now")
    assert entry.from_state is entry.to_state is State.Trading
    d.send(quote(MNQ, "19849.75"))
    assert d.acct.state is State.Flattening and closes(d.effects)


def test_staged_rules_apply_at_their_instant_and_not_before() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "250"}}))
    d.send(account())
    reset = d.engine.calendar.next_daily_reset(d.now)
    d.engine.stage_rules([loss_limit(d.engine, "2000")], reset, "SETTINGS_LOOSENED: held")
    assert d.engine.next_deadline() == reset
    d.at(reset - timedelta(seconds=1))
    assert d.engine.staged is not None
    assert d.engine.rules[0].config.limit == 250
    out = d.at(reset)
    assert d.engine.staged is None and d.engine.rules[0].config.limit == 2000
    assert [e for e in out if isinstance(e, SettingsApplied)] == [
        SettingsApplied(reset, "SETTINGS_LOOSENED: held")
    ]
    assert any(isinstance(e, RecordTransition) and e.entry.actor == "system" for e in out)


def test_a_rule_dropped_at_the_swap_ends_its_hold_without_deadline() -> None:
    from fsm_risk.rules.trading_permission import TradingPermission

    d = Driver(make_engine({TradingPermission: {}}))
    d.send(account(can_trade=False))
    assert d.acct.state is State.LockedDaily
    d.engine.replace_rules([], d.now, actor="system", detail="rule turned off")
    assert d.acct.state is State.Trading


# --- the self-lock -----------------------------------------------------------------------------


def self_lock(d: Driver, to: State, until: object) -> None:
    assert not isinstance(until, str)
    d.send(SelfLock(d.acc, to, until, "trader1", "tilted"))  # type: ignore[arg-type]


def test_a_self_lock_flattens_then_locks_audited_as_the_trader() -> None:
    d = Driver(make_engine())
    d.send(account(), position(MNQ, 2, "20000"))
    until = d.now + timedelta(hours=2)
    self_lock(d, State.Cooldown, until)
    assert d.acct.state is State.Flattening and closes(d.effects)
    [entry] = [
        e.entry
        for e in d.effects
        if isinstance(e, RecordTransition)
        and e.entry.trigger == "breach"
        and e.entry.contract_id is None
    ]
    assert entry.actor == "trader:trader1" and entry.rule_id == self_source(State.Cooldown)
    d.send(position(MNQ, 0, "20000"))
    assert (
        d.acct.state is State.Cooldown and d.acct.holds[self_source(State.Cooldown)].until == until
    )


def test_a_self_lock_never_shortens_or_weakens_a_lock() -> None:
    d = Driver(make_engine())
    d.send(account())
    long_ = d.now + timedelta(days=3)
    self_lock(d, State.Cooldown, long_)
    self_lock(d, State.Cooldown, d.now + timedelta(hours=1))  # shorter: changes nothing
    assert d.acct.holds[self_source(State.Cooldown)].until == long_
    reset = d.engine.calendar.next_daily_reset(d.now)
    self_lock(d, State.LockedDaily, reset)  # stronger but shorter: both are held
    assert d.acct.state is State.LockedDaily
    d.at(reset)
    assert d.acct.state is State.Cooldown  # the three-day cooldown still runs
    d.at(long_)
    assert d.acct.state is State.Trading


def test_a_self_lock_in_the_past_or_to_trading_is_refused_and_changes_nothing() -> None:
    d = Driver(make_engine())
    d.send(account())
    with pytest.raises(FsmRiskError, match="future"):
        self_lock(d, State.Cooldown, d.now)
    with pytest.raises(FsmRiskError, match="not Trading"):
        self_lock(d, State.Trading, d.now + timedelta(hours=1))
    assert d.acct.state is State.Trading and not d.acct.holds


def test_a_self_lock_survives_a_restart() -> None:
    from tests.factories import restart

    d = Driver(make_engine())
    d.send(account())
    until = T0 + timedelta(hours=5)
    self_lock(d, State.Cooldown, until)
    d = restart(d, make_engine, at=T0 + timedelta(hours=1))
    assert d.acct.state is State.Cooldown
    d.at(until)
    assert d.acct.state is State.Trading


def test_a_self_lock_reply_names_the_end_to_the_second() -> None:
    """`lock --for 1h` at 20:39:23 ends at 21:39:23: a reply saying 21:39 has the trader's
    order at 21:39:10 cancelled by a lock they were told was over."""
    from fsm_risk.selflock import outcome

    d = Driver(make_engine())
    d.send(account())
    until = d.now.replace(microsecond=0) + timedelta(hours=1, seconds=23 - d.now.second)
    assert until.second == 23
    ev = SelfLock(d.acc, State.Cooldown, until, "trader1", "tilted")
    d.send(ev)
    reply = outcome(d.engine, ev, "UTC")
    assert f"Cooldown until {until:%Y-%m-%d %H:%M:%S} UTC" in reply, reply
    whole = until.replace(second=0)  # asked (and refused as shorter): a whole minute stays short
    shorter = outcome(d.engine, SelfLock(d.acc, State.Cooldown, whole, "t", "r"), "UTC")
    assert f"Cooldown until {whole:%Y-%m-%d %H:%M} UTC changes nothing" in shorter, shorter


def test_a_self_lock_reply_names_the_longer_lock_in_force() -> None:
    """`lock --for 1m` during a 15-minute Cooldown placed by an admin (or a rule) replied
    "Cooldown until 06:27:05; now Cooldown": read as the lock ending at 06:27, it ends at 06:40."""
    from fsm_risk.core.events import AdminCommand
    from fsm_risk.selflock import outcome

    d = Driver(make_engine())
    d.send(account())
    d.send(AdminCommand(d.acc, State.Cooldown, "tilted", "ops", minutes=15))
    [held] = d.acct.holds.values()
    assert d.acct.state is State.Cooldown and held.until is not None
    ev = SelfLock(d.acc, State.Cooldown, d.now + timedelta(minutes=1), "trader1", "break")
    d.send(ev)
    reply = outcome(d.engine, ev, "UTC")
    end = held.until.strftime("%Y-%m-%d %H:%M:%S" if held.until.second else "%Y-%m-%d %H:%M")
    assert f"now Cooldown until {end} UTC ({held.source})" in reply, reply
    alone = Driver(make_engine())  # the lock asked for is the one in force: said once
    alone.send(account())
    mine = SelfLock(alone.acc, State.Cooldown, alone.now + timedelta(minutes=1), "t", "r")
    alone.send(mine)
    assert outcome(alone.engine, mine, "UTC").endswith("; now Cooldown"), outcome(
        alone.engine, mine, "UTC"
    )
