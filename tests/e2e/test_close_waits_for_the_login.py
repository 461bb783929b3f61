"""Found by a review: a breach while the gateway refuses the token AND every new login (an API key
whose authentication was disabled). The close answered 401 is re-sent after a fixed second, for
as long as the login keeps failing (never doubling): count the closes sent, the CRITICAL
alerts, and the request budget they spend, over 40 s (wall and service clock together)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from fsm_risk.core.states import State
from tests.e2e.service_harness import MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 500
"""
SECONDS = 40


@pytest.mark.paper(token_lifetime=86400)
async def test_a_close_refused_401_is_not_resent_every_second_while_logins_fail(h: Harness) -> None:
    path = h.write_settings(RULES)
    path.write_text(  # the shipped enforcement defaults
        path.read_text()
        .replace("close_timeout_seconds = 2", "close_timeout_seconds = 10")
        .replace("close_backoff_max_seconds = 4", "close_backoff_max_seconds = 60")
        .replace("alert_after_attempts = 2", "alert_after_attempts = 3")
    )
    await h.start()
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    gw = h.gateway
    gw.settings = dataclasses.replace(gw.settings, login_refusal="api_key_authentication_disabled")
    gw.revoke_tokens()  # hubs stay connected: quotes still flow, the breach is seen
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
