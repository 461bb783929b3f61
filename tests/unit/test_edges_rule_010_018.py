"""The edges of RULE-010 to RULE-018 the rule files leave untested: a lock taken just before
the daily reset and lasting past it, the reset at 17:00 Chicago on the Sundays the clocks
change (2026-03-08, 2026-11-01), the second either side of the weekly boundary, a restart one
cent before a limit and across a reset missed while stopped, and a rule firing while the
account flattens without a lock (the lock it asks for must follow the flatten)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk.core.events import AdminCommand, Event, OrderStatus, OrderType, Quote, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Verdict
from fsm_risk.rules.max_consecutive_losses import MaxConsecutiveLosses
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.position_take_profit import PositionTakeProfit
from fsm_risk.rules.rapid_fire import RapidFire
from fsm_risk.rules.revenge_trading import RevengeTrading
from fsm_risk.rules.stop_loss_required import StopLossRequired
from fsm_risk.rules.symbol_block import SymbolBlock
from fsm_risk.rules.trading_permission import TradingPermission
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import (
    ACC,
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
    start_up_read,
)

_ids = iter(range(7_000_000, 10**9))
#: the Sunday 17:00 Chicago resets (daily and weekly) on the days the clocks change
SPRING = datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # CDT: UTC-5
FALL = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # CST: UTC-6
FRIDAY_BEFORE_SPRING = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)  # 14:00 CST
MON_RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # the daily reset after T0
NEXT_WEEK = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # the weekly reset after T0


def scalp(d: Driver, at: datetime, contract: str = ES) -> None:
    """An entry at ``at`` (a market order of the trader's) and, unless locked, its exit."""
    d.now = at
    oid = next(_ids)
    d.send(
        order(oid, contract, Side.BUY, 1, type=OrderType.MARKET, at=at),
        fill(contract, Side.BUY, 1, "100", order_id=oid, at=at),
        order(oid, contract, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        position(contract, 1, "100", at=at),
    )
    if d.acct.state is State.Trading:
        d.send(
            fill(contract, Side.SELL, 1, "100", pnl="0", order_id=next(_ids), at=at),
            flat(contract, at=at),
        )


def round_trip(d: Driver, pnl: str, fees: str = "0", size: int = 1) -> None:
    """An ES round trip of the trader's at ``d.now`` with this P&L and fees on each fill."""
    d.send(
        fill(ES, Side.BUY, size, "6000", fees=fees, order_id=next(_ids), at=d.now),
        position(ES, size, "6000", at=d.now),
        fill(ES, Side.SELL, size, "5990", pnl=pnl, fees=fees, order_id=next(_ids), at=d.now),
        flat(ES, at=d.now),
    )
    d.now += timedelta(minutes=1)


def flatten_on_nq_quote(ctx: Any) -> Scripted:
    """A flatten without a lock (as RULE-001 with ``action = flatten``), on any NQ quote."""

    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, Quote) and event.contract_id == NQ:
            return (Verdict("RULE-T01", Reason.MAX_CONTRACTS, Action.FLATTEN),)
        return ()

    return Scripted(ctx, script, level_triggered=False)


def flattening_without_a_lock(d: Driver) -> None:
    d.send(fill(NQ, Side.BUY, 1, "21000", order_id=next(_ids)), position(NQ, 1, "21000"))
    d.send(quote(NQ, "21000"))
    assert d.acct.state is State.Flattening and d.acct.holds == {}


# --- RULE-010 rapid_fire ---------------------------------------------------------------------


def rapid_two_hours(d: Driver, start: datetime) -> datetime:
    """Four entries from 15:00 to 15:50 Chicago: the 4th breaches ``7200: 3``."""
    for minutes in (0, 20, 40, 50):
        scalp(d, start + timedelta(minutes=minutes))
    d.send(flat(ES))
    return start + timedelta(minutes=50, seconds=7200)


def test_010_a_cooldown_taken_before_the_daily_reset_lasts_its_full_window_past_it() -> None:
    d = rule_driver(RapidFire, MON_RESET - timedelta(hours=2), windows="7200: 3")
    until = rapid_two_hours(d, MON_RESET - timedelta(hours=2))
    assert until == MON_RESET + timedelta(minutes=50)
    assert d.acct.state is State.Cooldown and d.acct.holds["RULE-010"].until == until
    d.at(MON_RESET)
    assert d.acct.state is State.Cooldown and d.acct.day.start == MON_RESET
    d.at(until - timedelta(seconds=1))
    assert d.acct.state is State.Cooldown
    d.at(until)
    assert d.acct.state is State.Trading


def test_010_a_cooldown_across_a_reset_missed_while_stopped_keeps_its_deadline() -> None:
    d = rule_driver(RapidFire, MON_RESET - timedelta(hours=2), windows="7200: 3")
    until = rapid_two_hours(d, MON_RESET - timedelta(hours=2))
    again = restart(
        d,
        lambda: make_engine({RapidFire: {"windows": "7200: 3"}}),
        at=MON_RESET + timedelta(minutes=10),
    )
    assert again.acct.day.start == MON_RESET
    assert again.acct.state is State.Cooldown and again.acct.holds["RULE-010"].until == until
    assert [c.order_id for c in cancels(again.send(order(71, MNQ, Side.BUY, 1, limit="1")))] == [71]


def test_010_a_breach_while_the_account_flattens_without_a_lock_cools_down_once_flat() -> None:
    d = Driver(make_engine({RapidFire: {"windows": "60: 1"}}, extra=[flatten_on_nq_quote]))
    d.send(account())
    flattening_without_a_lock(d)  # NQ bought at T0: the 1st entry of the minute
    d.now += timedelta(seconds=5)
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now))  # the 2nd
    d.send(position(ES, 1, "6000", at=d.now), flat(NQ, at=d.now), flat(ES, at=d.now))
    assert d.acct.state is State.Cooldown
    assert d.acct.holds["RULE-010"].until == d.now + timedelta(seconds=60)


