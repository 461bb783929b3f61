"""The store keeps an account's small state in rows it rewrites when they move, and its history
(fills, round trips, voided trades) in append-only rows a restart reads back by index: a commit
costs what changed, never what was traded before, and a restart gives back the account exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from fsm_risk.adapters.store import SCHEMA_VERSION, Store, fill_cutoff, restore_all
from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.engine import Changes, RiskEngine
from fsm_risk.core.events import Fill, Side, TradesSnapshot
from fsm_risk.core.models import AccountModel, Book
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    ES,
    MES,
    MNQ,
    T0,
    D,
    Driver,
    account,
    fill,
    flat,
    make_engine,
    position,
    quote,
    settled_read,
    transitions,
)
from tests.postgres import BACKENDS, sqlite_or_postgresql
from tests.store_load import round_trips
from tests.unit import test_late_fill_peak as late_peak
from tests.unit import test_late_void as late_void


def engine() -> RiskEngine:
    return make_engine(
        {
            DailyLossLimit: {"limit": "1000"},
            MaxTradesPerDay: {"limit": "5000", "count": "round_trips"},
            TradeCooldown: {"tiers": "100: 15"},
        }
    )


def commit(store: Store, d: Driver, effects: list[Effect]) -> None:
    audit = [e.entry for e in effects if isinstance(e, RecordTransition)]
    store.commit(d.engine.take_changes(), audit, d.engine.marks)


def run(store: Store, d: Driver, *events: Any) -> list[Effect]:
    out = d.send(*events)
    commit(store, d, out)
    return out


@pytest.fixture(params=BACKENDS)
def path(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    yield from sqlite_or_postgresql(request, tmp_path / "state.db")


class Writes:
    """Every row the store sends to the database, by table (INSERT and UPDATE statements, as
    SQLite runs them: with their values in)."""

    def __init__(self, store: Store) -> None:
        self.rows: dict[str, list[str]] = {}
        event.listen(store.engine, "checkout", self._watch)

    def _watch(self, dbapi: Any, _record: Any, _proxy: Any) -> None:
        dbapi.set_trace_callback(self._seen)

    def _seen(self, sql: str) -> None:
        words = sql.split()
        if not words or words[0] not in ("INSERT", "UPDATE"):
            return
        table = words[2] if words[0] == "INSERT" else words[1]
        self.rows.setdefault(table.strip('"'), []).append(sql)

    def size(self, table: str) -> int:
        return sum(len(sql) for sql in self.rows.get(table, []))

    def clear(self) -> None:
        self.rows.clear()


def everything(a: AccountModel) -> dict[str, Any]:
    """The account's state and history, its day's fills in time order (as the rows give them
    back: a restart cannot know in which order fills of the same instant arrived)."""
    d = a.to_dict()
    d["day"]["fills"].sort(key=lambda f: (datetime.fromisoformat(f["at"]), f["trade_id"]))
    return d


def _one_more_trade(store: Store, d: Driver, writes: Writes) -> dict[str, int]:
    """Bytes written per table by the commit of one more round trip's opening fill."""
    writes.clear()
    run(store, d, fill(MNQ, Side.BUY, 1, "21000", fees="0.37", order_id=7))
    return {t: writes.size(t) for t in ("account", "contract", "fill")}


def test_the_state_written_per_commit_does_not_grow_with_the_history(tmp_path: Path) -> None:
    """The bytes a commit writes for an account are the same after 10 and after 400 round
    trips: the trade ids seen, the day's fills and round trips are not in the state row."""
    written: list[dict[str, int]] = []
    state_rows: list[str] = []
    for n in (10, 400):
        store = Store(tmp_path / f"{n}.db")
        writes = Writes(store)
        d = Driver(engine())
        run(store, d, account())
        d.send(*round_trips(n, MNQ))
        commit(store, d, [])
        assert len(d.acct.day.trips) == n and len(d.acct.seen_trades) == 2 * n
        written.append(_one_more_trade(store, d, writes))
        with store.engine.connect() as conn:
            state_rows.append(conn.execute(text("SELECT snapshot FROM account")).scalar_one())
        store.close()
    small, large = written
    for table in ("fill", "account"):  # one fill row appended, one state row rewritten
        assert small[table] > 0 and abs(large[table] - small[table]) < 16  # a few digits differ
    assert abs(len(state_rows[1]) - len(state_rows[0])) < 16
    assert "seen_trades" not in json.loads(state_rows[1])


