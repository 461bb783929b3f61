"""A start reads back only the trade ids a reconciliation can list again (those since the
earlier of the day's and the week's start), never the weeks before: what it costs follows what
the window holds. A trade of the window re-read after the start is still applied once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.core.effects import Effect, RecordTransition
from tests.factories import ES, MNQ, T0, Driver, account, make_engine
from tests.store_load import round_trips


def _commit(store: Store, d: Driver, effects: list[Effect]) -> None:
    audit = [e.entry for e in effects if isinstance(e, RecordTransition)]
    store.commit(d.engine.take_changes(), audit, d.engine.marks)


def test_a_start_reads_the_trade_ids_of_the_reconciliation_window_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    d = Driver(make_engine(), now=T0 - timedelta(days=3))  # last Friday
    _commit(store, d, d.send(account(), *round_trips(300, ES, at=d.now)))
    d.now = T0  # this week
    this_week = round_trips(5, MNQ, at=T0)
    _commit(store, d, d.send(*this_week))
    window = min(d.acct.day.start, d.acct.week.start)
    assert len(d.acct.seen_trades) == 610  # the running engine still holds last week's
    week = d.acct.week.realized
    store.close()

    store = Store(tmp_path / "s.db")
    [stored] = store.accounts()
    assert set(stored.history.seen) == {f.trade_id for f in this_week}
    assert all(t >= window for _, t in stored.history.seen.items())
    d2 = Driver(make_engine())
    _commit(store, d2, restore_all(store, d2.engine, d2.now)[0])
    _commit(store, d2, d2.send(*this_week))  # a reconciliation lists the week again
    assert d2.acct.week.realized == week and len(d2.acct.day.fills) == 10
    store.close()
