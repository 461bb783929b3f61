"""Found by a review of 84de528: a whole close answered 503 AFTER the gateway took it (its market
order still working: a slow fill), the gateway's reads failing, and the order records not
reaching us (a hub connected but silent). The close sent again unread went beside the first and
both filled: the locked account was short 2 MNQ for 12 s (58 s with the whole user hub quiet).
A close in doubt goes again unread only once an order record of the account not ours is heard
since it went (ours, had it been taken, would have come first)."""

from __future__ import annotations

import asyncio
import time

from fsm_risk.core.states import State
from fsm_risk.paper.gateway import USER_TARGETS
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness
from tests.e2e.test_close_503_while_reads_fail import READS, RULES


def signed(h: Harness) -> int:
    """The gateway's position in MNQ, short negative."""
    p = h.gateway.position(ACCOUNT, h.gateway.contract(MNQ).id)
    if p is None:
        return 0
    return -p.size if p.type.name.upper().startswith("SHORT") else p.size


async def _taken_then_503(h: Harness, silenced: tuple[str, ...], fill_delay: float) -> None:
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    for target in silenced:
        h.gateway.silence(target)
    h.gateway.set_fill_delay(fill_delay)  # wall seconds a market order works before it fills
    # done, then answered 503 by the gateway's application (its envelope)
    h.gateway.fail_rest_after("/api/Position/closeContract", 503, count=1, own=True)
    for path in READS:
        h.gateway.fail_rest(path, 503, seconds=60)
    h.gateway.move_price("MNQ", -600)  # -$600 on a $500 limit
    await h.until(lambda: h.acct.state is State.Flattening, "flattening")
    blind = h.svc.engine.pursuit.blind
    await h.until(lambda: blind.doubted, "the close's doubt told to the engine", timeout=20)
    await h.advance(seconds=2)  # its close timeout: the blind re-send
    await asyncio.sleep(1.0)
    worst, began, short_since = 0, time.monotonic(), None
    while time.monotonic() - began < 25:
        await h.advance(seconds=1)
        await asyncio.sleep(0.5)
        now = signed(h)
        if now < 0 and short_since is None:
            short_since = time.monotonic()
        worst = min(worst, now)
        if short_since is not None and now >= 0:
            break
    lasted = 0.0 if short_since is None else time.monotonic() - short_since
    assert worst == 0, (
        f"two closes of the whole position worked at once: short {-worst} MNQ on a locked "
        f"account for {lasted:.1f} s"
    )


async def test_never_short_with_the_order_records_silent_and_a_slow_fill(h: Harness) -> None:
    await _taken_then_503(h, ("GatewayUserOrder",), 12.0)


async def test_never_short_with_the_user_hub_quiet_and_a_slow_fill(h: Harness) -> None:
    await _taken_then_503(h, USER_TARGETS, 6.0)


async def test_flat_never_short_with_the_hub_live_and_the_trader_adding(h: Harness) -> None:
    """Guard: the close taken then answered 503, reads failing, the hub live (its order known
    as ours), a slow fill, the trader adds under the lock: flat at the end, never short."""
    delay = 6.0
    await h.start(RULES)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.set_fill_delay(delay)
    h.gateway.fail_rest_after("/api/Position/closeContract", 503, count=1, own=True)
    for path in READS:
        h.gateway.fail_rest(path, 503, seconds=40)
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.Flattening, "flattening")
    await asyncio.sleep(0.5)
    h.gateway.set_fill_delay(0.0)
    h.trade("MNQ", "buy", 1)  # his add under the lock
    h.gateway.set_fill_delay(delay)
    sizes = []
    for _ in range(30):
        await h.advance(seconds=2)
        await asyncio.sleep(0.5)
        sizes.append(signed(h))
    assert min(sizes) == 0 and sizes[-1] == 0, sizes
