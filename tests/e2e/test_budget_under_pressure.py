"""The request budget under pressure (real SDK, paper gateway, service, a small budget).

A locked trader keeps placing orders: each one is cancelled, and the cancels alone ask for
more than the budget allows, so the window stays full. The budget serves closes first, then
the reads a close waits on, then cancels, then every other read, in the order they came
within one priority; no newcomer takes a freed slot from one waiting. And a slot counts from
when its request was answered, so with the gateway's limit the same as ours (and its window
as long) it never answers 429.

Figures: 20 requests per 3 s window (5 kept from reads), the trader placing 20 orders a
second (the cancels need three times the budget). A close goes as soon as the window frees
a slot: within one window of the breach (bound: `WINDOW` + 1.5 s for the hubs and the fill).
Before, the close slept beside a hundred cancels and whoever woke first took the slot: it
went after all of them, or later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from fsm_risk.adapters.broker import Priority, RequestBudget
from fsm_risk.core.effects import CancelOrder, ReadAccount
from fsm_risk.core.events import OrderStatus, Side
from fsm_risk.core.events import OrderType as EngineOrderType
from fsm_risk.core.orders import Order
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderType
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, lock_by_daily_loss, run_cli, web

RULES = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 500
"""
LIMIT, RESERVE, WINDOW = 20, 5, 3.0
BOUND = WINDOW + 1.5
AT_ONCE = 1.5  # the hubs and the fill, without waiting for the window


@contextlib.asynccontextmanager
async def locked_trader_keeps_ordering(h: Harness) -> AsyncIterator[list[int]]:
    """Lock the account, shrink the budget (the gateway's limit the same), then place a
    limit order every 50 ms until the block ends; yields the 429s the gateway answers."""
    await h.start(RULES)
    await lock_by_daily_loss(h)
    h.svc.broker.budget = RequestBudget(LIMIT, WINDOW, RESERVE)
    h.gateway.set_rate_limit(LIMIT, WINDOW)
    refused: list[int] = []
    limited = h.gateway._rate_limited

    def counting(token: str, path: str = "") -> float | None:
        wait = limited(token, path)
        if wait is not None:
            refused.append(1)
        return wait

    h.gateway._rate_limited = counting  # type: ignore[method-assign]
    low = h.gateway.quote(MNQ).last - 500

    async def keep_ordering() -> None:
        while True:
            h.trade("MNQ", "buy", 1, type=OrderType.LIMIT, limit_price=low)
            await asyncio.sleep(0.05)  # the trader's pace (wall time: the budget's is too)

    trader = asyncio.create_task(keep_ordering())
    try:
        await asyncio.sleep(2 * WINDOW)  # a backlog of cancels, the window full
        yield refused
    finally:
        trader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trader


async def test_a_close_goes_within_a_window_while_a_locked_trader_keeps_ordering(
    h: Harness,
) -> None:
    async with locked_trader_keeps_ordering(h) as refused:
        loop = asyncio.get_running_loop()
        h.trade("MNQ", "buy", 2)  # a position on the locked account: closed at once
        began = loop.time()
        await h.until(lambda: MNQ in h.acct.positions, "the position heard")
        await h.gw_until(lambda: h.position("MNQ") == 0, "closed", timeout=4 * WINDOW)
        took = loop.time() - began
        assert took <= BOUND, f"the close took {took:.1f} s behind the cancels"
        assert h.acct.state is State.LockedDaily
        assert not refused, f"{len(refused)} requests answered 429"


