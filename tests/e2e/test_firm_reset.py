"""A firm's reset of a flat account mid-day, through the real SDK against the paper gateway
(its orders cancelled, its positions removed with no trade, its trade history wiped, its
balance set to 50,000): the day's and week's books restart from the reset, so the daily loss
limit counts from it; a lock held at the reset stays.

Reported: up 396.52 before the reset, the service kept that profit in its books (the only
trace a warning that the gateway's trade list lacked 2 trades already applied): down 701 on
the fresh account, its day P&L read -305.72 and it kept trading under a daily limit of 500,
which would have fired only about 896 below the reset."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from fsm_risk import service as service_module
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness, lock_by_daily_loss

MNQ = "CON.F.US.MNQ.Z26"
DAILY = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 500
"""


async def reset(h: Harness, balance: int) -> None:
    """The firm resets the account at the paper gateway's control endpoint."""
    async with httpx.AsyncClient(base_url=h.gateway.control_url) as control:
        r = await control.post(f"/accounts/{ACCOUNT}/reset", json={"balance": balance})
    assert r.status_code == 200, r.text


async def win_then_reset(h: Harness) -> None:
    """Buy 2 MNQ, sell them 200 points higher (+400 less fees), then the firm's reset to
    50,000: the service takes the reset's balance and restarts its books."""
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: h.acct.net.get(MNQ) == 2, "2 MNQ bought")
    h.gateway.move_price("MNQ", 400)
    h.trade("MNQ", "sell", 2)
    await h.until(lambda: not h.acct.net.get(MNQ) and h.acct.day.realized > 390, "won +400")
    assert h.gateway.account(ACCOUNT).balance > Decimal(50390)
    await reset(h, 50000)
    await h.until(lambda: h.acct.balance == Decimal(50000), "the reset's balance taken")
    await h.until(lambda: h.acct.day.realized == 0, "the day's book restarted")
    assert h.acct.week.realized == 0
    assert [m for m in h.logs if "ACCOUNT_RESET" in m and "day realized 396.52" in m], h.logs[-5:]


async def lose_700_on_the_fresh_account(h: Harness) -> None:
    """Buy 2 MNQ again and let the price fall 350 points (-700): over the daily limit of 500
    counted from the reset, the service flattens and locks the account."""
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: h.acct.net.get(MNQ) == 2, "bought again")
    h.gateway.move_price("MNQ", -700)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by the daily loss limit")
    assert h.acct.day_pnl(with_unrealized=True) <= Decimal(-500)
    await h.until(lambda: h.position("MNQ") == 0, "flattened at the gateway")


async def test_after_a_reset_the_mornings_wiped_profit_no_longer_cushions_the_daily_loss(
    h: Harness,
) -> None:
    await h.start(DAILY)
    await win_then_reset(h)
    await lose_700_on_the_fresh_account(h)


async def test_the_same_with_periodic_reads_and_a_restart_after_the_reset(h: Harness) -> None:
    """The periodic reads after the reset (their lists still lack the wiped trades, their
    balance has not moved since) and a restart keep the restarted books."""
    await h.start(DAILY.replace("reconcile_interval_seconds = 0", "reconcile_interval_seconds = 1"))
    await win_then_reset(h)
    reads = h.svc.broker.health.reads
    await h.until(lambda: h.svc.broker.health.reads >= reads + 2, "two periodic reads used")
    assert h.acct.day.realized == 0 and h.acct.week.realized == 0
    await h.stop()
    await h.start()
    await h.until(lambda: h.acct.balance == Decimal(50000), "restarted, balance read")
    assert h.acct.day.realized == 0 and h.acct.week.realized == 0
    await lose_700_on_the_fresh_account(h)


async def test_a_reset_while_locked_keeps_the_lock(h: Harness) -> None:
    await h.start(DAILY)
    await lock_by_daily_loss(h)
    lost = h.acct.day.realized
    assert lost < 0
    await reset(h, 50000)
    await h.until(lambda: h.acct.balance == Decimal(50000), "the reset's balance taken")
    await h.until(lambda: [m for m in h.logs if "ACCOUNT_RESET" in m], "the reset found")
    assert h.acct.day.realized == lost  # (a reset never makes the loss limits looser)
    assert h.acct.state is State.LockedDaily


async def test_a_periodic_read_ahead_of_the_balance_read_finds_the_reset(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service reads a balance no fill explains a moment after it came (a second): a
    periodic read made first took it quietly (it agreed on trades, positions and orders), the
    service's own read was then not needed, and nothing judged the wiped list. Here that
    moment is long, so only the periodic reads can find the reset."""
    monkeypatch.setattr(service_module, "BALANCE_GRACE_SECONDS", 120.0)
    await h.start(DAILY.replace("reconcile_interval_seconds = 0", "reconcile_interval_seconds = 1"))
    await win_then_reset(h)
    await lose_700_on_the_fresh_account(h)
