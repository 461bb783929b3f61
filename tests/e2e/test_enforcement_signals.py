"""Signals that tell the truth (real SDK, paper gateway, service): a race lost to a fill is not
a rejected close, a realized-P&L rebuild is reported only when the books differ, the audit log
never confirms flat while the gateway holds a position, and the balance follows the gateway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loguru import logger

from fsm_risk.adapters.clock import SystemClock
from fsm_risk.core.states import State
from fsm_risk.paper import PaperGateway
from tests.e2e.service_harness import ACCOUNT, Harness, lock_by_daily_loss

DAILY_LOSS = """
[rule.daily_loss_limit]
limit = 500
"""
MNQ = "CON.F.US.MNQ.Z26"
ES = "CON.F.US.EP.Z26"


def overtaken(h: Harness) -> int:
    return sum("OVERTAKEN" in m and "cancel of order" in m for m in h.logs)


def errors(h: Harness) -> list[str]:
    return [m for m in h.logs if "| ERROR" in m or "| CRITICAL" in m]


async def test_a_cancel_that_loses_the_race_to_a_fill_is_no_error(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    await lock_by_daily_loss(h)
    for n in range(1, 4):
        h.trade("ES", "buy", 1)  # fills at once: the cancel on sight comes too late
        await h.gw_until(lambda n=n: len(h.closes("ES")) == n, "closed on sight")  # type: ignore[misc]
        await h.gw_until(lambda: h.position("ES") == 0, "flat again")
        await h.until(lambda: h.contract_state(ES) is State.Trading, "close confirmed")
        await h.until(lambda n=n: overtaken(h) == n, "the cancel's answer handled")  # type: ignore[misc]
    assert errors(h) == []
    assert not any("CLOSE_REJECTED" in m for m in h.logs)
    assert h.acct.state is State.LockedDaily


def rebuilt(h: Harness) -> list[str]:
    return [m for m in h.logs if "REALIZED_REBUILT" in m]


async def test_normal_trades_and_a_restart_report_no_realized_rebuild(
    tmp_path: Path, paper_gateway: PaperGateway
) -> None:
    h = Harness(tmp_path, paper_gateway, clock=SystemClock())  # type: ignore[arg-type]
    try:
        await normal_trades_and_restart(h)
    finally:
        await h.close()


async def normal_trades_and_restart(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    for _ in range(3):
        h.trade("MNQ", "buy", 1)
        await h.until(lambda: MNQ in h.acct.positions, "opened")
        h.gateway.move_price("MNQ", 4)
        h.trade("MNQ", "sell", 1)
        await h.until(lambda: MNQ not in h.acct.positions, "closed")
    await h.until(lambda: len(h.acct.day.fills) == 6, "every fill applied")
    await h.svc.reconcile(ACCOUNT)
    await h.until(lambda: any("reconciled" in m for m in h.logs), "reconciled")
    await lock_by_daily_loss(h)
    for _ in range(3):  # every order while locked: a cancel race, a close, a reconciliation
        h.trade("ES", "buy", 1)
        await h.gw_until(lambda: h.position("ES") == 0, "closed on sight")
    await h.stop()
    h.trade("ES", "buy", 1)  # while the service is down
    await h.start()  # closed at start-up while the start-up reconciliation reads the trades
    await h.gw_until(lambda: h.position("ES") == 0, "closed at start-up")
    await h.until(lambda: h.contract_state(ES) is State.Trading, "confirmed")
    await h.svc.reconcile(ACCOUNT)
    await h.until(lambda: len(h.acct.day.fills) == len(h.gateway.trades(ACCOUNT)), "all seen")
    assert rebuilt(h) == []
    gateway = sum(
        (t.profit_and_loss or 0) - t.fees - t.commissions for t in h.gateway.trades(ACCOUNT)
    )
    assert h.acct.day.realized == gateway


FLAT_BY = datetime(2026, 11, 23, 21, 8, tzinfo=UTC)  # Mon 15:08 Chicago
HOURS_AND_LIMIT = """
[rule.trading_hours]
[rule.max_contracts_per_instrument]
limits = MNQ: 3
default_limit = 10
"""


async def test_past_the_flat_by_a_buy_of_8_gets_one_close_and_no_false_flat(h: Harness) -> None:
    confirmed: list[tuple[str, int]] = []

    def at_confirmation(message: Any) -> None:  # runs as the service logs it
        text = str(message)
        if "FLAT_CONFIRMED" in text:
            confirmed.append((text, h.position("MNQ")))

    sink = logger.add(at_confirmation, level="INFO")
    try:
        h.clock.set(FLAT_BY + timedelta(minutes=5))
        await h.start(HOURS_AND_LIMIT)
        for n in (1, 2):
            h.trade("MNQ", "buy", 8)
            await h.gw_until(lambda n=n: len(h.closes("MNQ")) == n, "closed")  # type: ignore[misc]
            await h.gw_until(lambda: h.position("MNQ") == 0, "flat")
            await h.until(lambda: h.acct.state is State.LockedDaily, "locked")
            await h.until(lambda: h.contract_state(MNQ) is not State.Flattening, "done")
    finally:
        logger.remove(sink)
    assert [c.source for c in h.closes("MNQ")] == ["close", "close"]  # no reduce, then close
    assert confirmed and all(size == 0 for _, size in confirmed), confirmed


async def test_the_balance_follows_the_gateway_after_closes_while_locked(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    await lock_by_daily_loss(h)
    for n in range(1, 4):
        h.trade("ES", "buy", 1)
        await h.gw_until(lambda n=n: len(h.closes("ES")) == n, "closed on sight")  # type: ignore[misc]
        await h.gw_until(lambda: h.position("ES") == 0, "flat")
    gateway = h.gateway.account(ACCOUNT).balance
    await h.until(lambda: h.acct.balance == gateway, f"the balance {gateway} seen", timeout=5)
    status = h.svc.status([ACCOUNT])
    print(status)


async def test_a_reconciliation_never_sets_the_balance_back(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    await lock_by_daily_loss(h)
    broker = h.svc.broker
    read = broker.snapshot

    async def snapshot_then_a_fill(account_id: int, since: datetime) -> list[Any]:
        events = await read(account_id, since)
        # while the reconciliation runs, a position opens and is closed on sight: its fills
        # and the gateway's new balance reach the service before what was read back
        h.trade("ES", "buy", 1)
        await h.gw_until(lambda: h.position("ES") == 0, "closed on sight")
        await h.until(lambda: h.contract_state(ES) is State.Trading, "confirmed")
        await h.until(lambda: h.acct.balance == h.gateway.account(ACCOUNT).balance, "live")
        return events

    broker.snapshot = snapshot_then_a_fill  # type: ignore[method-assign]
    snapshots = sum("reconciled" in m for m in h.logs)
    await h.svc.reconcile(ACCOUNT)
    broker.snapshot = read  # type: ignore[method-assign]
    await h.until(lambda: sum("reconciled" in m for m in h.logs) > snapshots, "read back")
    await h.until(lambda: h.svc.queue.empty(), "applied")
    assert h.acct.balance == h.gateway.account(ACCOUNT).balance
    assert h.acct.equity == h.gateway.account(ACCOUNT).balance


async def test_a_fill_whose_position_update_was_lost_is_settled_by_the_reconciliation(
    h: Harness,
) -> None:
    from decimal import Decimal

    from fsm_risk.core.events import Fill, Side

    await h.start(DAILY_LOSS)
    # a fill reaches the service, the position update that should follow it never does
    lost = Fill(
        ACCOUNT, 999_999, ES, 1, Side.BUY, 1, Decimal(6000), None, Decimal(0), h.clock.now()
    )
    h.svc.submit(lost)
    await h.until(lambda: h.acct.net.get(ES) == 1, "the fill applied")
    assert h.acct.exposed()  # the fills say 1 ES is open: nothing may be confirmed flat
    await h.svc.reconcile(ACCOUNT)  # the gateway lists no ES position: its word is final
    await h.until(lambda: not h.acct.exposed(), "settled by the gateway's word")
