"""Money the user hub reports that the fills do not explain, through the real SDK against the
paper gateway's production profile: a replayed record of an old balance, and a closing trade
record without its profitAndLoss. Neither is taken at its word: the service reads the account
over REST, and the gateway's figures stand."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness

MNQ = "CON.F.US.MNQ.Z26"
TRAILING = """
[broker]
reconcile_interval_seconds = 0
[rule.trailing_drawdown]
drawdown = 2000
mode = intraday
"""
DAILY = """
[broker]
reconcile_interval_seconds = 0
[rule.daily_loss_limit]
limit = 1500
"""


async def round_trip(h: Harness, points: int) -> None:
    """Buy 3 MNQ, move the price ``points`` (4 ticks a point), sell 3; back once the service
    has booked the sell and the gateway's balance after it."""
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: h.acct.net.get(MNQ) == 3, "3 MNQ bought")
    h.gateway.move_price("MNQ", 4 * points)
    h.trade("MNQ", "sell", 3)
    await h.until(
        lambda: (
            not h.acct.net.get(MNQ)
            and MNQ not in h.acct.positions
            and h.acct.balance == h.gateway.account(ACCOUNT).balance
        ),
        "the round trip booked",
    )


def gateway_day_pnl(h: Harness) -> Decimal:
    trades = h.gateway.trades(ACCOUNT)
    return sum(
        ((t.profit_and_loss or Decimal(0)) - t.fees - t.commissions for t in trades), Decimal(0)
    )


async def test_a_replayed_balance_record_from_before_a_win_never_locks_the_trader(
    h: Harness,
) -> None:
    """Reported: a win of $2,394.78, flat; a replayed GatewayUserAccount with the balance from
    before the win fired RULE-004 (equity 49,998.14 <= floor 50,000) and locked the account
    for the week, and the lock stayed once the balance was right again."""
    await h.start(TRAILING)
    before = h.gateway.account(ACCOUNT).balance
    await round_trip(h, 400)  # +$2,400 less fees
    won = h.gateway.account(ACCOUNT).balance
    assert won > before + 2300
    stale = {**h.gateway.engine.accounts[ACCOUNT].to_api(), "balance": before}
    assert h.gateway.push_record(ACCOUNT, "GatewayUserAccount", stale) == 1
    await h.until(
        lambda: (
            any("BALANCE_UNCONFIRMED" in m for m in h.logs) or h.acct.state is not State.Trading
        ),
        "the replayed record heard",
    )
    assert h.acct.state is State.Trading
    await h.until(lambda: h.acct.unexplained == 0, "the read of the account applied")
    assert h.acct.balance == won and h.acct.state is State.Trading
    assert not [t for t in h.audit() if t[4] == "RULE-004"]


async def test_a_closing_trade_record_without_its_pnl_still_counts_its_loss(h: Harness) -> None:
    """Reported: the sell's trade record came without profitAndLoss and was booked as $0; after
    a second losing round trip the gateway's day P&L was -1,810.44, the service showed
    -908.94 and kept trading until a restart rebuilt its books."""
    await h.start(DAILY)
    h.gateway.strip_trade_pnl()  # the next closing record over the hub: no profitAndLoss
    await round_trip(h, -150)  # -$900 less fees
    assert any("PNL_COMPUTED" in m for m in h.logs)
    assert h.acct.day.realized < Decimal("-900")
    await h.until(
        lambda: h.acct.day.realized == gateway_day_pnl(h), "the gateway's P&L booked", timeout=30
    )
    assert h.acct.state is State.Trading
    await round_trip(h, -150)  # -$1,800 in all: past the limit of 1,500
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003", timeout=30)
    assert h.acct.day.realized == gateway_day_pnl(h)


async def test_a_balance_ahead_of_its_fill_is_not_read_when_the_fill_explains_it(
    h: Harness,
) -> None:
    """The gateway may send the balance a moment before the trade record that explains it: a
    full read of the account for each would spend the request budget of every account."""
    await h.start(TRAILING)
    asked: list[int] = []
    real = h.svc.reconcile

    async def counted(account_id: int, **kw: Any) -> None:
        asked.append(account_id)
        await real(account_id, **kw)

    h.svc.reconcile = counted  # type: ignore[method-assign]
    current = h.gateway.engine.accounts[ACCOUNT].to_api()
    ahead = {**current, "balance": current["balance"] - 25}
    assert h.gateway.push_record(ACCOUNT, "GatewayUserAccount", ahead) == 1
    await h.until(lambda: h.acct.unexplained != 0, "the move heard, not explained yet")
    # what explains it comes within the grace (here the balance as it stands again)
    assert h.gateway.push_record(ACCOUNT, "GatewayUserAccount", current) == 1
    await h.until(lambda: h.acct.unexplained == 0, "explained")
    await asyncio.sleep(1.5)  # past the grace: no read was made (an absence has no event)
    assert asked == []
    # a move nothing explains is read once the grace is over
    assert h.gateway.push_record(ACCOUNT, "GatewayUserAccount", ahead) == 1
    await h.until(lambda: asked == [ACCOUNT], "read after the grace", timeout=10)
    await h.until(lambda: h.acct.unexplained == 0, "the read's balance taken")
