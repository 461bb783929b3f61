"""Found by a review (real SDK, paper gateway, accounts on one connection): a bystander that
already held what a doubted record says stopped the owner search; the owner's position was left
unseen and its loss past its limit not flattened."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest

from tests.e2e.service_harness import Harness
from tests.e2e.test_copier_attribution import A, B, size, trade_late
from tests.e2e.test_copier_doubt_cost import BOOK, NO_POLL, b_opens_long_3_trimmed

C = BOOK[2]


@pytest.mark.paper(accounts=(A, B, C), fees={"MNQ": Decimal(0)}, commission=Decimal(0))
async def test_small_book_no_fees_bystander_c_long_3_does_not_hide_b(h: Harness) -> None:
    """Three accounts (no budget wait) and no fees (no balance move to ask B's read): the
    owner search alone must find B."""
    await h.start(NO_POLL)
    gw = h.gateway
    eng = h.svc.engine.accounts
    mnq = gw.contract("MNQ").id
    own = gw._publish
    gw.place_order(C.id, "MNQ", 0, 3)  # C: long 3 (an earlier copy), in the gateway's order
    gw.place_order(A.id, "MNQ", 0, 1)
    await h.until(lambda: mnq in eng[A.id].positions and mnq in eng[C.id].positions, "held")
    await asyncio.sleep(0.5)
    n = len(h.logs)
    trade_late(gw, {A.id}, 0.5)
    gw.place_order(A.id, "MNQ", 0, 1)  # A: long 2 (its record well before its trade)
    gw._publish = own
    await h.until(lambda: any(f"account {A.id}: reconciled" in m for m in h.logs[n:]), "A read")
    await asyncio.sleep(0.7)  # A's trade heard: its fill of +1 stays counted
    b_opens_long_3_trimmed(h, trade=False)  # B's long 3: record first, trimmed, trade lost
    with contextlib.suppress(TimeoutError):
        await h.until(lambda: mnq in eng[B.id].positions, "B found", 3)
    gw.move_price("MNQ", -480)  # -120 points: B (long 3) loses $720, past its $500 limit
    await h.gw_until(lambda: size(h, B.id) == 0, "B flattened", 5)
    assert size(h, A.id) == 2
