"""Found by a review of the saved marks: a second quick restart (a crash loop) valued a position
at a mark saved before the position existed. Run 0 saves ES's mark (6000 at T0+5 s, 1002 long
1 ES). Run 1 restores it (1002 held across: valued at it, fresh by its age); 1001 buys 4 ES at
6010 five seconds later (never valued at the saved mark: it waits for a quote) and run 1 stops
before any ES quote. Its stop saves the same mark again, and run 2 took 1001's 4 ES for a
position held across the restart: valued at the 6000 of run 0, stamped before they were
bought, they read -$2,000 on a $1,000 daily loss limit and were flattened and locked (ES was
at 6010: nothing lost). The same for 1002's 3 ES added in run 1 (4 at 6007.50: -$1,500).

What must hold: a saved mark values a position only if the position, at its size, was valued
at it when the service stopped (its value came from that mark): one opened, grown or waiting
for a quote since the mark stays unvalued after any number of restarts, until a quote; one
held across every restart is valued at it as before. Within one run too: a position waiting
for a quote (the saved mark not its price) that shrinks stays unvalued (4 ES bought at 6010,
1 sold: the 3 left read -$1,500 at the saved 6000)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from tests.factories import (
    ES,
    T0,
    D,
    Driver,
    account,
    closes,
    fill,
    position,
    quote,
    settled_read,
    start_up_read,
)
from tests.unit.test_restart_mark_of_another_holder import OTHER, other_account_holds_es
from tests.unit.test_restart_recent_mark_other_holder import buy_four_es_at_6010
from tests.unit.test_restart_unheld_mark import commit, engine, trade_es_then_go_flat

RESTART_1 = T0 + timedelta(seconds=10)
RESTART_2 = T0 + timedelta(seconds=20)  # the saved mark (T0+5 s) 15 s old: fresh by its age


def restart(store: Store, path: Path, at: datetime) -> tuple[Store, Driver]:
    """The stop (its marks saved, as `Service._shutdown` does) and a start at ``at``."""
    store.close()
    store = Store(path)
    fresh = engine(marks=store.marks())
    restore_all(store, fresh, at)
    return store, Driver(fresh, now=at)


def run_one(tmp_path: Path, add: bool) -> tuple[Store, Driver]:
    """Run 0 as `test_restart_recent_mark_other_holder`, then run 1: 1001 buys 4 ES at 6010 at
    T0+15 s (or, ``add``, 1002 adds 3 at 6010), no ES quote; it stops at T0+16 s."""
    path = tmp_path / "state.db"
    store = Store(path)
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    other_account_holds_es(store, d, keep=True)
    store, r = restart(store, path, RESTART_1)
    commit(store, r, start_up_read(r, account("50000")))
    o = Driver(r.engine, now=r.now, acc=OTHER)
    commit(store, o, settled_read(o))
    assert o.acct.positions[ES].priced and o.acct.open_upnl == 0  # held across: at the 6000
    r.now = o.now = T0 + timedelta(seconds=15)
    if add:
        out = o.send(fill(ES, Side.BUY, 3, "6010", at=o.now, acc=OTHER, order_id=77, trade_id=77))
        out += o.send(position(ES, 4, "6007.50", at=o.now, acc=OTHER))
        assert not o.acct.positions[ES].priced
    else:
        out = buy_four_es_at_6010(r)
        assert not r.acct.positions[ES].priced and r.acct.open_upnl == 0
    commit(store, r, out)
    r.now = T0 + timedelta(seconds=16)
    commit(store, r, [])
    store.save_marks(r.engine.marks)  # ES's mark: still run 0's, saved again
    assert store.marks()[ES].at == T0 + timedelta(seconds=5)
    return store, r


def test_a_position_opened_in_the_run_between_two_quick_restarts_waits_for_a_quote(
    tmp_path: Path,
) -> None:
    store, _ = run_one(tmp_path, add=False)
    store, r2 = restart(store, tmp_path / "state.db", RESTART_2)
    out = start_up_read(
        r2, account("50000"), position(ES, 4, "6010", at=T0 + timedelta(seconds=15))
    )
    o = Driver(r2.engine, now=r2.now, acc=OTHER)
    out += settled_read(o)
    got = (r2.acct.state, [c.contract_id for c in closes(out)], r2.acct.open_upnl)
    assert got == (State.Trading, [], 0), (
        f"{got}: 4 ES bought at 6010 in run 1 valued at run 0's {r2.engine.valuation.last_mark(ES)}"
    )
    assert not r2.acct.positions[ES].priced
    # 1002's 1 ES, held across both restarts, is still valued at the saved 6000 (fresh by age)
    assert o.acct.positions[ES].priced and o.acct.open_upnl == 0
    # the first quote of run 2 values 1001's 4 ES: 6010, nothing lost; 6000 then fires
    r2.now += timedelta(seconds=1)
    out = r2.send(quote(ES, "6010", at=r2.now))
    assert r2.acct.open_upnl == 0 and r2.acct.state is State.Trading and closes(out) == []
    r2.now += timedelta(seconds=1)
    out = r2.send(quote(ES, "6000", at=r2.now))
    assert r2.acct.open_upnl == D("-2000") and r2.acct.state is State.Flattening
    assert [c.contract_id for c in closes(out)] == [ES]
    store.close()


def test_an_add_in_the_run_between_two_quick_restarts_waits_for_a_quote(tmp_path: Path) -> None:
    store, _ = run_one(tmp_path, add=True)
    store, r2 = restart(store, tmp_path / "state.db", RESTART_2)
    o = Driver(r2.engine, now=r2.now, acc=OTHER)
    out = settled_read(o)
    got = (o.acct.state, [c.contract_id for c in closes(out)], o.acct.open_upnl)
    assert got == (State.Trading, [], 0), (
        f"{got}: 4 ES (3 bought at 6010 in run 1) valued at {r2.engine.valuation.last_mark(ES)}"
    )
    o.now += timedelta(seconds=1)
    out = o.send(quote(ES, "6010", at=o.now))
    assert o.acct.open_upnl == D("500") and o.acct.state is State.Trading and closes(out) == []
    store.close()


def test_a_position_waiting_for_a_quote_that_shrinks_still_waits(tmp_path: Path) -> None:
    """One restart: 1001's 4 ES bought at 6010 wait for a quote; 1 sold at 6010 leaves 3,
    never valued at the saved 6000 (-$1,500 on a $1,000 limit)."""
    path = tmp_path / "state.db"
    store = Store(path)
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    other_account_holds_es(store, d, keep=True)
    store, r = restart(store, path, RESTART_1)
    start_up_read(r, account("50000"))
    r.now = T0 + timedelta(seconds=15)
    buy_four_es_at_6010(r)
    r.now += timedelta(seconds=1)
    out = r.send(fill(ES, Side.SELL, 1, "6010", pnl="0", at=r.now, order_id=2))
    out += r.send(position(ES, 3, "6010", at=r.now))
    got = (r.acct.state, [c.contract_id for c in closes(out)], r.acct.open_upnl)
    assert got == (State.Trading, [], 0), f"{got}: 3 ES valued at the saved 6000"
    store.close()


def test_guard_a_position_first_valued_by_a_quote_is_valued_at_its_saved_mark(
    tmp_path: Path,
) -> None:
    """Run 1's 4 ES, valued by ES's first quote of run 1 (6008 at T0+16 s: -$400), are valued
    at that mark after the second restart (its first valuation is saved with the position)."""
    store, r = run_one(tmp_path, add=False)
    r.now = T0 + timedelta(seconds=17)
    commit(store, r, r.send(quote(ES, "6008", at=r.now)))
    assert r.acct.positions[ES].priced and r.acct.open_upnl == D("-400")
    store.save_marks(r.engine.marks)
    store, r2 = restart(store, tmp_path / "state.db", RESTART_2)
    assert r2.acct.positions[ES].priced and r2.acct.open_upnl == D("-400")
    out = start_up_read(
        r2, account("50000"), position(ES, 4, "6010", at=T0 + timedelta(seconds=15))
    )
    assert r2.acct.open_upnl == D("-400") and r2.acct.state is State.Trading and closes(out) == []
    store.close()


def test_a_position_opened_where_nobody_held_waits_after_a_second_quick_restart(
    tmp_path: Path,
) -> None:
    """Nobody holds ES at the first restart (1001 went flat; its mark row, 6000 at T0, stays
    in the database). 1001 buys 4 ES at 6010 in run 1 (no mark: it waits) and run 1 stops
    before an ES quote. Run 2 restores the position and found the old row 20 s old, fresh by
    its age: 4 ES read -$2,000 on a $1,000 limit. It must wait for a quote."""
    path = tmp_path / "state.db"
    store = Store(path)
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    store, r = restart(store, path, RESTART_1)
    commit(store, r, start_up_read(r, account("50000")))
    r.now = T0 + timedelta(seconds=15)
    commit(store, r, buy_four_es_at_6010(r))
    assert not r.acct.positions[ES].priced
    store.save_marks(r.engine.marks)
    assert store.marks()[ES].at == T0  # the row of run 0, kept
    store, r2 = restart(store, path, RESTART_2)
    bought = position(ES, 4, "6010", at=T0 + timedelta(seconds=15))
    out = start_up_read(r2, account("50000"), bought)
    got = (r2.acct.state, [c.contract_id for c in closes(out)], r2.acct.open_upnl)
    assert got == (State.Trading, [], 0), f"{got}: valued at {r2.engine.valuation.last_mark(ES)}"
    store.close()
