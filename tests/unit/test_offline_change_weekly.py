"""Checked by a review: the offline change after a missed WEEKLY reset (and the daily resets before
it), and a second offline change after one more missed reset: the start reads the price at
every reset the changes applied unpriced, and the week's and the day's carries are the open
P&L at the gateway's price at their own reset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fsm_risk import bootstrap
from fsm_risk.adapters.store import StoredAccount, restore_all
from fsm_risk.cli import _transition_offline
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.core.timers import missed_resets
from tests.factories import ACC, MES, MNQ, Driver, account, fill, position, quote, start_up_read
from tests.unit.test_offline_change_after_missed_reset import SETTINGS

D = Decimal
FRI_STOP = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Fri 09:00 CST
FRI_RESET = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)  # Fri 17:00 CST
SAT_RESET = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)  # Sat 17:00 CST (the calendar's day)
SUN_RESET = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # Sun 17:00 CST: week and day
MON_RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Mon 17:00 CST
PRICE = {FRI_RESET: D("21100"), SAT_RESET: D("21100"), SUN_RESET: D("21500"), MON_RESET: D("21300")}


def _seed(tmp_path: Path) -> tuple[Any, Any]:
    ini = tmp_path / "settings.ini"
    ini.write_text(SETTINGS.format(db=tmp_path / "state.db"))
    settings = bootstrap.load_settings(str(ini))
    store = bootstrap.open_store(settings)
    engine, _, journal = bootstrap.offline_engine(settings, store, FRI_STOP)
    for ev in (
        account("50000"),
        fill(MNQ, Side.BUY, 3, "21000", order_id=8, at=FRI_STOP),
        position(MNQ, 3, "21000", at=FRI_STOP),
        quote(MNQ, "21000", at=FRI_STOP),
    ):
        engine.handle(ev, FRI_STOP)
    store.commit(engine.take_changes(), [], journal=journal.take(FRI_STOP, force=True))
    return settings, store


@pytest.mark.parametrize("admins", [(), (1,), (1, 2)])
def test_offline_changes_across_the_week_leave_every_price_to_the_start(
    tmp_path: Path, admins: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store = _seed(tmp_path)
    when = {1: SUN_RESET + timedelta(hours=15), 2: MON_RESET + timedelta(hours=15)}
    for a in admins:
        monkeypatch.setattr("fsm_risk.cli._now", lambda a=a: when[a])
        _transition_offline(
            settings, store, str(ACC), MES, State.LockedDaily, "desk", None, "admin:ana", True
        )
    start = MON_RESET + timedelta(hours=15, minutes=5)  # Tue 08:05 CST
    engine = bootstrap.build_engine(settings, marks=store.marks())
    later: list[StoredAccount] = []
    restore_all(store, engine, start, later=later)
    wanted = sorted({p for s in later for p in missed_resets(engine.calendar, s.snapshot, start)})
    assert wanted == [(r, MNQ) for r in (FRI_RESET, SAT_RESET, SUN_RESET, MON_RESET)]
    prices: dict[datetime, dict[str, Decimal]] = {}
    for at, cid in wanted:
        prices.setdefault(at, {})[cid] = PRICE[at]
    restore_all(store, engine, start, stored=later, at_reset=prices)
    d = Driver(engine, now=start)
    start_up_read(d, account("50000"), position(MNQ, 3, "21000", at=FRI_STOP))
    d.send(quote(MNQ, "21300", at=d.now))
    acct = d.acct
    assert (acct.week.start, acct.day.start) == (SUN_RESET, MON_RESET)
    assert acct.week.carry == 3000  # 3 MNQ at 21,500 (Sunday's reset)
    assert acct.day.carry == 1800  # at 21,300 (Monday's)
    assert acct.week_pnl(with_unrealized=True) == -1200
    assert acct.day_pnl(with_unrealized=True) == 0