def test_010_restart_with_the_window_full_then_the_next_entry_after_the_read() -> None:
    d = rule_driver(RapidFire, windows="60: 2")
    for s in (0, 10):
        scalp(d, T0 + timedelta(seconds=s))
    again = restart(
        d, lambda: make_engine({RapidFire: {"windows": "60: 2"}}), at=T0 + timedelta(seconds=20)
    )
    start_up_read(again)
    again.send(fill(MNQ, Side.BUY, 1, "21000", order_id=next(_ids), at=again.now))
    assert again.acct.holds["RULE-010"].until == T0 + timedelta(seconds=80)


# --- RULE-011 max_consecutive_losses ---------------------------------------------------------


def test_011_fees_make_a_gross_winner_the_third_loss_in_a_row() -> None:
    d = rule_driver(MaxConsecutiveLosses)
    round_trip(d, "-5")
    round_trip(d, "-5")
    round_trip(d, "2.00", fees="1.01")  # +2.00 - 2 x 1.01 = -0.02
    assert d.acct.day.trips[-1].net == Decimal("-0.02")
    assert d.acct.state is State.LockedDaily


def test_011_a_cooldown_taken_before_the_fall_reset_outlasts_it() -> None:
    start = FALL - timedelta(minutes=30)
    d = rule_driver(MaxConsecutiveLosses, start, lock="cooldown", cooldown_minutes="60")
    for _ in range(3):
        round_trip(d, "-10")
    until = d.acct.holds["RULE-011"].until
    assert d.acct.state is State.Cooldown and until == start + timedelta(minutes=62)
    d.at(FALL)
    assert d.acct.state is State.Cooldown and d.acct.day.start == FALL
    d.at(until - timedelta(seconds=1))
    assert d.acct.state is State.Cooldown
    d.at(until)
    assert d.acct.state is State.Trading


def test_011_a_streak_before_the_spring_reset_is_gone_after_a_restart_past_it() -> None:
    d = rule_driver(MaxConsecutiveLosses, SPRING - timedelta(minutes=30))
    round_trip(d, "-10")
    round_trip(d, "-10")
    again = restart(
        d, lambda: make_engine({MaxConsecutiveLosses: {}}), at=SPRING + timedelta(minutes=5)
    )
    assert again.acct.day.start == SPRING
    round_trip(again, "-10")
    assert again.acct.state is State.Trading


