"""Real SDK against the paper gateway, `/Trade/search` answering its newest 4 trades only: a
loss made while the service was down whose own trades the capped list does list (they are the
newest) is the week's once, not twice. Monday, flat after a morning round trip of 2 MNQ; while
down the trader loses $1,000 on 2 MNQ; restarted with the trade search failing, the trader makes
a round trip of MES (heard live); past the grace RULE-003 ($500) locks on the balance's fall;
the search answers again, capped: the MES round trip and the loss's 2 trades, lacking the
morning's (applied). The week lost $1,000 on a $1,500 weekly limit: the lock is the day's
(LockedDaily), and Tuesday trades."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from fsm_risk.core.states import State
from fsm_risk.core.unjudged import GRACE
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness
from tests.e2e.test_enforcement_while_reads_fill_the_window import start_serving
from tests.e2e.test_hidden_loss_kept_for_the_week import ONE, RULES, kept
from tests.e2e.test_unjudged_while_the_trades_fail import failed


@pytest.mark.paper(accounts=ONE)
async def test_a_loss_whose_trades_a_capped_list_lists_is_counted_once_in_the_week(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a review of f9ca9b8: the fall kept for the week only ever went down, so the
    loss's own trades, listed and booked, counted it a second time: week -2,011.69 for a
    -1,000 loss on a $1,500 limit, LockedWeekly till Sunday. It must be counted once: the day's
    lock only, and Tuesday trades."""
    gateway = h.gateway
    answered = gateway._rest_nulled

    def capped(path: str, payload: dict[str, Any]) -> dict[str, Any]:
        payload = answered(path, payload)
        if path.endswith("/Trade/search"):
            payload = {**payload, "trades": payload["trades"][:4]}
        return payload

    path = h.write_settings(RULES)
    path.write_text(path.read_text().replace("[general]\n", "[general]\naccounts = 1001\n", 1))
    await h.start()
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: h.acct.net.get(MNQ) == 2, "long 2 MNQ")
    h.trade("MNQ", "sell", 2)
    await h.until(lambda: not h.acct.net.get(MNQ) and len(h.acct.day.fills) == 2, "flat")
    await h.until(lambda: h.svc.queue.empty(), "handled")
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
    gateway.fail_rest(
        "/api/Trade/search", 503, 0
    )  # answered again: capped (MES and the loss's trades)
    await h.until(lambda: kept(h), "kept by the capped list", 30)
    await h.until(lambda: h.svc.queue.empty(), "handled")
    await h.advance(seconds=1)
    counted = h.acct.week.realized + h.acct.week.hidden
    assert "RULE-013" not in h.acct.holds and h.acct.state is State.LockedDaily, (
        f"week -1,000 on a $1,500 limit, counted {counted} (booked {h.acct.week.realized}, "
        f"hidden {h.acct.week.hidden}): {h.acct.state} "
        f"{ {k: v.detail for k, v in h.acct.holds.items()} }"
    )
    h.clock.set(h.acct.day.end + timedelta(minutes=1))  # Tuesday
    await h.advance(seconds=1)
    await h.until(lambda: h.acct.state is State.Trading, "a new day: the week at -1,000", 30)
