"""Treasuries and currencies end to end (real SDK, paper gateway, service; `status --json` as
its own process): ticks that are binary fractions of a point (ZN 1/64 at $15.625) or tiny
decimals (6J 0.0000005 at $6.25), under the gateway's product codes (ZN is
``CON.F.US.TYA.Z26``, 6J ``CON.F.US.JY6.Z26``).

The gateway books a trade's P&L to the cent (half a cent to the even cent: one ZN tick books
15.62) and the balance moves by it. Here the service's day P&L and equity are held to the
gateway's balance to the cent, and its limits to the figures the gateway books: before,
every first ZN or 6E position was closed at once as an unknown instrument, and an open ZN
read half a cent beside what its close books, so a loss limit or a trailing floor at that
figure was crossed a tick late.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness, run_cli

pytestmark = pytest.mark.paper(spread_ticks=0, commission=Decimal(0))

D = Decimal
START = D("50000.00")
FEE = D("0.82")  # per contract per side (ZB 0.89)
ZN = "CON.F.US.TYA.Z26"
ROOMY = (
    "[rule.max_contracts]\nlimit = 20\n[rule.max_contracts_per_instrument]\ndefault_limit = 20\n"
)


def balance(h: Harness) -> Decimal:
    return h.gateway.account(ACCOUNT).balance


async def status(h: Harness) -> dict[str, Any]:
    code, out = await run_cli(h.home, "status", str(ACCOUNT), "--json")
    assert code == 0, out
    snap = json.loads(out)
    accounts = snap.get("accounts", [snap])
    return next(a for a in accounts if a["account_id"] == ACCOUNT)


async def to(h: Harness, root: str, ticks: int) -> None:
    """Move the price by ``ticks`` and wait for the service to have valued the new mark."""
    cid = h.gateway.contract(root).id
    last = h.gateway.move_price(root, ticks).last
    await h.until(lambda: (m := h.svc.engine.marks.get(cid)) is not None and m.last == last, "mark")


async def settled(h: Harness) -> None:
    """The service has taken the gateway's balance after every fill."""
    await h.until(lambda: h.acct.balance == balance(h) and not h.acct.pending_realized, "balance")


@pytest.mark.parametrize(
    ("root", "code"),
    [
        ("ZT", "TUA"),
        ("ZF", "FVA"),
        ("ZN", "TYA"),
        ("ZB", "USA"),
        ("6E", "EU6"),
        ("6J", "JY6"),
        ("6B", "BP6"),
    ],
)
async def test_round_trips_book_day_pnl_and_equity_to_the_gateways_balance_to_the_cent(
    h: Harness, root: str, code: str
) -> None:
    await h.start(ROOMY)
    cid = h.gateway.contract(root).id
    assert cid == f"CON.F.US.{code}.Z26"
    # buy 1, +1 tick, buy 2 more, +1 tick, sell 1, -1 tick, sell 2: odd lots on half cents
    h.trade(root, "buy", 1)
    await h.until(lambda: cid in h.acct.positions, "the position reached the service")
    await to(h, root, 1)
    h.trade(root, "buy", 2)
    await to(h, root, 1)
    h.trade(root, "sell", 1)
    await to(h, root, -1)
    h.trade(root, "sell", 2)
    await h.until(lambda: cid not in h.acct.positions, "flat")
    await settled(h)
    trades = h.gateway.trades(ACCOUNT)
    assert len(trades) == 4 and all(
        t.profit_and_loss is None or t.profit_and_loss == t.profit_and_loss.quantize(D("0.01"))
        for t in trades
    )
    moved = balance(h) - START
    assert moved == sum((t.profit_and_loss or 0) - t.fees for t in trades)
    assert h.acct.state is State.Trading  # nothing closed as unknown
    assert not h.closes()
    a = await status(h)
    assert a["day"]["net"] == f"{moved:.2f}" and a["day"]["unrealized"] == "0.00"
    assert a["equity"] == a["balance"] == f"{balance(h):.2f}"
    assert h.acct.day_pnl(with_unrealized=True) == moved  # exactly, not only as shown


