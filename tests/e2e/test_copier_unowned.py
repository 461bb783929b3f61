"""One connection for a copier's book of 30 accounts (real SDK, paper gateway, trimmed position
records): a position record that names no account and that no account is proven to own costs a
few reads, not one of every account, and its owner is still found.

Two such records read the whole login at once: a copier's add when every account holds the
contract, its record before its trade (no fill leads it: every holder was read), and a first
position in a contract nobody holds (refused: every account was read). 30 reads here (three
requests each) for one record, 1,000 on a login of 1,000 accounts. Now the accounts that may
own it are read first, 9 at a time, then 8 at a time while none explains it, and whoever's
fills lead to it (its trade, heard since) next."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.service_harness import Harness
from tests.e2e.test_copier_attribution import B, position_first, size
from tests.e2e.test_copier_doubt_cost import BOOK, NO_POLL, b_opens_long_3_trimmed, reads_of

NO_FEES = {"fees": {"MNQ": Decimal(0)}, "commission": Decimal(0)}  # no balance move asks a read
LAST = BOOK[-1]


async def quiet(h: Harness, asked: list[int]) -> None:
    """Until no read was asked for 1 s (the search has stopped)."""
    seen = -1
    while seen != len(asked):
        seen = len(asked)
        await asyncio.sleep(1.0)


@pytest.mark.paper(accounts=BOOK, **NO_FEES)
async def test_a_copier_add_before_its_trade_reads_a_few_not_every_holder(h: Harness) -> None:
    """Every account of the book holds MNQ long 1; the last one adds 1 (long 2), its record
    first and trimmed: no fill leads it, all 30 may own it. Its trade follows."""
    await h.start(NO_POLL)
    gw = h.gateway
    eng = h.svc.engine.accounts
    mnq = gw.contract("MNQ").id
    for a in BOOK:
        gw.place_order(a.id, "MNQ", 0, 1)
    await h.until(lambda: all(mnq in eng[a.id].positions for a in BOOK), "the book holds", 30)
    await asyncio.sleep(0.5)
    asked = reads_of(h)
    unattributed = h.svc.broker.health.unattributed
    own = gw._publish
    position_first(gw, {LAST.id})
    gw.place_order(LAST.id, "MNQ", 0, 1)  # long 2, not new: trimmed
    gw._publish = own
    await h.until(lambda: h.svc.broker.health.unattributed > unattributed, "not guessed at")
    await h.until(lambda: LAST.id in asked, "the owner read", 30)
    await quiet(h, asked)
    assert len(set(asked)) <= 1 + 8, f"{len(set(asked))} of 30 accounts asked to be read"
    assert eng[LAST.id].positions[mnq].size == 2 and eng[B.id].positions[mnq].size == 1
    gw.move_price("MNQ", -560)  # -140 points: the last (long 2) loses $560, past its $500
    await h.gw_until(lambda: size(h, LAST.id) == 0, "the owner flattened", 5)
    assert size(h, B.id) == 1  # -$280 on long 1: under the limit


@pytest.mark.paper(accounts=BOOK, **NO_FEES)
async def test_a_copier_add_whose_trade_is_lost_is_found_a_few_at_a_time(h: Harness) -> None:
    """As above, the last account's trade lost: only a read finds its long 2. The 30 holders
    are read in the order they sort, 9 then 8 at a time (the last is the 30th)."""
    await h.start(NO_POLL)
    gw = h.gateway
    eng = h.svc.engine.accounts
    mnq = gw.contract("MNQ").id
    for a in BOOK:
        gw.place_order(a.id, "MNQ", 0, 1)
    await h.until(lambda: all(mnq in eng[a.id].positions for a in BOOK), "the book holds", 30)
    await asyncio.sleep(0.5)
    asked = reads_of(h)
    most = watch_at_once(h)
    own = gw._publish

    def lost(events: list[Any]) -> None:
        own([e for e in events if not (e.target == "GatewayUserTrade" and e.account_id == LAST.id)])

    gw._publish = lost
    gw.place_order(LAST.id, "MNQ", 0, 1)  # long 2, not new: trimmed
    gw._publish = own
    await h.until(lambda: eng[LAST.id].positions[mnq].size == 2, "the owner found", 120)
    await quiet(h, asked)
    assert asked[-1] == LAST.id and sorted(asked) == sorted(a.id for a in BOOK)
    assert max(most) <= 1 + 8, f"{max(most)} reads at once for one record"
    gw.move_price("MNQ", -560)  # -140 points: the last (long 2) loses $560, past its $500
    await h.gw_until(lambda: size(h, LAST.id) == 0, "the owner flattened", 5)
    assert size(h, B.id) == 1


def watch_at_once(h: Harness) -> list[int]:
    """How many reads the service had asked for and not seen done, at each ask from now on."""
    reconciler = h.svc.reconciler
    request = reconciler.request
    open_: set[int] = set()
    most: list[int] = [0]

    def counted(account_id: int, *args: Any, **kw: Any) -> asyncio.Future[None]:
        fut = request(account_id, *args, **kw)
        open_.add(account_id)
        fut.add_done_callback(lambda _: open_.discard(account_id))
        most.append(len(open_))
        return fut

    reconciler.request = counted  # type: ignore[method-assign]
    return most


@pytest.mark.paper(accounts=BOOK, **NO_FEES)
async def test_a_first_position_nobody_holds_reads_a_few_not_the_book(h: Harness) -> None:
    """Nobody holds MNQ; the last account opens long 3, its record first and trimmed: no
    account may own it (refused). Its trade follows."""
    await h.start(NO_POLL)
    gw = h.gateway
    eng = h.svc.engine.accounts
    mnq = gw.contract("MNQ").id
    await asyncio.sleep(0.5)
    asked = reads_of(h)
    malformed = h.svc.malformed
    own = gw._publish
    position_first(gw, {LAST.id})
    first = gw._publish

    def trimmed(events: list[Any]) -> None:
        first([_trim(e) for e in events])

    gw._publish = trimmed
    gw.place_order(LAST.id, "MNQ", 0, 3)
    gw._publish = own
    await h.until(lambda: h.svc.malformed > malformed, "the record refused")
    await h.until(lambda: LAST.id in asked, "the owner read", 30)
    await quiet(h, asked)
    assert len(set(asked)) <= 1 + 8, f"{len(set(asked))} of 30 accounts asked to be read"
    assert eng[LAST.id].positions[mnq].size == 3
    gw.move_price("MNQ", -480)  # -120 points: long 3 loses $720, past its $500
    await h.gw_until(lambda: size(h, LAST.id) == 0, "the owner flattened", 5)


@pytest.mark.paper(accounts=BOOK, **NO_FEES)
async def test_a_first_position_whose_trade_is_never_heard_is_found_by_the_search(
    h: Harness,
) -> None:
    """As above, B's trade lost: only a read finds B's long 3. The first 9 accounts are read
    at once (B among them) and the search stops there."""
    await h.start(NO_POLL)
    gw = h.gateway
    eng = h.svc.engine.accounts
    mnq = gw.contract("MNQ").id
    await asyncio.sleep(0.5)
    asked = reads_of(h)
    b_opens_long_3_trimmed(h, trade=False)
    await h.until(lambda: mnq in eng[B.id].positions, "B found", 30)
    await quiet(h, asked)
    assert eng[B.id].positions[mnq].size == 3
    assert len(set(asked)) <= 1 + 8, f"{len(set(asked))} of 30 accounts asked to be read"
    gw.move_price("MNQ", -480)
    await h.gw_until(lambda: size(h, B.id) == 0, "B flattened", 5)


def _trim(e: Any) -> Any:
    return dataclasses.replace(e, new=False) if e.target == "GatewayUserPosition" else e
