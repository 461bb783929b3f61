"""A restarted account whose trades cannot be read (the trade search answering 503 for as long
as the outage lasts) is not left unjudged: a -$1,200 open loss against a $500 daily loss limit
(RULE-003) is closed once the grace for the read runs out (`core.unjudged`), whether the
balance moved while the service was down (a round trip's fees) or a daily reset was missed.
The service's clock is the harness's: the grace passes when the test moves it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from fsm_risk import runtime
from fsm_risk.adapters.broker import Credentials
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import ESTIMATED, GRACE
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness
from tests.e2e.test_enforcement_while_reads_fill_the_window import only, start_serving

ONE = (PaperAccount(ACCOUNT, "PAPER-1", Decimal("50000.00"), True),)
PAST = GRACE.total_seconds() + 1


def failed(h: Harness) -> bool:
    """The service told the engine a read of the account's trades failed (the grace runs)."""
    return h.acct.unjudged is not None and h.acct.unjudged.failed is not None


RULES = """
[rule.daily_loss_limit]
limit = 500
"""


async def test_a_loss_past_the_limit_after_a_missed_reset_is_closed_while_trades_fail(
    h: Harness,
) -> None:
    await h.start(RULES)
    await h.until(lambda: h.acct.missed is None, "running")
    end = h.acct.day.end
    await h.stop()
    h.clock.set(end + timedelta(minutes=1))  # down across the daily reset
    h.gateway.fail_rest("/api/Trade/search", 503, 10**9)
    user, key = h.gateway.credentials()
    urls = (h.gateway.api_url, h.gateway.user_hub_url, h.gateway.market_hub_url)
    svc = runtime.make_service(h.settings, Credentials(user, key), urls, clock=h.clock)
    h.service, h.task = svc, asyncio.create_task(svc.run())
    await h.until(lambda: ACCOUNT in svc.engine.accounts, "the account restored")
    assert h.acct.missed is not None
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -1200)  # -$1,200 open against a 500 daily loss limit
    await h.until(lambda: failed(h), "a read of its trades failed")
    await h.advance(seconds=PAST)
    await h.until(lambda: h.position("MNQ") == 0, "closed past the grace, trades unread")
    assert h.acct.missed is not None and h.acct.state is not State.Trading
    assert ESTIMATED in h.acct.holds["RULE-003"].detail


async def restarted(h: Harness, *, fees_while_down: bool) -> None:
    only(h, "1001")
    await h.start()
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "long 2 MNQ")
    await h.until(lambda: h.svc.queue.empty(), "handled")
    await asyncio.sleep(0.5)
    await h.stop()
    if fees_while_down:  # a round trip at no P&L: only its fees move the balance
        h.gateway.place_order(ACCOUNT, "MES", 0, 1)
        h.gateway.place_order(ACCOUNT, "MES", 1, 1)
    h.gateway.fail_rest("/api/Trade/search", 503, 10**9)  # the trades unreadable
    await start_serving(h)
    await h.until(lambda: ACCOUNT in h.svc.known, "enforcing (positions read)")
    h.gateway.move_price("MNQ", -1200)  # -$1,200 open against a $500 daily loss limit


@pytest.mark.paper(accounts=ONE)
async def test_balance_unmoved_the_breach_is_closed_at_once_while_the_trades_fail(
    h: Harness,
) -> None:
    await restarted(h, fees_while_down=False)
    await h.until(lambda: h.position("MNQ") == 0, "closed: settled by the balance")
    assert h.acct.behind is not None and h.acct.behind.settled
    assert ESTIMATED not in h.acct.holds["RULE-003"].detail


@pytest.mark.paper(accounts=ONE)
async def test_fees_while_down_the_breach_is_closed_past_the_grace_while_the_trades_fail(
    h: Harness,
) -> None:
    await restarted(h, fees_while_down=True)
    assert h.acct.behind is not None and not h.acct.behind.settled
    await h.until(lambda: failed(h), "a read of its trades failed")
    await h.advance(seconds=PAST)
    await h.until(lambda: h.position("MNQ") == 0, "closed past the grace, trades unread")
    assert h.acct.behind is not None  # (the trades still unread)
    assert ESTIMATED in h.acct.holds["RULE-003"].detail
