"""Found by a hunt: reload comparisons that call a looser value stricter, so it applies mid-day.
Each test does what `Service.reload` does (fsm_risk/service.py:1363-1377): `reload.plan` of the
rules in force against the edited file, `config.with_rules` of its `now`, and, when something
tightened, `engine.replace_rules` with the rules built from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fsm_risk import config, reload
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.states import State
from tests.factories import ES, MNQ, Driver, account, closes, flat, make_engine, position, quote


def settings(text: str) -> config.Settings:
    return config.parse(text, "/tmp/settings.ini")


def engine_of(s: config.Settings) -> RiskEngine:
    e = make_engine()
    ctx = RiskEngine.context(e.settings, e.instruments, e.marks)
    e.swap.book.index(s.build_rules(ctx))
    return e


def do_reload(d: Driver, in_force: config.Settings, file: config.Settings) -> reload.Plan:
    """`Service.reload` without the service: stricter now, looser staged for the reset."""
    p = reload.plan(in_force, file)
    current = config.with_rules(in_force, p.now)
    if p.tightened:
        ctx = RiskEngine.context(d.engine.settings, d.engine.instruments, d.engine.marks)
        d.engine.replace_rules(current.build_rules(ctx), d.now, actor="admin:x", detail="t")
    return p


HOURS = (
    "[rule.trading_hours]\nwindows = Sun-Thu 17:00-16:00\nexchange_calendar = none\n"
    "timezone = America/Chicago\n"
)


def test_flat_by_moved_from_the_evening_to_the_afternoon_is_not_stricter() -> None:
    """Be flat by 22:00 (5 h into the 17:00-16:00 session) -> by 15:08 (the next afternoon).
    The trader may now carry a position through the night: a loosening, yet applied now."""
    old = settings(HOURS + "flat_by = 22:00\n")
    new = settings(HOURS + "flat_by = 15:08\n")
    # Monday 2026-11-23 18:00 Chicago (the session began at 17:00): long 1 MNQ
    t = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    d = Driver(engine_of(old), now=t)
    d.send(account(), position(MNQ, 1, "21000", at=t), quote(MNQ, "21000", at=t))
    assert d.acct.state is State.Trading
    p = do_reload(d, old, new)
    # 22:01 Chicago: under the rules in force until the daily reset, the position must go
    d.at(datetime(2026, 11, 24, 4, 1, tzinfo=UTC))
    assert p.held, "a later flat-by in the session is a loosening: it must wait for the reset"
    assert closes(d.effects) and d.acct.state is not State.Trading


def test_flat_by_control_without_reload_flattens_at_22() -> None:
    old = settings(HOURS + "flat_by = 22:00\n")
    t = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    d = Driver(engine_of(old), now=t)
    d.send(account(), position(MNQ, 1, "21000", at=t), quote(MNQ, "21000", at=t))
    d.at(datetime(2026, 11, 24, 4, 1, tzinfo=UTC))
    assert closes(d.effects) and d.acct.state is State.Flattening


STREAK = "[rule.max_consecutive_losses]\nlosses = 2\n"
_ids = iter(range(7_100_000, 10**9))


def _trip(d: Driver, pnl: str) -> None:
    from fsm_risk.core.events import Side
    from tests.factories import fill, flat

    d.send(
        fill(ES, Side.BUY, 1, "100", order_id=next(_ids), at=d.now),
        position(ES, 1, "100", at=d.now),
    )
    d.send(fill(ES, Side.SELL, 1, "99", pnl=pnl, order_id=next(_ids), at=d.now))
    d.send(flat(ES, at=d.now))
    d.now += timedelta(minutes=1)


def _lock_end(text: str) -> tuple[object, ...]:
    # 15:30 Chicago (21:30 UTC), the daily reset at 17:00 Chicago (23:00 UTC)
    s = settings(text)
    d = Driver(engine_of(s), now=datetime(2026, 11, 23, 21, 30, tzinfo=UTC))
    d.send(account())
    _trip(d, "-50")
    _trip(d, "-50")
    hold = d.acct.holds.get("RULE-011")
    d.at(datetime(2026, 11, 23, 23, 1, tzinfo=UTC))  # 17:01 Chicago: past the daily reset
    return hold.kind if hold else None, hold.until if hold else None, d.acct.state


def test_a_daily_lock_in_place_of_a_long_cooldown_is_not_stricter() -> None:
    """lock = cooldown (240 min) -> lock = daily: judged stricter (applied at once), but a
    streak hit at 15:30 Chicago then locks until the 17:00 reset instead of until 19:30."""
    old_text = STREAK + "lock = cooldown\ncooldown_minutes = 240\n"
    new_text = STREAK + "lock = daily\ncooldown_minutes = 240\n"
    p = reload.plan(settings(old_text), settings(new_text))
    cooldown, daily = _lock_end(old_text), _lock_end(new_text)
    assert daily[1] is not None and cooldown[1] is not None and daily[1] < cooldown[1]
    assert (cooldown[2], daily[2]) == (State.Cooldown, State.Trading)  # at 17:01 Chicago
    assert not p.tightened, "a lock ending at the reset may end before the cooldown would"


def _rapid(windows: str) -> tuple[object, ...]:
    from fsm_risk.rules.rapid_fire import RapidFire
    from tests.factories import rule_driver
    from tests.unit.test_rule_010_rapid_fire import scalp

    d = rule_driver(RapidFire, windows=windows)
    scalp(d, datetime(2026, 11, 23, 16, 0, tzinfo=UTC))  # 10:00 Chicago
    for k in range(5):  # 16:30 .. 16:34 Chicago: five entries within the hour
        scalp(d, datetime(2026, 11, 23, 22, 30 + k, tzinfo=UTC))
    hold = d.acct.holds.get("RULE-010")
    return (d.acct.state, hold.until if hold else None, hold.detail if hold else None)


def test_a_session_window_added_does_not_shorten_the_hour_window_cooldown() -> None:
    """windows = 3600: 4 -> 3600: 4, session: 5 is judged stricter (applied at once), yet the
    session window, the longest breached, cools down only to the 17:00 reset: 26 minutes
    instead of the hour the 3600 window gives."""
    p = reload.plan(
        settings("[rule.rapid_fire]\nwindows = 3600: 4\n"),
        settings("[rule.rapid_fire]\nwindows = 3600: 4, session: 5\n"),
    )
    assert p.tightened  # a window added is stricter: so it must never cool down for less
    before, after = _rapid("3600: 4"), _rapid("3600: 4, session: 5")
    assert after[1] is not None and before[1] is not None and after[1] >= before[1]


def test_control_weekly_lock_outlives_its_rule_turned_off_at_the_daily_reset() -> None:
    """(A check that came out right.) RULE-004 locks LockedWeekly; the admin turns it off
    (held for the daily reset): past that reset the weekly lock still holds."""
    from tests.unit.test_rule_004_trailing_drawdown import NEXT_DAY, NEXT_WEEK, driver, mnq_at

    d = driver()
    d.send(position(MNQ, 1, "21000"))
    mnq_at(d, "20000.00")
    d.send(flat(MNQ))
    assert d.acct.state is State.LockedWeekly
    d.engine.stage_rules([], NEXT_DAY, "SETTINGS_LOOSENED: trailing_drawdown turned off")
    d.at(NEXT_DAY + timedelta(minutes=1))
    assert d.acct.state is State.LockedWeekly and d.acct.holds["RULE-004"].until == NEXT_WEEK
