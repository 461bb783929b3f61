"""RULE-006: a holiday the admin adds in `extra_holidays` must stop the window before it the
lead before the exchange's close, as the library's holidays do (README: "a holiday added there
stops the window of the day before"), whatever the trader's zone.

Found by a review of 00f1b43 (a Tokyo trader). The settings' dates are the trader's ("the
session that closes that day", in the rule's time zone) and `is_holiday` read them so; the
eve-of-closure cut read the same list by the exchange's (Chicago) date. For a trader far east
of Chicago the two differ by a day, so the cut was missed. Tokyo `Tue-Sat 05:00-11:00` is
14:00-20:00 Chicago the day before. The exchange is shut on Wed 2027-01-13 (a closure added by
hand, as for a national day of mourning). The Tokyo session trading in it is the one that
closes Thu 2027-01-14 Tokyo, so the admin lists 2027-01-14, and that session is a holiday.
But the Tokyo Wed 2027-01-13 session (Tue 14:00-20:00 CST) ran past Tuesday's 16:00 CST close
into the closure: a position still held at its 20:00 CST end could not be closed until Wed
17:00 CST, 25 hours past the 15:53 at which it had to be flat.

What must hold: a settings date is the trader's everywhere, turned into the exchange's once;
the Tokyo Wed session stops at Tue 15:53 CST (21:53 UTC), cut holiday_close, and the Tokyo Thu
session is the holiday; with no Tokyo window dated on the listed day, the date still names the
exchange session a window of the trader's would trade in that day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fsm_risk.core.states import State
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import MNQ, Driver, closes, position, rule_driver, the_rule

SECOND = timedelta(seconds=1)
TOKYO = {
    "timezone": "Asia/Tokyo",
    "windows": "Tue-Sat 05:00-11:00",
    "flat_by": "none",
    "early_close_lead_minutes": "7",
    "exchange_calendar": "none",
    # the Tokyo session that trades in the exchange's Wed 2027-01-13
    "extra_holidays": "2027-01-14",
}
# Tue 2027-01-12 16:00 CST, the exchange's close before its closure, less the 7 min lead
CUT = datetime(2027, 1, 12, 22, 0, tzinfo=UTC) - timedelta(minutes=7)
# Wed 2027-01-13 06:00 Tokyo (Tue 15:00 CST)
OPENED = datetime(2027, 1, 12, 21, 0, tzinfo=UTC)


def held(**raw: str) -> Driver:
    """One MNQ held since Wed 2027-01-13 06:00 Tokyo under the Tokyo windows."""
    d = rule_driver(TradingHours, OPENED, **(TOKYO | raw))
    d.send(position(MNQ, 1, "21000", at=OPENED))
    assert d.acct.state is State.Trading
    return d


def test_the_admins_date_is_the_tokyo_session_trading_in_the_closure() -> None:
    schedule = the_rule(held(), TradingHours).schedule
    [s] = schedule.sessions_starting(date(2027, 1, 14))
    assert (s.day, s.holiday) == (date(2027, 1, 14), True)
    assert s.open == datetime(2027, 1, 13, 20, 0, tzinfo=UTC)  # Wed 14:00 CST
    [before] = schedule.sessions_starting(date(2027, 1, 13))
    assert (before.day, before.holiday) == (date(2027, 1, 13), False)


def test_the_tokyo_session_before_an_extra_holiday_stops_before_the_exchange_close() -> None:
    d = held()
    status = the_rule(d, TradingHours).schedule.status(d.now)
    assert status.session is not None
    assert (status.stop, status.session.cut) == (CUT, "holiday_close")
    d.at(CUT - SECOND)
    assert d.acct.state is State.Trading
    assert [str(c.contract_id) for c in closes(d.at(CUT))] == [str(MNQ)]


def test_the_same_holiday_cuts_with_the_library_calendar_too() -> None:
    d = held(exchange_calendar="CME Globex Equity")
    status = the_rule(d, TradingHours).schedule.status(d.now)
    assert status.session is not None
    assert (status.stop, status.session.cut) == (CUT, "holiday_close")


def test_a_date_with_no_window_of_the_traders_names_the_session_a_window_would_trade_in() -> None:
    # only the Tokyo Wednesday window: no session is dated Thu 2027-01-14 in Tokyo
    d = held(windows="Wed 05:00-11:00")
    status = the_rule(d, TradingHours).schedule.status(d.now)
    assert status.session is not None
    assert (status.stop, status.session.cut) == (CUT, "holiday_close")


def test_an_early_close_listed_after_the_regular_close_never_holds_a_friday_past_it() -> None:
    # found by this fix's sweep of the settings' dates: the weekend cut took the listed early
    # close as the close (London Fri 22:45 is 16:45 CST, after the 16:00 close): the window
    # stopped at 16:38 CST, the exchange shut from 16:00 for 49 hours
    opened = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)  # Fri 15:00 London, 09:00 CST
    d = rule_driver(
        TradingHours,
        opened,
        timezone="Europe/London",
        windows="Mon-Fri 13:00-23:00",
        flat_by="none",
        early_close_lead_minutes="7",
        exchange_calendar="none",
        early_closes="2027-01-15 22:45",
    )
    status = the_rule(d, TradingHours).schedule.status(d.now)
    assert status.session is not None
    friday_close = datetime(2027, 1, 15, 22, 0, tzinfo=UTC)  # 16:00 CST
    assert (status.stop, status.session.cut) == (
        friday_close - timedelta(minutes=7),
        "weekend_close",
    )
