"""Found by a review of 7193d00: a position valued at the stop whose last quote came a moment
before an add (a fill is no quote: the engine values the position, the add too, at the quote
before it, and the service stopped before the next one) was carried at nothing by a reset
missed while stopped whose price was not read: `owns` refused the mark (an add of the day's
journal stamped after it), and the part held before the add, valued at that mark all along,
dropped out of the carry.

Run 1: 1001 buys 1 ES at 6028 at T0, quoted at 6010 (-$900 on the day). At T0+15 s it adds 3
ES at 6010 (ES's last quote 6010 at T0+10 s) and the service stops before a quote. It is down
over Monday's 17:00 Chicago reset; ES's price at the reset is not read (no bar, a failed read,
the budget spent). Taken as $0, the new day counted yesterday's -$900 as its own, and a $1,000
daily limit fired at a real loss of $100; held from 5950 (+$3,000), the new day's first quote
read +$3,000 never made, or hid $3,000 of loss all day.

What must hold: a missed reset whose price was not read carries a position valued at the stop
at the value the engine held for it there (the saved mark, the add priced at it as the engine
priced it), however soon after that mark it was added to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from tests.factories import ES, T0, D, Driver, account, closes, fill, position, quote, start_up_read
from tests.unit.test_restart_unheld_mark import ES_INFO, commit, engine

NEXT_DAY = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday's 17:00 Chicago reset after T0
AFTER = NEXT_DAY + timedelta(minutes=10)
ADDED = T0 + timedelta(seconds=15)


def stopped_over_a_reset_after_an_add(tmp_path: Path, bought: str) -> Driver:
    """1001 buys 1 ES at ``bought``, ES quoted at 6010, adds 3 at 6010 just after that quote;
    the service stops before the next one and starts after Monday's reset, its price unread."""
    path = tmp_path / "state.db"
    store = Store(path)
    d = Driver(engine(), now=T0)
    commit(store, d, d.send(ES_INFO, account("50000")))
    commit(store, d, d.send(fill(ES, Side.BUY, 1, bought, at=T0)))
    commit(store, d, d.send(position(ES, 1, bought, at=T0), quote(ES, bought, at=T0)))
    d.now = T0 + timedelta(seconds=10)
    commit(store, d, d.send(quote(ES, "6010", at=d.now)))
    d.now = ADDED
    out = d.send(fill(ES, Side.BUY, 3, "6010", at=ADDED, order_id=2))
    average = str((D(bought) + 3 * D(6010)) / 4)
    out += d.send(position(ES, 4, average, at=T0))
    commit(store, d, out)
    held = (D(6010) - D(bought)) * 50
    assert d.acct.positions[ES].priced and d.acct.open_upnl == held  # valued at the stop
    store.save_marks(d.engine.marks)
    store.close()
    store = Store(path)
    fresh = engine(marks=store.marks())
    restore_all(store, fresh, AFTER, at_reset={})  # read, and no price found
    store.close()
    r = Driver(fresh, now=AFTER)
    assert r.acct.day.start == NEXT_DAY
    start_up_read(r, account("50000"), position(ES, 4, average, at=T0))
    return r


def test_a_position_added_to_after_its_last_quote_is_carried_at_its_loss_there(
    tmp_path: Path,
) -> None:
    r = stopped_over_a_reset_after_an_add(tmp_path, "6028")
    r.now += timedelta(seconds=1)
    out = r.send(quote(ES, "6010", at=r.now))  # ES where it was at the stop
    got = (r.acct.day.carry, r.acct.day_pnl(with_unrealized=True))
    assert got == (D(-900), 0), f"{got}: the 1 ES held since T0 dropped from the carry"
    r.now += timedelta(seconds=1)
    out += r.send(quote(ES, "6009.50", at=r.now))  # -$100 on the new day
    got2 = (
        r.acct.state,
        [c.contract_id for c in closes(out)],
        r.acct.day_pnl(with_unrealized=True),
    )
    assert got2 == (State.Trading, [], D(-100)), f"{got2}: yesterday's -$900 counted today"


def test_a_position_added_to_after_its_last_quote_is_carried_at_its_gain_there(
    tmp_path: Path,
) -> None:
    r = stopped_over_a_reset_after_an_add(tmp_path, "5950")
    r.now += timedelta(seconds=1)
    r.send(quote(ES, "6010", at=r.now))  # ES where it was at the stop
    got = (r.acct.day.carry, r.acct.day_pnl(with_unrealized=True))
    assert got == (D(3000), 0), f"{got}: the 1 ES held since T0 (+$3,000) dropped from the carry"