async def test_a_burst_of_cancels_leaves_room_for_a_close_at_once(h: Harness) -> None:
    """Seen at the shipped budget (200 a minute): a locked trader placed 190 orders in 6 s,
    each cancelled; the cancels filled the window, and a loss limit's close then waited 52 s
    for its oldest slot to age out. Cancels now leave a quarter of the window (up to the
    reserve) to closes and the reads they wait on: here a 30 s window, filled by cancels,
    and the close goes at once."""
    await h.start(RULES)
    await lock_by_daily_loss(h)
    window = 30.0
    budget = h.svc.broker.budget = RequestBudget(LIMIT, window, RESERVE)
    low = h.gateway.quote(MNQ).last - 500
    for _ in range(LIMIT):
        h.trade("MNQ", "buy", 1, type=OrderType.LIMIT, limit_price=low)
        await asyncio.sleep(0.02)
    await h.until(lambda: budget.wait_for(Priority.CANCEL) != 0, "cancels at their cap")
    loop = asyncio.get_running_loop()
    h.trade("MNQ", "buy", 2)  # a position on the locked account: closed at once
    began = loop.time()
    await h.gw_until(lambda: h.position("MNQ") == 0, "closed", timeout=window)
    took = loop.time() - began
    assert took <= AT_ONCE, f"the close took {took:.1f} s behind a window of cancels"


async def test_a_read_a_close_waits_on_goes_ahead_of_the_cancels(h: Harness) -> None:
    """A close not confirmed in time is re-sent only once the gateway is read: that read
    (`ReadAccount`) goes ahead of the cancels, never behind them as an ordinary read."""
    async with locked_trader_keeps_ordering(h) as refused:
        loop = asyncio.get_running_loop()
        done = len([m for m in h.logs if f"account {ACCOUNT}: reconciled" in m])
        began = loop.time()
        h.svc._execute([ReadAccount(ACCOUNT, MNQ)])
        await h.until(
            lambda: len([m for m in h.logs if f"account {ACCOUNT}: reconciled" in m]) > done,
            "the read applied",
            timeout=4 * WINDOW,
        )
        took = loop.time() - began
        # four reads (orders, trades, balances, positions), each as soon as a slot frees
        assert took <= BOUND, f"the read took {took:.1f} s behind the cancels"
        assert not refused, f"{len(refused)} requests answered 429"


async def get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, json.loads(await r.text())


async def test_a_close_stuck_longer_than_a_close_timeout_is_shown_as_not_enforcing(
    h: Harness,
) -> None:
    """Closes stuck for minutes showed only in CRITICAL log lines: `status` said the account
    was ready and /readyz 200. Now a close unconfirmed longer than a close timeout makes the
    account NOT ENFORCING in `status` (text and --json) and /readyz 503 until it is done."""
    await h.start("[rule.max_contracts]\nlimit = 5\n")
    url = web(h).url
    budget = h.svc.broker.budget
    held = 0
    while budget.wait_for(Priority.CLOSE) == 0:  # every slot in flight: nothing goes
        await budget.acquire(Priority.CLOSE)
        held += 1
    h.trade("MNQ", "buy", 7)
    await h.until(lambda: h.contract_state(MNQ) is State.Flattening, "the breach heard")
    code, body = await get(f"{url}readyz")
    assert code == 200 and body["closes_confirmed"] is True  # not a close timeout yet
    await h.advance(seconds=3)  # the close timeout is 2 s
    code, body = await get(f"{url}readyz")
    assert code == 503 and body["closes_confirmed"] is False
    rc, out = await run_cli(h.home, "status")
    assert rc == 0
    assert "NOT ENFORCING: 1 account(s) with a close not confirmed in time" in out
    assert f"NOT ENFORCING: close of {MNQ} not confirmed for 3 s" in out
    assert "waiting for the gateway's request limit: 1 close" in out
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0
    snap = json.loads(out)
    assert list(snap["accounts"][0]["closes_unconfirmed"]) == [MNQ]
    assert snap["readiness"]["closes_unconfirmed"] == 1
    budget.window = 0.01  # (as if the slots' minute had passed once they are answered)
    for _ in range(held):
        budget.release()
    await h.gw_until(lambda: h.position("MNQ") == 5, "reduced")
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "confirmed")
    code, body = await get(f"{url}readyz")
    assert code == 200 and body["closes_confirmed"] is True


async def every_slot_held(h: Harness) -> RequestBudget:
    """The service's budget shrunk to `LIMIT` a `WINDOW`, every slot held (as by closes): a
    request of the service's waits until `release_every_slot`."""
    budget = h.svc.broker.budget = RequestBudget(LIMIT, WINDOW, RESERVE)
    for _ in range(LIMIT):
        await budget.acquire(Priority.CLOSE)
    return budget


