"""Found by a hunt: a blown account (RULE-004, LockedWeekly until Sunday 17:00 Chicago) whose
service was stopped over the weekend and started after Sunday's reset. The restore applied
the reset and ended the lock at once (released, audited), while the rule, waiting for the
start-up read's trades, could not lock it again: the account was Trading until that read, and
an order placed meanwhile worked on. A running service locks it again at the same instant.

Real SDK, paper gateway: the lock is kept past its end until the account's trades are read,
the trader's order placed at the start is cancelled, and the read locks it for another week."""

from __future__ import annotations

import asyncio

from fsm_risk import runtime
from fsm_risk.adapters.broker import Credentials
from fsm_risk.core.events import OrderType
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

BLOWN = """
[rule.trailing_drawdown]
drawdown = 500
starting_balance = 50000
"""

RELEASE = (None, "LockedWeekly", "Trading", "release", "RULE-004")


async def test_a_blown_account_restarted_after_the_weekly_reset_is_never_free(h: Harness) -> None:
    await h.start(BLOWN)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)  # equity 600 under its peak: past the 500 drawdown
    await h.until(lambda: h.acct.state is State.LockedWeekly, "blown: locked for the week")
    assert h.position("MNQ") == 0
    reset = h.acct.holds["RULE-004"].until
    assert reset is not None
    await h.stop()

    # stopped over the weekend, started just after Sunday's reset; its trades are not read
    # yet (the gateway's trade search fails for now): the window the lock was lost in
    h.clock.set(reset.replace(minute=1))
    h.gateway.fail_rest("/api/Trade/search", 503, 10**9)
    user, key = h.gateway.credentials()
    urls = (h.gateway.api_url, h.gateway.user_hub_url, h.gateway.market_hub_url)
    svc = runtime.make_service(h.settings, Credentials(user, key), urls, clock=h.clock)
    h.service, h.task = svc, asyncio.create_task(svc.run())
    await h.until(lambda: ACCOUNT in svc.engine.accounts, "the account restored")
    assert h.acct.missed is not None
    # the trader's order at once: a resting buy, cancelled on sight
    last = h.gateway.quote(MNQ).last
    oid = h.trade("MNQ", "buy", 1, type=OrderType.LIMIT, limit_price=last - 100).order_id
    await h.gw_until(lambda: not h.gateway.order(oid).working, "the order cancelled", 10)
    assert h.acct.missed is not None  # (still before the read)
    assert (h.acct.state, RELEASE in h.audit()) == (State.LockedWeekly, False)

    h.gateway.fail_rest("/api/Trade/search", 503, 0)  # the trades can be read again
    await h.until(lambda: h.acct.missed is None, "its trades read", 30)
    await h.until(lambda: h.acct.state is State.LockedWeekly, "judged: locked again")
    hold = h.acct.holds["RULE-004"]
    assert hold.until is not None and hold.until > reset  # for another week
    audit = h.audit()
    assert audit.count(RELEASE) == 1  # at the read, and locked again in that same event
    assert audit[audit.index(RELEASE) + 1][3:] == ("breach", "RULE-004"), audit
