"""RULE-008 trade_cooldown: loss tiers to the cent, the most severe tier, both bases, the exact
cooldown, the service's own closes, a stronger lock kept, daylight saving, restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk.core.events import Event, OrderStatus, OrderType, Quote, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Scope, Verdict
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    ES,
    MNQ,
    NQ,
    T0,
    Driver,
    Scripted,
    account,
    cancels,
    closes,
    fill,
    flat,
    make_engine,
    order,
    position,
    quote,
    restart,
    rule_driver,
    the_rule,
    transitions,
)

_ids = iter(range(800_000, 10**9))


driver = partial(rule_driver, TradeCooldown)
rule = partial(the_rule, cls=TradeCooldown)


def enter(d: Driver, contract: str = ES, size: int = 1, *, fees: str = "0") -> None:
    oid = next(_ids)
    d.send(
        fill(contract, Side.BUY, size, "6000", fees=fees, order_id=oid, at=d.now),
        position(contract, size, "6000", at=d.now),
    )


def exit_(
    d: Driver, pnl: str, contract: str = ES, size: int = 1, *, held: int = 1, fees: str = "0"
) -> list[Any]:
    oid = next(_ids)
    out = d.send(
        fill(contract, Side.SELL, size, "5990", pnl=pnl, fees=fees, order_id=oid, at=d.now)
    )
    rest = held - size
    out += d.send(position(contract, rest, "6000", at=d.now) if rest else flat(contract, at=d.now))
    return out


def trade(d: Driver, pnl: str, contract: str = ES) -> list[Any]:
    """A one-lot round trip with the given P&L and no fees."""
    enter(d, contract)
    return exit_(d, pnl, contract)


# --- tiers ---------------------------------------------------------------------------------


def test_a_loss_one_cent_short_of_the_first_tier_does_not_cool_down() -> None:
    d = driver()
    trade(d, "-99.99")
    assert d.acct.state is State.Trading


def test_a_loss_at_the_first_tier_cools_down_for_its_minutes_to_the_second() -> None:
    d = driver()
    trade(d, "-100.00")
    assert d.acct.state is State.Cooldown
    hold = d.acct.holds["RULE-008"]
    assert hold.kind is State.Cooldown and hold.reason is Reason.TRADE_COOLDOWN
    assert hold.until == T0 + timedelta(minutes=15)
    assert "net -100.00 <= -100.00: cooldown 15 min" in hold.detail


@pytest.mark.parametrize(
    ("pnl", "minutes"),
    [("-249.99", 15), ("-250.00", 30), ("-499.99", 30), ("-500.00", 60), ("-2000", 60)],
)
def test_the_most_severe_tier_reached_wins(pnl: str, minutes: int) -> None:
    d = driver()
    trade(d, pnl)
    assert d.acct.holds["RULE-008"].until == T0 + timedelta(minutes=minutes)


def test_winners_and_break_even_never_cool_down() -> None:
    d = driver()
    trade(d, "300")
    trade(d, "0")
    assert d.acct.state is State.Trading and "RULE-008" not in d.acct.holds


def test_every_fee_of_the_round_trip_counts() -> None:
    d = driver()
    enter(d, fees="1.25")
    exit_(d, "-97.50", fees="1.25")  # -97.50 - 2.50 = -100.00
    assert d.acct.state is State.Cooldown


def test_trade_basis_counts_only_the_closing_fill_and_its_own_fee() -> None:
    d = driver(basis="trade")
    enter(d, fees="1.25")
    exit_(d, "-98.75", fees="1.25")  # this fill nets -100.00; the round trip -101.25
    assert d.acct.state is State.Cooldown
    d2 = driver(basis="trade")
    enter(d2, fees="1.25")
    exit_(d2, "-98.74", fees="1.25")  # the fill nets -99.99
    assert d2.acct.state is State.Trading


def test_round_trip_basis_waits_for_flat_and_sums_the_partial_exits() -> None:
    d = driver()
    enter(d, size=2)
    exit_(d, "-60", held=2)
    assert d.acct.state is State.Trading  # half out: the round trip is not over
    exit_(d, "-60", held=1)
    assert d.acct.state is State.Cooldown and "net -120.00" in d.acct.holds["RULE-008"].detail


def test_trade_basis_fires_on_a_partial_exit_and_closes_the_rest() -> None:
    d = driver(basis="trade")
    enter(d, size=2)
    out = exit_(d, "-100", held=2)
    assert [c.contract_id for c in closes(out)] == [ES]
    d.send(flat(ES))
    assert d.acct.state is State.Cooldown


# --- effects -------------------------------------------------------------------------------


def test_the_cooldown_flattens_other_positions_and_cancels_orders_first() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), order(71, NQ, Side.BUY, 1, limit="20000"))
    out = trade(d, "-300")
    # MNQ is closed; ES is closed too only because the engine's broker view still shows it
    # until the gateway's position update follows the closing fill
    assert MNQ in {c.contract_id for c in closes(out)}
    assert [c.order_id for c in cancels(out)] == [71]
    assert d.acct.state is State.Flattening
    d.send(flat(MNQ), order(71, NQ, Side.BUY, 1, status=OrderStatus.CANCELLED))
    assert d.acct.state is State.Cooldown
    assert d.acct.holds["RULE-008"].until == T0 + timedelta(minutes=30)


def test_a_reversal_at_a_loss_closes_the_new_position() -> None:
    d = driver()
    enter(d)
    out = d.send(fill(ES, Side.SELL, 2, "5990", pnl="-125", order_id=next(_ids)))
    out += d.send(position(ES, 1, "5990", long=False))
    assert [c.contract_id for c in closes(out)] == [ES]
    d.send(flat(ES))
    assert d.acct.state is State.Cooldown


def test_during_the_cooldown_entries_are_cancelled_and_it_ends_on_time() -> None:
    d = driver()
    trade(d, "-100")
    out = d.send(order(72, ES, Side.BUY, 1, type=OrderType.MARKET))
    assert [c.order_id for c in cancels(out)] == [72]
    d.advance(minutes=15, seconds=-1)
    assert d.acct.state is State.Cooldown
    out = d.advance(seconds=1)
    assert d.acct.state is State.Trading
    assert (None, "Cooldown", "Trading", "release") in transitions(out)


# --- the service's own closes --------------------------------------------------------------


def close_es_on_quote(ctx: Any) -> Scripted:
    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, Quote):
            stop = Verdict(
                "RULE-T01", Reason.POSITION_STOP_LOSS, Action.CLOSE, Scope.CONTRACT, contract_id=ES
            )
            return (stop,)
        return ()

    return Scripted(ctx, script, level_triggered=False)


def test_a_losing_position_closed_by_the_service_never_cools_down() -> None:
    d = Driver(make_engine({TradeCooldown: {}}, extra=[close_es_on_quote]))
    d.send(account())
    enter(d)
    assert [c.contract_id for c in closes(d.send(quote(ES, "5900")))] == [ES]
    d.send(order(960, ES, Side.SELL, 1, type=OrderType.MARKET))  # the gateway's close order
    d.send(fill(ES, Side.SELL, 1, "5900", pnl="-1125", order_id=960), flat(ES))
    assert d.acct.day.trips[-1].net == Decimal("-1125") and d.acct.day.trips[-1].enforced
    assert "RULE-008" not in d.acct.holds and d.acct.state is State.Trading


# --- locks ---------------------------------------------------------------------------------


def test_a_cooldown_while_locked_daily_keeps_the_daily_lock_and_its_deadline() -> None:
    d = Driver(make_engine({MaxTradesPerDay: {"limit": "1"}, TradeCooldown: {}}))
    d.send(account())
    enter(d, ES)  # entry 1, kept open
    enter(d, MNQ)  # entry 2: LockedDaily, ES tolerated, MNQ closed
    d.send(flat(MNQ))
    daily = d.acct.holds["RULE-007"]
    assert d.acct.state is State.LockedDaily and d.acct.tolerated == {ES: 1}
    exit_(d, "-300", ES)  # the trader exits ES at a loss: a 30-minute cooldown
    assert d.acct.state is State.LockedDaily
    assert d.acct.holds["RULE-007"] == daily
    assert d.acct.holds["RULE-008"].until == T0 + timedelta(minutes=30)
    d.advance(minutes=31)
    assert d.acct.state is State.LockedDaily and "RULE-008" not in d.acct.holds
    d.at(daily.until or T0)
    assert d.acct.state is State.Trading


# --- time ----------------------------------------------------------------------------------


def test_the_cooldown_runs_in_real_time_through_the_spring_forward_daily_reset() -> None:
    reset = datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # 17:00 CDT, the first reset in summer time
    d = driver(reset - timedelta(minutes=10))
    trade(d, "-250")
    assert d.acct.holds["RULE-008"].until == reset + timedelta(minutes=20)
    d.at(reset)
    assert d.acct.state is State.Cooldown and d.acct.day.start == reset
    d.at(reset + timedelta(minutes=20))
    assert d.acct.state is State.Trading


def test_the_cooldown_runs_in_real_time_through_the_fall_back_hour() -> None:
    # 01:45 CDT on 2026-11-01; 30 minutes later the wall clock reads 01:15 CST
    d = driver(datetime(2026, 11, 1, 6, 45, tzinfo=UTC))
    trade(d, "-250")
    until = datetime(2026, 11, 1, 7, 15, tzinfo=UTC)
    assert d.acct.holds["RULE-008"].until == until
    d.at(until - timedelta(seconds=1))
    assert d.acct.state is State.Cooldown
    d.at(until)
    assert d.acct.state is State.Trading


def test_restart_during_the_cooldown_keeps_its_deadline() -> None:
    d = driver()
    trade(d, "-600")
    until = d.acct.holds["RULE-008"].until
    assert until == T0 + timedelta(hours=1)
    again = restart(d, lambda: make_engine({TradeCooldown: {}}), at=T0 + timedelta(minutes=20))
    assert again.acct.state is State.Cooldown and again.acct.holds["RULE-008"].until == until
    assert again.engine.next_deadline() == until
    assert [c.contract_id for c in closes(again.send(position(NQ, 1, "20000")))] == [NQ]
    again.send(flat(NQ))
    again.at(until)
    assert again.acct.state is State.Trading


# --- settings and usage --------------------------------------------------------------------


def test_defaults_are_three_tiers() -> None:
    cfg = rule(driver()).config
    assert cfg.tiers == ((Decimal(100), 15), (Decimal(250), 30), (Decimal(500), 60))
    assert cfg.basis == "round_trip"


def test_usage_is_the_last_round_trip_against_the_first_tier() -> None:
    d = driver()
    trade(d, "-80")
    u = rule(d).usage(d.acct, d.now)
    assert (u.value, u.limit, u.fraction) == (Decimal(-80), Decimal(-100), Decimal("0.8"))
