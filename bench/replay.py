"""Benchmark of `fsm-risk replay`: a month of journal, read from SQLite and replayed.

Prints figures beside their goals; asserts nothing. Usage:

    .venv/bin/python bench/replay.py             # 1 account, then 100 accounts, one month
    .venv/bin/python bench/replay.py --quick     # 10 accounts instead of 100 (a smoke run)

The journal is synthetic but shaped like a real one, written through the service's own
`Journal` into a real database: 20 trading days (Mon 2026-11-02 .. Fri 2026-11-27); each
account trades one of four contracts (MNQ, MES, NQ, ES), whose quotes arrive every 25 s
from 08:30 to 11:30 Chicago; each day about eight round trips of 1-3 contracts held 4-20
minutes, each with a protective stop order placed after the entry and cancelled at the exit,
every fill followed by the gateway's position and balance updates. About 10,000 events per
account-month. The settings are the shipped settings.ini with all 18 rules enabled, so rules
do fire (trade counts, hold times, cooldowns...) as they would in the service.

Timed: reading and decoding the account's journal rows and replaying them (the engine, the
simulated broker and the two books), exactly what `fsm-risk replay ACCOUNT --from --to` does
before printing. 100 accounts run on a process pool of one worker per core.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

try:  # the package of the venv that runs this file (bench/compare.py relies on it)
    import fsm_risk  # noqa: F401
except ImportError:  # a plain checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fsm_risk import config, replay_sources
from fsm_risk.adapters.journal import Journal
from fsm_risk.adapters.store import Store
from fsm_risk.core.engine import Changes
from fsm_risk.core.events import (
    AccountUpdate,
    Event,
    Fill,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionType,
    PositionUpdate,
    Quote,
    Side,
)
from fsm_risk.core.models import DEFAULT_INSTRUMENTS

ROOT = Path(__file__).resolve().parent.parent
CHI = ZoneInfo("America/Chicago")
FIRST, LAST = date(2026, 11, 2), date(2026, 11, 27)
CONTRACTS = ["CON.F.US.MNQ.Z26", "CON.F.US.MES.Z26", "CON.F.US.NQ.Z26", "CON.F.US.ES.Z26"]
START_PRICE = {
    c: Decimal(p) for c, p in zip(CONTRACTS, ("20000", "6000", "20000", "6000"), strict=True)
}
GOAL_ONE, GOAL_HUNDRED = 2.0, 60.0


def all_rules_settings(folder: Path) -> Path:
    text = (ROOT / "settings.ini").read_text(encoding="utf-8")
    text = text.replace("enabled = false", "enabled = true")
    text = text.replace("database = var/fsm-risk.db", f"database = {folder / 'journal.db'}")
    path = folder / "all-rules.ini"
    path.write_text(text, encoding="utf-8")
    return path


def trading_days() -> list[date]:
    d, out = FIRST, []
    while d <= LAST:
        if d.weekday() < 5 and d != date(2026, 11, 26):  # Thanksgiving: the exchange is shut
            out.append(d)
        d += timedelta(days=1)
    return out


def market(cid: str, rng: random.Random) -> list[tuple[datetime, Quote]]:
    tick = DEFAULT_INSTRUMENTS[cid.split(".")[3]].tick_size
    price = START_PRICE[cid]
    out = []
    for d in trading_days():
        t = datetime.combine(d, datetime.min.time().replace(hour=8, minute=30), CHI)
        end = t + timedelta(hours=3)
        while t < end:
            price += tick * rng.randint(-4, 4)
            u = t.astimezone(UTC)
            out.append((u, Quote(cid, u, price, price - tick, price + tick)))
            t += timedelta(seconds=25)
    return out


def trader(
    acc: int, cid: str, quotes: list[tuple[datetime, Quote]], rng: random.Random
) -> list[tuple[datetime, Event]]:
    """About eight round trips a day at the quoted prices, with stop orders."""
    inst = DEFAULT_INSTRUMENTS[cid.split(".")[3]]
    point = inst.tick_value / inst.tick_size
    fee = Decimal("0.37")
    out: list[tuple[datetime, Event]] = []
    balance = Decimal(50000)
    trade = order = acc * 1_000_000
    i = rng.randint(5, 40)
    while i < len(quotes) - 60:
        at, q = quotes[i]
        assert q.last is not None
        size, long = rng.randint(1, 3), rng.random() < 0.5
        side = Side.BUY if long else Side.SELL
        order += 1
        entry_order = order
        trade += 1
        entry = q.last
        out.append(
            (
                at,
                OrderUpdate(
                    acc,
                    entry_order,
                    cid,
                    OrderStatus.FILLED,
                    OrderType.MARKET,
                    side,
                    size,
                    at,
                    fill_volume=size,
                    filled_price=entry,
                ),
            )
        )
        out.append(
            (at, Fill(acc, trade, cid, entry_order, side, size, entry, None, fee * size, at))
        )
        kind = PositionType.LONG if long else PositionType.SHORT
        out.append((at, PositionUpdate(acc, cid, kind, size, entry, at)))
        balance -= fee * size
        out.append((at, AccountUpdate(acc, f"BENCH-{acc}", balance, True)))
        order += 1
        stop_order = order
        stop_at = at + timedelta(seconds=2)
        stop_px = entry - 40 * inst.tick_size if long else entry + 40 * inst.tick_size
        exit_side = Side.SELL if long else Side.BUY
        out.append(
            (
                stop_at,
                OrderUpdate(
                    acc,
                    stop_order,
                    cid,
                    OrderStatus.OPEN,
                    OrderType.STOP,
                    exit_side,
                    size,
                    stop_at,
                    stop_price=stop_px,
                ),
            )
        )
        hold = rng.randint(10, 48)  # 4 to 20 minutes of 25 s quotes
        j = min(i + hold, len(quotes) - 1)
        if quotes[j][0].date() != at.date():
            j = i + 1
        xat, xq = quotes[j]
        assert xq.last is not None
        pnl = (xq.last - entry) * point * size * (1 if long else -1)
        trade += 1
        order += 1
        out.append(
            (
                xat,
                OrderUpdate(
                    acc,
                    order,
                    cid,
                    OrderStatus.FILLED,
                    OrderType.MARKET,
                    exit_side,
                    size,
                    xat,
                    fill_volume=size,
                    filled_price=xq.last,
                ),
            )
        )
        out.append(
            (xat, Fill(acc, trade, cid, order, exit_side, size, xq.last, pnl, fee * size, xat))
        )
        out.append((xat, PositionUpdate(acc, cid, PositionType.UNDEFINED, 0, Decimal(0), xat)))
        balance += pnl - fee * size
        out.append((xat, AccountUpdate(acc, f"BENCH-{acc}", balance, True)))
        cancel_at = xat + timedelta(milliseconds=300)
        out.append(
            (
                cancel_at,
                OrderUpdate(
                    acc,
                    stop_order,
                    cid,
                    OrderStatus.CANCELLED,
                    OrderType.STOP,
                    exit_side,
                    size,
                    stop_at,
                    stop_price=stop_px,
                ),
            )
        )
        i = j + rng.randint(5, 25)
    return out


def write_journal(folder: Path, accounts: int) -> tuple[Path, int]:
    """The journal of ``accounts`` accounts; returns the settings path and events per account."""
    settings_path = all_rules_settings(folder)
    settings = config.load(settings_path)
    store = Store(settings.database)
    rng = random.Random(13)
    streams = {c: market(c, rng) for c in CONTRACTS}
    rows: list[tuple[datetime, int, Event | None, str]] = []
    per_account = []
    for qs in streams.values():
        rows.extend((at, 0, q, "") for at, q in qs)
    start = datetime.combine(FIRST, datetime.min.time(), CHI).astimezone(UTC)
    for k in range(accounts):
        acc = 1001 + k
        cid = CONTRACTS[k % len(CONTRACTS)]
        rows.append((start, 1, None, f"BENCH-{acc}"))
        rows.append((start, 1, AccountUpdate(acc, f"BENCH-{acc}", Decimal(50000), True), ""))
        evs = trader(acc, cid, streams[cid], random.Random(acc))
        rows.extend((at, 2, ev, "") for at, ev in evs)
        per_account.append(len(evs) + len(streams[cid]) + 2)
    rows.sort(key=lambda r: (r[0], r[1]))
    j = Journal()
    for at, _, ev, name in rows:
        if ev is None:
            j.start(int(name.split("-")[1]), name, at)
        else:
            j.record(ev, at)
        if len(j.rows) >= 50_000:
            store.commit(Changes([], []), journal=j.take(None, force=True))
    store.commit(Changes([], []), journal=j.take(None, force=True))
    store.close()
    return settings_path, sum(per_account) // len(per_account)


def replay_one(settings_path: str, account: int) -> tuple[float, int, int, int]:
    """(seconds, events, firings, blocked) of one account's month, from the database."""
    settings = config.load(settings_path)
    t = time.perf_counter()
    store = Store(settings.database)
    start, end = replay_sources.window(settings.calendar(), FIRST, LAST)
    [plan] = replay_sources.journal_plans(store, str(account), start, end)
    store.close()
    report = replay_sources.run(settings, plan)
    return time.perf_counter() - t, report.events, len(report.firings), len(report.blocked)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--quick", action="store_true", help="10 accounts instead of 100")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    n = 10 if args.quick else args.accounts
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        settings_path, per_account = write_journal(folder, n)
        print(f"# bench/replay.py  python {sys.version.split()[0]}  {os.cpu_count()} cores")
        print(
            f"# journal written in {time.perf_counter() - t:.1f} s: {n} accounts, "
            f"{len(trading_days())} trading days, ~{per_account:,} events per account-month; "
            f"settings: settings.ini with all 18 rules enabled"
        )
        replay_one(str(settings_path), 1001)  # warm-up (imports, calendars)
        secs, events, firings, blocked = replay_one(str(settings_path), 1001)
        verdict = "ok" if secs <= GOAL_ONE else "OVER"
        print(
            f"one account, one month: {secs:6.2f} s  (goal <= {GOAL_ONE:.0f} s: {verdict})  "
            f"{events:,} events, {firings} firings, {blocked} blocked trades"
        )
        t = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            results = list(pool.map(replay_one, [str(settings_path)] * n, range(1001, 1001 + n)))
        wall = time.perf_counter() - t
        total_events = sum(r[1] for r in results)
        goal = GOAL_HUNDRED * n / 100
        verdict = "ok" if wall <= goal else "OVER"
        if n < 100:  # worker start-up (imports) weighs on a few accounts: no verdict
            verdict = "smoke run, the goal is for 100 accounts"
        print(
            f"{n} accounts, one month: {wall:6.2f} s  (goal <= {goal:.0f} s: {verdict})  "
            f"{total_events:,} events, {args.workers} worker(s), "
            f"{sum(r[2] for r in results)} firings"
        )


if __name__ == "__main__":
    main()
