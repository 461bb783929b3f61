"""Found by a review of d679f65 (a position not valued at a stop is restored waiting for a quote):
the carry of a reset missed while the service was stopped, its price at the reset not read (the
gateway has no bar, the read failed or ran out of its budget), values every position at the last
mark known, a waiting one too: a mark saved before the position existed.

Run 0 trades ES and goes flat (its mark row, 6000 at T0, stays in the database). Run 1: 1001
buys 4 ES at 6010 (no ES quote: it waits) and stops before a quote. The service is down over
Monday's 17:00 Chicago reset; run 2 starts ten minutes after it and reads no ES price at it.
The carry took the 4 ES at the 6000 of run 0: -$2,000 (long) or +$2,000 (short 4 at 6010).
The last price known of ES at the stop was the 6010 of the fill itself.

What must hold: a position waiting for a quote at the stop is never carried at a mark from
before it: with ES still at 6010 after the reset the new day is at $0, not +$2,000 (a real
loss of up to $2,999 hidden from a $1,000 daily loss limit), nor -$2,000 (a short flattened
and locked for a day on which nothing was lost)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
from tests.unit.test_restart_second_quick_restart import restart
from tests.unit.test_restart_unheld_mark import (
    ES_INFO,
    commit,
    engine,
    trade_es_then_go_flat,
)

NEXT_DAY = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday's 17:00 Chicago reset after T0
AFTER = NEXT_DAY + timedelta(minutes=10)


def across_the_reset(tmp_path: Path, long: bool) -> tuple[Driver, list[Effect]]:
    """Run 0 and run 1 as above (1001 buys, or sells, 4 ES at 6010 in run 1, waiting), then
    run 2 ten minutes after the reset, ES's price at it not read (``at_reset`` without it)."""
    path = tmp_path / "state.db"
    store = Store(path)
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)
    store, r = restart(store, path, T0 + timedelta(seconds=10))
    commit(store, r, r.send(account("50000")))
    r.now = T0 + timedelta(seconds=15)
    out = r.send(ES_INFO)
    out += r.send(fill(ES, Side.BUY if long else Side.SELL, 4, "6010", at=r.now))
    out += r.send(position(ES, 4, "6010", long=long, at=r.now))
    commit(store, r, out)
    assert not r.acct.positions[ES].priced and r.acct.open_upnl == 0  # waiting
    store.save_marks(r.engine.marks)
    store.close()
    store = Store(path)
    assert store.marks()[ES].at == T0  # run 0's row, from before the 4 ES
    fresh = engine(marks=store.marks())
    restore_all(store, fresh, AFTER, at_reset={})  # read, and no price found
    store.close()
    d2 = Driver(fresh, now=AFTER)
    assert d2.acct.day.start == NEXT_DAY
    # the start-up read: the 4 ES as the gateway lists them, nothing traded while stopped
    held = position(ES, 4, "6010", long=long, at=T0 + timedelta(seconds=15))
    return d2, start_up_read(d2, account("50000"), held)


def test_a_long_waiting_at_the_stop_carries_no_mark_from_before_it(tmp_path: Path) -> None:
    d, _ = across_the_reset(tmp_path, long=True)
    d.now += timedelta(seconds=1)
    d.send(quote(ES, "6010", at=d.now))  # ES where the 4 were bought: nothing made or lost
    got = (d.acct.day.carry, d.acct.day_pnl(with_unrealized=True))
    assert got == (0, 0), f"{got}: 4 ES carried at run 0's 6000, before they were bought"
    d.now += timedelta(seconds=1)
    out = d.send(quote(ES, "6005", at=d.now))  # -$1,000 on the day: the limit
    assert d.acct.state is State.Flattening and [c.contract_id for c in closes(out)] == [ES]


def test_a_short_waiting_at_the_stop_is_not_flattened_for_a_gain_never_made(
    tmp_path: Path,
) -> None:
    d, out = across_the_reset(tmp_path, long=False)
    d.now += timedelta(seconds=1)
    out += d.send(quote(ES, "6010", at=d.now))  # ES where the 4 were sold
    got = (d.acct.state, [c.contract_id for c in closes(out)], d.acct.day_pnl(with_unrealized=True))
    assert got == (State.Trading, [], D(0)), f"{got}: short 4 ES carried at run 0's 6000 (+$2,000)"
