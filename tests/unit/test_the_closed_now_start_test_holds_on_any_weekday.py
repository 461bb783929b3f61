"""The e2e start-up tests (`tests/e2e/test_serve_start.py`) write `closed_now()`: a `Mon-Sun`
window opening 2 h from now with `exchange_calendar = none`, and assert the banner says CLOSED
until that opening "(in 1 h 58/59 min)".

Found by a review of 00f1b43: with `none` the weekend is cut at Friday's 16:00 Chicago close
less the lead (7 min). A window opening Friday from 15:53 to 15:59 Chicago stopped before it
opened: never tradable, the next opening Saturday's, 24 h later, so the test failed whenever it
started Friday 13:53-13:59 Chicago. The product is right (the exchange is shut then); the test
depended on the weekday.

What must hold: the window `closed_now()` writes opens 2 h after the moment it was written, on
any day of the week, in summer and winter time, through Friday's last minutes before the close
and on the nights the clocks change (found by this fix: written in Chicago wall time, it opened
in 1 h from Sun 01:30 CST on the spring night, in 3 h from 00:00 CDT on the autumn one).
"""

from __future__ import annotations

import configparser
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from fsm_risk.rules.trading_hours import TradingHours
from tests.e2e.test_serve_start import closed_now
from tests.factories import rule_driver, the_rule

# Fri 2027-03-19 13:55 CDT
FRIDAY = datetime(2027, 3, 19, 18, 55, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def opens_after(now: datetime) -> datetime | None:
    """When the window `closed_now()` writes at ``now`` opens, as the rule computes it."""
    with freeze_time(now):
        text = closed_now()
    parsed = configparser.ConfigParser()
    parsed.read_string(text)
    d = rule_driver(TradingHours, now, **dict(parsed["rule.trading_hours"]))
    is_open, until = the_rule(d, TradingHours).hours(now)
    assert not is_open
    return until


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(FRIDAY - timedelta(days=1), id="thursday"),
        pytest.param(FRIDAY - 2 * MINUTE, id="opening-fri-15:53-cdt"),
        pytest.param(FRIDAY, id="opening-fri-15:55-cdt"),
        pytest.param(FRIDAY + 4 * MINUTE, id="opening-fri-15:59-cdt"),
        pytest.param(FRIDAY + 5 * MINUTE, id="opening-fri-16:00-cdt"),
        pytest.param(FRIDAY + timedelta(days=1), id="saturday"),
        pytest.param(FRIDAY + timedelta(days=2), id="sunday"),
        pytest.param(datetime(2027, 1, 15, 19, 57, tzinfo=UTC), id="opening-fri-15:57-cst"),
        # the nights the clocks change: Chicago 02:00-03:00 skipped, 01:00-02:00 repeated
        pytest.param(datetime(2027, 3, 14, 7, 30, tzinfo=UTC), id="spring-sun-01:30-cst"),
        pytest.param(datetime(2027, 11, 7, 5, 30, tzinfo=UTC), id="autumn-sun-00:30-cdt"),
        pytest.param(datetime(2027, 11, 7, 6, 30, tzinfo=UTC), id="autumn-sun-01:30-cdt"),
    ],
)
def test_the_window_closed_now_writes_opens_in_two_hours_on_any_weekday(now: datetime) -> None:
    assert opens_after(now) == now + timedelta(hours=2)
