"""Found by a review: a copier's add whose trade is lost, while a non-owner in the search's first
batch changes to the same size (its own trade heard): the search must still find the owner
(it stopped at the non-owner, and the owner's $560 loss past its $500 limit went unseen)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.service_harness import Harness
from tests.e2e.test_copier_attribution import size
from tests.e2e.test_copier_doubt_cost import BOOK, NO_POLL
from tests.e2e.test_copier_unowned import LAST, NO_FEES


@pytest.mark.paper(accounts=BOOK, **NO_FEES)
async def test_a_non_owner_reaching_the_same_size_does_not_end_the_search(h: Harness) -> None:
    await h.start(NO_POLL)
    gw = h.gateway
    eng = h.svc.engine.accounts
    mnq = gw.contract("MNQ").id
    for a in BOOK:
        gw.place_order(a.id, "MNQ", 0, 1)
    await h.until(lambda: all(mnq in eng[a.id].positions for a in BOOK), "the book holds", 30)
    await asyncio.sleep(0.5)
    y = sorted(a.id for a in BOOK)[3]  # in the search's first batch of 9
    own = gw._publish

    def lost(events: list[Any]) -> None:
        own([e for e in events if not (e.target == "GatewayUserTrade" and e.account_id == LAST.id)])

    gw._publish = lost
    gw.place_order(LAST.id, "MNQ", 0, 1)  # the owner: long 2, trimmed, its trade lost
    gw._publish = own
    gw.place_order(y, "MNQ", 0, 1)  # Y adds too (its trade heard): long 2
    await h.until(lambda: eng[y].positions[mnq].size == 2, "Y's add applied", 30)
    await h.until(lambda: eng[LAST.id].positions[mnq].size == 2, "the owner found", 90)
    gw.move_price("MNQ", -560)  # -140 points: the owner (long 2) loses $560, past its $500
    await h.gw_until(lambda: size(h, LAST.id) == 0, "the owner flattened", 5)
