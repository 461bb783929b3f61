"""Loads for the store: an account's history in round trips, a database of many accounts
carrying weeks of fills, and the two costs that must not follow that history (a commit, a
restore). The tests use the builders; a benchmark can call the measurements:

    from tests.store_load import commit_seconds, restore_seconds, seed
    commit_seconds(path, history=1200)          # median seconds of one fill's commit
    seed(path, accounts=1000, weeks=4, fills_per_day=120)
    restore_seconds(path)                       # (seconds, accounts restored)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Fill, Side
from fsm_risk.core.sessions import SessionCalendar
from tests.factories import MNQ, T0, Driver, account, fill, make_engine


def round_trips(n: int, contract: str, at: datetime = T0, acc: int = 1001) -> list[Fill]:
    """``n`` one-lot round trips in ``contract`` (a small loss each, fees paid), one second
    apart from ``at``."""
    out: list[Fill] = []
    for i in range(n):
        t = at + timedelta(seconds=2 * i)
        out.append(fill(contract, Side.BUY, 1, "21000", fees="0.37", acc=acc, at=t))
        out.append(
            fill(
                contract,
                Side.SELL,
                1,
                "21000",
                pnl="-0.50",
                fees="0.37",
                acc=acc,
                at=t + timedelta(seconds=1),
            )
        )
    return out


def commit_seconds(
    path: str | Path,
    history: int,
    samples: int = 200,
    engine: Callable[[], RiskEngine] = make_engine,
) -> float:
    """The median time of `Store.commit` for one fill (half a round trip) on an account that
    already traded ``history`` round trips today, on a new store at ``path``."""
    store = Store(path)
    d = Driver(engine())
    d.send(account(), *round_trips(history, MNQ))
    store.commit(d.engine.take_changes())
    times: list[float] = []
    for ev in round_trips(samples // 2 + 1, MNQ, at=T0 + timedelta(hours=1))[:samples]:
        d.send(ev)
        changes = d.engine.take_changes()
        start = time.perf_counter()
        store.commit(changes, (), None, ())
        times.append(time.perf_counter() - start)
    store.close()
    return statistics.median(times)


def seed(
    path: str | Path,
    accounts: int,
    weeks: int,
    fills_per_day: int,
    now: datetime = T0,
    first_id: int = 10_000,
    engine: Callable[[], RiskEngine] = make_engine,
) -> None:
    """A store at ``path`` with ``accounts`` accounts, each trading ``fills_per_day`` fills
    (one-lot round trips) on every trading day of the last ``weeks`` weeks up to ``now``,
    written exactly as a service writes them: through the engine, a commit per day."""
    store = Store(path)
    cal = SessionCalendar()
    zone = ZoneInfo(cal.tz)
    days: list[datetime] = []
    start = cal.last_daily_reset(now)
    while len(days) < weeks * 5:
        if start.astimezone(zone).weekday() != 5:  # a Saturday evening opens no day
            days.append(start)
        start = cal.last_daily_reset(start - timedelta(seconds=1))
    days.reverse()
    for n in range(accounts):
        acc = first_id + n
        d = Driver(engine(), now=days[0] + timedelta(minutes=1), acc=acc)
        d.send(account(acc=acc))
        for day in days:
            d.now = min(day + timedelta(hours=1), now)
            d.send(*round_trips(fills_per_day // 2, MNQ, at=day + timedelta(minutes=1), acc=acc))
            store.commit(d.engine.take_changes())
    store.close()


def restore_seconds(
    path: str | Path, now: datetime = T0, engine: Callable[[], RiskEngine] = make_engine
) -> tuple[float, int]:
    """The wall time to open the store at ``path`` and restore every account into a new
    engine (as `fsm-risk serve` starts), and how many accounts it restored."""
    start = time.perf_counter()
    store = Store(path)
    _, restored = restore_all(store, engine(), now)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed, len(restored)
