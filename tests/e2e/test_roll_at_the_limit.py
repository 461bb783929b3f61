"""Found by a hunt (contract months): a roll at the per-root limit through the real SDK and
the paper gateway.

The paper gateway lists one month per root (`[paper] contract_month`); H27 is added to its
engine here (test set-up only). Long 3 MNQ Z26 at `limits = MNQ: 3`, the trader rolls: a market
sell of his 3 Z26 (its fill 2 s away) and a market buy of 3 H27 (filled at once). Once his sale
fills the root holds 3, at its limit: nothing of H27 should be closed."""

from __future__ import annotations

import asyncio
import random

from fsm_risk.paper import PaperGateway
from fsm_risk.paper.catalog import build_contracts
from tests.e2e.service_harness import Harness

Z26 = "CON.F.US.MNQ.Z26"
H27 = "CON.F.US.MNQ.H27"


def add_month(gw: PaperGateway, month: str, root: str = "MNQ", premium: int = 100) -> str:
    s = gw.settings
    (c,) = [
        c for c in build_contracts(month, dict(s.product_codes), dict(s.fees)) if c.root == root
    ]
    gw.engine.contracts[c.id] = c
    gw.engine.set_last(c.id, s.start_prices[root] + premium)
    gw._rngs[c.id] = random.Random(f"{s.seed}:{c.id}")
    return c.id


async def test_a_roll_at_the_limit_keeps_the_new_month(h: Harness) -> None:
    add_month(h.gateway, "H27")
    await h.start(
        "[rule.max_contracts]\nlimit = 10\n[rule.max_contracts_per_instrument]\nlimits = MNQ: 3\n"
    )
    h.trade(Z26, "buy", 3)
    await h.until(lambda: Z26 in h.acct.positions, "Z26 reached the service")
    h.gateway.set_fill_delay(2.0)
    h.trade(Z26, "sell", 3)  # his exit of December: working for 2 s
    h.gateway.set_fill_delay(0)
    h.trade(H27, "buy", 3)  # his entry in March: filled at once
    await h.gw_until(lambda: h.position(Z26) == 0, "his sale of Z26 filled", timeout=10)
    await asyncio.sleep(1.0)
    closes = [(o.contract_id, o.source, o.size) for o in h.closes()]
    assert h.position(H27) == 3, (closes, h.position(H27))
