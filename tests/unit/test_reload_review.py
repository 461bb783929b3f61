"""Found by a review of the reload direction: RULE-011's losses lowered to the trader's streak
locks at once (the first test; it failed before), and guards that held already (flatten_existing
turned on during a RULE-007 lock, RULE-011's lock from cooldown to daily waiting all day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fsm_risk.core.events import Side, Tick
from fsm_risk.core.states import State
from tests.factories import ES, MNQ, Driver, account, fill, flat, position, quote
from tests.unit.test_reload_direction import do_reload, engine_of, settings

_ids = iter(range(8_100_000, 10**9))
T = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # Monday 10:00 Chicago


def reload_capturing(d: Driver, in_force, file):  # type: ignore[no-untyped-def]
    """do_reload, keeping replace_rules' effects (as Service._use executes them)."""
    from fsm_risk import config, reload
    from fsm_risk.core.engine import RiskEngine

    p = reload.plan(in_force, file)
    current = config.with_rules(in_force, p.now)
    if p.tightened:
        ctx = RiskEngine.context(d.engine.settings, d.engine.instruments, d.engine.marks)
        d.effects.extend(
            d.engine.replace_rules(current.build_rules(ctx), d.now, actor="admin:x", detail="t")
        )
    return p


def trip(d: Driver, pnl: str) -> None:
    d.send(
        fill(ES, Side.BUY, 1, "100", order_id=next(_ids), at=d.now),
        position(ES, 1, "100", at=d.now),
    )
    d.send(fill(ES, Side.SELL, 1, "99", pnl=pnl, order_id=next(_ids), at=d.now))
    d.send(flat(ES, at=d.now))
    d.now += timedelta(minutes=1)


def test_streak_limit_lowered_to_the_streak_locks_at_once() -> None:
    """2 losses in a row under losses = 3; the admin lowers it to 2 (stricter, applied now).
    Control: under losses = 2 from the start, the second loss locks."""
    old = settings("[rule.max_consecutive_losses]\nlosses = 3\n")
    new = settings("[rule.max_consecutive_losses]\nlosses = 2\n")
    ctl = Driver(engine_of(new), now=T)
    ctl.send(account())
    trip(ctl, "-50")
    trip(ctl, "-50")
    assert ctl.acct.state is not State.Trading  # control: locked at the 2nd loss
    d = Driver(engine_of(old), now=T)
    d.send(account())
    trip(d, "-50")
    trip(d, "-50")
    assert d.acct.state is State.Trading
    p = do_reload(d, old, new)
    assert p.tightened
    d.send(Tick(d.acc))  # what Service.reload submits after a tightening
    assert d.acct.state is not State.Trading, "2 losses in a row >= the new limit of 2"


def test_flatten_existing_turned_on_during_a_trades_lock_closes_at_once() -> None:
    """LockedDaily by RULE-007 (flatten_existing = false: the open position may stay); the
    admin sets flatten_existing = true (stricter, applied now): the position must go."""
    old = settings("[rule.max_trades_per_day]\nlimit = 1\n")
    new = settings("[rule.max_trades_per_day]\nlimit = 1\nflatten_existing = true\n")
    d = Driver(engine_of(old), now=T)
    d.send(account(), quote(MNQ, "21000", at=T))
    for k in (1, 2):
        d.send(
            fill(MNQ, Side.BUY, 1, "21000", order_id=next(_ids), at=d.now),
            position(MNQ, k, "21000", at=d.now),
        )
    assert d.acct.state is State.LockedDaily
    d.now += timedelta(seconds=2)
    d.send(position(MNQ, 1, "21000", at=d.now))  # the reduce of the 2nd lot done
    d.now += timedelta(seconds=2)
    d.send(Tick(d.acc))
    p = reload_capturing(d, old, new)
    assert p.tightened
    d.send(Tick(d.acc))
    d.now += timedelta(seconds=1)
    d.send(Tick(d.acc))
    # (checked sound) the stricter flatten_existing flattens at once: the account goes to
    # Flattening by RULE-007 and the close begins with a read of the position (ReadAccount)
    assert d.acct.state is State.Flattening
    assert any(type(e).__name__ == "ReadAccount" for e in d.effects[-4:])


def reload_staging(d: Driver, in_force, file):  # type: ignore[no-untyped-def]
    """`Service.reload` without the service, the held loosening staged for the daily reset
    (`Service._stage`) as well as the stricter values applied now."""
    from fsm_risk import config, reload
    from fsm_risk.core.engine import RiskEngine

    p = reload.plan(in_force, file)
    current = config.with_rules(in_force, p.now)
    ctx = RiskEngine.context(d.engine.settings, d.engine.instruments, d.engine.marks)
    if p.held:
        target = config.with_rules(current, p.target)
        at = file.calendar().next_daily_reset(d.now)
        d.engine.stage_rules(target.build_rules(ctx), at, "held")
    else:
        d.engine.stage_rules(None, d.now)
    if p.tightened:
        d.engine.replace_rules(current.build_rules(ctx), d.now, actor="admin:x", detail="t")
    return p


def test_daily_in_place_of_a_cooldown_set_in_the_morning_locks_until_the_reset() -> None:
    """lock = cooldown (240 min) -> daily, reloaded at 08:00 Chicago: of no known direction,
    held for the 17:00 reset; a streak hit at 09:00 is locked until the reset (the later of
    the cooldown in force, back at 13:01, and the daily lock held), not only for 4 h."""
    from fsm_risk import reload

    streak = "[rule.max_consecutive_losses]\nlosses = 2\ncooldown_minutes = 240\n"
    old, new = settings(streak + "lock = cooldown\n"), settings(streak + "lock = daily\n")
    d = Driver(engine_of(old), now=datetime(2026, 11, 23, 14, 0, tzinfo=UTC))  # 08:00 Chicago
    d.send(account())
    p = reload_staging(d, old, new)
    assert [str(c) for c in p.held] == ["[rule.max_consecutive_losses] lock: cooldown -> daily"]
    assert reload.plan(old, new).held
    d.now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 09:00 Chicago
    trip(d, "-50")
    trip(d, "-50")
    hold = d.acct.holds.get("RULE-011")
    assert hold is not None
    assert (hold.kind, hold.until) == (
        State.LockedDaily,
        datetime(2026, 11, 23, 23, 0, tzinfo=UTC),
    ), "the held daily lock ends later than the 240 min cooldown in force"
