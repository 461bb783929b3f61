"""Found by a review of d679f65 (a position not valued at a stop is restored waiting for a quote):
the restore skips a waiting position's valuation whatever the price, a price newer than the position
too. A reset missed while the service was stopped carries the position at the gateway's price at
that reset (read, stamped at the reset, after the position was bought), and the restore used to
value the position at it until a quote (`Valuation.learn`); now the carry counts it and the position
counts nothing: the new day's P&L reads the carry's opposite.

1001 trades ES flat at 09:00 Chicago (its mark row, 6000, stays in the database), buys 4 ES
at 6010 at T0+15 s (no ES quote: waiting) and the service stops. It is down
over Monday's 17:00 Chicago reset, where ES's last trade was 6000 (read at the start). The
carry is -$2,000 (right: the 4 ES lost $2,000 before the reset); the position counts $0, and
the day reads +$2,000 though nothing has been made since the reset: a $1,500 daily profit
target flattens it and locks the account for the day. ES at 6020 at the reset: the carry is
+$2,000 and the day reads -$2,000: a $1,000 daily loss limit flattens and locks it. Before the
change (08d806d) both read $0 (the position valued at the price at the reset until a quote).

What must hold: the new day, with no quote since the reset, is at $0: a price stamped after
the position was opened (the price at a reset since) values it as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.config import build_rule
from fsm_risk.core.effects import Effect
from fsm_risk.core.engine import EngineSettings, RiskEngine
from fsm_risk.core.events import Side
from fsm_risk.core.models import InstrumentBook, Mark
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.daily_profit_target import DailyProfitTarget
from tests.factories import ES, T0, D, Driver, account, closes, fill, position, start_up_read
from tests.unit.test_restart_unheld_mark import commit, trade_es_then_go_flat

NEXT_DAY = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday's 17:00 Chicago reset after T0
BOUGHT = T0 + timedelta(seconds=15)


def engine(marks: dict[str, Mark] | None = None) -> RiskEngine:
    """A $1,000 daily loss limit and a $1,500 daily profit target (both on equity)."""
    es = EngineSettings(SessionCalendar())
    instruments, m = InstrumentBook(), dict(marks or {})
    ctx = RiskEngine.context(es, instruments, m)
    rules = [
        build_rule(DailyLossLimit, ctx, {"limit": "1000"}),
        build_rule(DailyProfitTarget, ctx, {"target": "1500"}),
    ]
    return RiskEngine(es, rules, instruments, m)


def across_the_reset(tmp_path: Path, at_reset: str) -> tuple[Driver, list[Effect]]:
    """Run 0 as above, stopped waiting; run 2 ten minutes after the reset, ES's last trade
    before it read as ``at_reset``; the start-up read (nothing traded while stopped)."""
    path = tmp_path / "state.db"
    store = Store(path)
    d = Driver(engine(), now=T0)
    trade_es_then_go_flat(store, d)  # ES's mark row of 09:00 Chicago (6000) stays stored
    d.now = BOUGHT
    out = d.send(fill(ES, Side.BUY, 4, "6010", at=d.now))
    commit(store, d, out + d.send(position(ES, 4, "6010", at=d.now)))
    assert not d.acct.positions[ES].priced  # waiting at the stop
    store.save_marks(d.engine.marks)
    store.close()
    store = Store(path)
    fresh = engine(marks=store.marks())
    after = NEXT_DAY + timedelta(minutes=10)
    restore_all(store, fresh, after, at_reset={NEXT_DAY: {ES: D(at_reset)}})
    store.close()
    r = Driver(fresh, now=after)
    assert r.acct.day.start == NEXT_DAY
    return r, start_up_read(r, account("50000"), position(ES, 4, "6010", at=BOUGHT))


def test_a_fall_before_a_reset_since_is_no_profit_of_the_new_day(tmp_path: Path) -> None:
    """ES at 6000 at the reset: carry -$2,000; the day must read $0, not +$2,000 (a $1,500
    profit target flattened and locked the account for the day)."""
    r, out = across_the_reset(tmp_path, "6000")
    assert r.acct.day.carry == D("-2000")
    got = (r.acct.state, [c.contract_id for c in closes(out)], r.acct.day_pnl(with_unrealized=True))
    assert got == (State.Trading, [], 0), f"{got}: the carry's -$2,000 counted, the 4 ES $0"


def test_a_rise_before_a_reset_since_is_no_loss_of_the_new_day(tmp_path: Path) -> None:
    """ES at 6020 at the reset: carry +$2,000; the day must read $0, not -$2,000 (a $1,000
    daily loss limit flattened and locked the account for the day)."""
    r, out = across_the_reset(tmp_path, "6020")
    assert r.acct.day.carry == D("2000")
    got = (r.acct.state, [c.contract_id for c in closes(out)], r.acct.day_pnl(with_unrealized=True))
    assert got == (State.Trading, [], 0), f"{got}: the carry's +$2,000 counted, the 4 ES $0"
