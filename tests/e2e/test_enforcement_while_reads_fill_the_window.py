"""Found by a hunt: enforcement when the request budget is saturated by reads, at the SHIPPED budget
(200 requests a minute, 50 kept from reads) and the paper gateway's real 200-a-minute limit,
with many accounts on one login. Real SDK, real service, paper gateway on loopback.

Measures how long a locked account's enforcement waits while ordinary reads (a restart's
start-up reconciliation of the whole login) fill what reads may use of the window.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from fsm_risk import runtime
from fsm_risk.adapters.broker import Credentials, Priority
from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderType
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, lock_by_daily_loss

N_OTHERS = 150
ACCOUNTS = (
    PaperAccount(ACCOUNT, "PAPER-1", Decimal("50000.00"), True),
    *(PaperAccount(2001 + i, f"BOOK-{i}", Decimal("50000.00"), True) for i in range(N_OTHERS)),
)
RULES = """
[rule.daily_loss_limit]
limit = 500
"""


def only(h: Harness, accounts: str | None) -> None:
    path = h.write_settings(RULES)
    if accounts is not None:
        text = path.read_text().replace("[general]\n", f"[general]\naccounts = {accounts}\n", 1)
        path.write_text(text)


async def start_serving(h: Harness) -> None:
    """Start the service without waiting for every account to be reconciled (at the shipped
    budget, 151 accounts take minutes): only until it serves (hubs open, events handled)."""
    user, key = h.gateway.credentials()
    urls = (h.gateway.api_url, h.gateway.user_hub_url, h.gateway.market_hub_url)
    service = runtime.make_service(h.settings, Credentials(user, key), urls, clock=h.clock)
    h.service, h.task = service, asyncio.create_task(service.run())
    deadline = time.monotonic() + 60
    while not service.serving.is_set():
        if h.task.done():
            h.task.result()
        assert time.monotonic() < deadline, "not serving within 60 s"
        await asyncio.sleep(0.05)


def used(h: Harness) -> int:
    return h.svc.broker.budget.used


async def restarted_with_the_whole_login_and_the_read_share_full(h: Harness) -> None:
    """Account 1001 locked for the day (alone), then the service restarted on the whole login
    (151 accounts): its start-up reconciliation fills what reads may use of the window."""
    only(h, "1001")
    await h.start()
    await lock_by_daily_loss(h)
    await h.stop()
    only(h, None)
    await start_serving(h)
    assert h.acct.state is State.LockedDaily
    budget = h.svc.broker.budget
    deadline = time.monotonic() + 30
    while budget.wait_for(Priority.READ) == 0:  # reads up to their share of the window
        assert time.monotonic() < deadline, f"reads never filled the window ({used(h)} used)"
        await asyncio.sleep(0.05)
    assert ACCOUNT in h.svc.known, "the locked account enforces (reconciled first)"


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_locked_accounts_new_order_is_cancelled_within_seconds_while_reads_fill_the_window(
    h: Harness,
) -> None:
    await restarted_with_the_whole_login_and_the_read_share_full(h)
    low = h.gateway.quote(MNQ).last - 500
    order = h.trade("MNQ", "buy", 1, type=OrderType.LIMIT, limit_price=low)
    began = time.monotonic()
    await h.gw_until(lambda: not h.gateway.order(order.order_id).working, "cancelled", 120)
    took = time.monotonic() - began
    assert took <= 5, f"the cancel of a locked account's order waited {took:.1f} s behind reads"


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_locked_accounts_position_is_closed_within_seconds_while_reads_fill_the_window(
    h: Harness,
) -> None:
    await restarted_with_the_whole_login_and_the_read_share_full(h)
    h.trade("MNQ", "buy", 2)
    began = time.monotonic()
    await h.gw_until(lambda: h.position("MNQ") == 0, "closed", 120)
    took = time.monotonic() - began
    assert took <= 5, f"the close of a locked account's position waited {took:.1f} s"


async def ticking(h: Harness) -> None:
    """The service's clock moves with wall time (the close timeouts and backoffs run)."""
    while True:
        await asyncio.sleep(0.25)
        h.clock.advance(seconds=0.25)


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_close_answered_503_is_sent_again_within_seconds_while_reads_fill_the_window(
    h: Harness,
) -> None:
    """A close whose outcome is unknown (the gateway answered 503) is re-sent once the
    gateway is read: that read goes at READ_FOR_CLOSE, whose cap is the reads' own."""
    only(h, "1001")
    await h.start()
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    await h.stop()
    only(h, None)
    await start_serving(h)
    budget = h.svc.broker.budget
    deadline = time.monotonic() + 30
    while budget.wait_for(Priority.READ) == 0:
        assert time.monotonic() < deadline, f"reads never filled the window ({used(h)} used)"
        await asyncio.sleep(0.05)
    await h.until(lambda: ACCOUNT in h.svc.known, "the exposed account reconciled first")
    tick = asyncio.create_task(ticking(h))
    try:
        h.gateway.fail_rest("/api/Position/closeContract", 503)
        h.gateway.move_price("MNQ", -600)  # -$600: over the $500 daily loss limit
        began = time.monotonic()
        await h.until(lambda: h.acct.state is not State.Trading, "the breach heard")
        await h.gw_until(lambda: h.position("MNQ") == 0, "closed", 120)
        took = time.monotonic() - began
    finally:
        tick.cancel()
    assert took <= 5, f"the breached position stayed open {took:.1f} s behind reads"
