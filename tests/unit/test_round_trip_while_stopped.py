"""Found by a review of 7193d00: a position closed and opened again while the service was
stopped, at the same side and size, was valued by the start-up read at the mark saved at the
stop, a price from before it: the settlement's `unwatched` let a holder's position that had
not grown be valued at the saved mark, its opening after that mark unasked.

1001 holds 4 ES bought at 6000 (quoted 6000 at T0+5 s) and the service stops. While it is down
the trader sells the 4 at 6000 and buys 4 again at 6010 (T0+20 s: ES up 10 points); the
service is back at T0+25 s, the saved mark still fresh by its age. The gateway lists long 4 ES
at 6010, opened at T0+20 s: valued at the 6000 of T0+5 s they read -$2,000 on a $1,000 daily
limit, flattened and locked; the truth is $0 (ES at 6010, the round trip flat). Sold 2 and
bought 2 back at 6010 instead (opening unchanged, average 6005), they read -$1,000 for +$1,000.

What must hold: a position the start-up read lists opened after the saved mark, or at another
average, is not the one valued at it: it waits for a price of its own, as one grown does."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from tests.factories import ES, T0, Driver, account, closes, fill, position, quote, start_up_read
from tests.unit.test_restart_second_quick_restart import restart
from tests.unit.test_restart_unheld_mark import ES_INFO, commit, engine

REOPENED = T0 + timedelta(seconds=20)


def stopped_holding_4_es(tmp_path: Path) -> Driver:
    """1001 holds 4 ES from 6000, quoted 6000 at T0+5 s; stopped, back at T0+25 s."""
    path = tmp_path / "state.db"
    store = Store(path)
    d = Driver(engine(), now=T0)
    commit(store, d, d.send(ES_INFO, account("50000")))
    commit(store, d, d.send(fill(ES, Side.BUY, 4, "6000", at=T0)))
    commit(store, d, d.send(position(ES, 4, "6000", at=T0)))
    d.now = T0 + timedelta(seconds=5)
    commit(store, d, d.send(quote(ES, "6000", at=d.now)))
    assert d.acct.positions[ES].priced and d.acct.open_upnl == 0
    store.save_marks(d.engine.marks)
    store, r = restart(store, path, T0 + timedelta(seconds=25))
    store.close()
    return r


def test_a_position_reopened_while_stopped_is_not_valued_at_the_mark_saved_before_it(
    tmp_path: Path,
) -> None:
    r = stopped_holding_4_es(tmp_path)
    out = start_up_read(r, account("50000"), position(ES, 4, "6010", at=REOPENED))
    got = (r.acct.state, [c.contract_id for c in closes(out)], r.acct.open_upnl)
    assert got == (State.Trading, [], 0), f"{got}: 4 ES bought at 6010 valued at the 6000 before"


def test_a_position_partly_bought_back_while_stopped_is_not_valued_at_the_mark_saved_before_it(
    tmp_path: Path,
) -> None:
    r = stopped_holding_4_es(tmp_path)
    out = start_up_read(r, account("50000"), position(ES, 4, "6005", at=T0))
    got = (r.acct.state, [c.contract_id for c in closes(out)], r.acct.open_upnl)
    assert got == (State.Trading, [], 0), f"{got}: 2 ES bought at 6010 valued at the 6000 before"
    assert not r.acct.positions[ES].priced  # waiting for a price of its own
