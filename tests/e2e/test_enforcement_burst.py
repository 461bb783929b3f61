"""A burst of trader orders must not outrun enforcement (real SDK, paper gateway, service).

Time here is wall time on both sides (the gateway stamps its trades with it), so the figure
asserted is the one a trader would see: from the trader's last fill to the moment the
position is back within its limit, read from the gateway's own trade timestamps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from fsm_risk.adapters.clock import SystemClock
from fsm_risk.paper import PaperGateway
from fsm_risk.paper.engine import OrderStatus
from tests.e2e.conftest import ConnectSdk
from tests.e2e.service_harness import ACCOUNT, Harness

MNQ = "CON.F.US.MNQ.Z26"
LIMIT = 3
#: a long close timeout: a service that waits for it instead of acting on the finished
#: reduce cannot meet the bound below
PER_INSTRUMENT = f"""
[rule.max_contracts_per_instrument]
limits = MNQ: {LIMIT}
default_limit = 10
"""


@pytest.fixture
async def h(tmp_path: Path, paper_gateway: PaperGateway) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path, paper_gateway, clock=SystemClock())  # type: ignore[arg-type]
    try:
        yield harness
    finally:
        await harness.close()


def back_within_limit(h: Harness) -> tuple[float, int, int]:
    """From the gateway's trades: seconds from the trader's last fill until the MNQ position
    is within the limit for good, the largest size reached, and the service's closes."""
    sources = {o.order_id: o.source for o in h.gateway.order_log(ACCOUNT)}
    trades = sorted(
        (t for t in h.gateway.trades(ACCOUNT) if t.contract_id == MNQ), key=lambda t: t.trade_id
    )
    trader = [t for t in trades if sources[t.order_id] not in ("close", "partial_close")]
    last_trader: datetime = trader[-1].time
    size, peak = 0, 0
    back: datetime | None = None
    for t in trades:
        size += t.size if t.side == 0 else -t.size
        peak = max(peak, size)
        if size > LIMIT:
            back = None
        elif back is None:
            back = t.time
    assert back is not None, "the position never came back within the limit"
    service = len(trades) - len(trader)
    return max(0.0, (back - last_trader).total_seconds()), peak, service


@pytest.mark.parametrize("fill_delay", [0.0, 0.5])
async def test_twenty_market_buys_as_fast_as_possible_are_back_within_the_limit_in_a_second(
    h: Harness, connect_sdk: ConnectSdk, fill_delay: float
) -> None:
    path = h.write_settings(PER_INSTRUMENT)
    text = path.read_text().replace("close_timeout_seconds = 2", "close_timeout_seconds = 10")
    path.write_text(text.replace("close_backoff_max_seconds = 4", "close_backoff_max_seconds = 20"))
    await h.start()
    h.gateway.set_fill_delay(fill_delay)  # every order, the trader's and the service's
    trader = await connect_sdk()
    orders = await trader.order_manager()
    placed = await asyncio.gather(*(orders.place_market_order(MNQ, 0, 1) for _ in range(20)))
    assert all(p.success for p in placed)
    await h.gw_until(
        lambda: sum(1 for t in h.gateway.trades(ACCOUNT) if t.side == 0) == 20,
        "the 20 buys filled",
    )
    await h.gw_until(lambda: h.position("MNQ") <= LIMIT, "back within the limit", timeout=30)
    delay, peak, closes = back_within_limit(h)
    print(
        f"burst of 20, fill delay {fill_delay}: back within the limit {delay:.3f} s after "
        f"the last fill (peak {peak}, {closes} service fills)"
    )
    assert delay <= 1.0 + fill_delay
    assert h.position("MNQ") == LIMIT  # reduced to the limit, never below, never reversed
    for entry in h.closes("MNQ"):
        assert entry.side == 1  # every service order sold: none reversed the long


async def test_a_burst_across_roots_ends_at_the_account_limit_not_below_it(
    h: Harness, connect_sdk: ConnectSdk
) -> None:
    """Twelve 1-lot buys at once across four roots, each filled half a second late, against
    an account limit of 5: every reduce is still on its way while the next fills arrive. The
    account must end holding exactly 5: each contract the service cuts is cut once, not again
    for a reduce already on its way on another contract (which cost the trader 2 or 3 contracts'
    spread and fees, and the positions, in a burst like this one)."""
    path = h.write_settings(
        "[rule.max_contracts]\nlimit = 5\n[rule.max_contracts_per_instrument]\ndefault_limit = 5\n"
    )
    text = path.read_text().replace("close_timeout_seconds = 2", "close_timeout_seconds = 10")
    path.write_text(text.replace("close_backoff_max_seconds = 4", "close_backoff_max_seconds = 20"))
    await h.start()
    h.gateway.set_fill_delay(0.5)
    roots = ("MNQ", "MES", "MYM", "M2K")
    ids = [h.gateway.contract(r).id for r in roots]
    trader = await connect_sdk()
    orders = await trader.order_manager()
    placed = await asyncio.gather(*(orders.place_market_order(c, 0, 1) for c in ids * 3))
    assert all(p.success for p in placed)
    await h.gw_until(
        lambda: sum(1 for t in h.gateway.trades(ACCOUNT) if t.side == 0) == 12,
        "the 12 buys filled",
    )

    def held() -> int:
        return sum(h.position(r) for r in roots)

    await h.gw_until(lambda: held() <= 5, "back within the limit", timeout=30)
    await h.until(
        lambda: (
            not any(o.order_id in h.acct.own_orders for o in h.acct.orders.values())
            and all(m.state.value == "Trading" for m in h.acct.contracts.values())
        ),
        "every reduce done",
        timeout=30,
    )
    await asyncio.sleep(1.0)  # anything still to come (a late reduce) comes now
    sold = sum(o.size for o in h.closes())
    assert held() == 5, f"ended at {held()} ({sold} sold by the service)"
    assert sold == 7


async def test_our_reduce_held_by_a_slow_gateway_is_cancelled_when_the_trader_exits_first(
    h: Harness,
) -> None:
    """Long 5 MNQ against a limit of 3 on a slow gateway: our reduce of 2 waits there. The
    trader sells all 5 and is flat at once. Our sell of 2 must not fill after that: it
    would leave the account short 2, a position the service made (it did, and the account
    stayed in Trading with it)."""
    h.write_settings(PER_INSTRUMENT)
    await h.start()
    h.gateway.set_fill_delay(1.0)
    h.trade("MNQ", "buy", 5)
    await h.gw_until(lambda: h.position("MNQ") == 5 and h.closes("MNQ"), "our reduce placed")
    [ours] = h.closes("MNQ")
    assert ours.size == 2
    h.gateway.set_fill_delay(0.0)
    h.trade("MNQ", "sell", 5)  # the trader's own exit, filled at once
    await h.gw_until(
        lambda: h.gateway.order(ours.order_id).status == OrderStatus.CANCELLED, "ours cancelled"
    )
    await asyncio.sleep(1.5)  # past the moment ours would have filled
    assert h.position("MNQ") == 0
    assert [o.order_id for o in h.closes("MNQ")] == [ours.order_id]  # nothing sent after it
