"""Times in the audit's reasons are shown in the display zone, as everywhere else.

`[general] display_timezone` London, the session and the trading windows in Chicago: RULE-006's
flat-by and next-open times and RULE-009's open time were written in Chicago time (CST) in the
audit log and `status`, beside every other time shown in London (GMT)."""

from __future__ import annotations

from datetime import UTC, datetime

from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.events import Side
from fsm_risk.rules.position_hold_time import PositionHoldTime
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import MNQ, Driver, account, fill, make_engine, position

OPENED = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # Mon 14:00 CST, 20:00 GMT


def reasons(display_tz: str | None) -> list[str]:
    rules = {TradingHours: {}, PositionHoldTime: {"limit_minutes": "60"}}
    d = Driver(make_engine(rules, display_tz=display_tz), now=OPENED)
    d.send(
        account("50000"),
        fill(MNQ, Side.BUY, 1, "21000", order_id=1, at=OPENED),
        position(MNQ, 1, "21000", at=OPENED),
    )
    out = d.at(datetime(2026, 11, 23, 21, 0, tzinfo=UTC))  # held 60 min: RULE-009
    d.send(position(MNQ, 1, "21000", at=OPENED))
    out += d.at(datetime(2026, 11, 23, 21, 8, tzinfo=UTC))  # 15:08 CST: RULE-006's flat-by
    return [e.entry.reason for e in out if isinstance(e, RecordTransition)]


def test_rule_006_and_009_reasons_are_in_the_display_zone() -> None:
    shown = " | ".join(reasons("Europe/London"))
    assert "open since 2026-11-23 20:00:00 GMT" in shown  # RULE-009's open time
    # RULE-006: flat by 15:08 Chicago, the next window at 17:00 Chicago
    assert "past the flat-by time Mon 2026-11-23 21:08 GMT" in shown
    assert "next window opens Mon 2026-11-23 23:00 GMT" in shown
    assert "CST" not in shown, shown


def test_without_a_display_zone_they_are_in_the_session_zone() -> None:
    shown = " | ".join(reasons(None))
    assert "open since 2026-11-23 14:00:00 CST" in shown
    assert "past the flat-by time Mon 2026-11-23 15:08 CST" in shown
    assert "GMT" not in shown
