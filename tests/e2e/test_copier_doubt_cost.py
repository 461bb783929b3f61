"""One connection for a copier's book of 30 accounts (real SDK, paper gateway, trimmed position
records): what a doubted record costs in reads, and that its owner is still found.

A record given to A by A's fills alone, which A's fills do not make, may be another account's
(its trade not heard yet). Every other account of the login was read at once for it: 29 reads
(three requests each) for one record here, 999 on a login of 1,000 accounts, minutes of the
200-a-minute budget ahead of every other account's reads. Now A and the accounts that may own
it are read first (whose fills lead to it, holding the contract, having held it), the others
only while those explain nothing, and then a few at a time."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import Harness
from tests.e2e.test_copier_attribution import DAILY, A, B, position_first, size, trade_late

BOOK = (A, B, *(PaperAccount(7201 + i, f"BOOK-{i + 1}", Decimal("50000.00")) for i in range(28)))
#: no periodic read: every read after the set-up is one the doubt asked for
NO_POLL = DAILY + "[broker]\nreconcile_interval_seconds = 0\n"


def reads_of(h: Harness) -> list[int]:
    """The accounts whose reads the service asks for from now on, in order (reads asked
    beyond the budget wait there: 30 accounts' start-up reads use most of a window)."""
    reconciler = h.svc.reconciler
    request = reconciler.request
    asked: list[int] = []

    def recorded(account_id: int, *args: Any, **kw: Any) -> asyncio.Future[None]:
        asked.append(account_id)
        return request(account_id, *args, **kw)

    reconciler.request = recorded  # type: ignore[method-assign]
    return asked


async def a_long_2_with_a_fill_counted(h: Harness) -> str:
    """A long 2, its buy of 1 still counted (its record came first, its trade after the read
    that record asked for): the next record of long 3 that names no account is led to A."""
    await h.start(NO_POLL)
    gw = h.gateway
    eng = h.svc.engine.accounts
    mnq = gw.contract("MNQ").id
    own = gw._publish
    gw.place_order(A.id, "MNQ", 0, 1)
    await h.until(lambda: mnq in eng[A.id].positions, "A holds")
    await asyncio.sleep(0.5)
    n = len(h.logs)
    trade_late(gw, {A.id}, 0.5)
    gw.place_order(A.id, "MNQ", 0, 1)  # A: long 2 (its record well before its trade)
    gw._publish = own
    await h.until(lambda: any(f"account {A.id}: reconciled" in m for m in h.logs[n:]), "A read")
    await asyncio.sleep(0.7)  # A's trade heard: its fill of +1 stays counted
    return mnq


def b_opens_long_3_trimmed(h: Harness, *, trade: bool) -> None:
    """B (flat, no candidate) opens long 3: its record first and trimmed; its trade follows
    at once, or (``trade`` False) is never heard."""
    gw = h.gateway
    own = gw._publish
    position_first(gw, {B.id})
    first = gw._publish

    def trimmed(events: list[Any]) -> None:
        first(
            [
                dataclasses.replace(e, new=False) if e.target == "GatewayUserPosition" else e
                for e in events
                if trade or not (e.target == "GatewayUserTrade" and e.account_id == B.id)
            ]
        )

    gw._publish = trimmed
    gw.place_order(B.id, "MNQ", 0, 3)
    gw._publish = own


@pytest.mark.paper(accounts=BOOK)
async def test_b_first_position_led_to_a_reads_a_and_b_not_the_book(h: Harness) -> None:
    mnq = await a_long_2_with_a_fill_counted(h)
    eng = h.svc.engine.accounts
    asked = reads_of(h)
    b_opens_long_3_trimmed(h, trade=True)
    await h.until(lambda: mnq in eng[B.id].positions, "B read", 30)
    await asyncio.sleep(0.5)  # any further read the doubt asks
    assert eng[A.id].positions[mnq].size == 2 and eng[B.id].positions[mnq].size == 3
    assert sorted(set(asked)) == [A.id, B.id], f"{len(set(asked))} of 30 accounts asked to be read"
    h.gateway.move_price("MNQ", -480)  # -120 points: B (long 3) loses $720, past its $500
    await h.gw_until(lambda: size(h, B.id) == 0, "B flattened", 2)
    assert size(h, A.id) == 2


@pytest.mark.paper(accounts=BOOK)
async def test_b_first_position_whose_trade_is_never_heard_is_found_a_few_at_a_time(
    h: Harness,
) -> None:
    """B's trade is lost: nothing heard leads to B. After A (read, long 2: not the record's),
    the others are read 8 at a time; B is among the first 8 and the search stops there."""
    mnq = await a_long_2_with_a_fill_counted(h)
    eng = h.svc.engine.accounts
    asked = reads_of(h)
    n = len(h.logs)
    b_opens_long_3_trimmed(h, trade=False)
    await h.until(lambda: mnq in eng[B.id].positions, "B found", 30)
    await asyncio.sleep(0.5)  # any further read the doubt asks
    assert eng[A.id].positions[mnq].size == 2 and eng[B.id].positions[mnq].size == 3
    assert asked[0] == A.id and B.id in asked
    assert len(set(asked)) <= 1 + 8, f"{len(set(asked))} of 30 accounts asked to be read"
    assert any("reading the 29 others, 8 at a time" in m for m in h.logs[n:])
    h.gateway.move_price("MNQ", -480)
    await h.gw_until(lambda: size(h, B.id) == 0, "B flattened", 2)
    assert size(h, A.id) == 2


@pytest.mark.paper(accounts=(A, B))
async def test_b_partial_exit_led_to_a_keeps_a_at_its_fills_while_its_read_waits(
    h: Harness,
) -> None:
    """B's partial exit (long 3 to 1, its record first) is led to A (long 2, its sell of 1
    still counted: 2 - 1). A's read waits its turn in the request budget (5 s here): until it
    is answered A is kept at the long 2 its fills make, not the record's long 1, and a loss
    past its limit on the 2 is flattened at once (taken at long 1: a $280 loss, unseen)."""
    await h.start(DAILY)
    gw = h.gateway
    eng = h.svc.engine.accounts
    mnq = gw.contract("MNQ").id
    own = gw._publish
    gw.place_order(A.id, "MNQ", 0, 3)
    gw.place_order(B.id, "MNQ", 0, 3)
    await h.until(lambda: mnq in eng[A.id].positions and mnq in eng[B.id].positions, "held")
    n = len(h.logs)
    trade_late(gw, {A.id}, 0.5)
    gw.place_order(A.id, "MNQ", 1, 1)  # A: long 2 (its record well before its trade)
    gw._publish = own
    for read in (f"account {A.id}: reconciled", f"account {B.id}: reconciled"):
        await h.until(lambda read=read: any(read in m for m in h.logs[n:]), read)
    await asyncio.sleep(0.7)  # A's trade heard: its fill of -1 stays counted
    broker = h.svc.broker
    post = broker._post

    async def slow(path: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        if path == "/Position/searchOpen" and data.get("accountId") == A.id:
            await asyncio.sleep(5)  # A's read waits its turn in the budget
        return await post(path, data, **kw)

    broker._post = slow  # type: ignore[method-assign]
    position_first(gw, {B.id})
    gw.place_order(B.id, "MNQ", 1, 2)  # B exits 2 of 3: long 1 (its record first)
    gw._publish = own
    await asyncio.sleep(0.5)
    assert size(h, A.id) == 2 and size(h, B.id) == 1
    assert eng[A.id].positions[mnq].size == 2, "A taken at the record's long 1"
    gw.move_price("MNQ", -560)  # -140 points: A (long 2) loses $560, past its $500 limit
    await h.gw_until(lambda: size(h, A.id) == 0, "A flattened", 2)
