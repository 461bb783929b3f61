"""RULE-006: a date listed in `extra_holidays` or `early_closes` by the admin of a Chicago
trader with a day window and an evening window must not close the next day's day session.

Found by a review of 065103e. The settings' dates are now turned into the exchange's dates as
the schedule is built: a date means the exchange session of every session of the trader's dated
that day. A Chicago trader of `Mon-Fri 08:00-15:00, Sun-Thu 18:00-23:00` has two sessions
dated Wed 2027-01-13: the day one trades in the exchange's Wed session, the evening one (after
CME's 17:00 reopen) in the exchange's Thu session. So `extra_holidays = 2027-01-13` (the date
a US admin writes for a CME closure on Wednesday, and the trader's date too) also made the
exchange's Thursday a holiday, and the trader's Thu 08:00-15:00 CST session, which closes on
Thursday and trades in an ordinary exchange session, was locked all day: a position held then
is flattened and the account locked. `early_closes = 2027-01-13 12:00` likewise gave the
exchange's Thursday an early close at Wed 12:00, before the Thursday session opens: Thursday's
day session was never tradable. Before 065103e both read the listed date as the trader's and
Thursday traded. Neither date was listed for Thursday. 065103e was reverted (0fac103); this
stays as a guard.

What must hold: the trader's Thursday day session (08:00-15:00 CST, the exchange's ordinary
Thu 2027-01-14) is no holiday, stops at its end, and a position held in it at 09:00 CST is not
closed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from fsm_risk.core.states import State
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import MNQ, Driver, closes, position, rule_driver, the_rule

CHICAGO = {
    "timezone": "America/Chicago",
    "windows": "Mon-Fri 08:00-15:00, Sun-Thu 18:00-23:00",
    "flat_by": "none",
    "early_close_lead_minutes": "7",
    "exchange_calendar": "none",
}
THURSDAY = date(2027, 1, 14)
# Thu 2027-01-14 08:00 and 15:00 CST
THURSDAY_OPEN = datetime(2027, 1, 14, 14, 0, tzinfo=UTC)
THURSDAY_END = datetime(2027, 1, 14, 21, 0, tzinfo=UTC)
# Thu 2027-01-14 09:00 CST
HELD = datetime(2027, 1, 14, 15, 0, tzinfo=UTC)

LISTED = [
    pytest.param({"extra_holidays": "2027-01-13"}, id="holiday-wed"),
    pytest.param({"early_closes": "2027-01-13 12:00"}, id="early-close-wed"),
]


def driver(raw: dict[str, str]) -> Driver:
    return rule_driver(TradingHours, HELD, **(CHICAGO | raw))


@pytest.mark.parametrize("raw", LISTED)
def test_the_thursday_day_session_trades_to_its_end(raw: dict[str, str]) -> None:
    schedule = the_rule(driver(raw), TradingHours).schedule
    day, _evening = schedule.sessions_starting(THURSDAY)
    assert day.open == THURSDAY_OPEN
    assert (day.holiday, day.stop, day.cut) == (False, THURSDAY_END, "end")
    assert day.tradable


@pytest.mark.parametrize("raw", LISTED)
def test_a_position_held_on_thursday_morning_is_not_closed(raw: dict[str, str]) -> None:
    d = driver(raw)
    effects = d.send(position(MNQ, 1, "21000", at=HELD))
    assert closes(effects) == []
    assert d.acct.state is State.Trading


def test_the_wednesday_day_session_is_still_the_holiday() -> None:
    # guard: the listed day itself is a holiday for the trader
    schedule = the_rule(driver({"extra_holidays": "2027-01-13"}), TradingHours).schedule
    day, _evening = schedule.sessions_starting(date(2027, 1, 13))
    assert day.holiday
