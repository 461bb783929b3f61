"""The trader's opening order across lock boundaries, with the real SDK against the paper
gateway: a lock whose cancels the gateway refused stops cancelling the order once it ends (it
kept re-sending them, and cancelled the order once the gateway took cancels again, the trader
trading), and a new lock cancels the order on sight (it waited for the ended lock's cancel to
time out, the order free to fill meanwhile)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.broker import Priority
from fsm_risk.core.events import OrderType
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, lock_by_daily_loss, run_cli, web
from tests.e2e.test_budget_under_pressure import RULES, every_slot_held, release_every_slot

SECRET = "correct horse battery"
REFUSED = "Order cannot be cancelled"


async def transition(h: Harness, *args: str) -> None:
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), *args, "--reason", "desk", "--admin", "ops",
        secret=SECRET,
    )  # fmt: skip
    assert code == 0, out


async def a_lock_whose_cancel_is_refused(h: Harness) -> int:
    """The trader's opening buy works; an admin's one-minute Cooldown cancels it, and the
    gateway refuses every cancel until the lock has ended: the order's id."""
    await h.start("")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    last = h.gateway.quote(MNQ).last
    oid = h.trade("MNQ", "buy", 2, type=OrderType.LIMIT, limit_price=last - 100).order_id
    await h.until(lambda: oid in h.acct.orders, "the order reached the service")
    h.gateway.refuse_cancels(REFUSED)
    await transition(h, "--to", "Cooldown", "--minutes", "1")
    await h.until(lambda: (o := h.acct.orders.get(oid)) and o.cancel_refused, "a cancel refused")
    for _ in range(62):  # refused through the lock, re-sent meanwhile
        await h.advance(seconds=1)
        await h.until(lambda: not h.enforcing(), "the re-sent cancel answered")
    await h.until(lambda: h.acct.state is State.Trading, "the lock ended")
    assert h.gateway.order(oid).working
    return oid


async def test_a_lock_that_ended_does_not_cancel_the_traders_order(h: Harness) -> None:
    oid = await a_lock_whose_cancel_is_refused(h)
    h.gateway.refuse_cancels(None)  # the gateway takes cancels again
    for _ in range(30):
        await h.advance(seconds=1)
        await h.until(lambda: not h.enforcing(), "no request of ours on its way")
    assert h.gateway.order(oid).working, "cancelled by us 30 s after the lock ended"
    assert h.acct.orders[oid].cancel_sent_at is None
    assert h.svc.unconfirmed_cancels() == {}


async def test_a_new_lock_cancels_the_order_on_sight(h: Harness) -> None:
    """The new lock comes just after a refused re-send of the ended lock's cancel (if any is
    still sent): its cancel goes with the lock, not at that re-send's retry (2 s on, a time
    this test never moves the clock to)."""
    oid = await a_lock_whose_cancel_is_refused(h)
    said = f"cancel order {oid} in {MNQ}"
    for _ in range(4):
        sent = sum(said in line for line in h.logs)
        await h.advance(seconds=1)
        await h.until(lambda: not h.enforcing(), "the re-sent cancel answered")
        if sum(said in line for line in h.logs) > sent:
            break  # refused just now: the next re-send is not due before 2 s
    h.gateway.refuse_cancels(None)
    await transition(h, "--to", "Cooldown", "--minutes", "5")  # no time passes meanwhile
    await h.gw_until(lambda: not h.gateway.order(oid).working, "the order cancelled", timeout=10)
    await h.until(lambda: oid not in h.acct.orders, "its end seen")
    assert h.acct.state is State.Cooldown


