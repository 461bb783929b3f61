"""RULE-007's lock without flatten never tolerates the entry that broke the limit, whichever
of its records reaches the service first (real SDK, paper gateway, service): the paper holds
the live trade record back until the position record has been heard, then sends it."""

from __future__ import annotations

import pytest

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness

RULES = """
[rule.max_trades_per_day]
limit = 2
"""


@pytest.mark.parametrize("record_first", [False, True], ids=["trade", "record"])
async def test_the_entry_past_the_limit_is_closed(h: Harness, record_first: bool) -> None:
    """Found by a hunt: limit 2, MNQ long 2 held (two entries), then a buy of 1 NQ (entry 3).
    Its trade first: locked, tolerated {MNQ: 2}, NQ closed. Its position record first: locked
    with tolerated {MNQ: 2, NQ: 1}, NQ long 1 still open at the gateway, no close sent."""
    await h.start(RULES)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 1, "long 1 heard")
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 2, "long 2 heard")
    assert h.acct.state is State.Trading
    nq = h.gateway.contract("NQ").id  # (the paper names it by product code: ENQ)
    if record_first:
        h.gateway.silence("GatewayUserTrade")  # hold the trade record back
    entry = h.trade("NQ", "buy", 1)  # entry 3 > limit 2
    if record_first:
        await h.until(lambda: nq in h.acct.positions, "NQ position heard ahead of its trade")
        assert h.acct.state is State.Trading and h.acct.day.filled(entry.order_id) == 0
        h.gateway.silence("GatewayUserTrade", False)  # (the paper dropped it: sent now)
        trade = next(t for t in h.gateway.engine.trades if t.order_id == entry.order_id)
        h.gateway.push_record(ACCOUNT, "GatewayUserTrade", trade.to_api())
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-007")
    await h.gw_until(lambda: h.position("NQ") == 0, "the NQ entry closed", timeout=6)
    assert h.acct.tolerated == {MNQ: 2} and h.position("MNQ") == 2
    assert [(c.contract_id, c.size) for c in h.closes()] == [(nq, 1)]


async def test_two_entries_past_the_limit_records_first(h: Harness) -> None:
    """Found by a review: entries 3 (NQ) and 4 (MES) at once, both records before both trades:
    NQ was closed, MES kept until the reset."""
    await h.start(RULES)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 1, "long 1 heard")
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: (p := h.acct.positions.get(MNQ)) and p.size == 2, "long 2 heard")
    assert h.acct.state is State.Trading
    nq, mes = h.gateway.contract("NQ").id, h.gateway.contract("MES").id
    h.gateway.silence("GatewayUserTrade")  # both trades held back
    e3 = h.trade("NQ", "buy", 1)  # entry 3 > limit 2
    e4 = h.trade("MES", "buy", 1)  # entry 4
    await h.until(lambda: nq in h.acct.positions and mes in h.acct.positions, "both records")
    assert h.acct.state is State.Trading
    h.gateway.silence("GatewayUserTrade", False)
    for entry in (e3, e4):
        trade = next(t for t in h.gateway.engine.trades if t.order_id == entry.order_id)
        h.gateway.push_record(ACCOUNT, "GatewayUserTrade", trade.to_api())
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-007")
    await h.gw_until(lambda: h.position("NQ") == 0, "the NQ entry closed", timeout=6)
    await h.advance(seconds=10)
    await h.gw_until(lambda: h.position("MES") == 0, "the MES entry (4th) closed", timeout=6)
    assert h.acct.tolerated == {MNQ: 2} and h.position("MNQ") == 2


async def test_entries_past_the_limit_made_while_down(h: Harness) -> None:
    """Found by a review: entry 3 (NQ) and entry 4 (an add to MNQ, long 2) made while the
    service was down: at the restart the add was kept (tolerated long 2)."""
    await h.start(RULES)
    mes = h.gateway.contract("MES").id
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "long 1 MNQ heard")
    h.trade("MES", "buy", 1)
    await h.until(lambda: mes in h.acct.positions, "MES heard")
    h.trade("MES", "sell", 1)
    await h.until(lambda: mes not in h.acct.positions, "MES flat heard")
    assert h.acct.state is State.Trading
    await h.until(lambda: not h.enforcing(), "enforcement settled")
    await h.stop()
    await h.advance(seconds=60)
    h.trade("NQ", "buy", 1)  # entry 3 > limit 2
    h.trade("MNQ", "buy", 1)  # entry 4: an add, long 2
    await h.advance(seconds=60)
    await h.start()
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-007")
    await h.gw_until(lambda: h.position("NQ") == 0, "the NQ entry closed", timeout=8)
    await h.advance(seconds=10)
    await h.gw_until(lambda: h.position("MNQ") == 1, "the MNQ add (4th) reduced", timeout=8)
    assert h.acct.tolerated == {MNQ: 1}
