"""Found by a hunt: an admin's `fsm-risk transition` made through the database while no
service runs, after a reset the stopped service missed, caught the account up with that reset
at the prices of the stop and wrote it. The service's start then found the stored day already
the new one, read no price at the reset, and the new day counted the open P&L made before the
reset as its own (Tuesday started +$3,000 up on Monday's gain: a $3,000 loss since the reset
left the account Trading under a $1,000 daily limit).

The change is applied and written; the reset it applied reading no price is stored as such
(`MissedResets.unpriced`), so the start reads the gateway's price at it and redoes it.

Long 3 MNQ @21,000 (quote 21,000) when the service stops Monday 09:00 CST. MNQ closes Monday's
trading day (17:00 CST) at 21,500: +$3,000 of Monday's. Tuesday 08:00 CST the admin locks MES
for the day through the database. 08:05 the service starts; MNQ 21,500, then 21,000."""

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
MON_STOP = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon 09:00 CST
MON_RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Mon 17:00 CST
TUE_ADMIN = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # Tue 08:00 CST
TUE_START = TUE_ADMIN + timedelta(minutes=5)
PRICE_AT_RESET = D("21500")

SETTINGS = """\
[general]
database = {db}
[session]
timezone = America/Chicago
daily_reset = 17:00
weekly_reset = Sun 17:00
[rule.daily_loss_limit]
limit = 1000
"""


def _seed(tmp_path: Path) -> tuple[Any, Any]:
    ini = tmp_path / "settings.ini"
    ini.write_text(SETTINGS.format(db=tmp_path / "state.db"))
    settings = bootstrap.load_settings(str(ini))
    store = bootstrap.open_store(settings)
    engine, _, journal = bootstrap.offline_engine(settings, store, MON_STOP)
    for ev in (
        account("50000"),
        fill(MNQ, Side.BUY, 3, "21000", order_id=8, at=MON_STOP),
        position(MNQ, 3, "21000", at=MON_STOP),
        quote(MNQ, "21000", at=MON_STOP),
    ):
        engine.handle(ev, MON_STOP)
    store.commit(engine.take_changes(), [], journal=journal.take(MON_STOP, force=True))
    return settings, store


def _service_start(settings: Any, store: Any) -> tuple[RiskEngine, list[tuple[datetime, str]]]:
    """What `Service.start` does with the store: `restore_all(later=...)`, the accounts held
    back valued at the gateway's price at each (reset, contract) `missed_resets` asks for."""
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
    return engine, wanted


@pytest.mark.parametrize("offline_admin", [False, True])
def test_the_start_reads_the_price_at_a_reset_an_offline_change_applied(
    tmp_path: Path, offline_admin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store = _seed(tmp_path)
    if offline_admin:
        monkeypatch.setattr("fsm_risk.cli._now", lambda: TUE_ADMIN)  # the admin's clock
        said = _transition_offline(
            settings, store, str(ACC), MES, State.LockedDaily, "desk rule", None, "admin:ana", True
        )
        assert "LockedDaily" in said
    engine, wanted = _service_start(settings, store)
    d = Driver(engine, now=TUE_START)
    acct = d.acct
    # the start-up read: still long 3 @21,000, nothing traded while stopped; MNQ at 21,500
    start_up_read(d, account("50000"), position(MNQ, 3, "21000", at=MON_STOP))
    d.send(quote(MNQ, "21500", at=d.now))
    assert acct.day.start == MON_RESET
    assert acct.day_pnl(with_unrealized=True) == 0, "Monday's +3,000 counted as Tuesday's"
    assert acct.day.carry == 3000
    assert wanted == [(MON_RESET, MNQ)], "the price at the missed reset is read at the start"
    if offline_admin:  # the admin's lock is kept
        assert acct.contracts[MES].state is State.LockedDaily
    d.now += timedelta(minutes=10)
    d.send(quote(MNQ, "21000", at=d.now))  # -3,000 since the reset
    assert acct.day_pnl(with_unrealized=True) == -3000
    assert acct.state is not State.Trading


def test_a_second_offline_change_keeps_the_reset_unpriced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two changes through the database before the start: the second restores the first's
    record (its reset still unread), and a start restoring it reads the price at the reset;
    once read and redone, a restart asks for it no more."""
    settings, store = _seed(tmp_path)
    monkeypatch.setattr("fsm_risk.cli._now", lambda: TUE_ADMIN)
    for scope in (MES, None):
        _transition_offline(
            settings, store, str(ACC), scope, State.LockedDaily, "desk", None, "admin:ana", True
        )
    [stored] = store.accounts()
    assert missed_resets(bootstrap.build_engine(settings).calendar, stored.snapshot, TUE_START) == [
        (MON_RESET, MNQ)
    ]
    engine, _ = _service_start(settings, store)
    acct = engine.accounts[ACC]
    assert acct.day.carry == 3000
    assert acct.missed is not None and acct.missed.unpriced == []
    assert acct.state is State.LockedDaily
    store.commit(engine.take_changes(), [])
    [stored] = store.accounts()
    assert missed_resets(engine.calendar, stored.snapshot, TUE_START) == []
