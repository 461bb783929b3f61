"""Found by a review of d679f65 (a position not valued at a stop is restored waiting for a quote):
the instrument book is not stored, so each start knows only the default roots; the contract list,
read once the accounts are restored (`Service._start`), tells the engine every contract of another
root (silver, the Australian dollar, ...), and `Unpriced.told` values every holder of it again at
the contract's last mark (`Valuation.relearn`), a position waiting for a quote too: at a mark saved
before the position existed.

Run 0: 1002 holds 1 SI (silver, $25 a 0.005 tick) quoted at 32.50 at T0+5 s; the mark is
saved. Run 1 (a quick restart) restores it; 1001 buys 4 SI at 32.56 at T0+15 s and run 1 stops
before an SI quote (saved: not valued). Run 2 restores the 4 SI waiting, then the contract
list tells SI's ticks: they read -$1,200 at run 0's 32.50 on a $1,000 daily loss limit,
flattened and locked, though SI was at 32.56, nothing lost.

What must hold: a position waiting for a quote at the stop is not valued at a saved mark when
its instrument is learned either; it waits for a quote of the new run (and is valued at one
quoted before its instrument was told). Nor is a position opened since a single restart, at a
mark saved before it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from fsm_risk.adapters.store import Store
from fsm_risk.core.events import InstrumentInfo, Side
from fsm_risk.core.states import State
from tests.factories import T0, Driver, account, closes, fill, position, quote, start_up_read
from tests.unit.test_restart_mark_of_another_holder import OTHER
from tests.unit.test_restart_second_quick_restart import restart
from tests.unit.test_restart_unheld_mark import commit, engine

SI = "CON.F.US.SIE.H27"
SI_INFO = InstrumentInfo(SI, Decimal("0.005"), Decimal("25"))  # the gateway's, not a default
BOUGHT = T0 + timedelta(seconds=15)


def run_zero(path: Path) -> Store:
    """1002 buys 1 SI at 32.50 at T0+5 s, quoted; the stop saves SI's mark."""
    store = Store(path)
    o = Driver(engine(), now=T0 + timedelta(seconds=5), acc=OTHER)
    commit(store, o, o.send(SI_INFO, account("50000", acc=OTHER)))
    commit(store, o, o.send(fill(SI, Side.BUY, 1, "32.50", at=o.now, acc=OTHER)))
    held = position(SI, 1, "32.50", at=o.now, acc=OTHER)
    commit(store, o, o.send(held, quote(SI, "32.50", at=o.now)))
    store.save_marks(o.engine.marks)
    return store


def run_one(path: Path, store: Store, at: datetime) -> Store:
    """The contract list tells SI; 1001 buys 4 SI at 32.56 (no SI quote: waiting); it stops."""
    store, r = restart(store, path, at)
    commit(store, r, r.send(SI_INFO))
    commit(store, r, r.send(account("50000")))
    r.now = BOUGHT
    out = r.send(fill(SI, Side.BUY, 4, "32.56", at=r.now))
    commit(store, r, out + r.send(position(SI, 4, "32.56", at=r.now)))
    assert not r.acct.positions[SI].priced and r.acct.open_upnl == 0  # waiting
    store.save_marks(r.engine.marks)
    assert store.marks()[SI].at == T0 + timedelta(seconds=5)  # run 0's, saved again
    return store


def test_a_waiting_position_is_not_valued_at_a_saved_mark_when_its_instrument_is_told(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    store = run_one(path, run_zero(path), T0 + timedelta(seconds=10))
    store, r2 = restart(store, path, T0 + timedelta(seconds=20))
    out = start_up_read(r2, account("50000"), position(SI, 4, "32.56", at=BOUGHT))
    out += r2.send(SI_INFO)  # the contract list, read once the accounts are restored
    got = (r2.acct.state, [c.contract_id for c in closes(out)], r2.acct.open_upnl)
    assert got == (State.Trading, [], 0), (
        f"{got}: 4 SI bought at 32.56 valued at run 0's {r2.engine.valuation.last_mark(SI)}"
    )
    assert not r2.acct.positions[SI].priced
    store.close()


def test_a_position_opened_since_a_restart_is_not_valued_at_a_saved_mark_when_its_ticks_are_told(
    tmp_path: Path,
) -> None:
    """Found by a review of d679f65: one restart. 1001 buys 4 SI at 32.56 before the contract
    list tells SI's ticks (not valued: SI's mark is run 0's, saved); the list then valued them
    at run 0's 32.50: -$1,200 on a $1,000 limit, flattened. They must wait for a quote."""
    path = tmp_path / "state.db"
    store, r = restart(run_zero(path), path, T0 + timedelta(seconds=10))
    commit(store, r, r.send(account("50000")))
    r.now = BOUGHT
    out = r.send(fill(SI, Side.BUY, 4, "32.56", at=r.now))
    out += r.send(position(SI, 4, "32.56", at=r.now))
    out += r.send(SI_INFO)  # the contract list, read once the accounts are restored
    got = (r.acct.state, [c.contract_id for c in closes(out)], r.acct.open_upnl)
    assert got == (State.Trading, [], 0), (
        f"{got}: 4 SI bought at 32.56 valued at run 0's {r.engine.valuation.last_mark(SI)}"
    )
    store.close()


def test_a_waiting_position_quoted_before_its_instrument_is_told_is_valued_when_told(
    tmp_path: Path,
) -> None:
    """Found by a review of d679f65 (what the skip must leave): run 2's first SI quote (32.52)
    comes before the contract list, SI's ticks unknown; told them, the 4 SI are valued at that
    quote of this run: -$800, not left waiting for another."""
    path = tmp_path / "state.db"
    store = run_one(path, run_zero(path), T0 + timedelta(seconds=10))
    store, r2 = restart(store, path, T0 + timedelta(seconds=20))
    start_up_read(r2, account("50000"), position(SI, 4, "32.56", at=BOUGHT))
    r2.now += timedelta(seconds=1)
    r2.send(quote(SI, "32.52", at=r2.now))
    assert not r2.acct.positions[SI].priced  # SI's ticks not known yet
    r2.send(SI_INFO)
    got = (r2.acct.positions[SI].priced, r2.acct.open_upnl, r2.acct.state)
    assert got == (True, Decimal("-800"), State.Trading)
    store.close()
