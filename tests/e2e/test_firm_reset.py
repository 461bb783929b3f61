"""A firm's reset of a flat account mid-day, through the real SDK against the paper gateway
(its orders cancelled, its positions removed with no trade, its trade history wiped, its
balance set to 50,000): a person is told at once (a CRITICAL ACCOUNT_RESET alert naming the
books), nothing is changed on the service's guess (the books, the rules' memories, the state,
every lock), however the reset is found (the service's own read of a balance no fill
explains, a periodic read, a start-up read).

Found by a hunt: up 396.52 before the reset, the service kept that profit in its books with
only a warning that the gateway's trade list lacked 2 trades already applied: nobody was told
the account had been reset, and the daily limit of 500 fired about 896 below the reset."""

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


def told(h: Harness) -> list[str]:
    return [m for m in h.logs if "ACCOUNT_RESET" in m]


async def win_then_reset(h: Harness) -> None:
    """Buy 2 MNQ, sell them 200 points higher (+400 less fees), then the firm's reset to
    50,000: the service takes the reset's balance and tells a person, its books kept."""
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: h.acct.net.get(MNQ) == 2, "2 MNQ bought")
    h.gateway.move_price("MNQ", 400)
    h.trade("MNQ", "sell", 2)
    await h.until(lambda: not h.acct.net.get(MNQ) and h.acct.day.realized > 390, "won +400")
    assert h.gateway.account(ACCOUNT).balance > Decimal(50390)
    await reset(h, 50000)
    await h.until(lambda: h.acct.balance == Decimal(50000), "the reset's balance taken")
    await h.until(lambda: told(h), "a person told of the reset")
    [alert] = told(h)
    assert "CRITICAL" in alert and "day realized 396.52" in alert, alert
    assert h.acct.day.realized == h.acct.week.realized == Decimal("396.52")


async def test_a_reset_is_told_at_once_and_changes_nothing(h: Harness) -> None:
    await h.start(DAILY)
    await win_then_reset(h)
    assert h.acct.state is State.Trading


async def test_the_periodic_reads_and_a_restart_after_the_reset_tell_it_once(
    h: Harness,
) -> None:
    """The periodic reads after the reset (their lists still lack the wiped trades, their
    balance has not moved since) say nothing more, and a restart keeps the books."""
    await h.start(DAILY.replace("reconcile_interval_seconds = 0", "reconcile_interval_seconds = 1"))
    await win_then_reset(h)
    reads = h.svc.broker.health.reads
    await h.until(lambda: h.svc.broker.health.reads >= reads + 2, "two periodic reads used")
    assert len(told(h)) == 1
    await h.stop()
    await h.start()
    await h.until(lambda: h.acct.balance == Decimal(50000), "restarted, balance read")
    assert h.acct.day.realized == h.acct.week.realized == Decimal("396.52")


async def test_a_reset_while_locked_keeps_the_lock(h: Harness) -> None:
    await h.start(DAILY)
    await lock_by_daily_loss(h)
    lost = h.acct.day.realized
    assert lost < 0
    await reset(h, 50000)
    await h.until(lambda: h.acct.balance == Decimal(50000), "the reset's balance taken")
    await h.until(lambda: told(h), "a person told of the reset")
    assert h.acct.day.realized == lost
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
