"""Found by a review of the saved marks: two quick restarts (a crash loop, an operator
restarting twice) and a position valued at a mark saved before it existed (the real
project-x-py SDK against the paper gateway).

The service holds 1 MNQ, quoted at P, and stops (P saved). MNQ rises 40 points while it is
down; the market hub stays quiet through the next two runs (a crash loop's runs end before
their quotes come, the subscription's first quote included). The restarted service values
the 1 MNQ at the saved P (fresh by its age) and, before any MNQ quote, the trader buys 9 more
at P + 40 (10 MNQ at an average of about P + 36); the service stops again, still without an
MNQ quote: its stop saves P again. The third start valued all 10 at P: about -$720 on a $500
daily loss limit, flattened and locked, while MNQ stood at P + 40 (+$80). The 9 bought in
run 1 never were held at P: the position must wait for a quote of the new run, and the rules
judge it on that quote."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness

DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"
MNQ = "CON.F.US.MNQ.Z26"
DOLLARS_PER_POINT = Decimal(2)


async def started_and_read(h: Harness) -> None:
    await h.start()
    await h.until(lambda: ACCOUNT in h.svc.known, "the start-up read applied")


async def test_contracts_bought_between_two_quick_restarts_wait_for_a_quote(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "1 MNQ held")
    p = h.gateway.quote("MNQ").last
    h.gateway.set_price("MNQ", p)  # MNQ quoted at P: the mark the stop saves
    await h.until(lambda: h.acct.positions[MNQ].priced, "1 MNQ valued at P")
    await h.stop()
    h.gateway.set_price("MNQ", p + 40)  # the market rises, unwatched
    h.gateway.silence("GatewayMarket")  # no quote reaches the next two runs
    await h.advance(seconds=5)
    await started_and_read(h)  # run 1: 1 MNQ held across, valued at the saved P
    assert h.svc.engine.marks[MNQ].last == p
    h.trade("MNQ", "buy", 9)  # at P + 40, no MNQ quote yet
    await h.until(lambda: h.acct.positions[MNQ].size == 10, "10 MNQ held")
    assert not h.acct.positions[MNQ].priced  # waits for a quote
    await h.advance(seconds=5)
    await h.stop()  # still no MNQ quote: P is saved again
    await h.advance(seconds=5)
    await started_and_read(h)  # run 2: P is 15 s old, fresh by its age
    await h.advance(seconds=1)
    await asyncio.sleep(0.5)  # (a close, had one been decided, reaches the gateway by then)
    pos = h.acct.positions.get(MNQ)
    got = (h.acct.state, len(h.closes("MNQ")), h.acct.open_upnl, pos is not None and pos.priced)
    assert got == (State.Trading, 0, 0, False), f"{got}: 10 MNQ valued at the saved {p}"
    held = h.gateway.position(ACCOUNT, MNQ)
    assert held is not None and held.size == 10
    assert (p - held.average_price) * 10 * DOLLARS_PER_POINT < -500  # what the saved P read
    # the first MNQ quote of run 2 values them: P + 40, a gain
    h.gateway.silence("GatewayMarket", silent=False)
    h.gateway.set_price("MNQ", p + 40)
    await h.until(lambda: h.acct.positions[MNQ].priced, "valued at the quote")
    assert h.acct.open_upnl > 0 and h.acct.state is State.Trading and h.closes("MNQ") == []
    # and a real fall is enforced: P + 10 is below the limit
    h.gateway.set_price("MNQ", p + 10)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    assert h.position("MNQ") == 0
