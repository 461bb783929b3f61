"""A reload that turns an early-close day into a holiday while it drops another holiday
keeps that day closed: the early close dropped waits for the reset with the holiday list.

Found by a hunt: the early close dropped was judged stricter beside the file's new holidays,
so it went at once, while the holiday list (2026-12-30 dropped) was looser and held for the
reset: until the reset, 2026-12-29 was neither an early close nor a holiday, a full trading
day, and a position open at 12:30 Chicago was kept where both files close it."""

from __future__ import annotations

from datetime import UTC, datetime

from fsm_risk import config, reload
from fsm_risk.core.states import State
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import MNQ, position, rule_driver

OLD = "[rule.trading_hours]\nearly_closes = 2026-12-29 12:15\nextra_holidays = 2026-12-30\n"
NEW = "[rule.trading_hours]\nearly_closes =\nextra_holidays = 2026-12-29\n"
AT = datetime(2026, 12, 29, 18, 30, tzinfo=UTC)  # Tue 12:30 Chicago


def closed_at_1230(raw: dict[str, str]) -> bool:
    d = rule_driver(TradingHours, AT, **{k: v for k, v in raw.items() if k != "enabled"})
    d.send(position(MNQ, 1, "21000", at=AT))
    return d.acct.state is not State.Trading


def test_a_day_made_a_holiday_in_place_of_its_early_close_stays_closed_until_the_reset() -> None:
    old, new = config.parse(OLD), config.parse(NEW)
    assert closed_at_1230(dict(old.raw_rules["trading_hours"]))
    assert closed_at_1230(dict(new.raw_rules["trading_hours"]))
    p = reload.plan(old, new)
    assert closed_at_1230(p.now["trading_hours"]), "2026-12-29 a full day until the reset"
    assert not p.tightened and {c.key for c in p.held} == {"early_closes", "extra_holidays"}


def test_an_early_close_dropped_for_a_holiday_added_still_goes_at_once() -> None:
    """The holiday list only grows: both are stricter, both go now."""
    old = config.parse(OLD)
    new = config.parse(NEW.replace("= 2026-12-29\n", "= 2026-12-29, 2026-12-30\n"))
    p = reload.plan(old, new)
    assert {c.key for c in p.tightened} == {"early_closes", "extra_holidays"} and not p.held
    assert closed_at_1230(p.now["trading_hours"])
