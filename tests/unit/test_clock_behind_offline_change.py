"""Found by a review: the redo of an offline change's unpriced reset undid `core.early`'s carry
(a position the new day opened carried -600 again: the limit 600 late)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fsm_risk import bootstrap
from fsm_risk.adapters.store import StoredAccount, restore_all
from fsm_risk.cli import _transition_offline
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.core.timers import missed_resets
from tests.factories import ACC, MES, MNQ, Driver, account, fill, position, quote, start_up_read

D = Decimal
MON_RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Mon 17:00 CST
BEHIND = timedelta(minutes=2)
STAMP = MON_RESET + timedelta(seconds=30)  # 17:00:30 gateway time, 16:58:30 ours
TUE_ADMIN = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
TUE_START = TUE_ADMIN + timedelta(minutes=5)
PRICE_AT_RESET = D("20900")

SETTINGS = """\
[general]
database = {db}
[session]
timezone = America/Chicago
daily_reset = 17:00
weekly_reset = Sun 17:00
[rule.daily_loss_limit]
limit = 800
"""


def _seed(tmp_path: Path) -> tuple[Any, Any]:
    ini = tmp_path / "settings.ini"
    ini.write_text(SETTINGS.format(db=tmp_path / "state.db"))
    settings = bootstrap.load_settings(str(ini))
    store = bootstrap.open_store(settings)
    ours = STAMP - BEHIND
    engine, _, journal = bootstrap.offline_engine(settings, store, ours)
    for ev in (
        account("50000"),
        fill(MNQ, Side.BUY, 3, "21000", order_id=20, at=STAMP),
        position(MNQ, 3, "21000", at=STAMP),
        quote(MNQ, "20950", at=ours),
    ):
        engine.handle(ev, ours)
    store.commit(engine.take_changes(), [], journal=journal.take(ours, force=True))
    return settings, store


def _service_start(settings: Any, store: Any) -> RiskEngine:
    engine = bootstrap.build_engine(settings, marks=store.marks())
    later: list[StoredAccount] = []
    restore_all(store, engine, TUE_START, later=later)
    wanted = sorted(
        {p for s in later for p in missed_resets(engine.calendar, s.snapshot, TUE_START)}
    )
    prices: dict[datetime, dict[str, Decimal]] = {}
    for at, cid in wanted:
        prices.setdefault(at, {})[cid] = PRICE_AT_RESET
    restore_all(store, engine, TUE_START, stored=later, at_reset=prices)
    return engine


@pytest.mark.parametrize("offline_admin", [False, True])
def test_new_days_position_carries_nothing_after_an_offline_change(
    tmp_path: Path, offline_admin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long 3 MNQ at 21,000 opened at 17:00:30 gateway time (16:58:30 ours), the service
    stopped then; Tuesday 08:00 an admin's offline change (an MES lock); 08:05 the start.
    The gateway's price at the reset 20,900; now 20,825: the day is at -1,050 (limit 800).
    Without the admin: the start's restore carries nothing (0be2ca2). With it: the start
    redoes the unpriced reset from the positions at the stop: -600 carried."""
    settings, store = _seed(tmp_path)
    if offline_admin:
        monkeypatch.setattr("fsm_risk.cli._now", lambda: TUE_ADMIN)
        said = _transition_offline(
            settings, store, str(ACC), MES, State.LockedDaily, "desk rule", None, "admin:ana", True
        )
        assert "LockedDaily" in said
    engine = _service_start(settings, store)
    d = Driver(engine, now=TUE_START)
    start_up_read(d, account("50000"), position(MNQ, 3, "21000", at=STAMP))
    d.send(quote(MNQ, "20825", at=d.now))
    assert d.acct.day_pnl(with_unrealized=True) == -1050
    assert d.acct.state is not State.Trading