# --- RULE-012 revenge_trading ----------------------------------------------------------------


def test_012_a_fractional_multiple_needs_the_whole_contract_above_it() -> None:
    d = rule_driver(RevengeTrading, multiplier="1.5")
    round_trip(d, "-150", size=3)  # 1.5 x 3 = 4.5 contracts fire it
    d.send(fill(ES, Side.BUY, 4, "6000", order_id=next(_ids), at=d.now))
    assert d.acct.state is State.Trading
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now))
    assert d.acct.holds["RULE-012"].until == d.now + timedelta(minutes=30)


def test_012_a_watch_started_before_the_fall_reset_survives_a_restart_past_it() -> None:
    d = rule_driver(RevengeTrading, FALL - timedelta(minutes=2))
    round_trip(d, "-100")
    again = restart(d, lambda: make_engine({RevengeTrading: {}}), at=FALL + timedelta(minutes=1))
    assert again.acct.day.start == FALL
    again.send(fill(ES, Side.BUY, 2, "6000", order_id=next(_ids), at=again.now))
    assert again.acct.holds["RULE-012"].until == again.now + timedelta(minutes=30)


def test_012_revenge_while_the_account_flattens_without_a_lock_cools_down_once_flat() -> None:
    d = Driver(make_engine({RevengeTrading: {}}, extra=[flatten_on_nq_quote]))
    d.send(account())
    round_trip(d, "-500")
    flattening_without_a_lock(d)
    d.send(fill(ES, Side.BUY, 2, "6000", order_id=next(_ids), at=d.now))
    d.send(position(ES, 2, "6000", at=d.now), flat(NQ, at=d.now), flat(ES, at=d.now))
    assert d.acct.state is State.Cooldown and "RULE-012" in d.acct.holds


# --- RULE-013 weekly_loss_limit --------------------------------------------------------------


def weekly() -> Any:
    return make_engine({WeeklyLossLimit: {"limit": "2500"}})


def lose(d: Driver, pnl: str, at: datetime | None = None) -> None:
    """A closed ES round trip (fills stamped ``at``, by default now) with this P&L."""
    t = at or d.now
    d.send(
        fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=t),
        fill(ES, Side.SELL, 1, "5990", pnl=pnl, order_id=next(_ids), at=t),
    )


def test_013_restart_one_cent_short_of_the_limit_then_the_cent_locks_the_week() -> None:
    d = rule_driver(WeeklyLossLimit, T0, limit="2500")
    lose(d, "-1500")
    d.at(T0 + timedelta(days=1))  # Tuesday
    lose(d, "-999.99")
    assert d.acct.state is State.Trading
    again = restart(d, weekly, at=T0 + timedelta(days=2))  # Wednesday
    assert again.acct.week.realized == Decimal("-2499.99")
    start_up_read(again, account())
    assert again.acct.state is State.Trading
    lose(again, "-0.01")
    assert again.acct.state is State.LockedWeekly
    assert again.acct.holds["RULE-013"].until == NEXT_WEEK


def test_013_a_loss_the_second_before_the_spring_weekly_reset_is_the_old_weeks() -> None:
    d = rule_driver(WeeklyLossLimit, FRIDAY_BEFORE_SPRING, limit="2500")
    lose(d, "-2000")
    d.at(SPRING - timedelta(seconds=1))
    lose(d, "-500")
    assert d.acct.state is State.LockedWeekly
    assert d.acct.holds["RULE-013"].until == SPRING


def test_013_a_loss_at_the_spring_weekly_reset_is_the_new_weeks() -> None:
    d = rule_driver(WeeklyLossLimit, FRIDAY_BEFORE_SPRING, limit="2500")
    lose(d, "-2000")
    d.at(SPRING)
    lose(d, "-500")
    assert d.acct.state is State.Trading and d.acct.week.realized == Decimal("-500")


