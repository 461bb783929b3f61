"""A position the gateway cash-settles (gone with no order and no trade, its P&L moved into
the balance), through the real SDK against the paper gateway: the service confirms it over
REST and books the balance's move, to the cent, as the day's realized P&L, so the daily loss
limit sees it, and the books keep it across a restart (rebuilt from the gateway's trades).

Reported: long 2 MNQ Z26 marked -441, cash-settled at 20,890 (-482.00, no trade): the day's
net "improved" by 441 while the trader lost 482, and the loss limits never saw it."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness

MNQ = "CON.F.US.MNQ.Z26"
MES = "CON.F.US.MES.Z26"
DAILY = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 500
"""


def gateway_day_pnl(h: Harness) -> Decimal:
    """The day's P&L as the gateway's balance says it (it started the day at 50,000)."""
    return h.gateway.account(ACCOUNT).balance - Decimal(50000)


async def test_a_cash_settled_loss_is_booked_and_fires_the_daily_limit(h: Harness) -> None:
    await h.start(DAILY)
    assert h.gateway.account(ACCOUNT).balance == Decimal(50000)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: h.acct.net.get(MNQ) == 2 and MNQ in h.acct.positions, "2 MNQ bought")
    bought = h.gateway.position(ACCOUNT, MNQ)
    assert bought is not None
    # settled 130 points under the average: 2 x 130 x $2 = -$520, no trade
    h.gateway.settle_position(ACCOUNT, "MNQ", bought.average_price - 130)
    assert h.position("MNQ") == 0 and not [t for t in h.gateway.trades(ACCOUNT) if t.side == 1]
    await h.until(lambda: h.acct.state is State.LockedDaily, "the daily loss limit fired")
    assert MNQ not in h.acct.positions and not h.acct.net.get(MNQ)
    day = gateway_day_pnl(h)
    assert day < Decimal(-520)  # the settlement and the buy's charges
    assert h.acct.day.realized == day and h.acct.week.realized == day
    assert h.acct.day.settled == Decimal("-520.00")
    assert any("POSITION_SETTLED" in m and "-520.00" in m for m in h.logs)
    assert [t[3] for t in h.audit() if t[4] == "RULE-003"] == ["breach", "flat_confirmed"]

    await h.stop()  # a restart: its start-up read rebuilds the books from the trades
    await h.start()
    await h.until(
        lambda: sum("all 1 account(s) reconciled" in m for m in h.logs) == 2,
        "the start-up read applied",
    )
    assert h.acct.day.realized == day and h.acct.week.realized == day
    assert h.acct.state is State.LockedDaily
    assert not any("REALIZED_REBUILT" in m for m in h.logs)


async def test_a_balance_move_with_no_position_gone_books_nothing(h: Harness) -> None:
    """A fee the firm charges (the balance alone moves): the read confirms the balance, and
    the day's realized P&L stays what the trades make."""
    await h.start(DAILY)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: h.acct.net.get(MNQ) == 2 and MNQ in h.acct.positions, "2 MNQ bought")
    realized = h.acct.day.realized
    h.gateway.set_balance(ACCOUNT, h.gateway.account(ACCOUNT).balance - 600)
    await h.until(
        lambda: h.acct.balance == h.gateway.account(ACCOUNT).balance, "the read confirmed it"
    )
    assert h.acct.day.realized == realized and h.acct.day.settled == 0
    assert h.acct.state is State.Trading and h.acct.positions[MNQ].size == 2
    assert not any("POSITION_SETTLED" in m for m in h.logs)


async def test_settled_while_the_service_is_down_is_booked_at_the_start_up_read(
    h: Harness,
) -> None:
    """Settled while the service was stopped (an upgrade, a reboot). The start-up read of an
    exposed account takes its positions first (the position is gone, nothing to book yet),
    its trades and balance after: that balance's move is the settlement. Before, nothing
    booked it: the day read 0 against the gateway's -521 and the account kept trading."""
    await h.start(DAILY)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: h.acct.net.get(MNQ) == 2 and MNQ in h.acct.positions, "2 MNQ bought")
    bought = h.gateway.position(ACCOUNT, MNQ)
    assert bought is not None
    await h.stop()
    h.gateway.settle_position(ACCOUNT, "MNQ", bought.average_price - 130)  # -520, no trade
    await h.start()
    await h.until(lambda: h.acct.state is State.LockedDaily, "the daily loss limit fired")
    day = gateway_day_pnl(h)
    assert h.acct.day.realized == day and h.acct.week.realized == day
    assert h.acct.day.settled == Decimal("-520.00") and not h.acct.vanished
    assert any("POSITION_SETTLED" in m and "-520.00" in m for m in h.logs)

    reads = sum("all 1 account(s) reconciled" in m for m in h.logs)
    await h.stop()  # what was booked is stored, and the next start-up read keeps it
    await h.start()
    await h.until(
        lambda: sum("all 1 account(s) reconciled" in m for m in h.logs) > reads,
        "the start-up read applied",
    )
    assert h.acct.day.realized == day and h.acct.state is State.LockedDaily
    assert not any("REALIZED_REBUILT" in m for m in h.logs)


