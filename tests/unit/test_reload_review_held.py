"""Found by a review of the reload direction: what a stricter setting still missed. A flat-by
judged stricter that stopped later on a night its wall time did not exist (Cairo's 00:30 in
the 00:00-01:00 spring-forward gap); RULE-012's ``loss`` lowered below a loss just taken; and
RULE-011's ``lock`` changed from a cooldown to the daily lock, held for the reset."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fsm_risk import reload
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.rules.trading_hours import TradingHours
from tests.unit.test_reload_direction import engine_of, settings

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
