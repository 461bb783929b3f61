"""What the real gateway sends that a friendly one would not: trimmed incremental position
updates, commissions beside fees, voided trades, the platform's own liquidation, and a record
kind refused again and again (the feed gone blind)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from fsm_risk import status
from fsm_risk.adapters import payloads
from fsm_risk.adapters.broker import BLIND_AFTER, FeedHealth, RequestBudget
from fsm_risk.adapters.payloads import PayloadError, PositionShapes
from fsm_risk.core.events import Fill, PositionType, Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trade_cooldown import TradeCooldown
from fsm_risk.service import Service
from fsm_risk.status import render
from tests.factories import (
    ACC,
    MNQ,
    T0,
    Driver,
    Scripted,
    account,
    fill,
    flat,
    make_engine,
    position,
    quote,
)

FULL = {
    "id": 7,
    "accountId": ACC,
    "contractId": MNQ,
    "creationTimestamp": "2026-11-23T15:00:00+00:00",
    "type": 1,
    "size": 1,
    "averagePrice": 21000.25,
}
TRIMMED = {"contractId": MNQ, "type": 1, "size": 7, "averagePrice": 21000.5}
LATER = T0 + timedelta(minutes=5)


def test_a_trimmed_update_takes_the_account_and_opening_time_it_arrived_with() -> None:
    shapes = PositionShapes()
    first = shapes.hub({"action": 0, "data": FULL}, ACC, T0)
    update = shapes.hub({"action": 1, "data": TRIMMED}, ACC, LATER)
    assert (update.account_id, update.size, update.position_id) == (ACC, 7, 7)
    assert update.opened_at == first.opened_at == T0  # the opening time is kept
    assert update.average_price == Decimal("21000.5")


def test_a_first_sighting_that_is_trimmed_opens_now_and_a_reversal_opens_again() -> None:
    shapes = PositionShapes()
    assert shapes.hub(TRIMMED, ACC, LATER).opened_at == LATER
    later = LATER + timedelta(minutes=1)
    short = shapes.hub({**TRIMMED, "type": 2, "size": 2}, ACC, later)
    assert short.type is PositionType.SHORT and short.opened_at == later
    shapes.hub({**TRIMMED, "size": 0}, ACC, later)  # closed: forgotten
    again = later + timedelta(minutes=1)
    assert shapes.hub(TRIMMED, ACC, again).opened_at == again


def test_another_accounts_record_and_a_broken_trimmed_one_are_refused() -> None:
    shapes = PositionShapes()
    with pytest.raises(PayloadError, match="another account"):
        shapes.hub({**FULL, "accountId": ACC + 1}, ACC, T0)
    with pytest.raises(PayloadError, match="'size' is missing"):
        shapes.hub({"contractId": MNQ, "type": 1}, ACC, T0)
    with pytest.raises(PayloadError, match="'contractId' is missing"):
        shapes.hub({"type": 1, "size": 1}, ACC, T0)


def test_commissions_count_beside_the_fees() -> None:
    trade = {
        "id": 1,
        "accountId": ACC,
        "contractId": MNQ,
        "creationTimestamp": "2026-11-23T15:00:01Z",
        "price": 21000,
        "profitAndLoss": -10,
        "fees": 0.74,
        "commissions": 0.5,
        "side": 1,
        "size": 2,
        "voided": False,
        "orderId": 3,
    }
    assert payloads.trade(trade).fees == Decimal("1.24")
    with pytest.raises(PayloadError, match="'commissions' is negative"):
        payloads.trade({**trade, "commissions": -1})


def test_one_kind_refused_again_and_again_is_blind_until_one_passes() -> None:
    h = FeedHealth(user_connected={ACC: True}, market_connected=True)
    assert not any(h.refuse("position") for _ in range(BLIND_AFTER - 1))
    assert not h.refuse("order")
    assert h.refuse("position")  # the refusal that makes it blind, once
    assert not h.refuse("position")
    snap = h.snapshot(T0, timedelta(seconds=30), set())
    assert snap["blind"] == ["position"] and not snap["healthy"]
    assert snap["refused_by_kind"] == {"order": 1, "position": BLIND_AFTER + 1}
    assert h.accept("position") and not h.accept("order")
    assert h.snapshot(T0, timedelta(seconds=30), set())["healthy"]


def _engine_with_loss_limit() -> Driver:
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    d.send(account())
    return d


def test_a_voided_trade_takes_its_pnl_back_out() -> None:
    d = _engine_with_loss_limit()
    d.send(fill(MNQ, Side.BUY, 1, "21000"))
    loss = fill(MNQ, Side.SELL, 1, "20900", pnl="-200", fees="1.24", trade_id=424242)
    d.send(loss)
    assert d.acct.day.realized == Decimal("-201.24")
    d.send(dataclasses.replace(loss, voided=True))
    assert d.acct.day.realized == 0 and d.acct.week.realized == 0 and d.acct.day.fees == 0
    d.send(dataclasses.replace(loss, voided=True))  # said twice: taken back once
    assert d.acct.day.realized == 0


def test_the_platforms_liquidation_counts_but_is_not_the_traders_trade() -> None:
    d = Driver(make_engine({TradeCooldown: {"tiers": "100: 30"}}))
    d.send(account(), quote(MNQ, "21000"))
    d.send(fill(MNQ, Side.BUY, 2, "21000"), position(MNQ, 2, "21000"))
    d.send(account(can_trade=False))  # the platform blocks the account, then closes
    d.send(fill(MNQ, Side.SELL, 2, "20900", pnl="-400", fees="1.48", order_id=99))
    assert d.acct.day.realized == Decimal("-401.48")  # counts in P&L
    [record] = [f for f in d.acct.day.fills if f.order_id == 99]
    assert record.enforcement  # not the trader's: no cooldown for the platform's loss
    assert d.acct.state is State.Trading
    assert d.acct.day.trips[-1].enforced


def test_a_voided_trade_never_seen_changes_nothing() -> None:
    d = _engine_with_loss_limit()
    d.send(
        Fill(ACC, 5, MNQ, 1, Side.SELL, 1, Decimal(1), Decimal(-50), Decimal(1), T0, voided=True)
    )
    assert d.acct.day.realized == 0
    assert datetime(2026, 1, 1, tzinfo=UTC) < d.acct.seen_trades[5]


def test_the_platforms_liquidation_during_our_flatten_is_not_our_own_fill() -> None:
    seen: list[int] = []

    def watch(view: object, event: object, now: datetime) -> tuple[()]:
        if isinstance(event, Fill):
            seen.append(event.order_id)
        return ()

    engine = make_engine(
        {DailyLossLimit: {"limit": "500"}}, extra=[lambda ctx: Scripted(ctx, watch)]
    )
    d = Driver(engine)
    d.send(account(), quote(MNQ, "21000"))
    d.send(fill(MNQ, Side.BUY, 2, "21000"), position(MNQ, 2, "21000"))
    d.send(quote(MNQ, "20800"))  # -$800: the service flattens
    assert d.acct.state is State.Flattening
    d.send(account(can_trade=False))
    d.send(fill(MNQ, Side.SELL, 2, "20800", pnl="-800", fees="1.48", order_id=99))
    assert 99 in seen  # the rules saw it: not skipped as the service's own close
    d.send(flat(MNQ))
    assert d.acct.state is State.LockedDaily  # flat: the flatten ends


def test_status_shows_a_blind_kind_and_the_refusals_per_kind() -> None:
    h = FeedHealth(user_connected={ACC: True}, market_connected=True)
    for _ in range(BLIND_AFTER):
        h.refuse("position")
    h.refuse("order")
    h.diverged = 2
    d = Driver(make_engine())
    d.send(account())
    view = status.snapshot(d.engine, T0, None)
    view["feed"] = {**h.snapshot(T0, timedelta(seconds=30), set()), "events": 9}
    text = render(view, color=False)
    assert "feed: DEGRADED (BLIND to position records (refused repeatedly))" in text
    assert "malformed payloads skipped: 4 (order 1, position 3)" in text
    assert "periodic reads that found what the live feed missed: 2" in text


def test_the_poll_interval_stretches_to_stay_within_half_the_read_budget() -> None:
    def every(interval: float, accounts: int) -> float:
        fake = SimpleNamespace(
            broker=SimpleNamespace(budget=RequestBudget(200, 60.0, 50)),
            poll_interval=interval,
            account_ids=list(range(accounts)),
        )
        return Service.poll_every(fake)  # type: ignore[arg-type]

    assert every(10, 1) == 10  # 24 of the 150 reads a minute
    assert every(1, 1) == pytest.approx(3.2)  # 4 requests / (75 per 60 s)
    assert every(10, 10) == pytest.approx(32)  # ten accounts: 75 reads a minute, no more


def test_order_and_trade_records_take_the_subscriptions_account_when_they_omit_it() -> None:
    order = {
        "id": 12, "contractId": MNQ, "creationTimestamp": "2026-11-23T15:00:00Z",
        "status": 6, "type": 2, "side": 0, "size": 1,
    }  # fmt: skip
    assert payloads.order(payloads.subscribed("order", order, ACC)).account_id == ACC
    with pytest.raises(PayloadError, match="another account"):
        payloads.subscribed("order", {**order, "accountId": ACC + 1}, ACC)