def test_013_a_fill_stamped_before_the_reset_and_heard_after_it_stays_in_the_old_week() -> None:
    d = rule_driver(WeeklyLossLimit, FRIDAY_BEFORE_SPRING, limit="2500")
    lose(d, "-2000")
    d.at(SPRING + timedelta(seconds=2))
    lose(d, "-600", at=SPRING - timedelta(seconds=1))
    assert d.acct.state is State.Trading and d.acct.week.realized == 0


def test_013_a_carried_loss_then_exactly_the_limit_made_in_the_new_week_locks() -> None:
    d = rule_driver(WeeklyLossLimit, limit="2500")
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "20500"))  # -$2,000 open at the reset
    d.at(NEXT_WEEK)
    d.send(quote(MNQ, "19875.25", at=NEXT_WEEK))  # -$4,499: -$2,499 of it this week
    assert d.acct.state is State.Trading
    d.send(quote(MNQ, "19875", at=NEXT_WEEK))  # -$4,500: -$2,500 this week
    assert d.acct.state is State.Flattening
    assert [c.contract_id for c in closes(d.effects)] == [MNQ]


def test_013_restart_with_a_carried_loss_open_judges_only_the_weeks_part() -> None:
    d = rule_driver(WeeklyLossLimit, limit="2500")
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "20500"))
    d.at(NEXT_WEEK)
    again = restart(d, weekly, at=NEXT_WEEK + timedelta(minutes=1))
    start_up_read(again, position(MNQ, 2, "21000"))
    again.send(quote(MNQ, "19876", at=again.now))  # -$2,496 this week
    assert again.acct.state is State.Trading
    again.send(quote(MNQ, "19875", at=again.now))  # -$2,500 this week
    assert again.acct.state is State.Flattening


def test_013_a_waiver_re_arms_one_limit_deeper_across_a_daily_reset_and_a_restart() -> None:
    d = Driver(weekly())
    d.send(account())
    lose(d, "-2600")
    assert d.acct.state is State.LockedWeekly
    d.send(AdminCommand(ACC, State.Trading, "misconfigured", "ops"))
    waiver = d.acct.rule_state["ADMIN"]["waivers"]["RULE-013"]
    assert Decimal(waiver["rearm"]) == Decimal("-5100")
    assert datetime.fromisoformat(waiver["until"]) == NEXT_WEEK
    again = restart(d, weekly, at=T0 + timedelta(days=1))  # Tuesday, past Monday's reset
    start_up_read(again, account())
    lose(again, "-2499.99")
    assert again.acct.state is State.Trading
    lose(again, "-0.01")  # the week at -5,100.00: the re-arm level, touched
    assert again.acct.state is State.LockedWeekly


# --- RULE-014 position_stop_loss and RULE-015 position_take_profit -------------------------


def test_014_a_position_held_across_the_fall_reset_keeps_its_stop_from_its_entry() -> None:
    start = FALL - timedelta(minutes=5)
    d = rule_driver(PositionStopLoss, start, limit="250")
    d.send(position(MNQ, 1, "21000", at=start), quote(MNQ, "20875.50", at=start))  # -$249
    d.at(FALL)
    d.send(quote(MNQ, "20875.25", at=FALL))  # -$249.50
    assert closes(d.effects) == []
    out = d.send(quote(MNQ, "20875", at=FALL))  # -$250.00
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_014_restart_across_a_missed_reset_then_the_stop_to_the_cent() -> None:
    start = FALL - timedelta(minutes=5)
    d = rule_driver(PositionStopLoss, start, limit="250")
    d.send(position(MNQ, 1, "21000", at=start), quote(MNQ, "20880", at=start))
    again = restart(
        d, lambda: make_engine({PositionStopLoss: {"limit": "250"}}), at=FALL + timedelta(minutes=5)
    )
    start_up_read(again, position(MNQ, 1, "21000", at=start))
    assert closes(again.send(quote(MNQ, "20875.25", at=again.now))) == []
    out = again.send(quote(MNQ, "20875", at=again.now))
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_015_a_position_held_across_the_spring_reset_takes_profit_from_its_entry() -> None:
    start = SPRING - timedelta(minutes=5)
    d = rule_driver(PositionTakeProfit, start, target="500")
    d.send(position(MNQ, 1, "21000", at=start), quote(MNQ, "21249.50", at=start))  # +$499
    d.at(SPRING)
    assert closes(d.effects) == []
    out = d.send(quote(MNQ, "21250", at=SPRING))  # +$500.00
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_015_restart_one_tick_short_of_the_target_then_the_tick() -> None:
    d = rule_driver(PositionTakeProfit, target="500")
    d.send(position(MNQ, 1, "21000"), quote(MNQ, "21249.50"))  # +$499
    again = restart(d, lambda: make_engine({PositionTakeProfit: {"target": "500"}}))
    out = start_up_read(again, position(MNQ, 1, "21000"))
    assert closes(out) == []
    out = again.send(quote(MNQ, "21250", at=again.now))
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_015_a_close_in_flight_survives_a_restart_and_is_not_sent_twice() -> None:
    d = rule_driver(PositionTakeProfit, target="500")
    d.send(position(MNQ, 1, "21000"), quote(MNQ, "21250"))
    again = restart(
        d,
        lambda: make_engine({PositionTakeProfit: {"target": "500"}}),
        at=T0 + timedelta(seconds=1),
    )
    assert again.acct.contracts[MNQ].state is State.Flattening
    again.send(quote(MNQ, "21260", at=again.now))
    assert closes(again.effects) == []
    again.send(flat(MNQ, at=again.now))
    assert again.acct.contracts[MNQ].state is State.Trading