async def test_a_new_locks_refused_cancel_counts_from_its_own_cancel(h: Harness) -> None:
    """/readyz: the second lock's cancel, refused, is not enforcing a close timeout (2 s) after
    that lock's cancel, not at once from the first lock's (62 s before)."""
    oid = await a_lock_whose_cancel_is_refused(h)
    readyz = f"{web(h).url}readyz"
    await transition(h, "--to", "Cooldown", "--minutes", "5")  # still refused
    await h.until(lambda: h.acct.state is State.Cooldown, "locked again")
    await h.until(lambda: not h.enforcing(), "its cancel answered")
    assert h.acct.orders[oid].cancel_refused
    async with aiohttp.ClientSession() as s, s.get(readyz) as r:
        assert (await r.json())["cancels_confirmed"] is True, "counted from the ended lock"
    for _ in range(3):
        await h.advance(seconds=1)
        await h.until(lambda: not h.enforcing(), "the re-sent cancel answered")
    async with aiohttp.ClientSession() as s, s.get(readyz) as r:
        assert r.status == 503 and (await r.json())["cancels_confirmed"] is False
    assert h.gateway.order(oid).working


async def test_a_cancel_waiting_for_the_budget_when_the_lock_ends_is_not_sent(h: Harness) -> None:
    """The lock's cancel of the trader's new buy waits behind a full request window; the admin
    unlocks the account meanwhile: once its turn comes the cancel is not sent (it went, and
    cancelled the order of a trader free to trade)."""
    await h.start(RULES)
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    await lock_by_daily_loss(h)
    sent: list[str] = []
    post = h.svc.broker._post

    async def spy(path: str, *rest: Any, **kw: Any) -> Any:
        sent.append(path)
        return await post(path, *rest, **kw)

    h.svc.broker._post = spy  # type: ignore[method-assign]
    budget = await every_slot_held(h)
    low = h.gateway.quote(MNQ).last - 500
    his = h.trade("MNQ", "buy", 1, type=OrderType.LIMIT, limit_price=low)
    await h.until(lambda: budget.queued.get(Priority.CANCEL) == 1, "its cancel waiting")
    await transition(h, "--to", "Trading")
    await h.until(lambda: h.acct.state is State.Trading, "unlocked")
    release_every_slot(budget)
    await h.until(lambda: not budget.queued.get(Priority.CANCEL), "its turn came", timeout=30)
    await h.until(lambda: not h.enforcing(), "the cancel's turn over")
    await asyncio.sleep(0.3)
    assert "/Order/cancel" not in sent, sent
    assert h.gateway.order(his.order_id).working
    assert any("not sent: the lock that asked it ended" in m for m in h.logs)


SWAP_RULES = """
[rule.trading_permission]
flatten = false
[rule.trailing_drawdown]
drawdown = 500
starting_balance = 50000
"""


async def test_the_balance_read_that_ends_rule_018_breaches_rule_004_in_one_event(
    h: Harness,
) -> None:
    """Found by a review: one event, the read of a balance the live feed could not explain,
    answers canTrade true (RULE-018's lock ends) and the balance 600 down (RULE-004
    breaches). The order the ended lock was cancelling (each cancel refused) is cancelled by
    the new lock on sight: before, it worked on until the ended lock's retry (10 s)."""
    await h.start(SWAP_RULES)
    last = h.gateway.quote(MNQ).last
    oid = h.trade("MNQ", "buy", 2, type=OrderType.LIMIT, limit_price=last - 100).order_id
    await h.until(lambda: oid in h.acct.orders, "the order reached the service")
    h.gateway.refuse_cancels(REFUSED)
    h.gateway.set_can_trade(ACCOUNT, False)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-018")
    await h.until(lambda: (o := h.acct.orders.get(oid)) and o.cancel_refused, "a cancel refused")
    await h.until(lambda: not h.enforcing(), "nothing of ours on its way")
    h.gateway.refuse_cancels(None)  # the gateway takes cancels again
    h.gateway.set_balance(ACCOUNT, Decimal("49400"))  # pushed live, canTrade still false
    h.gateway.engine.set_can_trade(ACCOUNT, True)  # its push lost: the read will say so
    await h.until(lambda: h.acct.state is not State.LockedDaily, "the read applied")
    assert h.audit()[-2:] == [  # one event: the same read
        (None, "LockedDaily", "Trading", "release", "RULE-018"),
        (None, "Trading", "Flattening", "breach", "RULE-004"),
    ]
    await h.gw_until(
        lambda: not h.gateway.order(oid).working,
        "the order cancelled by RULE-004's flatten (no clock moved)",
        timeout=10,
    )
