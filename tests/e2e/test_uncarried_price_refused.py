"""Found by a review (real SDK, paper gateway): the gateway refuses the bar read of the price at
the reset (a 429 after a second): the position learned of after the reset must not carry the loss
it made since the reset as the old day's."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import pytest

from fsm_risk.adapters.broker import ProjectXBroker, ProjectXError
from fsm_risk.core.states import State
from fsm_risk.paper.gateway import USER_TARGETS
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 500
"""


async def test_a_bar_read_refused_does_not_erase_the_fall_since_the_reset(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(self: ProjectXBroker, contract_id: str, at: datetime) -> None:
        await asyncio.sleep(1)
        raise ProjectXError("/History/retrieveBars: 429 Too Many Requests")

    monkeypatch.setattr(ProjectXBroker, "price_before", refused)
    await h.start(RULES)
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    h.clock.set(reset - timedelta(minutes=30))
    h.gateway.set_price("MNQ", "21300", bid="21300", ask="21300")
    for target in USER_TARGETS:
        h.gateway.silence(target)
    h.trade("MNQ", "buy", 3)  # at 21,300, unheard; 21,300 at the reset too
    h.clock.set(reset)
    await h.until(lambda: h.acct.day.start == reset, "the reset")
    h.clock.set(reset + timedelta(minutes=5))
    h.gateway.set_price("MNQ", "21220", bid="21220", ask="21220")  # -$480 since the reset
    for target in USER_TARGETS:
        h.gateway.silence(target, silent=False)
    await h.svc.reconcile(ACCOUNT)
    await h.until(lambda: MNQ in h.acct.positions and h.acct.positions[MNQ].priced, "valued")
    with contextlib.suppress(TimeoutError):
        await h.until(lambda: h.acct.day.carry != 0, "a carry", 4)
    h.gateway.set_price("MNQ", "21200", bid="21200", ask="21200")  # -$600 since the reset
    with contextlib.suppress(TimeoutError):
        await h.until(lambda: h.acct.state is not State.Trading, "the daily limit fired", 10)
    assert h.acct.state is not State.Trading, "-600 since the reset, limit 500"