def release_every_slot(budget: RequestBudget) -> None:
    for _ in range(LIMIT):
        budget.release()


def waits(h: Harness) -> bool:
    """The engine was told a close of the account waits for its turn in the budget."""
    return any(cm.close_unsent for cm in h.acct.contracts.values())


def held_working(h: Harness, order_id: int) -> None:
    """The engine holds ``order_id`` working (a cancel of it is still wanted, see
    `service._OrderTurn`); the gateway does not know it."""
    now = h.svc.clock.now()
    h.acct.orders[order_id] = Order(
        order_id, MNQ, OrderStatus.OPEN, EngineOrderType.LIMIT, Side.BUY, 1, now, cancel_sent_at=now
    )


async def test_a_cancel_waiting_in_the_budget_is_not_sent_again_beside_it(h: Harness) -> None:
    """The engine sends a cancel again once it is unanswered past its timeout; while the first
    still waits for the budget, a second beside it is a request spent for nothing (a locked
    trader's orders had five cancels queued each, and their orders lingered behind them)."""
    await h.start(RULES)
    await lock_by_daily_loss(h)
    budget = await every_slot_held(h)
    held_working(h, 999)
    cancel = CancelOrder(ACCOUNT, 999, MNQ, Reason.ORDER_WHILE_LOCKED)
    h.svc._execute([cancel])
    await asyncio.sleep(0)
    assert budget.queued == {Priority.CANCEL: 1}
    h.svc._execute([cancel])  # the engine's re-send, the first still waiting
    await asyncio.sleep(0)
    assert budget.queued == {Priority.CANCEL: 1}
    release_every_slot(budget)
    await h.until(lambda: (ACCOUNT, 999) not in h.svc.cancelling, "the cancel answered")
    h.svc._execute([cancel])  # answered: a later re-send goes
    assert (ACCOUNT, 999) in h.svc.cancelling


async def test_a_cancel_whose_order_ended_while_it_waited_is_not_sent(h: Harness) -> None:
    """The chaos fuzzer at 200 a minute: a chaotic trader's orders on a locked account ended
    (filled, or cancelled by him) while their cancels waited behind a full window; each cancel
    went anyway, was refused, and a read followed: two requests for nothing, in the window the
    closes need. A cancel is asked, once it has its slot, whether the order still works."""
    await h.start(RULES)
    await lock_by_daily_loss(h)
    sent: list[str] = []
    post = h.svc.broker._post

    async def spy(path: str, *rest: Any, **kw: Any) -> Any:
        sent.append(path)
        return await post(path, *rest, **kw)

    h.svc.broker._post = spy  # type: ignore[method-assign]
    budget = await every_slot_held(h)  # the cancel waits
    low = h.gateway.quote(MNQ).last - 500
    his = h.trade("MNQ", "buy", 1, type=OrderType.LIMIT, limit_price=low)
    await h.until(lambda: budget.queued.get(Priority.CANCEL) == 1, "its cancel waiting")
    h.gateway.cancel_order(ACCOUNT, his.order_id)  # he cancels it himself meanwhile
    await h.until(lambda: his.order_id not in h.acct.orders, "its end heard")
    release_every_slot(budget)
    await h.until(lambda: any("the order ended while it waited" in m for m in h.logs), "dropped")
    await asyncio.sleep(0.3)
    assert "/Order/cancel" not in sent and "/Order/searchById" not in sent, sent


