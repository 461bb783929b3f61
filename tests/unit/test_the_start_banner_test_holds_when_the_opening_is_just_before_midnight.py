"""The e2e start-up test `test_serve_says_at_start_that_trading_hours_are_closed_and_when_they_open`
writes `closed_now()` (a window opening 2 h from now, to the minute), starts serve, reads the
banner, and builds the expected line (`closed_until`) after serve's start.

Found by a review of 00f1b43 (the banner on every day): the window's opening is ``now + 2 h``
cut down to the minute when the file is written; the test's ``now`` was taken seconds later,
after serve had started. Written from Chicago 21:59:00 to 21:59:59, the opening is 23:59 the
same day, so the banner says ``CLOSED until 23:59 CST``, while the test's ``now + 2 h``, taken
after 22:00:00, was already the next day: it expected ``CLOSED until Tue 23:59 CST`` and
failed. The product is right; the test depended on the second it started at (about the
start's seconds a day, on every day of the year, DST nights included).

What must hold: the banner line the product prints for the window `closed_now()` wrote matches
the e2e test's expected line (built from the opening written, with the test's clock read after
serve's start, here 3 s later), at 21:59:xx Chicago, on the evenings before the clocks change,
and across a midnight between the file written and the banner read.
"""

from __future__ import annotations

import configparser
import re
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from fsm_risk import status
from fsm_risk.rules.trading_hours import TradingHours
from tests.e2e.test_serve_start import closed_now, closed_until
from tests.factories import rule_driver, the_rule

START = timedelta(seconds=3)  # serve's start, from the file written to the banner read


def written_and_banner(written: datetime, shown: datetime) -> tuple[str, str]:
    """The file `closed_now()` writes at ``written`` and the product's 'CLOSED until ...'
    words for it, as serve shows them at ``shown`` in the session's zone (Chicago)."""
    with freeze_time(written):
        text = closed_now()
    parsed = configparser.ConfigParser()
    parsed.read_string(text)
    d = rule_driver(TradingHours, shown, **dict(parsed["rule.trading_hours"]))
    is_open, until = the_rule(d, TradingHours).hours(shown)
    assert not is_open and until is not None
    snap = {
        "at": shown.isoformat(),
        "timezone": "America/Chicago",
        "hours": {"open": False, "until": until.isoformat()},
    }
    return text, status.headline_hours(snap)


@pytest.mark.parametrize(
    "written",
    [
        pytest.param(datetime(2027, 1, 12, 3, 59, 58, tzinfo=UTC), id="tue-21:59:58-cst"),
        pytest.param(datetime(2027, 7, 13, 2, 59, 59, tzinfo=UTC), id="tue-21:59:59-cdt"),
        # the evenings before the clocks change (Sat 21:59 Chicago)
        pytest.param(datetime(2027, 3, 14, 3, 59, 58, tzinfo=UTC), id="sat-21:59:58-spring"),
        pytest.param(datetime(2027, 11, 7, 2, 59, 58, tzinfo=UTC), id="sat-21:59:58-autumn"),
        # written before midnight Chicago, shown after it: the opening is the day shown
        pytest.param(datetime(2027, 1, 12, 5, 59, 58, tzinfo=UTC), id="mon-23:59:58-cst"),
        pytest.param(datetime(2027, 1, 12, 15, 0, 30, tzinfo=UTC), id="guard-tue-09:00:30-cst"),
        pytest.param(datetime(2027, 1, 12, 4, 30, 0, tzinfo=UTC), id="guard-mon-22:30-cst"),
    ],
)
def test_the_banner_matches_the_e2e_tests_expectation(written: datetime) -> None:
    shown = written + START
    text, banner = written_and_banner(written, shown)
    assert re.fullmatch(closed_until(text, written, shown + timedelta(seconds=1)), banner)
