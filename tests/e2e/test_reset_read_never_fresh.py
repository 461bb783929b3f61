"""Found by a review (real SDK, paper gateway): the price read at a live reset is the last trade
before it, but became MNQ's mark stamped at the reset, taken for a fresh quote for 30 s. Long 3
MNQ bought at 21,000 before the reset with the user hub silent; MNQ reopens at 21,100 and 5
more are bought there; MNQ quiet after (its feed frozen); the position read 8 s after the
reset. Truly the day is +600 (3 from 21,000 at 21,100); at the read's 21,000 the 8 read -1,000:
the $1,000 daily limit must not flatten and lock the account on it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.adapters.broker import ProjectXBroker
from fsm_risk.core.states import State
from fsm_risk.paper.gateway import USER_TARGETS
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

MES = "CON.F.US.MES.Z26"
RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 1000
"""


async def test_a_pre_halt_price_read_is_no_fresh_quote(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[Decimal | None] = []
    real = ProjectXBroker.price_before

    async def recorded(self: ProjectXBroker, contract_id: str, at: datetime) -> Decimal | None:
        price = await real(self, contract_id, at)
        read.append(price)
        return price

    monkeypatch.setattr(ProjectXBroker, "price_before", recorded)
    await h.start(RULES)
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    h.clock.set(reset - timedelta(minutes=30))
    h.gateway.set_price("MNQ", "21000", bid="21000", ask="21000")
    h.gateway.set_price("MES", "6000", bid="6000", ask="6000")
    h.trade("MES", "buy", 1)  # heard: MES held and quoted (the account judged on its quotes)
    await h.until(lambda: MES in h.acct.positions, "MES seen")
    for target in USER_TARGETS:
        h.gateway.silence(target)
    h.trade("MNQ", "buy", 3)  # at 21,000, unheard
    h.clock.set(reset)
    await h.until(lambda: h.acct.day.start == reset, "the reset")
    push = h.gateway._push_quote

    def quiet_mnq(contract_id: str, only: Any = None) -> None:  # MNQ's feed frozen
        if contract_id != MNQ:
            push(contract_id, only)

    monkeypatch.setattr(h.gateway, "_push_quote", quiet_mnq)
    h.clock.set(reset + timedelta(seconds=5))
    h.gateway.set_price("MNQ", "21100", bid="21100", ask="21100")  # the reopen, 100 up
    h.trade("MNQ", "buy", 5)  # at 21,100, unheard
    h.clock.set(reset + timedelta(seconds=8))
    for target in USER_TARGETS:
        h.gateway.silence(target, silent=False)
    await h.svc.reconcile(ACCOUNT)
    await h.until(lambda: MNQ in h.acct.positions and h.acct.positions[MNQ].size == 8, "8 MNQ")
    await h.until(lambda: read, "the price at the reset read")
    await asyncio.sleep(0.5)  # (its answer applied)
    assert read == [Decimal("21000")]
    h.gateway.set_price("MES", "6000", bid="6000", ask="6000")  # an MES quote: judged
    await asyncio.sleep(1)
    assert h.acct.state is State.Trading, "flattened and locked on the price before the halt"
    assert not h.closes()
