"""Checked by a review: the offline change after a missed reset, when the trader CLOSED the position
while the service was stopped, before the reset (sold 3 MNQ @21,500 Monday 16:00 CST: +$3,000,
Monday's). The start reads the price at the reset for the MNQ held at the stop and redoes the
reset; the start-up read's trades then redo it again from what was held at it (nothing): the
new day carries nothing and its P&L is 0, the +$3,000 is Monday's. Then a -$1,000 MES loss
fires the $1,000 limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fsm_risk.cli import _transition_offline
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from tests.factories import (
    ACC,
    MES,
    MNQ,
    Driver,
    account,
    fill,
    flat,
    position,
    quote,
    start_up_read,
)
from tests.unit.test_offline_change_after_missed_reset import (
    MON_RESET,
    TUE_ADMIN,
    TUE_START,
    _seed,
    _service_start,
)

MON_CLOSE = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # Mon 16:00 CST, stopped


@pytest.mark.parametrize("offline_admin", [False, True])
def test_a_position_closed_while_stopped_carries_nothing(
    tmp_path: Path, offline_admin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store = _seed(tmp_path)
    if offline_admin:
        monkeypatch.setattr("fsm_risk.cli._now", lambda: TUE_ADMIN)
        _transition_offline(
            settings, store, str(ACC), MES, State.LockedDaily, "desk", None, "admin:ana", True
        )
    engine, wanted = _service_start(settings, store)  # the gateway's MNQ at the reset: 21,500
    assert wanted == [(MON_RESET, MNQ)]
    d = Driver(engine, now=TUE_START)
    acct = d.acct
    sold = fill(MNQ, Side.SELL, 3, "21500", order_id=9, at=MON_CLOSE, pnl="3000", trade_id=77)
    start_up_read(d, account("53000"), sold, flat(MNQ, at=MON_CLOSE))
    assert acct.day.start == MON_RESET
    assert acct.day.carry == 0
    assert acct.day_pnl(with_unrealized=True) == 0, "Monday's +3,000 is not Tuesday's"
    d.now += timedelta(minutes=1)
    d.send(
        fill(MES, Side.BUY, 1, "6000", order_id=10, at=d.now),
        position(MES, 1, "6000", at=d.now),
        quote(MES, "5810", at=d.now),
    )
    assert acct.state is State.Trading
    d.send(quote(MES, "5800", at=d.now))
    assert acct.day_pnl(with_unrealized=True) == -1000
    assert acct.state is not State.Trading
