"""`fsm-risk replay --source gateway`: the gateway's own history (trades, orders, bars), read
through the real SDK from the paper gateway, replayed under settings it never ran with."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fsm_risk import config, replay_sources
from fsm_risk.adapters.clock import ManualClock
from fsm_risk.core.events import Fill, OrderStatus, OrderType, OrderUpdate, Quote
from fsm_risk.paper import PaperGateway
from tests.factories import T0
from tests.postgres import BACKENDS, sqlite_or_postgresql

ACCOUNT = 1001
SETTINGS = """
[general]
database = state.db
log_file = fsm.log
[rule.trade_cooldown]
tiers = 50: 60
basis = trade
"""


async def replay_cli(home: Path, gateway: PaperGateway, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, **gateway.env()}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fsm_risk", "replay", *args,
        "--settings", str(home / "settings.ini"),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """state.db (not there: nothing of the service's own), or an empty PostgreSQL database: a
    URL that replay took for a file ("'str' object has no attribute 'exists'")."""
    yield from sqlite_or_postgresql(request, tmp_path / "state.db")


async def test_history_replayed_under_a_cooldown_blocks_the_trade_after_the_loss(
    tmp_path: Path, paper_gateway: PaperGateway, database: str | Path
) -> None:
    gw = paper_gateway
    clock = ManualClock(T0)
    gw.set_clock(clock.now)
    # the trader's morning, as the gateway records it: a losing round trip, then a winning one
    gw.place_order(ACCOUNT, "MNQ", 0, 2)
    clock.advance(minutes=5)
    gw.move_price("MNQ", -100)  # 25 points: about -$100 on 2 MNQ
    gw.place_order(ACCOUNT, "MNQ", 1, 2)
    clock.advance(minutes=5)
    reentry = gw.place_order(ACCOUNT, "MNQ", 0, 1)
    clock.advance(minutes=10)
    gw.move_price("MNQ", 60)
    gw.place_order(ACCOUNT, "MNQ", 1, 1)
    clock.advance(minutes=1)
    trades = gw.trades(ACCOUNT)
    assert len(trades) == 4 and trades[1].profit_and_loss is not None
    assert trades[1].profit_and_loss < -50 and (trades[3].profit_and_loss or 0) > 0

    (tmp_path / "settings.ini").write_text(SETTINGS.replace("state.db", str(database)))
    code, out, err = await replay_cli(
        tmp_path, gw, str(ACCOUNT), "--from", "2026-11-23", "--source", "gateway", "--json"
    )
    assert code == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    firings = [x for x in lines if x["type"] == "firing"]
    blocked = [x for x in lines if x["type"] == "blocked"]
    [day] = [x for x in lines if x["type"] == "day"]
    assert [(f["rule"], f["action"], f["lock"]) for f in firings] == [
        ("RULE-008", "flatten", "Cooldown")
    ]
    loss_at = trades[1].time
    assert firings[0]["at"] == loss_at.isoformat()
    assert firings[0]["until"] == (loss_at + timedelta(minutes=60)).isoformat()
    [b] = blocked
    assert (b["trade"], b["side"], b["size"]) == (trades[2].trade_id, "buy", 1)
    assert trades[2].order_id == reentry.order_id

    def net(ts: list) -> Decimal:  # type: ignore[type-arg]
        return sum(
            ((t.profit_and_loss or Decimal(0)) - t.fees - t.commissions for t in ts), Decimal(0)
        )

    assert Decimal(day["actual_pnl"]) == net(trades).quantize(Decimal("0.01"))
    assert Decimal(day["replay_pnl"]) == net(trades[:2]).quantize(Decimal("0.01"))
    assert day["blocked_trades"] == 1


async def test_without_credentials_the_gateway_source_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "settings.ini").write_text(SETTINGS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROJECT")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fsm_risk", "replay", "--from", "2026-11-23",
        "--source", "gateway", "--settings", str(tmp_path / "settings.ini"),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode != 0
    assert "--source gateway needs the broker credentials" in err.decode()
    assert "Traceback" not in err.decode()


async def test_the_history_holds_instruments_orders_fills_and_bar_quotes_in_time_order(
    tmp_path: Path, paper_gateway: PaperGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = paper_gateway
    clock = ManualClock(T0)
    gw.set_clock(clock.now)
    gw.place_order(ACCOUNT, "MNQ", 0, 1)
    gw.place_order(ACCOUNT, "MNQ", 0, 1, type=1, limit_price=100)  # a working limit order
    clock.advance(minutes=30)
    gw.place_order(ACCOUNT, "MNQ", 1, 1)
    clock.advance(minutes=1)
    for key, value in gw.env().items():
        monkeypatch.setenv(key, value)
    (tmp_path / "settings.ini").write_text(SETTINGS)
    settings = config.load(tmp_path / "settings.ini")
    start, end = replay_sources.window(settings.calendar(), T0.date(), None)
    [plan] = await replay_sources.gateway_plans_async(settings, "PAPER-1", start, end)
    kinds = [type(e.event).__name__ for e in plan.entries]
    assert kinds[:2] == ["InstrumentInfo", "AccountUpdate"]
    assert kinds.count("Fill") == 2
    fills = [e.event for e in plan.entries if isinstance(e.event, Fill)]
    assert [f.trade_id for f in fills] == [t.trade_id for t in gw.trades(ACCOUNT)]
    orders = [e.event for e in plan.entries if isinstance(e.event, OrderUpdate)]
    assert [o.status for o in orders if o.type is OrderType.LIMIT] == [OrderStatus.OPEN]
    quotes = [e for e in plan.entries if isinstance(e.event, Quote)]
    # one-minute bars from the window's start to the gateway's clock: four quotes each
    minutes = int((T0 + timedelta(minutes=31) - start).total_seconds() // 60)
    assert minutes - 2 <= len(quotes) // 4 <= minutes
    assert [e.at for e in plan.entries] == sorted(e.at for e in plan.entries)
