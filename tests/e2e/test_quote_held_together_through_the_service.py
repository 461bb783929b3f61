"""Found by a review of 160d7c6: the service's own wiring (`Service._beside` into `handing` in
`_consume`) had no test. Two contracts held together dipping together in one batch, -$1,200 one
by one on a $1,000 daily loss limit, then back: judged through the service, the day locks (with
`_beside` answering nothing, as every contract merged before, it stayed Trading)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from fsm_risk.core.events import Quote
from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness

pytestmark = pytest.mark.paper(spread_ticks=0, commission=Decimal(0))


async def test_two_contracts_dipping_together_in_one_batch_lock_the_day(h: Harness) -> None:
    await h.start("[rule.daily_loss_limit]\nlimit = 1000\n")
    gw = h.gateway
    mnq, es = gw.contract("MNQ"), gw.contract("ES")
    h.trade("MNQ", "buy", 1)
    h.trade("ES", "buy", 1)
    eng = h.svc.engine
    await h.until(
        lambda: all((p := h.acct.positions.get(c.id)) is not None and p.priced for c in (mnq, es)),
        "both held and priced",
    )
    m0, e0 = gw.quote(mnq.id).last, gw.quote(es.id).last
    assert h.acct.state is State.Trading
    at = max(eng.marks[mnq.id].at, eng.marks[es.id].at) + timedelta(milliseconds=1)
    ms = timedelta(milliseconds=1)

    def q(cid: str, price: Decimal, n: int) -> Quote:
        return Quote(cid, at + n * ms, price, price, price)

    # one synchronous block: the four wait together in the queue, one batch, one run
    for ev in (
        q(mnq.id, m0 - 300, 0),  # MNQ -600
        q(es.id, e0 - 12, 1),  # ES -600: -1,200 one by one
        q(mnq.id, m0, 2),
        q(es.id, e0, 3),
    ):
        h.svc.submit(ev)
    await h.until(lambda: h.acct.state is not State.Trading, "locked", timeout=5)
