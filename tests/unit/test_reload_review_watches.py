"""Found by a review of the reload's RULE-012 watches rebuilt on a Tick: with this machine's
clock ahead of the gateway's (a start allows 60 s), a loss lowered by a reload was measured on
our clock and its watch was cut short (the first test failed before). The second guards that
RULE-011's held lock is rebuilt at a restart and dropped by a second reload (it held)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fsm_risk.core.events import Side, Tick
from fsm_risk.core.states import State
from tests.factories import ES, Driver, account, fill, flat, position, quote
from tests.unit.test_reload_direction import do_reload, engine_of, settings

_ids = iter(range(7_700_000, 10**9))
T = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # Monday 10:00 Chicago


def _loss(d: Driver, pnl: str = "-80", size: int = 1) -> None:
    d.send(
        fill(ES, Side.BUY, size, "100", order_id=next(_ids), at=d.now),
        position(ES, size, "100", at=d.now),
    )
    d.send(fill(ES, Side.SELL, size, "98.4", pnl=pnl, order_id=next(_ids), at=d.now))
    d.send(flat(ES, at=d.now))


def _enter(d: Driver, size: int, held: int | None = None) -> None:
    d.send(
        fill(ES, Side.BUY, size, "100", order_id=next(_ids), at=d.now),
        position(ES, size if held is None else held, "100", at=d.now),
    )


def _drv(text: str, now: datetime = T) -> Driver:
    d = Driver(engine_of(settings(text)), now=now)
    d.send(account(), quote(ES, "100", at=now))
    return d


# --- RULE-012 -------------------------------------------------------------------------------


def test_loss_lowered_with_our_clock_ahead_of_the_gateway_watches_the_loss() -> None:
    """This machine's clock 60 s ahead of the gateway's (fills are stamped by the gateway).
    -80 on 1 ES at gateway 10:00:00; loss 100 -> 50 reloaded at gateway 10:04:10 (our
    10:05:10); 2 ES entered at gateway 10:04:40, 280 s after the loss (seconds = 300).
    Control, loss = 50 from the start: fired (the live watch runs on the fills' times). The
    Tick measured the watch on our clock (310 s > 300 s): no watch, no fire."""
    skew = timedelta(seconds=60)
    old, new = "[rule.revenge_trading]\nloss = 100\n", "[rule.revenge_trading]\nloss = 50\n"

    def run(text: str, reload_to: str | None) -> State:
        d = _drv(text, T + skew)
        g = T  # the gateway's time
        d.send(
            fill(ES, Side.BUY, 1, "100", order_id=next(_ids), at=g), position(ES, 1, "100", at=g)
        )
        d.send(fill(ES, Side.SELL, 1, "98.4", pnl="-80", order_id=next(_ids), at=g))
        d.send(flat(ES, at=g))
        d.now = T + timedelta(seconds=250) + skew
        if reload_to is not None:
            assert do_reload(d, settings(text), settings(reload_to)).tightened
            d.send(Tick(d.acc))
        d.now = T + timedelta(seconds=280) + skew
        g = T + timedelta(seconds=280)
        d.send(
            fill(ES, Side.BUY, 2, "100", order_id=next(_ids), at=g), position(ES, 2, "100", at=g)
        )
        return d.acct.state

    assert run(new, None) is State.Flattening  # control
    assert run(old, new) is State.Flattening, "the reload's watch ran on our clock"


# --- RULE-011: the held config ---------------------------------------------------------------

STREAK = "[rule.max_consecutive_losses]\nlosses = 2\ncooldown_minutes = 240\n"


def test_held_lock_rebuilt_at_a_restart_and_dropped_by_a_second_reload() -> None:
    """A restart while cooldown -> daily is held (`Service._use`: the held change staged, then
    the rules in force built anew): the streak at 09:00 is still locked until the reset. A
    second reload that holds only cooldown_minutes 240 -> 60 (the lock change gone from the
    file): the cooldown in force alone (13:01)."""
    from fsm_risk import config, reload
    from fsm_risk.core.engine import RiskEngine
    from tests.unit.test_reload_review import reload_staging
    from tests.unit.test_reload_review_held import _streak_lock

    old = settings(STREAK + "lock = cooldown\n")
    new = settings(STREAK + "lock = daily\n")
    d = Driver(engine_of(old), now=datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    d.send(account())
    # the restart: a fresh engine's rules in force, the held change staged before them
    p = reload.plan(old, new)
    assert p.held and not p.tightened
    ctx = RiskEngine.context(d.engine.settings, d.engine.instruments, d.engine.marks)
    at = new.calendar().next_daily_reset(d.now)
    d.engine.stage_rules(config.with_rules(old, p.target).build_rules(ctx), at, "held")
    d.engine.replace_rules(old.build_rules(ctx), d.now, actor="system", detail="start-up")
    rule = next(r for r in d.engine.rules if r.id == "RULE-011")
    assert rule.held_config is not None and rule.held_config.lock == "daily"
    lock = _streak_lock(d, datetime(2026, 11, 23, 15, 0, tzinfo=UTC))
    assert lock == (State.LockedDaily, datetime(2026, 11, 23, 23, 0, tzinfo=UTC))
    # a second reload: only a shorter cooldown held
    d2 = Driver(engine_of(old), now=datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    d2.send(account())
    assert reload_staging(d2, old, new).held
    shorter = settings(STREAK.replace("240", "60") + "lock = cooldown\n")
    assert reload_staging(d2, old, shorter).held
    lock = _streak_lock(d2, datetime(2026, 11, 23, 15, 0, tzinfo=UTC))
    assert lock == (State.Cooldown, datetime(2026, 11, 23, 19, 1, tzinfo=UTC))