def test_a_commit_rewrites_only_the_rows_that_moved(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    writes = Writes(store)
    d = Driver(engine())
    run(store, d, account(), *round_trips(3, MNQ), *round_trips(3, ES))
    run(store, d, fill(ES, Side.BUY, 1, "6000"), fill(ES, Side.SELL, 1, "5900", pnl="-1250"))
    # opened while locked: its close is in flight
    run(store, d, fill(MNQ, Side.BUY, 1, "21000", order_id=9), position(MNQ, 1, "21000"))
    assert d.acct.contracts[MNQ].state is State.Flattening
    writes.clear()
    read = replace(account("48700"), applied=frozenset(d.acct.seen_trades))  # read back
    run(store, d, read)  # the balance moves; no contract model does
    assert len(writes.rows["account"]) == 1
    assert "contract" not in writes.rows
    writes.clear()
    commit(store, d, [])  # nothing changed: nothing written
    assert writes.rows == {}


def _history_day(d: Driver, *, void_applied: bool = True) -> list[Fill]:
    """Yesterday's trades, a voided trade never applied, a fill voided after it was applied
    (unless not ``void_applied``), and today's round trips in two contracts."""
    yesterday = T0 - timedelta(days=1)
    events: list[Fill] = [*round_trips(4, ES, at=yesterday)]
    events.append(fill(MNQ, Side.BUY, 1, "21000", trade_id=880001, at=T0, voided=True))
    events.append(fill(MES, Side.BUY, 1, "6000", trade_id=880005, order_id=5))
    closing = fill(MES, Side.SELL, 1, "6004", pnl="5", trade_id=880002, order_id=5)
    events += [closing, replace(closing, voided=True)] if void_applied else [closing]
    events += [*round_trips(6, MNQ, at=T0 + timedelta(minutes=1))]
    events += [*round_trips(3, ES, at=T0 + timedelta(minutes=2))]
    return events


def test_a_restart_gives_back_every_persisted_field_and_the_same_verdicts(
    path: str | Path,
) -> None:
    store = Store(path)
    d = Driver(engine())
    run(store, d, account(), *_history_day(d))
    # settlement in progress: 2 MNQ valued, then closed at the gateway before its fills came
    run(store, d, fill(MNQ, Side.BUY, 2, "21000", order_id=9), position(MNQ, 2, "21000"))
    run(store, d, quote(MNQ, "21010"), flat(MNQ))
    assert d.acct.unsettled and d.acct.open_upnl == D("40")
    before = everything(d.acct)
    # the trade ids a reconciliation can still list come back; yesterday's (last week's) do
    # not: the read's window opens at the week's start, and none is in flight after a start
    window = min(d.acct.day.start, d.acct.week.start)
    assert len(_since(before, window)["seen_trades"]) < len(before["seen_trades"])
    before = _since(before, window)
    equity = d.acct.equity
    store.close()

    store = Store(path)
    d2 = Driver(engine())
    effects, _ = restore_all(store, d2.engine, d2.now)
    commit(store, d2, effects)
    assert everything(d2.acct) == before  # state and history: fills, round trips, trade ids
    assert d2.acct.equity == equity  # the value kept for the dropped contracts included
    assert d2.acct.day.fills == sorted(d.acct.day.fills, key=lambda f: (f.at, f.trade_id))
    assert 880002 not in {f.trade_id for f in d2.acct.day.fills}  # voided: stays out

    # the same events from here give the same verdicts, before and after the restart
    later = [
        fill(MNQ, Side.SELL, 2, "21010", pnl="40", fees="1.48", order_id=9),
        fill(ES, Side.BUY, 1, "6000", trade_id=880003),
        fill(ES, Side.SELL, 1, "5990", pnl="-500", fees="2.50", trade_id=880004),
        fill(ES, Side.BUY, 1, "6000", trade_id=880003),  # a duplicate: applied once
        fill(MNQ, Side.BUY, 1, "21000", trade_id=880001),  # voided: never applied
    ]
    mine, theirs = d.send(*later), run(store, d2, *later)
    assert transitions(theirs) == transitions(mine)
    assert [type(e).__name__ for e in theirs] == [type(e).__name__ for e in mine]
    assert d2.acct.state is d.acct.state is State.Cooldown
    assert everything(d2.acct) == _since(everything(d.acct), window)
    assert d2.acct.equity == d.acct.equity


def _since(d: dict[str, Any], window: datetime) -> dict[str, Any]:
    """``d`` (`everything`) with the trade ids seen from ``window`` on only."""
    seen = d["seen_trades"]
    return {
        **d,
        "seen_trades": {i: t for i, t in seen.items() if datetime.fromisoformat(t) >= window},
    }


def _v1_database(path: str | Path, d: Driver) -> None:
    """Write ``d``'s account as the first layout kept it: the whole account in one document
    (trade ids seen, the books' round trips; the day's fills only in the fill table)."""
    store = Store(path)
    changes = d.engine.take_changes()
    store.commit(Changes([], changes.fills))
    snapshot = d.acct.to_dict()
    snapshot["day"]["fills"] = []
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO account (account_id, name, state, updated_at, snapshot) "
                "VALUES (:a, :n, :s, '', :j)"
            ),
            {"a": d.acc, "n": d.acct.name, "s": d.acct.state.value, "j": json.dumps(snapshot)},
        )
        for cm in d.acct.contracts.values():
            conn.execute(
                text(
                    "INSERT INTO contract (account_id, contract_id, state, snapshot) "
                    "VALUES (:a, :c, :s, :j)"
                ),
                {
                    "a": d.acc,
                    "c": cm.contract_id,
                    "s": cm.state.value,
                    "j": json.dumps(cm.to_dict()),
                },
            )
        conn.execute(text("UPDATE meta SET value = '1' WHERE key = 'schema'"))
    store.close()


