"""Found by a review: after 409d78b a saved mark older than stale_after is dropped at a start,
but one saved less than stale_after before a quick restart, for a contract another restored
account holds, stayed a live mark: `restore_account` kept it as fresh. A position opened after
the restart in that contract was valued at it, judged on a price from before the stop as if
quoted now: 1001's 4 ES bought at 6010 five seconds after the restart read -$2,000 at the saved
6000 on a $1,000 daily loss limit and were flattened. Uninterrupted, ES was watched throughout
(1002 holds it): its quotes would have said 6010 before the fill.

A mark saved before a restart never values a position opened since in its contract: that
one waits for a quote of this run. It values the positions held across the restart, judged by
its age as any quote (fresh while younger than stale_after: a review of 3d82ce5 found a breach
on a mark 11 s old held until a quote). A quote received in this run is fresh as before.

1001 trades 1 ES at 6000 and goes flat; 1002 buys 1 ES at 6000 at T0+5 s (quoted 6000 then)
and holds it across a restart at T0+10 s."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.core.effects import Effect
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.status import snapshot
from tests.factories import ES, T0, D, Driver, account, closes, fill, position, quote, start_up_read
from tests.unit.test_restart_mark_of_another_holder import OTHER, other_account_holds_es
from tests.unit.test_restart_unheld_mark import ES_INFO, engine, trade_es_then_go_flat


def buy_four_es_at_6010(d: Driver) -> list[Effect]:
    out = d.send(ES_INFO)
    out += d.send(fill(ES, Side.BUY, 4, "6010", at=d.now))
    return out + d.send(position(ES, 4, "6010", at=d.now))


def restarted(tmp_path: Path) -> Driver:
    """The quick restart: 1001 flat, 1002 long 1 ES (last ES quote 6000 at T0+5 s, saved)."""
    store = Store(tmp_path / "state.db")
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    other_account_holds_es(store, d, keep=True)
    store.close()
    store = Store(tmp_path / "state.db")
    assert store.marks()[ES].at == T0 + timedelta(seconds=5)
    fresh = engine(marks=store.marks())
    restore_all(store, fresh, T0 + timedelta(seconds=10))
    r = Driver(fresh, now=T0 + timedelta(seconds=10))
    start_up_read(r, account("50000"))  # 1001's enforcing step: flat, books confirmed
    assert r.acct.state is State.Trading and r.acct.unjudged is None
    return r


def test_quick_restart_another_holder_new_position_not_judged_on_the_saved_price(
    tmp_path: Path,
) -> None:
    r = restarted(tmp_path)
    r.now = T0 + timedelta(seconds=15)
    out = buy_four_es_at_6010(r)
    assert (r.acct.state, [c.contract_id for c in closes(out)]) == (State.Trading, []), (
        f"open P&L {r.acct.open_upnl} at the saved {r.engine.valuation.last_mark(ES)}"
    )
    assert r.acct.open_upnl == 0
    # the first quote of this run values it: 6010, nothing lost
    r.now += timedelta(seconds=1)
    out = r.send(quote(ES, "6010", at=r.now))
    assert r.acct.open_upnl == 0 and r.acct.state is State.Trading and closes(out) == []
    # and the rules judge it on the live quotes from then on: 6000 is -2,000 on a 1,000 limit
    r.now += timedelta(seconds=1)
    out = r.send(quote(ES, "6000", at=r.now))
    assert r.acct.open_upnl == D("-2000") and r.acct.state is State.Flattening
    assert [c.contract_id for c in closes(out)] == [ES]


def test_quick_restart_the_restored_holder_is_valued_at_the_saved_price_fresh_by_its_age(
    tmp_path: Path,
) -> None:
    """Valued at the saved price, fresh while younger than stale_after (30 s), stale after."""
    r = restarted(tmp_path)
    other = r.engine.accounts[OTHER]
    assert other.positions[ES].priced and other.open_upnl == 0  # at the saved 6000
    (held,) = snapshot(r.engine, r.now, [OTHER])["accounts"][0]["positions"]
    assert held["stale"] is False and held["unrealized"] == "0.00"  # a quote 5 s old
    later = T0 + timedelta(seconds=36)  # the saved quote 31 s old
    (held,) = snapshot(r.engine, later, [OTHER])["accounts"][0]["positions"]
    assert held["stale"] is True and held["unrealized"] == "0.00"
    r.now += timedelta(seconds=1)
    r.send(quote(ES, "6002", at=r.now))
    (held,) = snapshot(r.engine, r.now, [OTHER])["accounts"][0]["positions"]
    assert held["stale"] is False and held["unrealized"] == "100.00"


def test_guard_a_quote_received_in_this_run_is_fresh(tmp_path: Path) -> None:
    """The same restart, ES quoted 6000 after it (a live quote of this run): 1001's 4 ES
    bought at 6010 three seconds later are judged on it at once, as without a restart."""
    r = restarted(tmp_path)
    r.now = T0 + timedelta(seconds=12)
    r.send(quote(ES, "6000", at=r.now))
    r.now = T0 + timedelta(seconds=15)
    out = buy_four_es_at_6010(r)
    assert r.acct.open_upnl == D("-2000")
    assert r.acct.state is State.Flattening and [c.contract_id for c in closes(out)] == [ES]
