"""RULE-006 windows written in a zone east of Chicago are dated by the exchange's session
they trade in: a CME session opens at 17:00 Chicago the day before its date.

Found by a review of c796fa8 (which dated a session by its end's date in Chicago): a window
of Sydney's 10:00-16:00 (17:00-23:00 the previous Chicago day) lies wholly inside the CME
session dated the next day, and was looked up one session early: the day after each US early
close (MLK, Presidents', Memorial, Thanksgiving...) the trader was flattened and locked in a
normal, open session."""

from __future__ import annotations

from datetime import UTC, datetime

from fsm_risk.core.states import State
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import MNQ, position, rule_driver

SYD = {"timezone": "Australia/Sydney", "windows": "Mon-Fri 10:00-16:00"}


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def test_sydney_black_friday_morning_is_an_open_cme_session() -> None:
    # Fri 2026-11-27 12:00 AEDT = Fri 01:00 UTC = Thu 2026-11-26 19:00 CST: CME reopened at
    # 17:00 CT after Thanksgiving's 12:00 CT halt; the session (dated Fri 11-27) runs to
    # 12:15 CT Friday. The window (17:00-23:00 CST) is wholly inside it.
    at = utc(2026, 11, 27, 1, 0)
    d = rule_driver(TradingHours, at, **SYD)
    d.send(position(MNQ, 1, "21000", at=at))
    assert d.acct.state is State.Trading, "locked in an open CME session (Thanksgiving's close)"


def test_sydney_day_after_mlk_is_an_open_cme_session() -> None:
    # Tue 2026-01-20 12:00 AEDT = Mon 01-19 19:00 CST: MLK's 12:00 CT halt is over, CME reopened
    # at 17:00 CT for the session dated Tue 01-20 (a normal one).
    at = utc(2026, 1, 20, 1, 0)
    d = rule_driver(TradingHours, at, **SYD)
    d.send(position(MNQ, 1, "21000", at=at))
    assert d.acct.state is State.Trading, "locked in an open CME session (MLK's early close)"
