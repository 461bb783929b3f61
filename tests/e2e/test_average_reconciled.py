"""A position's average price against the paper gateway's production profile, through the real
SDK. Reported: a stale record of the same size at 20000.00 (for a real 21000.25) left the open
P&L wrong indefinitely, the periodic read agreeing since it compared the sizes only (equity
55,931 against 49,930 at the gateway, the daily loss limit blind); an averagePrice of 0 did
the same. The periodic read now takes the gateway's average, and a record of an open position
at 0 is refused at the hub's door."""

from __future__ import annotations

from decimal import Decimal

from tests.e2e.service_harness import ACCOUNT, Harness

MNQ = "CON.F.US.MNQ.Z26"
RULES = """
[broker]
reconcile_interval_seconds = 1
[rule.daily_loss_limit]
limit = 1500
"""


def average(h: Harness) -> Decimal | None:
    pos = h.acct.positions.get(MNQ)
    return None if pos is None else pos.average_price


async def test_a_stale_average_is_put_right_by_the_periodic_read(h: Harness) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: average(h) is not None and h.acct.net.get(MNQ) == 3, "3 MNQ bought")
    real = average(h)
    assert real is not None and real > 20500
    stale = {"contractId": MNQ, "type": 1, "size": 3, "averagePrice": 20000.00}
    assert h.gateway.push_record(ACCOUNT, "GatewayUserPosition", stale) == 1
    await h.until(lambda: average(h) == Decimal("20000"), "the stale record taken")
    await h.until(lambda: average(h) == real, "the gateway's average read back", timeout=30)
    assert any("STATE_DIVERGED" in m and "averaging" in m for m in h.logs)


async def test_an_open_position_at_an_average_of_zero_is_refused(h: Harness) -> None:
    await h.start(RULES.replace("= 1\n", "= 0\n", 1))
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: average(h) is not None and h.acct.net.get(MNQ) == 3, "3 MNQ bought")
    real = average(h)
    zero = {"contractId": MNQ, "type": 1, "size": 3, "averagePrice": 0}
    malformed = h.svc.malformed
    assert h.gateway.push_record(ACCOUNT, "GatewayUserPosition", zero) == 1
    await h.until(lambda: h.svc.malformed > malformed, "the record refused")
    assert average(h) == real and any("'averagePrice' 0" in m for m in h.logs)
