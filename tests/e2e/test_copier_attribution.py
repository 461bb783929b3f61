"""One user-hub connection for several accounts of a login (a trade copier), the production
profile's trimmed position updates (no accountId), and a gateway that delivers a fill's
position record before its trade record.

Found by a hunt: a fill of account A whose position record came first stayed counted, and B's
trimmed record (long 2, its own trade not heard yet) was proven A's by that fill: the engine
doubted it for A and read A alone, so B, believed long 1 while long 2, lost 602 against a
500 daily limit unseen until the next periodic read (10 s with 2 accounts, 38.4 s with 12).
A record given to an account by its fills alone now has the other accounts it may be of
read too when that account doubts it.

The reverse: B's exit, its closing record (size 0) led to A by such a fill. A reads itself
(a close no fill of A's explains) and keeps its position, but B was not read: believed to
hold what it closed until the periodic read, B was counted 4 contracts with 1 MES open and
flattened by a max_contracts of 3. The accounts such a record may be of are read then too."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import Harness

A, B = (
    PaperAccount(7001, "COPY-A", Decimal("50000.00")),
    PaperAccount(7002, "COPY-B", Decimal("50000.00")),
)
LIMIT_ONE = "[rule.max_contracts]\nlimit = 1\n[broker]\nreconcile_interval_seconds = 0\n"


def size(h: Harness, account_id: int) -> int:
    p = h.gateway.position(account_id, h.gateway.contract("MNQ").id)
    return 0 if p is None else p.size


def position_first(gw: Any, accounts: set[int]) -> None:
    """For ``accounts``: the position record of a fill goes out before its trade record."""
    publish = gw._publish

    def reordered(events: list[Any]) -> None:
        out = list(events)
        for i, e in enumerate(out):
            if e.target == "GatewayUserTrade" and e.account_id in accounts:
                for j in range(i + 1, len(out)):
                    if out[j].target == "GatewayUserPosition" and out[j].account_id == e.account_id:
                        out.insert(i, out.pop(j))
                        break
        publish(out)

    gw._publish = reordered


def trade_late(gw: Any, accounts: set[int], seconds: float) -> None:
    """For ``accounts``: the trade record of a fill goes out ``seconds`` after the rest (its
    position record first, and a read that record asks for begun before the trade is heard)."""
    publish = gw._publish

    def delayed(events: list[Any]) -> None:
        late = [e for e in events if e.target == "GatewayUserTrade" and e.account_id in accounts]
        publish([e for e in events if e not in late])
        asyncio.get_running_loop().call_later(seconds, publish, late)

    gw._publish = delayed


DAILY = "[rule.daily_loss_limit]\nlimit = 500\n"  # every other setting at its default


@pytest.mark.paper(accounts=(A, B))
async def test_b_position_credited_to_a_leaves_b_loss_blind(h: Harness) -> None:
    await b_loss_blind(h)


async def b_loss_blind(h: Harness) -> None:
    """A long 1 (its trade heard after its position record: the fill stays counted), B long 1
    then the copier adds 1 on B (its position record before its trade): the trimmed record
    of B's long 2 is led to A by A's fill; then B loses $600 against a $500 limit."""
    await h.start(DAILY)
    gw = h.gateway
    eng = h.svc.engine.accounts
    MNQ = gw.contract("MNQ").id
    own = gw._publish
    position_first(gw, {A.id})
    gw.place_order(A.id, "MNQ", 0, 1)  # A: long 1 (its position record before its trade)
    await h.until(lambda: MNQ in eng[A.id].positions, "A's position heard")
    gw._publish = own
    gw.place_order(B.id, "MNQ", 0, 1)  # B: long 1, in the gateway's order
    await h.until(lambda: MNQ in eng[B.id].positions, "B's position heard")
    position_first(gw, {B.id})
    gw.place_order(B.id, "MNQ", 0, 1)  # the copier adds 1 on B: long 2
    gw._publish = own
    await h.until(lambda: any("POSITION_UNCONFIRMED account 7001" in m for m in h.logs), "A")
    await h.until(lambda: any("account 7001: reconciled" in m for m in h.logs[-20:]), "A read")

    def held() -> dict[int, dict[str, int]]:
        return {a: {c: p.size for c, p in eng[a].positions.items()} for a in (A.id, B.id)}

    gw.move_price("MNQ", -600)  # -150 points: B (long 2) loses $600, past its $500 limit
    time.monotonic()
    try:
        await h.gw_until(lambda: size(h, B.id) == 0, "B flattened", 2)
    finally:
        await h.gw_until(lambda: size(h, B.id) == 0, "B flattened at last", 90)
    assert size(h, B.id) == 0, "B's loss of $600 past its $500 limit is not flattened"


@pytest.mark.paper(accounts=(A, B))
async def test_a_trimmed_update_of_b_is_credited_to_a_and_a_is_reduced(h: Harness) -> None:
    await h.start(LIMIT_ONE)
    gw = h.gateway
    eng = h.svc.engine.accounts
    MNQ = gw.contract("MNQ").id
    position_first(gw, {A.id})
    gw.place_order(A.id, "MNQ", 0, 1)  # A: long 1 (its trade heard after its position)
    await h.until(lambda: MNQ in eng[A.id].positions, "A's position heard")
    gw._publish = type(gw)._publish.__get__(gw)  # back to the gateway's own order
    gw.place_order(B.id, "MNQ", 0, 1)  # B: long 1, in order
    await h.until(lambda: MNQ in eng[B.id].positions, "B's position heard")
    await h.gw_until(lambda: True, "settle")
    position_first(gw, {B.id})
    gw.place_order(B.id, "MNQ", 0, 1)  # B: long 2, over the limit of 1; A untouched
    await h.gw_until(
        lambda: (
            gw.order_log(A.id)[-1].source != "direct" or gw.order_log(B.id)[-1].source != "direct"
        ),
        "the service acted",
        15,
    )
    await h.gw_until(lambda: True, "settle")
    log_a = [(o.source, o.size) for o in gw.order_log(A.id)]
    [(o.source, o.size) for o in gw.order_log(B.id)]
    # what must happen: B's excess reduced on B; A (long 1, within its limit) left alone
    assert not [s for s, _ in log_a if s != "direct"], "the service acted on A, not B"
    assert size(h, A.id) == 1


@pytest.mark.paper(accounts=(A, B))
async def test_b_close_credited_to_a_leaves_a_believed_flat(h: Harness) -> None:
    await h.start(DAILY)
    gw = h.gateway
    eng = h.svc.engine.accounts
    MNQ = gw.contract("MNQ").id
    own = gw._publish
    gw.place_order(A.id, "MNQ", 0, 2)  # A: long 2
    gw.place_order(B.id, "MNQ", 0, 1)  # B: long 1
    await h.until(lambda: MNQ in eng[A.id].positions and MNQ in eng[B.id].positions, "held")
    position_first(gw, {A.id})
    gw.place_order(A.id, "MNQ", 1, 1)  # A sells 1: long 1 (position record before trade)
    gw._publish = own
    await h.until(lambda: eng[A.id].positions[MNQ].size == 1, "A at 1")
    await h.gw_until(lambda: True, "settle")
    await asyncio.sleep(0.5)  # the reads the unattributed record asked for are answered
    position_first(gw, {B.id})
    gw.place_order(B.id, "MNQ", 1, 1)  # B exits: flat (position record before trade)
    gw._publish = own
    await asyncio.sleep(0.5)

    def held() -> dict[int, dict[str, int]]:
        return {a: {c: p.size for c, p in eng[a].positions.items()} for a in (A.id, B.id)}

    gw.move_price("MNQ", -2400)  # -600 points: A (long 1) loses $1200, past its $500 limit
    time.monotonic()
    try:
        await h.gw_until(lambda: size(h, A.id) == 0, "A flattened", 2)
    finally:
        await h.gw_until(lambda: size(h, A.id) == 0, "A flattened at last", 60)


IDLE = tuple(PaperAccount(7101 + i, f"IDLE-{i + 1}", Decimal("50000.00")) for i in range(10))


@pytest.mark.paper(accounts=(A, B, *IDLE))
async def test_b_loss_blind_with_twelve_accounts(h: Harness) -> None:
    """The same as `test_b_position_credited_to_a_leaves_b_loss_blind`, with ten more
    accounts on the login: the periodic read that ends the blindness comes later."""
    await b_loss_blind(h)


async def b_exits_led_to_a(h: Harness, b_size: int) -> None:
    """A long 2 then sells 1 (its position record before its trade, which comes after the
    reads that record asked for: that fill of A's stays counted), B long ``b_size``; then B
    exits, its closing record (size 0) before its trade: led to A by A's counted fill, it
    reaches A as a close no fill of A's explains."""
    gw = h.gateway
    eng = h.svc.engine.accounts
    MNQ = gw.contract("MNQ").id
    own = gw._publish
    gw.place_order(A.id, "MNQ", 0, 2)
    gw.place_order(B.id, "MNQ", 0, b_size)
    await h.until(lambda: MNQ in eng[A.id].positions and MNQ in eng[B.id].positions, "held")
    n = len(h.logs)
    trade_late(gw, {A.id}, 0.5)
    gw.place_order(A.id, "MNQ", 1, 1)  # A: long 1 (its position record well before its trade)
    gw._publish = own
    # A's record named no account and none proved its owner: both are read, A's trade later
    for read in (f"account {A.id}: reconciled", f"account {B.id}: reconciled"):
        await h.until(lambda read=read: any(read in m for m in h.logs[n:]), read)
    await asyncio.sleep(0.7)  # A's trade heard (the reads booked it already)
    n = len(h.logs)
    position_first(gw, {B.id})
    gw.place_order(B.id, "MNQ", 1, b_size)  # B exits: flat (its closing record first)
    gw._publish = own
    taken = f"account {A.id}: {MNQ} reported closed without fills"
    await h.until(lambda: any(taken in m for m in h.logs[n:]), "B's closing record given to A")


@pytest.mark.paper(accounts=(A, B))
async def test_b_close_led_to_a_has_b_read_at_once(h: Harness) -> None:
    """B's exit, its closing record given to A: B is read at once, not at the periodic read
    (10 s; 38.4 s with 12 accounts), which alone ended the position B was believed to hold."""
    await h.start(DAILY)
    await b_exits_led_to_a(h, 1)
    eng = h.svc.engine.accounts
    MNQ = h.gateway.contract("MNQ").id
    await asyncio.sleep(2)
    assert size(h, B.id) == 0 and size(h, A.id) == 1
    assert MNQ not in eng[B.id].positions, (
        f"2 s after B's exit: B flat at the gateway, believed {eng[B.id].positions[MNQ]}"
    )
    assert eng[A.id].positions[MNQ].size == 1 and eng[A.id].net[MNQ] == 1
    assert not [m for m in h.logs if "STATE_DIVERGED" in m]


@pytest.mark.paper(accounts=(A, B))
async def test_b_close_led_to_a_does_not_flatten_b_next_entry(h: Harness) -> None:
    """max_contracts 3 (flatten): B exits 3 MNQ, its closing record given to A, and half a
    second later the copier opens 1 MES on B. Believed to hold its 3 MNQ still, B counted 4:
    its 1 MES was closed by the service and B flattened, for 1 contract open."""
    await h.start("[rule.max_contracts]\nlimit = 3\naction = flatten\n")
    await b_exits_led_to_a(h, 3)
    gw = h.gateway
    eng = h.svc.engine.accounts
    await asyncio.sleep(0.5)
    gw.place_order(B.id, "MES", 0, 1)  # the copier's next trade on B: 1 contract
    MES = gw.contract("MES").id
    await h.until(lambda: MES in eng[B.id].positions, "B's MES heard")
    await asyncio.sleep(2)
    sent = [(o.source, o.contract_id, o.size) for o in gw.order_log(B.id) if o.source != "direct"]
    assert not sent, f"the service sent {sent} on B, holding 1 MES against a limit of 3"
    assert size_of(h, B.id, "MES") == 1
    assert eng[B.id].state is State.Trading, eng[B.id].state


def size_of(h: Harness, account_id: int, contract: str) -> int:
    p = h.gateway.position(account_id, h.gateway.contract(contract).id)
    return 0 if p is None else p.size


@pytest.mark.paper(accounts=(A, B))
async def test_a_read_b_flat_leaves_nothing_to_lead_a_close(h: Harness) -> None:
    """After B's exit was given to A and both were read: A's own exit, its closing record
    before its trade, must still be A's. The reads left B remembered long 3 with its sell of
    3 counted (what a read does not list, and fills it reflects, were kept): A's close was
    led to B, A believed long 1 MNQ, and its 3 MES next counted 4 against a limit of 3."""
    await h.start("[rule.max_contracts]\nlimit = 3\naction = flatten\n")
    await b_exits_led_to_a(h, 3)
    gw = h.gateway
    eng = h.svc.engine.accounts
    MNQ = gw.contract("MNQ").id
    await asyncio.sleep(2)  # every read asked for is answered (the periodic one is at 10 s)
    own = gw._publish
    position_first(gw, {A.id})
    gw.place_order(A.id, "MNQ", 1, 1)  # A exits: flat (its closing record first)
    gw._publish = own
    await asyncio.sleep(0.5)
    gw.place_order(A.id, "MES", 0, 3)  # the copier's next trade on A: 3 contracts
    MES = gw.contract("MES").id
    await h.until(lambda: MES in eng[A.id].positions, "A's MES heard")
    await asyncio.sleep(2)
    sent = [(o.source, o.contract_id, o.size) for o in gw.order_log(A.id) if o.source != "direct"]
    assert not sent, f"the service sent {sent} on A, holding 3 MES against a limit of 3"
    assert MNQ not in eng[A.id].positions, eng[A.id].positions[MNQ]
    assert size_of(h, A.id, "MES") == 3 and eng[A.id].state is State.Trading