async def test_a_queued_reduce_judged_done_is_not_sent(h: Harness) -> None:
    """Found by review: our reduce waited for the budget; the trader's own exit of its size
    took the position to the limit and the engine judged the reduce done; once the window
    freed, the reduce went anyway and took him below his limit. A close is asked, once it
    has its slot, whether it is still wanted (`exposure.close_wanted`): this one is not.
    Never sent, it is said as such (it was "refused ... at the gateway") and has no place in
    the enforcement latency histogram (it was counted as answered by the gateway)."""
    await h.start("[rule.max_contracts]\nlimit = 2\n")
    budget = await every_slot_held(h)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: h.contract_state(MNQ) is State.Flattening, "the breach heard")
    await h.until(lambda: budget.queued.get(Priority.CLOSE) == 1, "the reduce waiting")
    h.trade("MNQ", "sell", 1)  # his own exit, the size of our reduce
    await h.gw_until(lambda: h.position("MNQ") == 2, "his exit filled")
    await h.until(lambda: h.contract_state(MNQ) is not State.Flattening, "judged done")
    release_every_slot(budget)
    await h.until(lambda: any("not sent: no longer wanted" in m for m in h.logs), "dropped")
    await asyncio.sleep(0.5)
    assert h.closes("MNQ") == [] and h.position("MNQ") == 2
    assert not h.acct.contracts.get(MNQ) or not h.acct.contracts[MNQ].close_in_flight
    said = [m for m in h.logs if "OVERTAKEN" in m and f"close of {MNQ}" in m]
    assert said and all("not sent" in m and "refused" not in m for m in said), said
    registry = web(h).metrics.registry
    for name, labels in (
        ("fsm_risk_enforcement_latency_seconds_count", {"action": "reduce"}),
        ("fsm_risk_enforcement_failed_total", {"account": str(ACCOUNT)}),
        ("fsm_risk_closes_sent_total", {"account": str(ACCOUNT)}),  # (nothing went)
    ):
        assert not registry.get_sample_value(name, labels), name


async def test_the_traders_exit_while_our_reduce_waits_is_not_taken_for_it(h: Harness) -> None:
    """The chaos fuzzer at 200 a minute: while closes waited for a full window, the trader's
    own market exits of their size were taken for them (the gateway's answer to a close names
    no order; ours is recognised by side, type and size), their fills booked as ours, and one
    working was cancelled as "our close" overshooting. The engine is told that the reduce
    waits (`CloseWaiting`): no order reported meanwhile is taken for it."""
    await h.start("[rule.max_contracts]\nlimit = 2\n")
    budget = await every_slot_held(h)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: h.contract_state(MNQ) is State.Flattening, "the breach heard")
    await h.until(lambda: waits(h), "the engine told the reduce waits")
    his = h.trade("MNQ", "sell", 1)  # his own exit, the size of our reduce
    await h.until(lambda: h.acct.positions[MNQ].size == 2, "his exit heard")
    assert his.order_id not in h.acct.own_orders
    release_every_slot(budget)
    await h.until(lambda: any("not sent: no longer wanted" in m for m in h.logs), "dropped")
    assert h.closes("MNQ") == [] and h.position("MNQ") == 2


async def test_a_reduce_that_waited_is_recognised_once_it_goes(h: Harness) -> None:
    """The other side: told that the reduce goes (before it is written), the engine takes
    its order for it as usual, and the reduce ends."""
    await h.start("[rule.max_contracts]\nlimit = 2\n")
    budget = await every_slot_held(h)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: waits(h), "the engine told the reduce waits")
    release_every_slot(budget)
    await h.gw_until(lambda: h.position("MNQ") == 2, "reduced to the limit")
    [ours] = h.closes("MNQ")
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce done")
    assert ours.order_id in h.acct.own_orders and not waits(h)


async def test_a_queued_stop_loss_close_never_closes_the_next_trade(h: Harness) -> None:
    """Found by review: RULE-014's close of a losing position waited for the budget; the
    trader exited himself (confirmed flat) and opened a new trade within every rule; once
    the window freed, the old close went and closed his new position."""
    await h.start("[rule.position_stop_loss]\nlimit = 100\n")
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position heard")
    budget = await every_slot_held(h)
    h.gateway.move_price("MNQ", -120)  # -30 points: -$120 on 2 MNQ
    await h.until(lambda: h.contract_state(MNQ) is State.Flattening, "the stop loss hit")
    await h.until(lambda: budget.queued.get(Priority.CLOSE) == 1, "the close waiting")
    h.trade("MNQ", "sell", 2)  # he exits himself
    await h.gw_until(lambda: h.position("MNQ") == 0, "his exit filled")
    await h.until(lambda: h.contract_state(MNQ) is not State.Flattening, "judged done")
    h.trade("MNQ", "buy", 1)  # a new trade, within every rule
    await h.gw_until(lambda: h.position("MNQ") == 1, "his new trade filled")
    release_every_slot(budget)
    await h.until(lambda: any("not sent: no longer wanted" in m for m in h.logs), "dropped")
    await asyncio.sleep(0.5)
    assert h.closes("MNQ") == [] and h.position("MNQ") == 1


