"""Found by a hunt (December's roll), end to end: real SDK, paper gateway, the service.

`limits = MNQ: 3`, long 3 MNQ Z26. The trader rolls: his sale of the 3 Z26 rests as a limit a
few ticks above the market, and he buys 3 H27 (filled at once): 6 in MNQ, a tie between the
months. The service cut the month that sorts first as text, H27 (the one he rolls into; in June
it is the old month, M26 before U26), and left his Z26 sale working: once it filled he held
nothing. It must cut Z26 and cancel his sale of it (it would open a short): he keeps 3 H27."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from fsm_risk.core.events import OrderType
from tests.e2e.service_harness import Harness
from tests.e2e.test_roll_at_the_limit import add_month

pytestmark = pytest.mark.paper(spread_ticks=0, commission=Decimal(0))

Z26 = "CON.F.US.MNQ.Z26"
H27 = "CON.F.US.MNQ.H27"


async def test_a_december_roll_at_a_tie_keeps_the_new_month(h: Harness) -> None:
    add_month(h.gateway, "H27")
    await h.start(
        "[rule.max_contracts]\nlimit = 10\n[rule.max_contracts_per_instrument]\nlimits = MNQ: 3\n"
    )
    h.trade(Z26, "buy", 3)
    await h.until(lambda: h.acct.positions.get(Z26) is not None, "Z26 reached the service")
    above = h.gateway.quote(Z26).last + Decimal("2.5")
    sale = h.trade(Z26, "sell", 3, type=OrderType.LIMIT, limit_price=above)  # his exit, resting
    await h.until(lambda: sale.order_id in h.acct.orders, "his Z26 sale reached the service")
    h.trade(H27, "buy", 3)  # the roll's first leg: 6 in MNQ
    await h.gw_until(lambda: h.closes(), "the service cut one month", timeout=10)
    await asyncio.sleep(1.0)
    h.gateway.set_price(Z26, above)  # the market reaches his resting sale, if still working
    await asyncio.sleep(1.0)
    cut = sorted({o.contract_id for o in h.closes()})
    held = {c: h.position(c) for c in (Z26, H27)}
    assert cut == [Z26], (cut, held)
    assert held == {Z26: 0, H27: 3}, (cut, held)
