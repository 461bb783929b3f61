"""Found by a review: a breach while the gateway refuses the token AND every new login (an API key
whose authentication was disabled). The close answered 401 is re-sent after a fixed second, for
as long as the login keeps failing (never doubling): count the closes sent, the CRITICAL
alerts, and the request budget they spend, over 40 s (wall and service clock together)."""

from __future__ import annotations

import asyncio
import time

import pytest

from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness
from tests.e2e.test_close_refused_through_a_login_outage import long_2_mnq_and_logins_refused

SECONDS = 40


@pytest.mark.paper(token_lifetime=86400)
async def test_a_close_refused_401_is_not_resent_every_second_while_logins_fail(h: Harness) -> None:
    await long_2_mnq_and_logins_refused(h)
    gw = h.gateway
    h.logs.clear()
    gw.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.Flattening, "flattening")
    began = time.monotonic()
    for _ in range(SECONDS):  # service clock and wall clock move together, as in production
        await h.advance(seconds=1)
        await asyncio.sleep(1.0)
    wall = time.monotonic() - began
    sent_401 = sum(") refused: /Position/closeContract: HTTP 401" in m for m in h.logs)
    uncertain = sum("closeContract" in m and "reconciling" in m for m in h.logs)
    critical = sum("enforcement request refused" in m for m in h.logs)
    budget = h.svc.broker.budget
    budget._trim(budget._monotonic())
    used = len(budget._answered)
    assert h.position("MNQ") == 2  # nothing could be closed: the key is refused
    # a close refused for a login that keeps failing must back off as other refusals do
    # (1, 2, 4, ... s, capped): at most ~7 re-sends in 40 s, not one a second
    assert sent_401 + uncertain <= 8, f"{sent_401 + uncertain} closes sent in {wall:.0f} s"
    assert critical <= 8, f"{critical} CRITICAL 'refused' alerts in {wall:.0f} s"
    assert used <= 60, f"{used} of the budget's {budget.limit} spent in {wall:.0f} s"