def test_a_database_of_the_first_layout_is_moved_to_rows_and_keeps_its_locks(
    path: str | Path,
) -> None:
    d = Driver(engine())
    # (the first layout did not record that an applied fill was voided: none is here)
    d.send(account(), *_history_day(d, void_applied=False))
    d.send(fill(ES, Side.BUY, 1, "6000"), fill(ES, Side.SELL, 1, "5900", pnl="-1250"))
    assert d.acct.state is State.LockedDaily
    before = everything(d.acct)
    _v1_database(path, d)

    store = Store(path)
    assert store.meta("schema") == SCHEMA_VERSION == "3"
    with store.engine.connect() as conn:
        state = json.loads(conn.execute(text("SELECT snapshot FROM account")).scalar_one())
    assert "seen_trades" not in state and "trips" not in state["day"]
    d2 = Driver(engine())
    restore_all(store, d2.engine, d2.now)
    assert d2.acct.state is State.LockedDaily
    assert everything(d2.acct) == _since(before, min(d.acct.day.start, d.acct.week.start))
    store.close()
    Store(path).close()  # opened again: nothing more to move


def test_a_database_of_a_newer_layout_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "s.db").set_meta("schema", "4")
    with pytest.raises(FsmRiskError, match=r"layout is version 4, newer than this fsm-risk"):
        Store(tmp_path / "s.db")


def test_a_database_of_layout_2_is_marked_3_and_keeps_what_it_holds(path: str | Path) -> None:
    """Layout 3 is 2 whose state documents carry what a layout-2 fsm-risk would drop without a
    word (a settlement's P&L: going back, the day's loss limit stopped seeing it), so that
    such an fsm-risk refuses it; a layout 2 opened here is only marked."""
    d = Driver(engine())
    d.send(account(), fill(ES, Side.BUY, 1, "6000"), fill(ES, Side.SELL, 1, "5900", pnl="-1250"))
    store = Store(path)
    run(store, d)
    store.set_meta("schema", "2")
    store.close()
    store = Store(path)
    assert store.meta("schema") == "3"
    d2 = Driver(engine())
    restore_all(store, d2.engine, d2.now)
    assert d2.acct.state is d.acct.state and d2.acct.day.realized == d.acct.day.realized
    store.close()


