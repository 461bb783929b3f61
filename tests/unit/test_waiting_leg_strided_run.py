"""Found by a review of 7193d00: a run of quotes that waited together (`core.waited`), past
`TOGETHER` quotes of contracts held together, keeps the turns of each holding's combined value
(`Valuation.holdings`, `combined`). A position restored waiting for its first quote, valued
there at a mark saved before it (which `owns` refuses, the engine counting it at nothing until
its contract's first quote of the run), made the turns kept not those of the value judged.

1001 holds 1 ES (bought at 6000, held across). Run 0 left a row of MNQ at 20,900. In run 1 it
sells 10 MNQ at 21,000 with no MNQ quote (waiting) and the service restarts. The first batch of
run 2 is quotes of ES and MNQ: ES falls to 5978 (-$1,100 on a $1,000 daily limit: MNQ still
counts nothing), then MNQ's first quote (20,975: +$500), ES to 5974 (with MNQ at 20,980: -$900
in all), and back up. One by one the account is flattened at 5978; merged with the 10 MNQ at
the saved 20,900 (+$2,000), 5978 was judged by neither the stride, ES's turns nor the holding's.

What must hold: the quotes handed on judge every touch one by one judges (a leg waiting for a
quote keeps every place until its first word: held since d2bb5c7)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

from fsm_risk.adapters.store import Store
from fsm_risk.core.events import Quote, Side
from fsm_risk.core.states import State
from fsm_risk.core.waited import judged, waited
from tests.factories import ES, MNQ, T0, Driver, account, fill, position, start_up_read
from tests.unit.test_restart_second_quick_restart import restart
from tests.unit.test_restart_unheld_mark import ES_INFO, MNQ_INFO, commit, engine

MS = timedelta(milliseconds=1)


def restarted(tmp_path: Path) -> tuple[Store, Driver]:
    path = tmp_path / "state.db"
    store = Store(path)
    d = Driver(engine(), now=T0)
    commit(store, d, d.send(ES_INFO, MNQ_INFO, account("50000")))
    commit(store, d, d.send(fill(ES, Side.BUY, 1, "6000", at=T0)))
    commit(
        store, d, d.send(position(ES, 1, "6000", at=T0), Quote(ES, T0, D(6000), D(6000), D(6000)))
    )
    commit(store, d, d.send(fill(MNQ, Side.BUY, 1, "20900", at=T0, order_id=2)))
    commit(
        store,
        d,
        d.send(position(MNQ, 1, "20900", at=T0), Quote(MNQ, T0, D(20900), D(20900), D(20900))),
    )
    d.now = T0 + 2 * timedelta(seconds=1)
    commit(store, d, d.send(fill(MNQ, Side.SELL, 1, "20900", pnl="0", at=d.now, order_id=3)))
    commit(store, d, d.send(position(MNQ, 0, "0", at=d.now)))
    store.save_marks(d.engine.marks)
    store, r = restart(store, path, T0 + timedelta(seconds=5))
    commit(store, r, start_up_read(r, account("50000"), position(ES, 1, "6000", at=T0)))
    r.now = sold = T0 + timedelta(seconds=7)
    out = r.send(ES_INFO, MNQ_INFO, fill(MNQ, Side.SELL, 10, "21000", at=sold, order_id=4))
    commit(store, r, out + r.send(position(MNQ, 10, "21000", long=False, at=sold)))
    assert not r.acct.positions[MNQ].priced  # waiting: MNQ's row is from before it
    store.save_marks(r.engine.marks)
    store, r2 = restart(store, path, T0 + timedelta(seconds=9))
    out = r2.send(ES_INFO, MNQ_INFO)
    out += start_up_read(
        r2,
        account("50000"),
        position(ES, 1, "6000", at=T0),
        position(MNQ, 10, "21000", long=False, at=sold),
    )
    store.close()
    assert r2.acct.state is State.Trading and r2.acct.open_upnl == 0
    assert r2.engine.marks[MNQ].last == D(20900)  # the saved row, fresh by its age
    return store, r2


def batch() -> list[Quote]:
    """ES alone down to 5978 (the 9th quote, an even place: a stride of 2 passes it), then
    MNQ's first quote and ES and MNQ by turns: ES to 5974 beside MNQ at 20,980 and back up."""
    words = [(ES, w) for w in ("5999", "5995", "5995", "5990", "5990", "5986", "5986", "5986")]
    words += [(ES, "5978"), (MNQ, "20975")]
    for es in ("5980", "5982", "5982", "5982", "5974", "5976", "5980", "5984", "5990"):
        words += [(MNQ, "20980"), (ES, es)]
    t = T0 + timedelta(seconds=10)
    return [Quote(c, t + i * MS, last=D(w)) for i, (c, w) in enumerate(words)]


def test_a_waiting_position_merged_run_is_judged_at_every_touch_the_quotes_one_by_one_make(
    tmp_path: Path,
) -> None:
    quotes = batch()
    _, one = restarted(tmp_path / "one")
    for q in quotes:
        one.send(q)
    assert one.acct.state is State.Flattening  # one by one: ES at 5978, MNQ still nothing
    _, d = restarted(tmp_path / "merged")
    handed = waited(
        quotes,
        d.engine.marks,
        judged(False),
        d.engine.valuation.beside,
        d.engine.valuation.holdings,
    )
    for q in handed:
        d.send(q)
    got = (d.acct.state, [(q.contract_id, q.last) for q in handed if q.contract_id == ES])
    assert got[0] is State.Flattening, f"{got}: ES's 5978 (-$1,100) never judged"
