"""A restart after the market moved while the service was down (the usual restart), real SDK
against the paper gateway. The first quote reaches the engine before the account's enforcing
step: judged then on its stored books, a trader up +$200 on an MES round trip made while down
and long 2 MNQ now -$600 open (his day: -$400 on a $500 limit) was flattened and locked. A
restored account's P&L rules wait for that step's listing; one that settles its books and
shows a real breach is flattened at once."""

from __future__ import annotations

import asyncio
import os
import time
from decimal import Decimal

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_enforcement_while_reads_fill_the_window import RULES, start_serving

N = int(os.environ.get("RESTORED_N", "1"))  # (100 for the scale case, run by hand)
COPIED = [3001 + i for i in range(N)]
ACCOUNTS = tuple(PaperAccount(a, f"ACC-{a}", Decimal("50000.00"), True) for a in COPIED)


async def long_two_then_stopped(h: Harness) -> None:
    h.gateway.set_rate_limit(None)
    h.write_settings(RULES)
    await start_serving(h)
    for a in COPIED:
        h.gateway.place_order(a, MNQ, 0, 2)
    await h.until(lambda: len(h.svc.known) == len(ACCOUNTS), "all reconciled", 120)
    await h.until(
        lambda: all(MNQ in h.svc.engine.accounts[a].positions for a in COPIED), "positions"
    )
    await h.stop()


def flat(h: Harness) -> list[int]:
    cid = h.gateway.contract(MNQ).id
    return [a for a in COPIED if (p := h.gateway.position(a, cid)) is None or p.size == 0]


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_restart_after_the_market_moved_while_down_closes_no_healthy_account(
    h: Harness,
) -> None:
    await long_two_then_stopped(h)
    for a in COPIED:  # while down: +$200 on 1 MES each (160 ticks x $1.25)
        h.gateway.place_order(a, "MES", 0, 1)
    h.gateway.move_price("MES", 160)
    for a in COPIED:
        h.gateway.place_order(a, "MES", 1, 1)
    h.gateway.move_price("MNQ", -600)  # while down: -$600 open on each
    h.gateway.set_rate_limit(200, 60)
    await start_serving(h)
    await h.until(
        lambda: all(h.svc.engine.accounts[a].behind is None for a in COPIED), "all read", 200
    )
    await h.until(lambda: h.svc.queue.empty(), "handled")
    await asyncio.sleep(2)
    closed = flat(h)
    days = [str(h.svc.engine.accounts[a].day.realized) for a in closed[:3]]
    states = [h.svc.engine.accounts[a].state.name for a in closed[:3]]
    assert not closed, (
        f"{len(closed)} of {N} flattened; their day after the read {days}, state {states} "
        f"(truth before the close: +200 realized - 600 open = -400 on a $500 limit)"
    )
    for a in COPIED:
        acct = h.svc.engine.accounts[a]
        assert acct.state is State.Trading, (a, acct.state)
        assert Decimal("-410") < acct.day.realized + acct.open_upnl < Decimal("-390"), a


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_restored_account_past_its_limit_is_flattened_at_its_settling_listing(
    h: Harness,
) -> None:
    """Nothing traded while down, MNQ fell $600 on the 2: the enforcing step's listing settles
    the books (the balance did not move) and the loss limit fires within seconds of it."""
    await long_two_then_stopped(h)
    h.gateway.move_price("MNQ", -600)
    h.gateway.set_rate_limit(200, 60)
    began = time.monotonic()
    await start_serving(h)
    stepped: dict[int, float] = {}  # when its enforcing step was handled (known since)
    closed: dict[int, float] = {}
    cid = h.gateway.contract(MNQ).id

    def every_one() -> bool:
        now = time.monotonic() - began
        for a in COPIED:
            if a not in stepped and a in h.svc.known:
                stepped[a] = now
            p = h.gateway.position(a, cid)
            if a not in closed and (p is None or p.size == 0):
                closed[a] = now
        return len(closed) == N

    await h.until(every_one, "every account flattened", 150)
    after = sorted((closed[a] - stepped.get(a, closed[a]), a) for a in COPIED)
    assert after[-1][0] < 5, f"account {after[-1][1]} closed {after[-1][0]:.1f} s after its step"
    await h.until(
        lambda: all(h.svc.engine.accounts[a].state is State.LockedDaily for a in COPIED),
        "locked for the day",
    )
