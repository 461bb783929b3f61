"""Found by fixing a review of 7193d00: a position grown while the service was stopped (the
start-up read lists more contracts than were held at the stop, the adds' fills not read yet)
was not valued at the saved mark by the read (`grown`), but the contract list, telling its
instrument's ticks next (`Valuation.relearn`), valued it there: the position was not
``waiting`` (only one restored so is) and no fill of the journal showed the add.

Run 0: 1001 holds 1 SI (silver, $25 a 0.005 tick) bought and quoted at 32.50 at T0+5 s; the
mark is saved and the service stops. While it is down the trader buys 4 SI at 32.56. Back at
T0+20 s, the read lists long 5 SI at 32.548; the contract list then tells SI's ticks: at the
saved 32.50 the 5 SI read -$1,200 on a $1,000 daily limit, flattened and locked, though SI at
32.56 they are +$300.

What must hold: a position grown since its contract's saved mark waits for a price of its own
(a quote of this run), whenever its instrument is learned."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from tests.factories import T0, Driver, account, closes, fill, position, quote, start_up_read
from tests.unit.test_restart_second_quick_restart import restart
from tests.unit.test_restart_unheld_mark import commit, engine
from tests.unit.test_waiting_position_instrument_told import SI, SI_INFO


def test_a_position_grown_while_stopped_is_not_valued_at_the_saved_mark_when_its_ticks_are_told(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    store = Store(path)
    d = Driver(engine(), now=T0 + timedelta(seconds=5))
    commit(store, d, d.send(SI_INFO, account("50000")))
    commit(store, d, d.send(fill(SI, Side.BUY, 1, "32.50", at=d.now)))
    held = position(SI, 1, "32.50", at=d.now)
    commit(store, d, d.send(held, quote(SI, "32.50", at=d.now)))
    store.save_marks(d.engine.marks)
    store, r = restart(store, path, T0 + timedelta(seconds=20))
    store.close()
    out = start_up_read(
        r, account("50000"), position(SI, 5, "32.548", at=T0 + timedelta(seconds=5))
    )
    out += r.send(SI_INFO)  # the contract list, read once the accounts are restored
    got = (r.acct.state, [c.contract_id for c in closes(out)], r.acct.open_upnl)
    assert got == (State.Trading, [], 0), (
        f"{got}: 4 SI bought at 32.56 valued at the saved {r.engine.valuation.last_mark(SI)}"
    )
    assert not r.acct.positions[SI].priced  # waiting for a quote of this run
