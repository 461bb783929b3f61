"""RULE-006 trading_hours: a window that ends at a wall time the daylight-saving night does not
have (02:30 on 2026-03-08) or has twice (01:30 on 2026-11-01), and a restart inside the
repeated hour. The calendar's rule: a time in the gap moves forward by the gap's length, an
ambiguous one is its first occurrence (the earlier, the stricter for an end)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.trading_hours import TradingHours
from tests.factories import MNQ, closes, flat, position, restart, rule_driver, rule_engine
from tests.unit.test_edges_rule_001_002_contracts import start_up_read

SECOND = timedelta(seconds=1)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


@pytest.mark.parametrize(
    ("windows", "opened", "end", "next_open"),
    [
        # Sat 22:00 CST -> Sun 02:30, a wall time that never comes: 03:30 CDT, 08:30 UTC
        ("Sat 22:00-02:30", utc(2026, 3, 8, 6), utc(2026, 3, 8, 8, 30), utc(2026, 3, 15, 3)),
        # Sat 22:00 CDT -> Sun 01:30, twice that night: the first, 01:30 CDT, 06:30 UTC
        ("Sat 22:00-01:30", utc(2026, 11, 1, 5), utc(2026, 11, 1, 6, 30), utc(2026, 11, 8, 4)),
    ],
    ids=["spring-forward-gap", "fall-back-repeat"],
)
def test_a_window_ending_at_a_missing_or_repeated_wall_time(
    windows: str, opened: datetime, end: datetime, next_open: datetime
) -> None:
    raw = {"windows": windows, "flat_by": "", "exchange_calendar": "none"}
    d = rule_driver(TradingHours, opened, **raw)
    d.send(position(MNQ, 1, "21000", at=opened))
    assert d.acct.state is State.Trading
    assert d.engine.next_deadline() == end
    assert closes(d.at(end - SECOND)) == []
    assert [c.contract_id for c in closes(d.at(end))] == [MNQ]
    assert d.acct.holds["RULE-006"].reason is Reason.OUTSIDE_TRADING_HOURS
    assert d.acct.holds["RULE-006"].until == next_open


def test_a_restart_in_the_second_copy_of_the_repeated_hour_keeps_the_window_closed() -> None:
    # the window ended at the first 01:30 (06:30 UTC); the service restarts at the second
    # 01:30 (CST, 07:30 UTC): same wall time, but the window is over and the lock holds
    raw = {"windows": "Sat 22:00-01:30", "flat_by": "", "exchange_calendar": "none"}
    opened = utc(2026, 11, 1, 5)
    d = rule_driver(TradingHours, opened, **raw)
    d.send(position(MNQ, 1, "21000", at=opened))
    d.at(utc(2026, 11, 1, 6, 30))
    assert d.acct.state is State.Flattening
    engine = partial(rule_engine, TradingHours, **raw)
    again = restart(d, engine, at=utc(2026, 11, 1, 7, 30))
    out = start_up_read(again, position(MNQ, 1, "21000", at=opened))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    again.send(flat(MNQ, at=again.now))
    assert again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-006"].until == utc(2026, 11, 8, 4)
