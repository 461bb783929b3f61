"""Found by a review: a daily-loss breach during a 50 s login outage (API key authentication
disabled, then enabled again). Once logged in again the account must be flat and LockedDaily,
and stay quiet: no failing step, no close sent again and again to a flat position."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from fsm_risk.core.states import State
from tests.e2e.service_harness import MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 500
"""
OUTAGE = 50


async def long_2_mnq_and_logins_refused(h: Harness) -> None:
    """Served at the shipped enforcement defaults, long 2 MNQ, then the token and every new
    login refused (an API key whose authentication was disabled); the hubs stay connected:
    quotes still flow, a breach is seen."""
    path = h.write_settings(RULES)
    path.write_text(
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
    gw.revoke_tokens()


@pytest.mark.paper(token_lifetime=86400)
async def test_a_breach_in_a_login_outage_ends_flat_and_locked_no_failsafe(h: Harness) -> None:
    await long_2_mnq_and_logins_refused(h)
    gw = h.gateway
    gw.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.Flattening, "flattening")
    for _ in range(OUTAGE):
        await h.advance(seconds=1)
        await asyncio.sleep(1.0)
    gw.settings = dataclasses.replace(gw.settings, login_refusal="none")
    for _ in range(60):
        await h.advance(seconds=1)
        await asyncio.sleep(0.5)
        if h.position("MNQ") == 0:
            break
    refused_flat = sum("already done at the gateway" in m for m in h.logs)
    for _ in range(10):  # ten more seconds, flat
        await h.advance(seconds=1)
        await asyncio.sleep(1.0)
    refused_flat_after = sum("already done at the gateway" in m for m in h.logs) - refused_flat
    failsafe = sum("FAILSAFE" in m for m in h.logs)
    spins = sum("did not advance after firing" in m for m in h.logs)
    assert h.position("MNQ") == 0
    assert failsafe == 0 and spins == 0
    assert h.acct.state is State.LockedDaily
    assert refused_flat_after == 0