# --- RULE-016 stop_loss_required -------------------------------------------------------------


def test_016_a_grace_running_over_the_spring_reset_still_ends_in_a_close() -> None:
    opened = SPRING - timedelta(seconds=10)
    d = rule_driver(StopLossRequired, opened)
    d.send(position(MNQ, 1, "21000", at=opened))
    d.at(SPRING)
    assert closes(d.effects) == []
    assert d.engine.next_deadline() == opened + timedelta(seconds=30)
    out = d.at(opened + timedelta(seconds=30))
    assert [c.contract_id for c in closes(out)] == [MNQ]


# --- RULE-017 symbol_block and RULE-018 trading_permission -----------------------------------


def test_017_a_block_outlives_the_fall_reset_and_a_restart_a_day_later() -> None:
    start = FALL - timedelta(minutes=5)
    d = rule_driver(SymbolBlock, start, roots="NQ")
    d.send(order(5, NQ, Side.BUY, 1, limit="21000", at=start))
    d.send(order(5, NQ, Side.BUY, 1, status=OrderStatus.CANCELLED, at=start))
    d.at(FALL + timedelta(seconds=1))
    assert d.acct.contracts[NQ].state is State.LockedDaily
    again = restart(
        d,
        lambda: make_engine({SymbolBlock: {"roots": "NQ"}}),
        at=FALL + timedelta(days=1, hours=1),
    )
    assert again.acct.contracts[NQ].state is State.LockedDaily
    out = again.send(order(6, NQ, Side.BUY, 1, limit="21000", at=again.now))
    assert [c.order_id for c in cancels(out)] == [6]


def test_018_the_hold_outlives_the_spring_weekly_reset_and_a_restart_after_it() -> None:
    d = rule_driver(TradingPermission, FRIDAY_BEFORE_SPRING)
    d.send(account(can_trade=False))
    d.at(SPRING)
    assert d.acct.state is State.LockedDaily and set(d.acct.holds) == {"RULE-018"}
    again = restart(d, lambda: make_engine({TradingPermission: {}}), at=SPRING + timedelta(days=1))
    assert again.acct.state is State.LockedDaily
    out = again.send(position(MNQ, 1, "21000", at=again.now))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    again.send(flat(MNQ, at=again.now), account(can_trade=True))
    assert again.acct.state is State.Trading


def test_018_can_trade_false_while_the_account_flattens_without_a_lock_locks_once_flat() -> None:
    d = Driver(make_engine({TradingPermission: {}}, extra=[flatten_on_nq_quote]))
    d.send(account())
    flattening_without_a_lock(d)
    d.send(account(can_trade=False), flat(NQ))
    assert d.acct.state is State.LockedDaily and set(d.acct.holds) == {"RULE-018"}
