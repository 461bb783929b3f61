"""Found by a review: a loss made while the service was down, which the gateway's capped trade
search (newest first) never lists, escaped the weekly loss limit past the daily reset. Real
SDK, paper gateway: `/Trade/search` answers its newest 2 trades only. Monday, the service
stopped flat; while down the trader loses $1,000 on 2 MNQ. Restarted with the trade search
failing, the trader makes a round trip of MES (heard live: the newest trades); past the grace
RULE-003 locks on the balance's fall; the search answers again, capped (the MES round trip
only, lacking the morning's applied MNQ trades): the estimate is kept. The daily reset ends
Monday's lock; on Tuesday a -$600 loss makes the week -$1,600 on a $1,500 weekly limit: it
must lock LockedWeekly, not only LockedDaily."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.core.states import State
from fsm_risk.core.unjudged import GRACE
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness
from tests.e2e.test_enforcement_while_reads_fill_the_window import start_serving
from tests.e2e.test_unjudged_while_the_trades_fail import failed

ONE = (PaperAccount(ACCOUNT, "PAPER-1", Decimal("50000.00"), True),)
RULES = """
[rule.daily_loss_limit]
limit = 500
[rule.weekly_loss_limit]
limit = 1500
"""


def kept(h: Harness) -> bool:
    unjudged = h.acct.unjudged
    return unjudged is not None and unjudged.kept is not None


@pytest.mark.paper(accounts=ONE)
async def test_a_loss_a_capped_list_never_shows_locks_the_week_past_the_daily_reset(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = h.gateway
    answered = gateway._rest_nulled

    def capped(path: str, payload: dict[str, Any]) -> dict[str, Any]:
        payload = answered(path, payload)
        if path.endswith("/Trade/search"):
            payload = {**payload, "trades": payload["trades"][:2]}
        return payload

    path = h.write_settings(RULES)
    path.write_text(path.read_text().replace("[general]\n", "[general]\naccounts = 1001\n", 1))
    await h.start()
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: h.acct.net.get(MNQ) == 2, "long 2 MNQ")
    h.trade("MNQ", "sell", 2)
    await h.until(lambda: not h.acct.net.get(MNQ) and len(h.acct.day.fills) == 2, "flat")
    await h.until(lambda: h.svc.queue.empty(), "handled")
    await asyncio.sleep(0.5)
    await h.stop()

    gateway.place_order(ACCOUNT, "MNQ", 0, 2)  # while down: -$1,000 on 2 MNQ
    gateway.move_price("MNQ", -1000)
    gateway.place_order(ACCOUNT, "MNQ", 1, 2)
    gateway.move_price("MNQ", 1000)
    monkeypatch.setattr(gateway, "_rest_nulled", capped)
    gateway.fail_rest("/api/Trade/search", 503, 10**9)
    await start_serving(h)
    await h.until(lambda: ACCOUNT in h.svc.engine.accounts, "the account restored")
    h.trade("MES", "buy", 1)
    await h.until(lambda: h.acct.net.get(h.gateway.contract("MES").id) == 1, "long 1 MES")
    h.trade("MES", "sell", 1)
    await h.until(lambda: not h.acct.net.get(h.gateway.contract("MES").id), "flat again")
    await h.until(lambda: failed(h), "a read of its trades failed")
    await h.advance(seconds=GRACE.total_seconds() + 1)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked on the estimate")
    gateway.fail_rest("/api/Trade/search", 503, 0)  # answered again: capped
    await h.until(lambda: kept(h), "kept by the capped list", 30)
    assert h.acct.state is State.LockedDaily

    h.clock.set(h.acct.day.end + timedelta(minutes=1))  # Tuesday
    await h.advance(seconds=1)
    await h.until(lambda: h.acct.state is State.Trading, "a new day: nothing lost in it", 30)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "long 1 MNQ")
    gateway.move_price("MNQ", -1200)  # -$600 open: the week -$1,600 with the hidden loss
    await h.until(lambda: h.acct.state is not State.Trading, "judged")
    await h.until(lambda: h.position("MNQ") == 0, "closed")
    await h.until(lambda: h.acct.state in (State.LockedDaily, State.LockedWeekly), "locked")
    assert h.acct.state is State.LockedWeekly, (
        f"week {h.acct.week.realized} booked, hidden -1,000: {h.acct.state} {h.acct.holds}"
    )
