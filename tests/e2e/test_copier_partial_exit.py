"""One connection for a copier's accounts (position records trimmed of their account): a
record the fills alone gave to an account, which those fills do not make, has the account
and every other it may be of read at once.

Found by a review of f0404e0/ff4509d (real SDK, paper gateway): B's partial exit (long 3 to
long 1, its record before its trade) was led to A by a fill of A's still counted. Smaller
than A's fills make and not zero, it was neither doubted (more contracts, the other side)
nor an unexplained close: A took it as the gateway's word and nothing was read. A, believed
long 1 while long 2, lost $564 against a $500 limit, flattened only by the periodic read
(8.8 s with 2 accounts, 36.9 s with 12). And an account opening its first position in the
contract (its record first, trimmed) was no candidate, so was not read when the account the
record was given to doubted it: B believed flat while long 3 for 8.3 s.
"""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import Harness
from tests.e2e.test_copier_attribution import (
    DAILY,
    IDLE,
    A,
    B,
    position_first,
    size,
    trade_late,
)


@pytest.mark.paper(accounts=(A, B))
async def test_b_partial_exit_led_to_a_has_both_read(h: Harness) -> None:
    await partial_exit_led_astray(h)


@pytest.mark.paper(accounts=(A, B, *IDLE))
async def test_b_partial_exit_led_to_a_has_both_read_among_twelve_accounts(h: Harness) -> None:
    """The same, ten more accounts on the login (the periodic read comes later)."""
    await partial_exit_led_astray(h)


async def partial_exit_led_astray(h: Harness) -> None:
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
    position_first(gw, {B.id})
    gw.place_order(B.id, "MNQ", 1, 2)  # B exits 2 of 3: long 1 (its record first)
    gw._publish = own
    await asyncio.sleep(0.5)
    assert size(h, A.id) == 2 and size(h, B.id) == 1
    gw.move_price("MNQ", -560)  # -140 points: A (long 2) loses $560, past its $500 limit
    await h.gw_until(lambda: size(h, A.id) == 0, "A flattened", 2)


DESK = tuple(PaperAccount(7001 + i, f"DESK-{i + 1}", Decimal("50000.00")) for i in range(12))


@pytest.mark.paper(accounts=DESK)
async def test_twelve_copied_accounts_a_close_led_astray_then_every_one_past_its_limit(
    h: Harness,
) -> None:
    """B's exit led to A (a stale fill of A's): A and the others are read; right after, a
    copied loss puts every holder past its limit: all are flat within 3 s, inside the
    200-a-minute request budget. (A's own exit, its record first naming no account, had 9 of
    the 12 holders read, A among them, in the first batch of the search for its owner: A's
    read explains it.)"""
    await h.start(DAILY)
    gw = h.gateway
    eng = h.svc.engine.accounts
    mnq = gw.contract("MNQ").id
    ids = [a.id for a in DESK]
    a_id, b_id = ids[0], ids[1]
    own = gw._publish
    for a in ids:
        gw.place_order(a, "MNQ", 0, 2 if a == a_id else 3)
    await h.until(lambda: all(mnq in eng[a].positions for a in ids), "all hold", 30)
    await asyncio.sleep(1)
    n = len(h.logs)
    trade_late(gw, {a_id}, 0.5)
    gw.place_order(a_id, "MNQ", 1, 1)  # A: long 1, its trade late (its fill stays counted)
    gw._publish = own
    await h.until(lambda: sum("reconciled" in m for m in h.logs[n:]) >= 9, "9 read", 60)
    assert any(f"account {a_id}: reconciled" in m for m in h.logs[n:])
    await asyncio.sleep(1.0)
    n = len(h.logs)
    position_first(gw, {b_id})
    gw.place_order(b_id, "MNQ", 1, 3)  # B exits: its closing record first
    gw._publish = own
    await h.until(lambda: mnq not in eng[b_id].positions, "B believed flat", 60)
    gw.move_price("MNQ", -1200)  # -300 points: $600 a contract; every holder past $500
    holders = [a for a in ids if a != b_id]
    await h.gw_until(lambda: not any(gw.positions(a) for a in holders), "every holder flat", 3)
    assert any(f"account {a_id}: {mnq} reported closed without fills" in m for m in h.logs[n:])


@pytest.mark.paper(accounts=(A, B))
async def test_b_first_position_led_to_a_has_b_read(h: Harness) -> None:
    """B flat in MNQ, A long 2 with a fill of +1 counted still (its record came first, its
    trade after the read that record asked for). B opens long 3, its record before its trade
    and trimmed (the paper gateway sends an opening record whole; the owner inference takes
    it that a first position's record may come trimmed and first): A's fill leads it to A
    (2 + 1 = 3). A doubts it and is read, and B, no candidate, is read too."""
    await h.start(DAILY)
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
    position_first(gw, {B.id})
    first = gw._publish

    def trimmed(events: list[Any]) -> None:  # B's opening record trimmed too
        first(
            [
                dataclasses.replace(e, new=False) if e.target == "GatewayUserPosition" else e
                for e in events
            ]
        )

    gw._publish = trimmed
    gw.place_order(B.id, "MNQ", 0, 3)  # B opens long 3 (its record first)
    gw._publish = own
    await asyncio.sleep(0.5)
    assert size(h, B.id) == 3 and size(h, A.id) == 2
    gw.move_price("MNQ", -480)  # -120 points: B (long 3) loses $720, past its $500 limit
    await h.gw_until(lambda: size(h, B.id) == 0, "B flattened", 2)
