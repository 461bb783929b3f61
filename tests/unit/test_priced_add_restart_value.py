"""Found by a review of 7193d00: a position valued at the stop whose last quote came a moment
before an add was restored at no value: `owns` refused the saved mark (an add of the day's
journal stamped after it), so the part held before the add, valued at that mark all along,
counted nothing until a quote of the new run (not the add's slippage alone).

1001 holds 1 ES bought at 6028 (ES at 6010: -$900 on the day, a $1,000 daily limit). At
T0+15 s it adds 3 ES at 6010 (the last ES quote 6010 at T0+10 s) and the service restarts
five seconds later. Until the first ES quote of the new run (a halt, a thin or silent feed: up
to the 30 s silence and a bar read) the account read $0 where it is at -$900: a fall of $100
more, a loss limit touched, went unseen.

What must hold: a position valued at the stop is restored at the value the engine held for it
there (the saved mark, its add priced at it as the engine priced it); a row saved before the
flag existed says nothing of that, and an add after its mark still keeps it off the mark."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store
from fsm_risk.core.events import Side
from tests.factories import ES, T0, D, Driver, account, fill, position, quote, start_up_read
from tests.unit.test_restart_second_quick_restart import restart
from tests.unit.test_restart_unheld_mark import ES_INFO, commit, engine
from tests.unit.test_upgrade_snapshot_without_priced import written_before_the_upgrade

ADDED = T0 + timedelta(seconds=15)


def added_after_its_last_quote(tmp_path: Path) -> Store:
    """1001 holds 1 ES from 6028 at -$900 (ES 6010), adds 3 at 6010 after that quote, stops."""
    path = tmp_path / "state.db"
    store = Store(path)
    d = Driver(engine(), now=T0)
    commit(store, d, d.send(ES_INFO, account("50000")))
    commit(store, d, d.send(fill(ES, Side.BUY, 1, "6028", at=T0)))
    commit(store, d, d.send(position(ES, 1, "6028", at=T0), quote(ES, "6028", at=T0)))
    d.now = T0 + timedelta(seconds=10)
    commit(store, d, d.send(quote(ES, "6010", at=d.now)))
    d.now = ADDED
    out = d.send(fill(ES, Side.BUY, 3, "6010", at=ADDED, order_id=2))
    out += d.send(position(ES, 4, "6014.5", at=T0))
    commit(store, d, out)
    assert d.acct.positions[ES].priced and d.acct.open_upnl == D(-900)  # valued at the stop
    store.save_marks(d.engine.marks)
    return store


def test_a_position_added_to_after_its_last_quote_keeps_its_value_at_a_restart(
    tmp_path: Path,
) -> None:
    store = added_after_its_last_quote(tmp_path)
    store, r = restart(store, tmp_path / "state.db", ADDED + timedelta(seconds=5))
    store.close()
    start_up_read(r, account("50000"), position(ES, 4, "6014.5", at=T0))
    got = (r.acct.open_upnl, r.acct.day_pnl(with_unrealized=True))
    assert got == (D(-900), D(-900)), f"{got}: the 1 ES held since T0 counted nothing"


def test_a_row_saved_before_the_flag_is_still_kept_off_a_mark_before_its_add(
    tmp_path: Path,
) -> None:
    """Found by a review of 7193d00 (what the fix must leave): the same run, its rows written
    before ``priced`` existed, which cannot tell a position valued at the stop from one grown
    since its last price: the add after the mark keeps the 4 ES off it until a quote."""
    added_after_its_last_quote(tmp_path).close()
    path = tmp_path / "state.db"
    written_before_the_upgrade(path)
    store, r = restart(Store(path), path, ADDED + timedelta(seconds=5))
    store.close()
    pos = r.acct.positions[ES]
    assert (pos.priced, pos.upnl, r.acct.open_upnl) == (False, 0, 0)
