"""Found by a review of 83fd118: the restored holder ADDS to its position after a quick
restart. 1002 holds 1 ES (bought at 6000, ES last quoted 6000 at T0+5 s, saved) across a
restart at T0+10 s; ES is at 6010 by then (unwatched). At T0+15 s 1002 buys 3 more at 6010:
4 ES at an average of 6007.50 (truth at 6010: +$500). `unwatched` lets the holder's position,
grown by 3 contracts bought since the restart, be valued at the saved 6000, fresh by its age:
-$1,500 on a $1,000 daily loss limit, flattened and locked. At 3d82ce5 the saved mark was
stale (nothing fired); the saved price never values a contract bought since."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from tests.factories import ES, T0, Driver, closes, fill, position, settled_read
from tests.unit.test_restart_mark_of_another_holder import OTHER
from tests.unit.test_restart_recent_mark_other_holder import restarted


def test_an_add_after_a_quick_restart_is_not_valued_at_the_saved_mark(tmp_path: Path) -> None:
    r = restarted(tmp_path)
    o = Driver(r.engine, now=r.now, acc=OTHER)
    settled_read(o)  # 1002's enforcing step: 1 ES as stored, its balance settles it
    assert o.acct.unjudged is None and o.acct.state is State.Trading
    o.now = T0 + timedelta(seconds=15)
    out = o.send(fill(ES, Side.BUY, 3, "6010", at=o.now, acc=OTHER, order_id=77, trade_id=77))
    out += o.send(position(ES, 4, "6007.50", at=o.now, acc=OTHER))
    got = (o.acct.state, [c.contract_id for c in closes(out)])
    assert got == (State.Trading, []), (
        f"{got}: open {o.acct.open_upnl} at the saved {r.engine.valuation.last_mark(ES)}"
    )
