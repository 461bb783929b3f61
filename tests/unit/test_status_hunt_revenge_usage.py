"""Found by a hunt (does status tell the truth): RULE-012's usage (what `status` and the dashboard
show) must be the running watch closest to firing, not merely the most recent one."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import partial

from fsm_risk import status
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.revenge_trading import RevengeTrading
from tests.factories import ES, MNQ, Driver, fill, flat, position, rule_driver, the_rule

_ids = iter(range(7_700_000, 10**9))
driver = partial(rule_driver, RevengeTrading)
rule = partial(the_rule, cls=RevengeTrading)


def _round_trip(d: Driver, contract: str, size: int, pnl: str) -> None:
    d.send(
        fill(contract, Side.BUY, size, "100", order_id=next(_ids), at=d.now),
        position(contract, size, "100", at=d.now),
    )
    d.now += timedelta(seconds=20)
    d.send(fill(contract, Side.SELL, size, "99", pnl=pnl, order_id=next(_ids), at=d.now))
    d.send(flat(contract, at=d.now))


def test_status_shows_the_watch_that_fires_first() -> None:
    d = driver()  # loss 100, 300 s, size mode, multiplier 2, cooldown 30 min
    _round_trip(d, ES, 1, "-150")  # watch A: 2 contracts fire it
    d.now += timedelta(seconds=30)
    _round_trip(d, ES, 1, "-120")  # its entry counts 1 on A; watch B starts at 0 of 2
    d.now += timedelta(seconds=10)
    u = rule(d).usage(d.acct, d.now)
    row = next(
        r for r in status.snapshot(d.engine, d.now)["accounts"][0]["rules"] if r["id"] == "RULE-012"
    )
    assert (Decimal(row["value"]), Decimal(row["limit"])) == (u.value, u.limit), row
    # one more contract: is it allowed (as status says: 0 of 2, 0%)?
    d.send(
        fill(MNQ, Side.BUY, 1, "100", order_id=next(_ids), at=d.now),
        position(MNQ, 1, "100", at=d.now),
    )
    fired = "RULE-012" in d.acct.holds or d.acct.state is not State.Trading
    assert fired  # the engine: watch A reaches 2 of 2
    # what status must say before it: one contract left, 50% used
    assert (u.value, u.limit) == (1, 2), f"status said {u.value} / {u.limit}"


def test_same_root_status_names_every_watched_root() -> None:
    d = driver(mode="same_root")
    _round_trip(d, MNQ, 1, "-150")  # watch: any MNQ re-entry fires
    d.now += timedelta(seconds=30)
    _round_trip(d, ES, 1, "-120")  # watch: any ES re-entry fires
    d.now += timedelta(seconds=10)
    u = rule(d).usage(d.acct, d.now)
    d.send(
        fill(MNQ, Side.BUY, 1, "100", order_id=next(_ids), at=d.now),
        position(MNQ, 1, "100", at=d.now),
    )
    assert d.acct.state is State.Flattening
    assert "MNQ" in u.detail, u.detail
