"""The service against what the real gateway sends: the paper gateway's production profile
(wrapped user-hub records, incremental position updates with only contractId, type, size and
averagePrice) and a position feed that stays connected but says nothing, through the real
project-x-py SDK."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal as D
from typing import Any

import pytest
from loguru import logger

from fsm_risk import service as service_module
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.reads import RECENT
from fsm_risk.core.states import State
from fsm_risk.metrics import ready
from fsm_risk.paper.engine import OrderStatus
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import ACCOUNT, Harness, run_cli
from tests.factories import T0

MNQ = "CON.F.US.MNQ.Z26"
LIMITS = """
[broker]
reconcile_interval_seconds = {poll}
[rule.max_contracts]
limit = 3
[rule.daily_loss_limit]
limit = 500
"""


def position_pushes(h: Harness) -> list[dict[str, object]]:
    return [p.payload for p in h.gateway.pushed if p.target == "GatewayUserPosition"]


async def over_limit_then_daily_loss(h: Harness) -> None:
    """7 MNQ against a limit of 3: reduced to 3. Then the price falls 150 points (-$900 on 3
    contracts): flattened and LockedDaily."""
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit", timeout=30)
    [reduce] = h.closes("MNQ")
    assert reduce.source == "partial_close" and reduce.size == 4
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "reduce confirmed", 30)
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003", timeout=30)
    assert h.position("MNQ") == 0
    assert (None, "Flattening", "LockedDaily", "flat_confirmed", "RULE-003") in h.audit()


async def test_trimmed_wrapped_position_updates_are_merged_and_enforced(h: Harness) -> None:
    await h.start(LIMITS.format(poll=0))  # no periodic read: the live feed alone
    assert h.gateway.wrapped
    h.trade("MNQ", "buy", 1)  # the first sighting is whole
    await h.until(lambda: MNQ in h.acct.positions, "the first sighting reached the service")
    h.clock.advance(minutes=5)
    h.trade("MNQ", "buy", 6)  # the update carries only contractId, type, size, averagePrice
    await over_limit_then_daily_loss(h)
    trimmed = [p for p in position_pushes(h) if "accountId" not in p]
    assert trimmed and set(trimmed[0]) == {"contractId", "type", "size", "averagePrice"}
    assert all(p.wrapped for p in h.gateway.pushed if p.target.startswith("GatewayUser"))
    assert h.svc.malformed == 0 and not any("'accountId' is missing" in m for m in h.logs)


async def test_an_incremental_update_keeps_the_opening_time(h: Harness) -> None:
    await h.start(LIMITS.format(poll=0))
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "the first sighting")
    h.clock.advance(minutes=5)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: h.acct.positions[MNQ].size == 2, "the incremental update")
    assert h.acct.positions[MNQ].opened_at == T0
    assert h.svc.broker.positions._known[(ACCOUNT, MNQ)].opened_at == T0


async def test_with_the_position_feed_silent_the_rest_poll_enforces(h: Harness) -> None:
    await h.start(LIMITS.format(poll=1))
    poll = h.svc.poll_every()  # 1 s asked; stretched to what the read budget allows
    h.gateway.silence("GatewayUserPosition")  # connected, subscribed, and quiet
    loop = asyncio.get_running_loop()
    breach = loop.time()
    h.trade("MNQ", "buy", 7)
    await h.gw_until(lambda: h.closes("MNQ"), "the reduce sent", timeout=30)
    took = loop.time() - breach
    logger.info("breach to enforcement with the position feed silent: {:.3f} s", took)
    print(f"\nbreach -> enforcement, position feed silent, poll every {poll:.1f} s: {took:.3f} s")
    assert took <= poll + 10  # one interval plus a read, with room for a loaded machine
    assert h.svc.broker.health.diverged >= 1
    assert any("STATE_DIVERGED" in m for m in h.logs)
    await over_limit_then_daily_loss(h)
    assert not [p for p in h.gateway.pushed if p.target == "GatewayUserPosition"]


async def test_repeated_refusals_of_one_kind_are_an_alarm_shown_per_kind(h: Harness) -> None:
    await h.start(LIMITS.format(poll=0))
    h.gateway.push_malformed(ACCOUNT, "GatewayUserOrder", "wrong_types")  # one, then fine
    for _ in range(3):
        h.gateway.push_malformed(ACCOUNT, "GatewayUserPosition", "missing_fields")
    await h.until(lambda: h.svc.malformed >= 4, "all four refused")
    feed = h.svc.status()["feed"]
    assert feed["refused_by_kind"] == {"order": 1, "position": 3}
    assert feed["blind"] == ["position"] and not feed["healthy"]
    alarms = [m for m in h.logs if "FEED_BLIND" in m]
    assert len(alarms) == 1 and "CRITICAL" in alarms[0] and "position records" in alarms[0]
    # /readyz says so too (reported: 200 while every position record was refused)
    assert ready(h.svc) == (
        False,
        {
            "connected": True,
            "authenticated": True,
            "feed_complete": False,
            "state_saved": True,
            "reconciled": True,
            "closes_confirmed": True,
            "cancels_confirmed": True,
            "reads_answered": True,
            "named_monitored": True,
            "enforcing": True,
        },
    )
    h.trade("MNQ", "buy", 1)  # a position record passes again: no longer blind
    await h.until(lambda: MNQ in h.acct.positions, "a good record")
    assert h.svc.status()["feed"]["blind"] == []
    assert ready(h.svc)[0]


async def test_a_working_order_the_order_feed_missed_is_found_by_the_poll(h: Harness) -> None:
    await h.start(LIMITS.format(poll=1))
    h.gateway.silence("GatewayUserOrder")
    order = h.trade("NQ", "buy", 1, type=1, limit_price=15000)
    await h.until(lambda: order.order_id in h.acct.orders, "the working order found", 30)
    assert h.gateway.order(order.order_id).status == OrderStatus.OPEN


async def test_the_platforms_liquidation_ends_a_flatten_and_is_not_the_traders(h: Harness) -> None:
    await h.start(LIMITS.format(poll=0))
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.set_fill_delay(1.0)  # the service's close stays working for a second
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.Flattening, "flattening for RULE-003")
    await h.gw_until(lambda: h.closes("MNQ"), "the service's close sent")
    h.gateway.liquidate(ACCOUNT)  # the platform flattens first: its close is the one that fills
    await h.until(lambda: h.acct.state is State.LockedDaily, "the flatten ended", timeout=30)
    platform = [o.order_id for o in h.gateway.order_log(ACCOUNT) if o.source == "platform"]
    [record] = [f for f in h.acct.day.fills if f.order_id in platform]
    assert record.enforcement and record.exit == 2  # not the trader's trade
    assert record.pnl is not None and record.pnl < -500 and h.acct.day.realized < -500
    assert [c.status for c in h.closes("MNQ")] == [OrderStatus.CANCELLED]
    assert not h.acct.can_trade


async def test_a_permission_change_the_account_feed_missed_is_found_by_the_poll(
    h: Harness,
) -> None:
    await h.start(LIMITS.format(poll=1) + "[rule.trading_permission]\n")
    h.gateway.silence("GatewayUserAccount")
    h.gateway.set_can_trade(ACCOUNT, False)
    await h.until(lambda: not h.acct.can_trade, "canTrade false found by the read", 30)
    assert h.svc.broker.health.diverged >= 1


TWO = (PaperAccount(1001, "PAPER-1", D("50000")), PaperAccount(1002, "PAPER-2", D("50000")))


@pytest.mark.paper(accounts=TWO)
async def test_another_monitored_accounts_updates_are_not_refusals(h: Harness) -> None:
    await h.start(LIMITS.format(poll=0))
    assert sorted(h.svc.account_ids) == [1001, 1002]
    for balance in ("49000", "48000", "47000"):
        h.gateway.set_balance(1002, balance)
    await h.until(lambda: h.svc.engine.accounts[1002].balance == 47000, "1002's updates seen")
    h.gateway.set_balance(1001, "49500")
    await h.until(lambda: h.acct.balance == 49500, "1001's update seen")
    assert h.svc.malformed == 0 and h.svc.status()["feed"]["blind"] == []
    assert not any("FEED_BLIND" in m for m in h.logs)


async def test_suspended_bracket_children_are_no_divergence(h: Harness) -> None:
    await h.start(LIMITS.format(poll=1))
    entry = h.trade("MNQ", "buy", 1, type=1, limit_price=20900, stop_loss_ticks=-20)
    await h.until(lambda: len(h.acct.orders) == 2, "the entry and its suspended stop")
    reads = h.svc.broker.health.reads
    await h.until(lambda: h.svc.broker.health.reads >= reads + 2, "two periodic reads", 30)
    assert h.svc.broker.health.diverged == 0 and len(h.acct.orders) == 2
    assert entry.order_id in h.acct.orders


def spy_on_trade_reads(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """Where each of the service's trade reads begins, as it asks the gateway."""
    froms: list[datetime] = []
    real = h.svc.broker._trades

    async def trades(account_id: int, since: datetime, ticket: int) -> Any:
        froms.append(since)
        return await real(account_id, since, ticket)

    monkeypatch.setattr(h.svc.broker, "_trades", trades)
    return froms