async def test_settled_while_the_trader_fills_on_another_contract_during_the_read(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read confirming the settlement is slowed (its position search answered 503, sent
    again after a second) and the trader's MES buy fills meanwhile: that read's balance is
    older than the buy, so it cannot settle anything. Before, the position's disappearance
    was taken all the same and nothing booked the move later (the day at 0, Trading). It
    waits for a balance, the account is read again, and that read books it."""
    await h.start(DAILY)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: h.acct.net.get(MNQ) == 2 and MNQ in h.acct.positions, "2 MNQ bought")
    bought = h.gateway.position(ACCOUNT, MNQ)
    assert bought is not None
    failed = asyncio.Event()  # set when the gateway answers the read's position search 503
    fault = h.gateway._rest_fault

    def failing(path: str) -> int | None:
        status = fault(path)
        if status is not None:
            failed.set()
        return status

    monkeypatch.setattr(h.gateway, "_rest_fault", failing)
    h.gateway.fail_rest("/api/Position/searchOpen", 503, 1)
    h.gateway.settle_position(ACCOUNT, "MNQ", bought.average_price - 130)  # -520, no trade
    await asyncio.wait_for(failed.wait(), 15)
    h.trade("MES", "buy", 1)  # fills while the read waits to send its position search again
    await h.until(lambda: h.acct.net.get(MES) == 1, "the MES buy applied")
    assert not any("WITHOUT_FILLS" in m for m in h.logs)  # (the read is not applied yet)
    await h.until(lambda: h.acct.state is State.LockedDaily, "the daily loss limit fired")
    await h.until(lambda: h.acct.balance == h.gateway.account(ACCOUNT).balance, "balance taken")
    assert h.acct.day.settled == Decimal("-520.00") and not h.acct.vanished
    assert h.acct.day.realized == gateway_day_pnl(h)


async def test_a_firm_reset_while_the_service_runs_is_not_booked_as_a_settlement(
    h: Harness,
) -> None:
    """The firm resets the account while the service runs (`/_paper/accounts/{id}/reset`):
    its positions removed with no trade, its trade history wiped, its balance set back to the
    start. The live read lists the balance before its trade list, and the reset's move was
    booked as the position's settlement: an account up $600 (50,600) reset to 50,000 booked
    -600 and was locked at once by a 500 daily limit. The read's trade list, which lacks the
    trades that opened the position, now decides first: nothing is booked, and a critical
    alert names the account."""
    h.gateway.set_balance(ACCOUNT, Decimal(50600))  # up $600 from the days before
    await h.start(DAILY)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: h.acct.net.get(MNQ) == 2 and MNQ in h.acct.positions, "2 MNQ bought")
    await h.until(lambda: h.acct.balance == h.gateway.account(ACCOUNT).balance, "balance taken")
    async with httpx.AsyncClient(base_url=h.gateway.control_url) as control:
        reset = await control.post(f"/accounts/{ACCOUNT}/reset", json={"balance": 50000})
    assert reset.status_code == 200, reset.text
    assert h.gateway.trades(ACCOUNT) == [] and h.position("MNQ") == 0
    await h.until(lambda: h.acct.balance == Decimal(50000), "the read's balance taken")
    await h.until(lambda: not h.acct.net.get(MNQ) and not h.acct.vanished, "the read applied")
    assert h.acct.day.settled == 0 and not h.acct.settled
    assert h.acct.state is State.Trading
    said = [m for m in h.logs if "POSITION_SETTLED" in m]
    assert said and "CRITICAL" in said[-1] and f"account {ACCOUNT}" in said[-1], said
    assert "not booked" in said[-1], said
