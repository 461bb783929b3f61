"""RULE-006: an early close listed in the settings after the exchange's regular close, while
it is shut (16:00-17:00 Chicago), stops a window the lead before that regular close.

Found by a review of 00f1b43: the cap at the regular close was made only on the eve of a
holiday or a weekend. On an ordinary weekday an early close listed after CME's 16:00 Chicago
close still set the stop. A London trader of `Mon-Fri 13:00-23:00` (07:00-17:00 CST) whose
admin lists `early_closes = 2027-01-13 22:45` (Wed, 16:45 CST: the exchange's early close
written in London time and mistyped, or the London close) was held to 16:38 CST: the flatten
was sent 38 min after CME shut, when no order can fill, and the position rode into the 17:00
reopen (1 MNQ over a 50-point gap: $100; 1 ES: $2,500). The admin asked for flat before an
early close.

What must hold: the Wednesday session stops the 7 min lead before the exchange's 16:00 CST
close (21:53 UTC), as on the eve of a holiday or weekend; an early close listed after the
17:00 reopen stays where it is written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import rule_driver, the_rule

# Wed 2027-01-13 15:00 London, 09:00 CST
OPENED = datetime(2027, 1, 13, 15, 0, tzinfo=UTC)
# Wed 2027-01-13 16:00 CST
CLOSE = datetime(2027, 1, 13, 22, 0, tzinfo=UTC)
LEAD = timedelta(minutes=7)


def stop_of(zone: str, windows: str, early: str) -> tuple[datetime | None, str | None]:
    d = rule_driver(
        TradingHours,
        OPENED,
        timezone=zone,
        windows=windows,
        flat_by="none",
        early_close_lead_minutes="7",
        exchange_calendar="none",
        early_closes=early,
    )
    status = the_rule(d, TradingHours).schedule.status(d.now)
    return status.stop, status.session.cut if status.session is not None else None


@pytest.mark.parametrize("early", ["2027-01-13 22:45", "2027-01-13 22:00", "2027-01-13 22:59"])
def test_the_wednesday_session_stops_before_the_exchange_close(early: str) -> None:
    stop, cut = stop_of("Europe/London", "Mon-Fri 13:00-23:00", early)
    assert stop == CLOSE - LEAD
    assert cut == "early_close"


def test_an_early_close_before_the_regular_close_stays_where_it_is_written() -> None:
    stop, _ = stop_of("Europe/London", "Mon-Fri 13:00-23:00", "2027-01-13 18:00")
    assert stop == datetime(2027, 1, 13, 18, 0, tzinfo=UTC) - LEAD


def test_an_early_close_after_the_reopen_stays_where_it_is_written() -> None:
    """Wed 18:00 Chicago is in the exchange's Thursday session, open again since 17:00."""
    stop, cut = stop_of("America/Chicago", "Mon-Fri 08:00-20:00", "2027-01-13 18:00")
    assert stop == datetime(2027, 1, 14, 0, 0, tzinfo=UTC) - LEAD
    assert cut == "early_close"