async def test_the_reads_after_a_refused_cancel_are_ordinary_reads(h: Harness) -> None:
    """Seen by the chaos fuzzer at 200 a minute: each cancel refused as a race lost (the order
    already filled) was followed by reads at a close's read priority, 96-106 such reads a
    minute with a chaotic trader, and closes waited up to 54 s behind them. Those reads are
    for a cancel: they go as ordinary reads; a refused close's still go at its priority."""
    await h.start(RULES)
    budget = h.svc.broker.budget
    asked: list[Priority] = []
    acquire = budget.acquire

    async def spy(priority: Priority = Priority.READ, *rest: Any, **kw: Any) -> None:
        asked.append(priority)
        await acquire(priority, *rest, **kw)

    budget.acquire = spy  # type: ignore[method-assign]
    done = len([m for m in h.logs if f"account {ACCOUNT}: reconciled" in m])
    held_working(h, 987654)  # (already filled at the gateway, say: the cancel is refused)
    h.svc._execute([CancelOrder(ACCOUNT, 987654, MNQ, Reason.ORDER_WHILE_LOCKED)])
    await h.until(
        lambda: len([m for m in h.logs if f"account {ACCOUNT}: reconciled" in m]) > done,
        "the read after the refusal applied",
    )
    assert asked[0] is Priority.CANCEL and len(asked) > 1
    assert Priority.READ_FOR_CLOSE not in asked, asked


async def test_a_restart_while_the_reduce_waits_sends_it_as_its_first_try(h: Harness) -> None:
    """Found by review: stopped while a reduce waited for the budget, the service counted it
    as a try at its next start: the reduce then went as "attempt 2" with a WARNING and twice
    the close timeout (and two such restarts paged CLOSE_FAILING with nothing ever sent).
    That it waits is stored with the close: the next start decides it afresh, a first try."""
    await h.start("[rule.max_contracts]\nlimit = 2\n")
    await every_slot_held(h)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: waits(h), "the engine told the reduce waits")
    await h.stop()  # before its turn came
    assert h.closes("MNQ") == []
    since = len(h.logs)
    await h.start()
    await h.gw_until(lambda: h.position("MNQ") == 2, "reduced to the limit after the restart")
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce done")
    said = h.logs[since:]
    assert not [m for m in said if "attempt" in m or "CLOSE_FAILING" in m], said
    assert len(h.closes("MNQ")) == 1


async def test_a_reduce_kept_past_the_limit_and_stopped_unsent_holds_back_no_later_one(
    h: Harness,
) -> None:
    """Found by a hunt: his own exit took the position to the limit while our reduce waited
    for the budget (kept in flight past it), and the service stopped before its turn came.
    Stored as waiting, that reduce held back the next one after the start: his add over the
    limit stayed open 90 s (the bound of a close waiting for the budget), not a close timeout."""
    await h.start("[rule.max_contracts]\nlimit = 2\n")
    await every_slot_held(h)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: waits(h), "the engine told the reduce waits")
    h.trade("MNQ", "sell", 1)  # his own exit: at the limit
    await h.until(lambda: h.contract_state(MNQ) is not State.Flattening, "at the limit")
    await h.stop()  # before its turn came: it never went
    await h.start()
    h.trade("MNQ", "buy", 1)  # over the limit again
    await h.until(lambda: h.acct.positions[MNQ].size == 3, "his add heard")
    await h.advance(seconds=3)  # (the close timeout is 2 s)
    await h.gw_until(lambda: h.position("MNQ") == 2, "reduced to the limit", timeout=5)
    assert len(h.closes("MNQ")) == 1
