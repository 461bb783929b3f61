"""A flatten due in the daily maintenance break closes at the reopen (real SDK in the service,
the paper gateway's break: every order placed from 16:00 to 17:00 Chicago is refused).

Reported: the trader locked themselves at 16:30; the gateway refused the close (the market
closed) and the service re-sent it after 1, 2, 4 ... s up to `close_backoff_max`, a refusal
a minute through the break, and at 17:00 the position, its stop cancelled by the flatten,
stayed open until the next step of the backoff (up to a minute into the open). The close now
waits for the reopen and goes at 17:00 itself."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.engine import BusinessError, OrderStatus
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, run_cli
from tests.factories import T0  # Monday 09:00 Chicago

BREAK = T0 + timedelta(hours=7, minutes=30)  # 16:30 Chicago: the maintenance break
REOPEN = T0 + timedelta(hours=8)  # 17:00


@pytest.mark.paper(maintenance_break=(time(16), time(17)))
async def test_a_flatten_due_in_the_break_closes_at_the_reopen_without_a_close_between(
    h: Harness,
) -> None:
    await h.start("")
    entry = h.trade("MNQ", "buy", 2, stop_loss_ticks=-40)
    await h.until(lambda: h.acct.positions.get(MNQ) and h.acct.orders, "position and stop seen")
    [stop] = [o.order_id for o in h.gateway.order_log(ACCOUNT) if o.source == "bracket"]
    h.clock.set(BREAK)
    with pytest.raises(BusinessError, match="Market is closed"):
        h.trade("MNQ", "sell", 1)  # the gateway takes no order in the break, the trader's too
    code, out = await run_cli(h.home, "lock", "--for", "2h", "--reason", "done for today")
    assert code == 0, out
    await h.gw_until(lambda: h.closes("MNQ"), "the close sent")
    [refused] = h.closes("MNQ")
    assert (refused.status, refused.received_at) == (OrderStatus.REJECTED, BREAK)
    await h.until(lambda: h.acct.contracts[MNQ].retry_at == REOPEN, "the close waits for 17:00")
    await h.until(
        lambda: any("goes again when it opens, Mon 2026-11-23 17:00 CST" in m for m in h.logs),
        "the alert says when the close goes again",
    )
    await h.gw_until(lambda: h.gateway.order(stop).status == OrderStatus.CANCELLED, "stop gone")
    # through the break: no close (each step of the old backoff sent one, refused)
    for minutes in (1, 5, 10, 20, 29):
        h.clock.set(BREAK + timedelta(minutes=minutes))
        await h.until(lambda: h.acct.wakeup is not None and h.acct.wakeup > h.clock.now(), "woke")
    h.clock.set(REOPEN - timedelta(seconds=1))
    await h.until(lambda: h.acct.wakeup == REOPEN, "the next wake-up is the reopen")
    assert len(h.closes("MNQ")) == 1 and h.position("MNQ") == 2
    # what a supervisor reads meanwhile: the flatten is not done, counted from the refused close
    assert h.svc.unconfirmed_closes() == {ACCOUNT: {MNQ: BREAK}}
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "NOT ENFORCING: close of CON.F.US.MNQ.Z26 not confirmed for" in out, out
    # 17:00: the close goes at once (the old code's next step was up to the backoff later)
    h.clock.set(REOPEN)
    await h.gw_until(lambda: h.position("MNQ") == 0, "closed at the reopen")
    [first, closed] = h.closes("MNQ")
    assert first.order_id == refused.order_id  # nothing between the two
    assert (closed.status, closed.received_at) == (OrderStatus.FILLED, REOPEN)
    await h.until(lambda: h.acct.state is State.Cooldown, "flat, then the trader's cooldown")
    assert h.svc.unconfirmed_closes() == {}
    # never reversed: the 2 bought were sold once, by our close alone
    assert h.gateway.position(ACCOUNT, MNQ) is None
    sold = [t.size for t in h.gateway.trades(ACCOUNT) if t.order_id != entry.order_id]
    assert sold == [2]