def test_retention_compacts_old_history_but_never_what_a_restart_needs(
    path: str | Path,
) -> None:
    store = Store(path)
    d = Driver(engine(), now=T0 - timedelta(days=40))
    run(store, d, account(), *round_trips(3, ES, at=d.now))
    run(store, d, fill(MNQ, Side.BUY, 1, "1", trade_id=770001, at=d.now, voided=True))
    d.now = T0
    run(store, d, *_history_day(d))
    run(store, d, fill(ES, Side.BUY, 1, "6000"), fill(ES, Side.SELL, 1, "5900", pnl="-1250"))
    before = everything(d.acct)
    audit = store.audit()
    assert d.acct.state is State.LockedDaily and audit
    cutoff = fill_cutoff(SessionCalendar(), T0, 14)
    assert cutoff is not None
    assert store.compact_fills(cutoff) == 6
    with store.engine.connect() as conn:
        counts = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("round_trip", "voided_trade")
        }
    assert counts["round_trip"] == 11  # today's; the three of 40 days ago are gone
    assert counts["voided_trade"] == 2
    assert store.audit() == audit  # the audit log is whole
    for table in ("round_trip", "voided_trade"):
        with store.engine.begin() as conn, pytest.raises(DBAPIError):
            conn.execute(text(f"DELETE FROM {table}"))  # append-only again
    store.close()
    store = Store(path)
    d2 = Driver(engine())
    restore_all(store, d2.engine, d2.now)
    assert everything(d2.acct) == _since(before, min(d.acct.day.start, d.acct.week.start))


def test_every_account_attribute_is_state_history_or_runtime() -> None:
    book = Book(T0.date(), T0, T0 + timedelta(days=1))
    acct = AccountModel(1, "x", book, book)
    tops = {h for h in AccountModel.HISTORY if "." not in h}
    kinds = [set(AccountModel.STATE), tops, set(AccountModel.RUNTIME)]
    assert sum(len(k) for k in kinds) == len(set().union(*kinds))  # each in exactly one
    assert set(vars(acct)) | {"state"} == set().union(*kinds)
    d = Driver(engine())
    d.send(account())
    assert set(d.acct.persisted()) == set(AccountModel.STATE) - {"contracts", "missed"}


