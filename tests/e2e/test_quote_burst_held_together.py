"""Found by a review of 160d7c6 (the quotes of contracts held together judged one by one): in a
burst of quotes (5,000 a second) with a whole-account rule on (a daily loss limit, a trailing
drawdown: every real book), 300 accounts long ZN and MNQ had every quote judged one by one, and
the breach to the last ZN stop loss closed 15.9 and 17.1 s (merged: 1.3 s). Past `TOGETHER`
quotes of contracts held together in one run, every stride-th is judged with each contract's
turns (`core.waited.strided`): the consumer keeps up (within 3 s here, 2.0-2.4 s measured on a
loaded machine; merged 1.3 s), a leg never judged more than a stride behind the other."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from fsm_risk.paper.engine import iso
from fsm_risk.paper.hub import invocation
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import Harness

D = Decimal
ACCOUNTS = tuple(PaperAccount(1001 + i, f"PAPER-{i + 1}", D("50000.00")) for i in range(300))
pytestmark = pytest.mark.paper(spread_ticks=0, commission=D(0), accounts=ACCOUNTS, rate_limit=0)
ROOTS = ("ZN", "MNQ")
RATE = 5000  # quotes a second, both contracts together
SECONDS = 8.0  # of the burst
BREACH_AT = 5.0  # s into it
BOUND = 3.0  # s from the breach to the last of the 300 ZN stop losses closed (one by one: 16 s)
STOP_ONLY = (
    "[broker]\nfeed_silence_seconds = 3600\nrequests_per_minute = 10000\n"
    "[rule.max_contracts]\nlimit = 50\n[rule.max_contracts_per_instrument]\ndefault_limit = 50\n"
    "[rule.position_stop_loss]\nenabled = true\nlimit = 62.50\n"
)


REALISTIC = STOP_ONLY + (
    "[rule.daily_loss_limit]\nlimit = 1000\n"
    "[rule.trailing_drawdown]\ndrawdown = 2500\nstarting_balance = 50000\n"
)


@pytest.mark.parametrize("rules", [STOP_ONLY, REALISTIC], ids=["stop_only", "realistic"])
async def test_a_burst_beside_contracts_held_together_is_kept_up_with(
    h: Harness, rules: str
) -> None:
    await h.start(rules)
    assert h.svc.engine.book.whole == (rules is REALISTIC)
    gw = h.gateway
    cids = {r: gw.contract(r).id for r in ROOTS}
    ticks = {r: gw.contract(r).tick_size for r in ROOTS}
    for a in ACCOUNTS:
        for r in ROOTS:
            gw.place_order(a.id, r, 0, 1)
    eng = h.svc.engine
    await h.until(
        lambda: all(
            len([p for p in eng.accounts[a.id].positions.values() if p.priced]) == len(ROOTS)
            for a in ACCOUNTS
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

    await gw.wait_for(lambda: len(closes()) >= len(ACCOUNTS), 60, "every ZN closed")
    last = closes()[len(ACCOUNTS) - 1] - breach_perf
    assert last < BOUND, (
        f"the {len(ACCOUNTS)} ZN stop losses were closed {last:.2f} s after the breach"
    )
