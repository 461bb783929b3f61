"""Found by a review of the reload direction: what a stricter setting still missed. A flat-by
judged stricter that stopped later on a night its wall time did not exist (Cairo's 00:30 in
the 00:00-01:00 spring-forward gap); RULE-012's ``loss`` lowered below a loss just taken; and
RULE-011's ``lock`` changed from a cooldown to the daily lock, held for the reset."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fsm_risk import reload
from fsm_risk.core.events import Side, Tick
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import State
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import ES, Driver, account, fill, flat, position, quote
from tests.unit.test_reload_direction import do_reload, engine_of, settings

CAIRO_HOURS = (
    "[rule.trading_hours]\ntimezone = Africa/Cairo\nwindows = Sun-Thu 17:00-16:00\n"
    "exchange_calendar = none\n"
)


def _stop(flat_by: str, at: datetime) -> datetime:
    e = engine_of(settings(CAIRO_HOURS + f"flat_by = {flat_by}\n"))
    rule = next(r for r in e.swap.book.rules if isinstance(r, TradingHours))
    allowed, stop = rule.hours(at)
    assert allowed and stop is not None
    return stop


def test_a_flat_by_in_a_dst_gap_judged_stricter_stops_no_later_that_night() -> None:
    """Cairo's clocks skip 00:00-01:00 on Fri 2027-04-30, inside Thursday's 17:00-16:00
    session. flat_by 01:00 -> 00:30 is stricter (7.5 h into the session against 8 h) and
    applies at once: that night it stops at the change (22:00 UTC), as 01:00 does, not half
    an hour later (22:30 UTC, the gap's length moved forward)."""
    at = datetime(2027, 4, 29, 19, 0, tzinfo=UTC)  # Thu 21:00 Cairo, in the session
    p = reload.plan(
        settings(CAIRO_HOURS + "flat_by = 01:00\n"), settings(CAIRO_HOURS + "flat_by = 00:30\n")
    )
    assert [str(c) for c in p.tightened] == ["[rule.trading_hours] flat_by: 01:00 -> 00:30"]
    change = datetime(2027, 4, 29, 22, 0, tzinfo=UTC)
    assert _stop("01:00", at) == change
    assert _stop("00:30", at) == change, "a stricter flat-by stopped later on the gap night"
    # every flat-by judged stricter than another stops no later that night (and before it)
    times = ["23:30", "23:59", "00:00", "00:15", "00:30", "00:59", "01:00", "01:30"]
    for night in (at, at - timedelta(days=7)):
        for old in times:
            for new in times:
                before = settings(CAIRO_HOURS + f"flat_by = {old}\n")
                after = settings(CAIRO_HOURS + f"flat_by = {new}\n")
                if reload.plan(before, after).tightened:
                    assert _stop(new, night) <= _stop(old, night), (old, new, night)


def test_at_or_change_is_the_moment_of_the_change_in_a_gap_only() -> None:
    cairo = SessionCalendar("Africa/Cairo")
    d = date(2027, 4, 30)
    assert cairo.at_or_change(d, time(0, 30)) == datetime(2027, 4, 29, 22, 0, tzinfo=UTC)
    assert cairo.at(d, time(0, 30)) == datetime(2027, 4, 29, 22, 30, tzinfo=UTC)
    assert cairo.at_or_change(d, time(1, 30)) == cairo.at(d, time(1, 30))
    assert cairo.at_or_change(d, time(23, 59)) == cairo.at(d, time(23, 59))
    # a half-hour change (Lord Howe: 02:00 -> 02:30 on Sun 2026-10-04)
    howe = SessionCalendar("Australia/Lord_Howe")
    gap = howe.at_or_change(date(2026, 10, 4), time(2, 15))
    assert (
        gap == howe.at(date(2026, 10, 4), time(2, 30)) == datetime(2026, 10, 3, 15, 30, tzinfo=UTC)
    )


# --- RULE-012: loss lowered below a loss just taken ------------------------------------------

_ids = iter(range(9_300_000, 10**9))
T = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # Monday 10:00 Chicago


def _loss(d: Driver, pnl: str = "-80", size: int = 1) -> None:
    """A losing round trip of ``size`` ES closed by the trader, then 15 s pass."""
    d.send(
        fill(ES, Side.BUY, size, "100", order_id=next(_ids), at=d.now),
        position(ES, size, "100", at=d.now),
    )
    d.send(fill(ES, Side.SELL, size, "98.4", pnl=pnl, order_id=next(_ids), at=d.now))
    d.send(flat(ES, at=d.now))
    d.now += timedelta(seconds=15)


def _enter(d: Driver, size: int, held: int | None = None) -> None:
    d.send(
        fill(ES, Side.BUY, size, "100", order_id=next(_ids), at=d.now),
        position(ES, size if held is None else held, "100", at=d.now),
    )


def _revenge_driver(text: str) -> Driver:
    d = Driver(engine_of(settings(text)), now=T)
    d.send(account(), quote(ES, "100", at=T))
    return d


def test_revenge_loss_lowered_under_a_loss_just_taken_watches_it() -> None:
    """-$80 on 1 ES under loss = 100 (not watched); 15 s later the admin lowers loss to 50
    (stricter: applied at once, the Tick sent); 15 s after that the trader enters 2 ES, twice
    the losing size: Cooldown by RULE-012, as under loss = 50 from the start."""
    old, new = "[rule.revenge_trading]\nloss = 100\n", "[rule.revenge_trading]\nloss = 50\n"
    ctl = _revenge_driver(new)
    _loss(ctl)
    ctl.now += timedelta(seconds=15)
    _enter(ctl, 2)
    assert ctl.acct.state is State.Flattening  # control: the revenge entry fired
    d = _revenge_driver(old)
    _loss(d)
    assert "watches" not in d.acct.rule_state.get("RULE-012", {})
    assert do_reload(d, settings(old), settings(new)).tightened
    d.send(Tick(d.acc))  # what Service.reload submits after a tightening
    assert d.acct.state is State.Trading  # nothing entered yet: only watched
    d.now += timedelta(seconds=15)
    _enter(d, 2)
    assert d.acct.state is State.Flattening, "a revenge entry 30 s after a -80 loss, loss = 50"
    hold = d.acct.holds.get("RULE-012")
    assert hold is not None and hold.until == d.now + timedelta(minutes=30)
    assert "2 contracts entered 30s after a -80.00 loss of 1 ES" in (hold.detail or "")


def test_revenge_loss_lowered_after_the_entries_fires_on_the_tick() -> None:
    """The same loss, then 2 ES entered under loss = 100 (nothing watched); lowered to 50:
    the entries already reach twice the losing size inside the watch, so the Tick fires."""
    d = _revenge_driver("[rule.revenge_trading]\nloss = 100\n")
    _loss(d)
    _enter(d, 2)
    assert d.acct.state is State.Trading
    d.now += timedelta(seconds=5)
    old, new = "[rule.revenge_trading]\nloss = 100\n", "[rule.revenge_trading]\nloss = 50\n"
    assert do_reload(d, settings(old), settings(new)).tightened
    d.send(Tick(d.acc))
    assert d.acct.state is State.Flattening, "2 ES entered 15 s after a -80 loss, loss = 50"


def test_a_watch_that_fired_is_not_watched_again_after_a_reload() -> None:
    """Under loss = 50 the -80 loss is watched and the 2 ES entry fires it (Cooldown 1 min);
    the cooldown over, the admin lowers loss to 40 (stricter) inside the watch: the loss whose
    watch fired is not watched again, so a 2 ES entry is no revenge (no false lock)."""
    text = "[rule.revenge_trading]\nloss = 50\ncooldown_minutes = 1\n"
    d = _revenge_driver(text)
    _loss(d)
    _enter(d, 2)
    assert d.acct.state is State.Flattening
    d.send(flat(ES, at=d.now))
    d.at(d.now + timedelta(seconds=61))
    assert d.acct.state is State.Trading
    lower = "[rule.revenge_trading]\nloss = 40\ncooldown_minutes = 1\n"
    assert do_reload(d, settings(text), settings(lower)).tightened
    d.send(Tick(d.acc))
    assert "watches" not in d.acct.rule_state["RULE-012"]
    d.now += timedelta(seconds=5)
    _enter(d, 2)
    assert d.acct.state is State.Trading, "the loss whose watch fired was watched again"


def test_a_loss_closed_by_the_service_is_not_watched_after_a_reload() -> None:
    """A -500 round trip closed by the service (its stop-loss close) starts no watch under
    loss = 600, nor when loss is lowered to 100 (stricter) and the Tick judges the account."""
    from fsm_risk.config import build_rule
    from fsm_risk.core.events import OrderType
    from fsm_risk.rules.revenge_trading import RevengeTrading
    from tests.factories import make_engine, order
    from tests.unit.test_rule_012_revenge_trading import close_on_quote

    d = Driver(make_engine({RevengeTrading: {"loss": "600"}}, extra=[close_on_quote(ES)]))
    d.send(account())
    _enter(d, 1)
    d.send(quote(ES, "90"), order(980, ES, Side.SELL, 1, type=OrderType.MARKET))
    d.send(fill(ES, Side.SELL, 1, "90", pnl="-500", order_id=980), flat(ES))
    assert d.acct.day.trips[-1].enforced and d.acct.day.fills[-1].enforcement
    e = d.engine
    ctx = type(e).context(e.settings, e.instruments, e.marks)
    rules = [build_rule(RevengeTrading, ctx, {"loss": "100"}), close_on_quote(ES)(ctx)]
    e.replace_rules(rules, d.now, actor="admin:x", detail="t")
    d.send(Tick(d.acc))
    assert "watches" not in d.acct.rule_state.get("RULE-012", {})
    _enter(d, 2)
    assert d.acct.state is State.Trading and "RULE-012" not in d.acct.holds


# --- RULE-011: lock changed, held for the reset: the later end of the two ---------------------

STREAK = "[rule.max_consecutive_losses]\nlosses = 2\ncooldown_minutes = 240\n"


def _streak_lock(d: Driver, at: datetime) -> tuple[object, object]:
    from tests.unit.test_reload_review import trip

    d.now = at
    trip(d, "-50")
    trip(d, "-50")
    hold = d.acct.holds.get("RULE-011")
    assert hold is not None
    return hold.kind, hold.until


def test_a_cooldown_held_in_place_of_the_daily_lock_ends_at_the_later_of_the_two() -> None:
    """lock = daily -> cooldown (240 min), reloaded at 08:00 Chicago (held for the reset): a
    streak at 15:30 is locked until 19:30, past the 17:00 reset the daily lock in force ends
    at; one at 09:00 until the reset (the cooldown would end at 13:01)."""
    from tests.unit.test_reload_review import reload_staging

    old, new = settings(STREAK + "lock = daily\n"), settings(STREAK + "lock = cooldown\n")
    for at, want in (
        (
            datetime(2026, 11, 23, 21, 30, tzinfo=UTC),
            (State.Cooldown, datetime(2026, 11, 24, 1, 31, tzinfo=UTC)),
        ),
        (
            datetime(2026, 11, 23, 15, 0, tzinfo=UTC),
            (State.LockedDaily, datetime(2026, 11, 23, 23, 0, tzinfo=UTC)),
        ),
    ):
        d = Driver(engine_of(old), now=datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
        d.send(account())
        assert reload_staging(d, old, new).held
        assert _streak_lock(d, at) == want


def test_once_the_held_lock_applies_or_is_withdrawn_only_the_rules_in_force_decide() -> None:
    """cooldown -> daily held at 08:00, then the file edited back and reloaded (the held change
    withdrawn): a streak at 09:00 gets the cooldown in force alone (13:01 Chicago). And with
    the change applied at the 17:00 reset, a streak the next morning is locked daily alone."""
    from tests.unit.test_reload_review import reload_staging

    old, new = settings(STREAK + "lock = cooldown\n"), settings(STREAK + "lock = daily\n")
    d = Driver(engine_of(old), now=datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    d.send(account())
    assert reload_staging(d, old, new).held
    assert not reload_staging(d, old, old).held  # withdrawn
    at = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert _streak_lock(d, at) == (State.Cooldown, datetime(2026, 11, 23, 19, 1, tzinfo=UTC))
    d = Driver(engine_of(old), now=datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    d.send(account())
    assert reload_staging(d, old, new).held
    d.at(datetime(2026, 11, 23, 23, 0, 5, tzinfo=UTC))  # past the reset: the change applied
    at = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 09:00 Chicago
    assert _streak_lock(d, at) == (State.LockedDaily, datetime(2026, 11, 24, 23, 0, tzinfo=UTC))
