"""Found by a review of 409d78b, which kept a saved mark of a contract nobody holds when it is
within stale_after of now. Running, that mark was dropped when the last holder went flat
(`unhold`) and the next position waited for a quote; after a quick restart the saved price,
taken before an unwatched gap, values the new position as FRESH: a loss limit fires on a price
from before the trader's own fill (a false flatten), where the uninterrupted run fires nothing.

1001 trades 1 ES at 6000 and goes flat (last ES quote 6000 at T0). The service restarts 10 s
later. At T0+20 s (ES has run to 6010, no ES quote yet) 1001 buys 4 ES at 6010. Daily loss
limit $1,000."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.core.effects import Effect
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
    start_up_read,
)
from tests.unit.test_restart_unheld_mark import ES_INFO, engine, trade_es_then_go_flat


def buy_four_es_at_6010(d: Driver) -> list[Effect]:
    out = d.send(ES_INFO)
    out += d.send(fill(ES, Side.BUY, 4, "6010", at=d.now))
    return out + d.send(position(ES, 4, "6010", at=d.now))


def test_uninterrupted_waits_for_a_quote_then_nothing_fires(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    d.now = T0 + timedelta(seconds=20)
    out = buy_four_es_at_6010(d)
    assert d.acct.open_upnl == 0 and closes(out) == []
    d.now += timedelta(seconds=1)
    out = d.send(quote(ES, "6010", at=d.now))
    assert d.acct.open_upnl == 0 and d.acct.state is State.Trading and closes(out) == []


def test_quick_restart_must_not_value_the_new_position_at_the_saved_price(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    store.close()
    store = Store(tmp_path / "state.db")
    saved = store.marks()[ES]
    fresh = engine(marks=store.marks())
    restore_all(store, fresh, T0 + timedelta(seconds=10))
    r = Driver(fresh, now=T0 + timedelta(seconds=10))
    start_up_read(r, account("50000"))  # its enforcing step: flat, books confirmed
    assert r.acct.state is State.Trading and r.acct.unjudged is None
    r.now = T0 + timedelta(seconds=20)
    out = buy_four_es_at_6010(r)
    assert (r.acct.state, [c.contract_id for c in closes(out)]) == (State.Trading, []), (
        f"valued at the saved {saved.last} of {saved.at}: open P&L {r.acct.open_upnl}"
    )
    assert r.acct.open_upnl == 0
    r.now += timedelta(seconds=1)
    out = r.send(quote(ES, "6010", at=r.now))
    assert r.acct.open_upnl == D(0) and r.acct.state is State.Trading and closes(out) == []
