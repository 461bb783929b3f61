"""Found by a review of d679f65: the first start after the upgrade. The account rows written before
it have no ``priced``; `Position.from_dict` takes every such position for one valued at the stop,
and the restore values it at the saved mark, however much older than the position.

The crash loop of `test_restart_second_quick_restart` (run 0 saves ES's 6000 at T0+5 s; 1001
buys 4 ES at 6010 at T0+15 s, no ES quote, and run 1 stops), its rows written by the code of
before (no ``priced``), and run 2 is the upgraded service: the 4 ES, opened ten seconds after
the mark was stamped, read -$2,000 on a $1,000 daily loss limit, flattened and locked, the
truth $0 (the defect the change fixes, once more at the upgrade).

What must hold: a mark stamped before a position was opened (its ``opened_at``, saved with it
and read back from the gateway) is never that position's price, whatever the row says."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store
from fsm_risk.core.states import State
from tests.factories import ES, T0, account, closes, position, start_up_read
from tests.unit.test_restart_mark_of_another_holder import OTHER
from tests.unit.test_restart_second_quick_restart import RESTART_2, restart, run_one


def written_before_the_upgrade(path: Path) -> None:
    """The account rows as the code before the change wrote them: no ``priced``."""
    with sqlite3.connect(path) as db:
        for account_id, raw in db.execute("SELECT account_id, snapshot FROM account").fetchall():
            snap = json.loads(raw)
            for p in snap.get("positions", []):
                p.pop("priced", None)
            db.execute(
                "UPDATE account SET snapshot = ? WHERE account_id = ?",
                (json.dumps(snap, sort_keys=True), account_id),
            )


def test_a_mark_stamped_before_a_position_opened_never_values_it_after_the_upgrade(
    tmp_path: Path,
) -> None:
    store, _ = run_one(tmp_path, add=False)
    store.close()
    path = tmp_path / "state.db"
    written_before_the_upgrade(path)
    store, r2 = restart(Store(path), path, RESTART_2)
    bought = position(ES, 4, "6010", at=T0 + timedelta(seconds=15))
    out = start_up_read(r2, account("50000"), bought)
    got = (r2.acct.state, [c.contract_id for c in closes(out)], r2.acct.open_upnl)
    assert got == (State.Trading, [], 0), (
        f"{got}: 4 ES opened at T0+15 s valued at {r2.engine.valuation.last_mark(ES)}"
    )
    store.close()


def test_a_position_held_across_is_still_valued_at_its_saved_mark_after_the_upgrade(
    tmp_path: Path,
) -> None:
    """Found by a review of d679f65 (what the stamp's test must leave): 1002's 1 ES, held
    across both restarts at the 6000 saved with it, its row without ``priced`` too, is
    restored valued at that mark ($0), not left waiting for a quote."""
    store, _ = run_one(tmp_path, add=False)
    store.close()
    path = tmp_path / "state.db"
    written_before_the_upgrade(path)
    store, r2 = restart(Store(path), path, RESTART_2)
    held = r2.engine.accounts[OTHER].positions[ES]
    assert (held.priced, held.upnl, held.size) == (True, 0, 1)
    store.close()
