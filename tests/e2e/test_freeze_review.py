"""Found by a review of the freeze's hold (real SDK, paper gateway): a size breach made while
frozen waited for the account's read after the wake (RULE-001 was held as a deadline rule:
cut 3.03 s after the wake with the positions reads failing, 0.004 s without a freeze)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from fsm_risk.paper import PaperGateway
from tests.e2e.test_frozen import ACCOUNT, Serve, serve, settings
from tests.e2e.test_serve_process import procs

__all__ = ["procs", "serve"]

RULE = "[rule.max_contracts]\nlimit = 5\n"


async def _cut_after(gw: PaperGateway, contract: str, timeout: float) -> float | None:
    t0 = time.monotonic()

    def small() -> bool:
        p = gw.position(ACCOUNT, contract)
        return p is None or p.size <= 5

    try:
        await gw.wait_for(small, timeout, "cut to the limit")
    except TimeoutError:
        return None
    return time.monotonic() - t0


@pytest.mark.parametrize("frozen", [False, True])
async def test_size_breach_while_frozen_reads_failing(
    tmp_path: Path, paper_gateway: PaperGateway, serve: Serve, frozen: bool
) -> None:
    """RULE-001 limit 5; the gateway's position reads answer 503 (a gateway in trouble); the
    trader buys 10 MNQ (frozen: while the service sleeps 5 s, heard at the wake)."""
    gw = paper_gateway
    (tmp_path / "settings.ini").write_text(settings(gw, RULE))
    await serve.start()
    mnq = gw.contract("MNQ").id
    await asyncio.sleep(2)
    gw.fail_rest("/api/Position/searchOpen", 503, 10**9)
    if frozen:
        serve.stop_()
        await asyncio.sleep(1)
    gw.place_order(ACCOUNT, "MNQ", 0, 10)
    if frozen:
        await asyncio.sleep(4)
        serve.cont()
    took = await _cut_after(gw, mnq, 40)
    await serve.end()
    assert took is not None and took < 2, f"cut {took} s after"
