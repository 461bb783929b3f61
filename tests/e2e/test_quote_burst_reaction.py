"""Found by a review of ca4d42d (every GatewayQuote record handed to the engine, the SDK's
latest-wins coalescing bypassed): in a burst of quotes (a news release: 5,000 quotes a second)
every quote was judged, each against every account holding its contract, and the consumer fell
behind without bound: a breaching quote waited behind seconds of older ones (100 accounts long
ZN and MNQ, breach to the last ZN stop loss closed 11 to 16 s; the SDK's path: 0.1 s). The
quotes that waited together in the queue are a bounded few per contract when judged
(`core.waited`: the turns of each price, then the latest).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from decimal import Decimal

import pytest

from fsm_risk.paper.engine import iso
from fsm_risk.paper.hub import invocation
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import Harness

D = Decimal
ACCOUNTS = tuple(PaperAccount(1001 + i, f"PAPER-{i + 1}", D("50000.00")) for i in range(100))
pytestmark = pytest.mark.paper(spread_ticks=0, commission=D(0), accounts=ACCOUNTS, rate_limit=0)
ROOTS = ("ZN", "MNQ")
RATE = 5000  # quotes a second, both contracts together
SECONDS = 8.0  # of the burst
BREACH_AT = 5.0  # s into it
BOUND = 2.0  # s from the breach to the last of the ZN stop losses closed
RULES = (
    "[broker]\nfeed_silence_seconds = 3600\nrequests_per_minute = 10000\n"
    "[rule.max_contracts]\nlimit = 50\n[rule.max_contracts_per_instrument]\ndefault_limit = 50\n"
    "[rule.position_stop_loss]\nenabled = true\nlimit = 62.50\n"
)


async def seconds_to_the_last_zn_close(
    h: Harness, accounts: Sequence[PaperAccount], sizes: Sequence[tuple[int, int]] = ()
) -> float:
    """The burst, on a started service whose ``accounts`` each go long 1 ZN and 1 MNQ (or, by
    ``sizes``, long that many ZN and long, or short if negative, that many MNQ): ZN breaches
    their stop loss ``BREACH_AT`` s in; the seconds from the breach to the last of their ZN
    closes at the gateway."""
    gw = h.gateway
    cids = {r: gw.contract(r).id for r in ROOTS}
    ticks = {r: gw.contract(r).tick_size for r in ROOTS}
    for i, a in enumerate(accounts):
        zn, mnq = sizes[i] if sizes else (1, 1)
        gw.place_order(a.id, "ZN", 0, zn)
        gw.place_order(a.id, "MNQ", 0 if mnq > 0 else 1, abs(mnq))
    eng = h.svc.engine
    await h.until(
        lambda: all(
            len([p for p in eng.accounts[a.id].positions.values() if p.priced]) == len(ROOTS)
            for a in accounts
        ),
        "every position held and priced",
        timeout=60,
    )
    entry = {r: gw.quote(r).last for r in ROOTS}
    conns = [c for c in gw._conns["market"] if not c.closed]
    at = iso(h.clock.now())

    def frames(r: str, base: Decimal) -> list[str]:
        """Partial quotes around ``base``: the book, a print, the book, a print."""
        t, cid = ticks[r], cids[r]
        return [
            invocation("GatewayQuote", [cid, {"bestBid": float(base - t), "bestAsk": float(base),
                                              "timestamp": at}]),
            invocation("GatewayQuote", [cid, {"lastPrice": float(base), "timestamp": at}]),
            invocation("GatewayQuote", [cid, {"bestBid": float(base), "bestAsk": float(base + t),
                                              "timestamp": at}]),
            invocation("GatewayQuote", [cid, {"lastPrice": float(base - t), "timestamp": at}]),
        ]  # fmt: skip

    normal = {r: frames(r, entry[r]) for r in ROOTS}
    low = entry["ZN"] - 5 * ticks["ZN"]  # -78.125 a lot: past the 62.50 stop
    breached = frames("ZN", low)
    breach = invocation("GatewayQuote", [cids["ZN"], {
        "bestBid": float(low), "bestAsk": float(low + ticks["ZN"]), "lastPrice": float(low),
        "timestamp": at}])  # fmt: skip
    sent = 0
    breach_perf: float | None = None
    t0 = time.perf_counter()
    while (now := time.perf_counter() - t0) < SECONDS:
        if breach_perf is None and now >= BREACH_AT:
            gw.engine.set_quote(cids["ZN"], bid=low, ask=low + ticks["ZN"], last=low)
            for c in conns:
                c.send(breach)
            breach_perf = time.perf_counter()
        while sent < int(now * RATE):
            r = ROOTS[sent % len(ROOTS)]
            texts = breached if (r == "ZN" and breach_perf is not None) else normal[r]
            for c in conns:
                c.send(texts[(sent // len(ROOTS)) % 4])
            sent += 1
        await asyncio.sleep(0.001)
    assert breach_perf is not None and sent > RATE * BREACH_AT  # (the burst went out)
    zn = cids["ZN"]

    def closes() -> list[float]:
        return sorted(
            o.received_perf
            for o in gw.order_log(None)
            if o.contract_id == zn and o.source in ("close", "partial_close")
        )

    await gw.wait_for(lambda: len(closes()) >= len(accounts), 60, "every ZN closed")
    return closes()[len(accounts) - 1] - breach_perf


async def test_a_breach_in_a_quote_burst_is_closed_within_two_seconds(h: Harness) -> None:
    await h.start(RULES)
    last = await seconds_to_the_last_zn_close(h, ACCOUNTS)
    assert last < BOUND, (
        f"the {len(ACCOUNTS)} ZN stop losses were closed {last:.2f} s after the breach"
    )