def test_a_start_reads_the_history_by_the_account_and_time_indexes(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")  # the query plans asked are SQLite's
    queries = {
        "fill": "SELECT trade_id, at FROM fill WHERE account_id IN (1, 2) AND at >= 'x'",
        "round_trip": "SELECT * FROM round_trip WHERE account_id IN (1, 2) AND closed_at >= 'x'",
        "voided_trade": "SELECT * FROM voided_trade WHERE account_id IN (1, 2) AND at >= 'x'",
    }
    with store.engine.connect() as conn:
        for table, sql in queries.items():
            plan = " ".join(str(r) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            assert "(account_id=? AND " in plan, (table, plan)
        fill_plan = " ".join(
            str(r) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {queries['fill']}"))
        )
    assert "COVERING INDEX" in fill_plan  # the trade ids come from the index alone


def test_the_first_commit_after_a_restart_rewrites_no_row_the_restore_left_as_it_was(
    tmp_path: Path,
) -> None:
    """A start commits once its accounts are restored: rows read back unchanged are not sent
    again (at 1,000 accounts that write is the largest cost between restored and serving,
    and it grew with the contracts an account ever held)."""
    store = Store(tmp_path / "s.db")
    d = Driver(engine())
    run(store, d, account(), *round_trips(3, MNQ))
    run(store, d, fill(ES, Side.BUY, 1, "6000"), fill(ES, Side.SELL, 1, "5900", pnl="-1250"))
    # opened while locked: a contract row moves
    run(store, d, fill(MNQ, Side.BUY, 1, "21000", order_id=9), position(MNQ, 1, "21000"))
    assert d.acct.contracts[MNQ].state is State.Flattening
    store.close()
    again = Store(tmp_path / "s.db")
    writes = Writes(again)
    fresh = engine()
    restore_all(again, fresh, d.now)
    again.commit(fresh.take_changes(), [], None)
    assert "account" not in writes.rows and "contract" not in writes.rows, writes.rows.keys()
    fresh.accounts[d.acct.account_id].balance += 1  # and a row that moves is written
    fresh.work.dirty.add(d.acct.account_id)
    again.commit(fresh.take_changes(), [], None)
    assert len(writes.rows["account"]) == 1


def test_a_missed_reset_waiting_for_the_read_is_stored_until_the_read(path: str | Path) -> None:
    """Long 3 MNQ at 21,000 when stopped, sold while down before the reset (21,300 there). The
    first start commits the caught-up day (+$1,800 carried) and, with it, the record of the
    reset to redo; a second start before the read restores that record from the row, and the
    read's sell takes the carry back. The record is then gone from the row."""
    store = Store(path)
    d = Driver(engine())
    closed_at = d.now + timedelta(hours=1)
    run(store, d, account("50000"), position(MNQ, 3, "21000"), quote(MNQ, "21100"))
    stop, reset = d.acct.last_event_at, d.acct.day.end
    starts = [(reset + timedelta(hours=16), {reset: {MNQ: D("21300")}}), (None, None)]
    for at, prices in starts:
        store.close()
        store = Store(path)
        d = Driver(engine(), now=at or d.now + timedelta(minutes=1))
        commit(store, d, restore_all(store, d.engine, d.now, at_reset=prices)[0])
        assert d.acct.day.start == reset and d.acct.day.carry == D("1800")
        assert "missed" in store.accounts()[0].snapshot
        assert d.acct.missed is not None and d.acct.missed.stop == stop
    applied = frozenset(d.acct.seen_trades)
    sold = fill(MNQ, Side.SELL, 3, "21100", pnl="600", order_id=77, at=closed_at)
    run(store, d, sold, account("50600"), flat(MNQ, at=d.now))
    assert d.acct.day.carry == 0
    run(store, d, TradesSnapshot(d.acc, d.acct.week.start, (sold,), applied))
    assert d.acct.missed is None and "missed" not in store.accounts()[0].snapshot
    assert d.acct.day_pnl(with_unrealized=True) == 0 and d.acct.state is State.Trading
    store.close()


def test_what_a_late_fill_did_is_stored_for_its_void_after_a_restart(path: str | Path) -> None:
    """A fill stamped before the reset whose record came after it raised RULE-004's end-of-day
    peak (50,037.76 -> 50,077.14) and took back the carry of the contract it closed. Its row
    is the old day's (not read back among the day's fills): what it did is stored with the day,
    so its void after a restart gives all of it back, to the cent."""
    store = Store(path)
    d = late_peak.driver(now=late_peak.MON_RESET - timedelta(minutes=20))
    commit(store, d, [])
    late_peak.long_two(d, late_peak.MON_RESET, "21010")
    f = late_void.late_sell(d, late_peak.MON_RESET)
    commit(store, d, [])
    assert late_peak.peak(d) == D("50077.14")
    store.close()
    store = Store(path)
    again = Driver(late_peak.engine(), now=d.now + timedelta(minutes=5))
    commit(store, again, restore_all(store, again.engine, again.now)[0])
    assert again.acct.day.fills == [] and f.trade_id in again.acct.seen_trades
    assert again.acct.day.late == D("39.38") and late_peak.peak(again) == D("50077.14")
    settled_read(again)  # (its stored books confirmed: the rule judges them)
    late_void.voided(again, f)
    assert late_peak.peak(again) == D("50037.76")
    assert (again.acct.day.late, again.acct.day.carry) == (0, D("39.00"))
    assert again.acct.day.carried == {MNQ: (D("39.00"), 2)}
    assert again.acct.week.realized == D("-1.24")
    store.close()
