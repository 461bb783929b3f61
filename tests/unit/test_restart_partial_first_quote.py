"""Found by a review: the first quote of a contract after a restart may carry a bid and an ask
and no last (the payload parser takes one). Valued at the last price, a position held across
the restart then kept its value at the price saved before the stop, and that value counted as
fresh: the quote made a mark of this run, and the position's value was never marked stale.

4 ES bought at 6004.50, quoted 6000 (-$900 open on a $1,000 daily loss limit); the service
stops 5 s after that quote and starts 40 s later (the saved quote older than stale_after: the
prices last known, not counted). ES rose to 6010 meanwhile (4 ES +$1,100). The trader loses
$200 on MNQ; the first ES quote of the run is a bid of 6010 and an ask of 6010.25, no last: the
day read -$1,100 on the saved 6000 and was flattened and locked. The truth: +$900.

A position whose price this run's mark lacks is valued at its last price known, stale (as a
quote older than stale_after), until a quote carrying its price."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal as D

from fsm_risk.config import build_rule
from fsm_risk.core.effects import Effect
from fsm_risk.core.engine import EngineSettings, RiskEngine
from fsm_risk.core.events import Quote, Side
from fsm_risk.core.models import InstrumentBook, Mark
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.status import snapshot
from tests.factories import (
    ES,
    MNQ,
    T0,
    Driver,
    account,
    closes,
    fill,
    position,
    quote,
    settled_read,
)
from tests.unit.test_restart_unheld_mark import ES_INFO


def engine(marks: dict[str, Mark] | None = None) -> RiskEngine:
    """As `bootstrap.build_engine`: the store's marks handed to the constructor."""
    es = EngineSettings(SessionCalendar())
    instruments, m = InstrumentBook(), dict(marks or {})
    ctx = RiskEngine.context(es, instruments, m)
    return RiskEngine(es, [build_rule(DailyLossLimit, ctx, {"limit": "1000"})], instruments, m)


def real_restart(d: Driver, at: datetime) -> Driver:
    """Stop and start as the service does: the saved marks go to the engine's constructor
    (`bootstrap.build_engine(marks=store.marks())`), then every account is restored."""
    snaps = [
        json.loads(json.dumps((a.to_dict(), [c.to_dict() for c in a.contracts.values()])))
        for a in d.engine.accounts.values()
    ]
    fresh = Driver(engine(dict(d.engine.marks)), now=at, acc=d.acc)
    for snap, contracts in snaps:
        fresh.effects.extend(fresh.engine.restore_account(snap, contracts, at))
    return fresh


def long_four_es_at_a_900_loss(down: int) -> Driver:
    """4 ES bought at 6004.50, quoted 6000 (-$900 open on a $1,000 daily limit); the service
    started again ``down`` seconds after that quote, the account read as stored."""
    d = Driver(engine(), now=T0)
    d.send(ES_INFO, account("50000"))
    d.send(fill(ES, Side.BUY, 4, "6004.50", order_id=1, trade_id=1, at=d.now))
    d.send(position(ES, 4, "6004.50", at=d.now), quote(ES, "6000", at=d.now))
    assert d.acct.open_upnl == D("-900") and d.acct.state is State.Trading
    r = real_restart(d, T0 + timedelta(seconds=down))
    settled_read(r)  # its enforcing step: as stored, its balance settles it
    assert r.acct.unjudged is None
    return r


def lose_200_on_mnq(r: Driver) -> list[Effect]:
    """One second on: 1 MNQ bought at 21000 and sold at 20900 (-$200 realized)."""
    r.now += timedelta(seconds=1)
    out = r.send(fill(MNQ, Side.BUY, 1, "21000", order_id=2, trade_id=2, at=r.now))
    out += r.send(position(MNQ, 1, "21000", at=r.now), quote(MNQ, "21000", at=r.now))
    out += r.send(fill(MNQ, Side.SELL, 1, "20900", pnl="-200", order_id=3, trade_id=3, at=r.now))
    return out + r.send(position(MNQ, 0, "0", at=r.now))


def test_a_partial_first_quote_leaves_the_saved_price_stale() -> None:
    r = long_four_es_at_a_900_loss(down=40)
    out = lose_200_on_mnq(r)
    assert r.acct.state is State.Trading and closes(out) == []  # ES stale: not counted
    r.now += timedelta(seconds=1)
    out = r.send(Quote(ES, r.now, None, D("6010"), D("6010.25")))
    (held,) = snapshot(r.engine, r.now, [r.acc])["accounts"][0]["positions"]
    assert r.acct.state is State.Trading and closes(out) == [], (
        f"closed on the saved 6000 counted fresh: open {r.acct.open_upnl}, "
        f"{[c.contract_id for c in closes(out)]}"
    )
    assert r.acct.open_upnl == D("-900")  # the last price known, kept as it was
    assert held["stale"] is True and held["unrealized"] is None, held
    # the first last of this run values it: +1,100, fresh, nothing fires
    r.now += timedelta(seconds=1)
    out = r.send(quote(ES, "6010", at=r.now))
    (held,) = snapshot(r.engine, r.now, [r.acc])["accounts"][0]["positions"]
    assert r.acct.open_upnl == D("1100") and r.acct.state is State.Trading and closes(out) == []
    assert held["stale"] is False and held["unrealized"] == "1100.00"


def test_guard_a_whole_first_quote_is_fresh_and_judged() -> None:
    """The same, the first ES quote of the run carries a last of 5999.50 (-$1,000 open):
    fresh, with the -$200 realized the day is -$1,200 and it closes at once."""
    r = long_four_es_at_a_900_loss(down=40)
    lose_200_on_mnq(r)
    r.now += timedelta(seconds=1)
    out = r.send(quote(ES, "5999.50", at=r.now))
    assert r.acct.open_upnl == D("-1000") and r.acct.state is State.Flattening
    assert [c.contract_id for c in closes(out)] == [ES]