async def test_an_open_zn_reads_tick_by_tick_what_its_close_books(h: Harness) -> None:
    # the feed's silence limit raised: past it, a held contract with no quote is priced by
    # reads of its bars (fresh again), and this test shows a quiet contract's stale value
    await h.start(ROOMY + "[broker]\nfeed_silence_seconds = 3600\n")
    h.trade("ZN", "buy", 1)
    await h.until(lambda: ZN in h.acct.positions, "the position reached the service")
    seen = []
    for _ in range(3):
        await to(h, "ZN", 1)
        seen.append(h.acct.positions[ZN].upnl)
    assert seen == [D("15.62"), D("31.25"), D("46.88")]  # 15.625, 31.25, 46.875 booked
    a = await status(h)
    assert a["positions"][0]["unrealized"] == "46.88" and a["day"]["unrealized"] == "46.88"
    assert a["equity"] == f"{balance(h) + D('46.88'):.2f}"
    # gone quiet: shown stale, its value kept as last booked
    await h.advance(seconds=45)
    a = await status(h)
    assert a["positions"][0]["stale"] is True and a["positions"][0]["unrealized"] == "46.88"
    await to(h, "ZN", 0)  # fresh again, at the same price
    h.trade("ZN", "sell", 1)
    await h.until(lambda: ZN not in h.acct.positions, "flat")
    await settled(h)
    assert balance(h) == START - 2 * FEE + D("46.88")  # what it read is what was booked
    assert h.acct.equity == balance(h)


@pytest.mark.parametrize(
    ("limit", "fires_at"),
    [
        ("47.70", 3),  # 3 ticks: -46.875 books -46.88, with the entry's fee -47.70: at it
        ("47.71", 4),  # a cent more: not touched at 3 ticks, crossed by the fourth
    ],
)
async def test_a_daily_loss_limit_fires_at_the_tick_the_gateway_books_it(
    h: Harness, limit: str, fires_at: int
) -> None:
    await h.start(ROOMY + f"[rule.daily_loss_limit]\nlimit = {limit}\n")
    h.trade("ZN", "buy", 1)
    await h.until(lambda: ZN in h.acct.positions, "the position reached the service")
    for tick in range(1, fires_at):
        await to(h, "ZN", -1)
        assert h.acct.state is State.Trading, f"fired at {tick} ticks"
    await to(h, "ZN", -1)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by the daily loss limit")
    assert h.position("ZN") == 0
    await settled(h)
    lost = booked_loss(fires_at)
    assert balance(h) == START - 2 * FEE - lost
    a = await status(h)
    assert a["day"]["net"] == f"{balance(h) - START:.2f}" and a["equity"] == a["balance"]
    assert a["lock"]["reason"] == Reason.DAILY_LOSS_LIMIT.name


def booked_loss(ticks: int) -> Decimal:
    return (ticks * D("15.625")).quantize(D("0.01"), rounding="ROUND_HALF_EVEN")


async def test_max_contracts_hold_a_zn_limit_named_by_its_root_on_the_tya_contract(
    h: Harness,
) -> None:
    await h.start(
        "[rule.max_contracts]\nlimit = 10\n"
        "[rule.max_contracts_per_instrument]\nlimits = ZN: 2, JY6: 1\ndefault_limit = 5\n"
    )
    h.trade("ZN", "buy", 3)
    h.trade("6J", "sell", 2)
    await h.gw_until(lambda: h.position("ZN") == 2, "ZN held to its limit of 2")
    await h.gw_until(lambda: h.position("6J") == 1, "6J held to its limit of 1 (named JY6)")
    await settled(h)
    a = await status(h)
    assert a["equity"] == f"{balance(h) + h.acct.open_upnl:.2f}"


async def test_a_trailing_floor_is_touched_at_the_equity_the_gateway_books(h: Harness) -> None:
    """Peak at +3 ticks (46.875 books 46.88), drawdown 93.76: the floor is touched 3 ticks
    below the entry (-46.88 booked). Valued to the half cent, the peak sat 0.005 low and the
    equity 0.005 high: the floor held until the fourth tick."""
    await h.start(
        ROOMY + "[rule.trailing_drawdown]\ndrawdown = 93.76\nmode = intraday\n"
        "freeze_at_start = false\n"
    )
    h.trade("ZN", "buy", 1)
    await h.until(lambda: ZN in h.acct.positions, "the position reached the service")
    for _ in range(3):
        await to(h, "ZN", 1)
    await settled(h)
    peak = START - FEE + D("46.88")
    assert h.acct.rule_state["RULE-004"]["peak"] == str(peak)
    for _ in range(5):
        await to(h, "ZN", -1)
        assert h.acct.state is State.Trading
    await to(h, "ZN", -1)  # 3 ticks below the entry: equity peak - 93.76
    await h.until(lambda: h.acct.state is State.LockedWeekly, "locked by the trailing floor")
    await settled(h)
    assert balance(h) == START - 2 * FEE - D("46.88")
    a = await status(h)
    assert a["equity"] == a["balance"] == f"{balance(h):.2f}"