async def test_periodic_reads_list_the_recent_trades_and_now_and_then_the_whole_window(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A periodic read lists the trades from a minute before the latest seen, not the whole
    week (one large answer every interval, built and parsed while a breach waited behind it);
    after FULL_EVERY of those (3 here), one lists the whole window."""
    monkeypatch.setattr(service_module, "FULL_EVERY", 3)
    await h.start(LIMITS.format(poll=1))
    h.trade("MNQ", "buy", 1)
    h.trade("MNQ", "sell", 1)
    await h.until(lambda: len(h.acct.seen_trades) == 2, "both trades seen")
    froms = spy_on_trade_reads(h, monkeypatch)
    await h.until(lambda: len(froms) >= 8, "eight periodic reads", 60)
    latest, window = h.acct.seen_trades.latest(), min(h.acct.day.start, h.acct.week.start)
    assert latest is not None and window < latest - RECENT
    kinds = "".join(
        "W" if since == window else "R" if since == latest - RECENT else "?" for since in froms
    )
    assert "RRRW" in kinds and "RRRR" not in kinds and "WW" not in kinds, kinds
    assert h.svc.broker.health.diverged == 0


async def test_a_trade_the_feed_never_delivered_is_found_by_a_recent_read_and_booked_whole(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trades the user hub never pushed are newer than the latest seen: a periodic read of the
    recent trades lists them, the divergence is alerted, and the account is brought in line
    from a read of the whole window (its trades rebuild the day's realized P&L)."""
    await h.start(LIMITS.format(poll=1))
    h.trade("MNQ", "buy", 1)
    h.gateway.move_price("MNQ", 8)
    h.trade("MNQ", "sell", 1)
    await h.until(lambda: len(h.acct.seen_trades) == 2, "the first round trip seen")
    froms = spy_on_trade_reads(h, monkeypatch)
    h.gateway.silence("GatewayUserTrade")  # connected, subscribed, and quiet
    # (and the balance with it: a balance move no fill explains is read at once, not within
    # a periodic read)
    h.gateway.silence("GatewayUserAccount")
    h.trade("MNQ", "buy", 1)
    h.gateway.move_price("MNQ", -4)
    h.trade("MNQ", "sell", 1)
    trades = h.gateway.trades(ACCOUNT)
    assert len(trades) == 4
    await h.until(lambda: len(h.acct.seen_trades) == 4, "the missed trades found", 30)
    assert h.svc.broker.health.diverged >= 1
    assert any("STATE_DIVERGED" in m and "not seen" in m for m in h.logs)
    window = min(h.acct.day.start, h.acct.week.start)
    first = next(i for i, since in enumerate(froms) if since != window)  # a recent read found
    assert window in froms[first + 1 :]  # ... and the whole window was read to apply it
    booked = sum((t.profit_and_loss or 0) - t.fees - t.commissions for t in trades)
    assert h.acct.day.realized == booked != 0


async def test_a_flatten_cancels_the_bracket_orders_a_close_leaves_working(h: Harness) -> None:
    await h.start(LIMITS.format(poll=0))
    h.trade("MNQ", "buy", 2, stop_loss_ticks=-1000, take_profit_ticks=2000)
    children = [o for o in h.gateway.order_log(ACCOUNT) if o.parent_id is not None]
    assert [c.status for c in children] == [OrderStatus.OPEN, OrderStatus.OPEN]
    await h.until(lambda: len(h.acct.orders) == 2, "the bracket orders seen working")
    h.gateway.move_price("MNQ", -600)  # -$600: the stop 1000 ticks away is still working
    await h.until(lambda: h.acct.state is State.LockedDaily, "flattened and locked", 30)
    statuses = [h.gateway.order(c.order_id).status for c in children]
    assert statuses == [OrderStatus.CANCELLED, OrderStatus.CANCELLED]  # none left to fill
    assert h.position("MNQ") == 0


async def test_in_a_lock_a_fill_with_the_position_feed_silent_is_read_and_closed_at_once(
    h: Harness,
) -> None:
    """Reported: periodic reads on, the position feed quiet, a trader's buy in a Cooldown
    stayed open until the next periodic read (7 s). With periodic reads off here, only the
    read the fill asks for can show it: closed within seconds."""
    await h.start(LIMITS.format(poll=0))
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret("correct horse battery")
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Cooldown", "--minutes", "30",
        "--reason", "a break", "--admin", "ops", secret="correct horse battery",
    )  # fmt: skip
    assert code == 0, out
    h.gateway.silence("GatewayUserPosition")
    h.trade("MNQ", "buy", 2)
    await h.gw_until(lambda: h.closes("MNQ"), "the position closed", timeout=8)
    await h.gw_until(lambda: h.position("MNQ") == 0, "flat", timeout=8)
    assert h.acct.state is State.Cooldown
