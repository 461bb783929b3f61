"""Found by a review of 409d78b, which dropped a saved mark only when nobody holds the contract.
Another account restored holding it keeps the same hours-old price (moved to `stored` by
`restore_account`), and a position opened since in it by any account is valued at that price:
its stale gain hides a fresh loss, exactly what 409d78b fixed for a contract nobody held.

Same scenario as tests/unit/test_restart_unheld_mark.py (its daily loss test), plus one more
account (1002) long 1 ES across the restart. Control: the same with 1002 flat fires."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from tests.factories import ES, MNQ, T0, D, Driver, account, closes, fill, position, quote
from tests.unit.test_restart_unheld_mark import (
    ES_INFO,
    commit,
    engine,
    short_es_and_lose_on_mnq,
    trade_es_then_go_flat,
)

OTHER = 1002


def other_account_holds_es(store: Store, d: Driver, keep: bool) -> None:
    """1002 buys 1 ES at 6000 at T0 (quoted) and keeps it (or goes flat at once)."""
    o = Driver(d.engine, now=d.now, acc=OTHER)
    commit(store, o, o.send(ES_INFO, account("50000", acc=OTHER)))
    commit(store, o, o.send(fill(ES, Side.BUY, 1, "6000", at=o.now, acc=OTHER)))
    held = position(ES, 1, "6000", at=o.now, acc=OTHER)
    commit(store, o, o.send(held, quote(ES, "6000", at=o.now)))
    if not keep:
        o.now += timedelta(seconds=5)
        commit(store, o, o.send(fill(ES, Side.SELL, 1, "6000", pnl="0", at=o.now, acc=OTHER)))
        commit(store, o, o.send(position(ES, 0, "0", at=o.now, acc=OTHER)))


def run(tmp_path: Path, keep: bool) -> Driver:
    store = Store(tmp_path / "state.db")
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    other_account_holds_es(store, d, keep)
    store.close()
    store = Store(tmp_path / "state.db")
    fresh = engine(marks=store.marks())
    restore_all(store, fresh, T0 + timedelta(hours=1))
    r = Driver(fresh, now=T0 + timedelta(hours=5))
    r.out = short_es_and_lose_on_mnq(r)  # type: ignore[attr-defined]
    return r


def test_control_nobody_holds_es_the_daily_loss_fires(tmp_path: Path) -> None:
    r = run(tmp_path, keep=False)
    assert r.acct.open_upnl == D("-1200")
    assert r.acct.state is State.Flattening
    assert {c.contract_id for c in closes(r.out)} == {ES, MNQ}  # type: ignore[attr-defined]


def test_another_account_holds_es_the_daily_loss_must_still_fire(tmp_path: Path) -> None:
    r = run(tmp_path, keep=True)
    es = r.acct.positions[ES]
    # 1001's short 3 ES opened at 6110 four hours after the restart: valued at 1002's stored
    # 6000 of five hours ago (+16,500) it hides the fresh -1,200 on MNQ
    assert r.acct.open_upnl == D("-1200"), (
        f"open P&L {r.acct.open_upnl}: ES valued {es.upnl} at {r.engine.valuation.last_mark(ES)}"
    )
    assert r.acct.state is State.Flattening
    assert {c.contract_id for c in closes(r.out)} == {ES, MNQ}  # type: ignore[attr-defined]
