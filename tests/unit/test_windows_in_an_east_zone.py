"""RULE-006 with its windows written in a zone east of about UTC+2 (Singapore, Tokyo,
Sydney, Moscow...) looks the exchange's holidays and early closes up by the exchange's own
session date.

Found by a hunt: sessions were dated by their close in the rule's zone (the next day there),
so the library's CME-dated days were looked up one session late: on Black Friday the
position was held through the 12:15 CT early close (the exchange then shut until Sunday),
and the ordinary session of New Year's Eve was taken for the New Year's Day holiday.

The windows below are exactly the CME equity session written in Singapore time (CST + 14 h
in November/December: Sun 17:00 CT = Mon 07:00 SGT; 16:00 CT = 06:00 SGT the next day), and
flat_by 05:08 SGT = 15:08 CT, i.e. the same schedule as the default Chicago one."""

from __future__ import annotations

from datetime import UTC, datetime

from fsm_risk.core.states import State
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import ES, MNQ, Driver, Side, closes, order, position, rule_driver

SGT = {"timezone": "Asia/Singapore", "windows": "Mon-Fri 07:00-06:00", "flat_by": "05:08"}


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def held(at: datetime, **raw: str) -> Driver:
    d = rule_driver(TradingHours, at, **raw)
    d.send(position(MNQ, 1, "21000", at=at), order(5, ES, Side.BUY, 1, limit="5900", at=at))
    return d


def test_black_friday_chicago_flattens_before_the_early_close() -> None:
    d = held(utc(2026, 11, 27, 15, 0))  # Fri 09:00 CT; CME closes 12:15 CT (18:15 UTC)
    out = d.at(utc(2026, 11, 27, 18, 8))
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_black_friday_singapore_flattens_before_the_early_close() -> None:
    d = held(utc(2026, 11, 27, 15, 0), **SGT)  # the same instant, the same session
    out = d.at(utc(2026, 11, 27, 18, 8))  # 12:08 CT, the early close's lead
    assert [c.contract_id for c in closes(out)] == [MNQ], "held through the early close"
    assert d.acct.state is not State.Trading


def test_new_years_eve_singapore_is_a_normal_session() -> None:
    d = rule_driver(TradingHours, utc(2026, 12, 31, 15, 0), **SGT)  # Thu 09:00 CT: regular
    d.send(position(MNQ, 1, "21000", at=d.now))
    assert d.acct.state is State.Trading, "a normal CME session is taken for a holiday"


def test_new_years_eve_chicago_is_a_normal_session() -> None:
    d = rule_driver(TradingHours, utc(2026, 12, 31, 15, 0))
    d.send(position(MNQ, 1, "21000", at=d.now))
    assert d.acct.state is State.Trading
