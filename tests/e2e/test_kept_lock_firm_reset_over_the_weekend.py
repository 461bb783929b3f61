"""Found by a review: a blown account (RULE-004, LockedWeekly until Sunday's reset) whose firm
reset it (balance back to 50,000, its trades wiped) while the service was stopped over the
weekend; started after Sunday's reset. A running service, at the reset, releases it and judges
the 50,000 it already heard: free. Restarted, it must be free after its start-up read too."""

from __future__ import annotations

import asyncio

from fsm_risk import runtime
from fsm_risk.adapters.broker import Credentials
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

BLOWN = """
[rule.trailing_drawdown]
drawdown = 500
starting_balance = 50000
"""


async def test_a_blown_account_the_firm_reset_while_stopped_is_free_after_its_read(
    h: Harness,
) -> None:
    await h.start(BLOWN)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedWeekly, "blown: locked for the week")
    assert h.position("MNQ") == 0
    reset = h.acct.holds["RULE-004"].until
    assert reset is not None
    await h.stop()

    h.gateway.reset_account(ACCOUNT, 50000)  # the trader bought a reset over the weekend
    h.clock.set(reset.replace(minute=1))
    user, key = h.gateway.credentials()
    urls = (h.gateway.api_url, h.gateway.user_hub_url, h.gateway.market_hub_url)
    svc = runtime.make_service(h.settings, Credentials(user, key), urls, clock=h.clock)
    h.service, h.task = svc, asyncio.create_task(svc.run())
    await h.until(lambda: ACCOUNT in svc.engine.accounts, "the account restored")
    await h.until(lambda: h.acct.missed is None and h.acct.behind is None, "its trades read", 30)
    await h.until(lambda: h.acct.balance == 50000, "its balance read", 30)
    await asyncio.sleep(1.0)
    hold = h.acct.holds.get("RULE-004")
    audit = h.audit()
    assert (h.acct.state, hold) == (State.Trading, None), audit[-4:]
