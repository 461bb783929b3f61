"""A restart must not value a position opened after it at a price saved long before.

Running, the engine keeps a mark only for a contract someone holds: when the last holder goes
flat the mark is dropped ("unwatched, its price moves unseen: the next position waits for a
fresh quote"). The store's mark rows are never dropped, and a start loads every one of them
into the engine: a contract nobody held at the restart keeps its old price as if it were a
live mark, and the next position in it is valued at that price until a quote comes.

Found by a differential soak (uninterrupted vs saved and restored at random instants): a
short 3 ES opened a day and a half after the last ES quote was valued at the old price
(-$13,237.50) and the trailing drawdown locked the account for the week; the uninterrupted
run did nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.config import build_rule
from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.engine import EngineSettings, RiskEngine
from fsm_risk.core.events import InstrumentInfo, Side
from fsm_risk.core.models import InstrumentBook, Mark
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import ES, MNQ, T0, D, Driver, account, closes, fill, position, quote

ES_INFO = InstrumentInfo(ES, D("0.25"), D("12.5"))
MNQ_INFO = InstrumentInfo(MNQ, D("0.25"), D("0.5"))


def engine(marks: dict[str, Mark] | None = None) -> RiskEngine:
    """As `bootstrap.build_engine`: the marks handed in are the store's."""
    es = EngineSettings(SessionCalendar())
    instruments, m = InstrumentBook(), dict(marks or {})
    ctx = RiskEngine.context(es, instruments, m)
    rules = [build_rule(DailyLossLimit, ctx, {"limit": "1000"})]
    return RiskEngine(es, rules, instruments, m)


def commit(store: Store, d: Driver, out: list[Effect]) -> None:
    """As `Service._commit`: the changes, the audit and the marks (for `status`)."""
    audit = [e.entry for e in out if isinstance(e, RecordTransition)]
    store.commit(d.engine.take_changes(), audit, d.engine.marks)


def trade_es_then_go_flat(store: Store, d: Driver) -> None:
    """Monday 09:00 Chicago: 1 ES bought at 6000 and sold at 6000, quoted meanwhile."""
    commit(store, d, d.send(ES_INFO, account("50000")))
    commit(store, d, d.send(fill(ES, Side.BUY, 1, "6000", at=d.now)))
    commit(store, d, d.send(position(ES, 1, "6000", at=d.now), quote(ES, "6000", at=d.now)))
    d.now += timedelta(seconds=5)
    commit(store, d, d.send(fill(ES, Side.SELL, 1, "6000", pnl="0", at=d.now)))
    commit(store, d, d.send(position(ES, 0, "0", at=d.now)))
    assert ES not in d.engine.marks  # nobody holds ES: its mark is gone


def short_three_es_at(d: Driver, price: str) -> list[Effect]:
    """Five hours on (ES fell 110 points meanwhile; no ES quote yet): the trader sells 3."""
    out = d.send(ES_INFO)
    out += d.send(fill(ES, Side.SELL, 3, price, at=d.now))
    out += d.send(position(ES, 3, price, long=False, at=d.now))
    return out


def test_uninterrupted_a_new_position_waits_for_a_fresh_quote(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    d.now = T0 + timedelta(hours=5)
    out = short_three_es_at(d, "5890")
    assert d.acct.open_upnl == 0
    assert d.acct.state is State.Trading and closes(out) == []


def test_restarted_a_new_position_is_not_valued_at_a_stored_mark_of_hours_ago(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "state.db")
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    store.close()
    # a restart an hour later, flat, nothing missed: as `Service.__init__` / `_start` do it
    store = Store(tmp_path / "state.db")
    at = T0 + timedelta(hours=1)
    fresh = engine(marks=store.marks())
    restore_all(store, fresh, at)
    r = Driver(fresh, now=T0 + timedelta(hours=5))
    out = short_three_es_at(r, "5890")
    # the uninterrupted run (above) values it at nothing until a quote: here it must too
    assert r.acct.open_upnl == 0, f"valued at a stored mark of {store.marks()[ES].at}"
    assert r.acct.state is State.Trading and closes(out) == []


def short_es_and_lose_on_mnq(d: Driver) -> list[Effect]:
    """Five hours on (ES rose 110 points meanwhile; no ES quote yet): the trader sells 3 ES at
    6110 and buys 2 MNQ at 21000, which falls 300 points: the day is $1,200 down (fresh)."""
    out = d.send(ES_INFO, MNQ_INFO)
    out += d.send(fill(ES, Side.SELL, 3, "6110", at=d.now))
    out += d.send(position(ES, 3, "6110", long=False, at=d.now))
    out += d.send(quote(MNQ, "21000", at=d.now), fill(MNQ, Side.BUY, 2, "21000", at=d.now))
    out += d.send(position(MNQ, 2, "21000", at=d.now))
    d.now += timedelta(seconds=2)
    return out + d.send(quote(MNQ, "20700", at=d.now))


def test_uninterrupted_the_daily_loss_fires(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    d.now = T0 + timedelta(hours=5)
    out = short_es_and_lose_on_mnq(d)
    assert d.acct.state is State.Flattening
    assert {c.contract_id for c in closes(out)} == {ES, MNQ}


def test_restarted_a_stored_mark_never_hides_the_daily_loss(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    store.close()
    store = Store(tmp_path / "state.db")
    fresh = engine(marks=store.marks())
    restore_all(store, fresh, T0 + timedelta(hours=1))
    r = Driver(fresh, now=T0 + timedelta(hours=5))
    out = short_es_and_lose_on_mnq(r)
    # the short ES valued at the stored 6000 (+$16,500) hid the $1,200 loss: no close at all
    assert r.acct.open_upnl == D("-1200")
    assert r.acct.state is State.Flattening
    assert {c.contract_id for c in closes(out)} == {ES, MNQ}
