"""RULE-012 revenge_trading: the loss threshold to the cent, the size and the watch to their
edges, scaling back in, reversals, same-root mode, the service's own closes and fills, locks,
daylight saving and the daily reset, restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from fsm_risk.core.events import AdminCommand, Event, OrderType, Quote, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Scope, Verdict
from fsm_risk.rules.revenge_trading import RevengeTrading
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    ACC,
    ES,
    MES,
    MNQ,
    MNQ_H27,
    NQ,
    T0,
    Driver,
    Scripted,
    account,
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
)

_ids = iter(range(1_200_000, 10**9))


driver = partial(rule_driver, RevengeTrading)
rule = partial(the_rule, cls=RevengeTrading)


def enter(d: Driver, contract: str = ES, size: int = 1, *, held: int = 0) -> list[Any]:
    return d.send(
        fill(contract, Side.BUY, size, "100", order_id=next(_ids), at=d.now),
        position(contract, held + size, "100", at=d.now),
    )


def lose(d: Driver, pnl: str = "-100", contract: str = ES, size: int = 1) -> None:
    """A losing round trip of ``size`` contracts (no fees), closed by the trader now."""
    enter(d, contract, size)
    d.send(fill(contract, Side.SELL, size, "99", pnl=pnl, order_id=next(_ids), at=d.now))
    d.send(flat(contract, at=d.now))


def later(d: Driver, seconds: float) -> None:
    d.now += timedelta(seconds=seconds)


# --- fires / does not fire -----------------------------------------------------------------


def test_double_the_losing_size_within_the_watch_flattens_and_cools_down() -> None:
    d = driver()
    lose(d)
    later(d, 60)
    out = enter(d, MNQ, 2)
    assert [c.contract_id for c in closes(out)] == [MNQ]
    d.send(flat(MNQ))
    assert d.acct.state is State.Cooldown
    hold = d.acct.holds["RULE-012"]
    assert hold.reason is Reason.REVENGE_TRADING
    assert hold.until == d.now + timedelta(minutes=30)
    assert hold.detail == "2 contracts entered 60s after a -100.00 loss of 1 ES"


def test_a_loss_one_cent_short_of_the_threshold_starts_no_watch() -> None:
    d = driver()
    lose(d, "-99.99")
    enter(d, ES, 5)
    assert d.acct.state is State.Trading and "RULE-012" not in d.acct.holds


def test_fees_count_towards_the_loss() -> None:
    d = driver()
    d.send(fill(ES, Side.BUY, 1, "100", fees="0.50", order_id=next(_ids)), position(ES, 1, "100"))
    d.send(fill(ES, Side.SELL, 1, "99", pnl="-99", fees="0.50", order_id=next(_ids)), flat(ES))
    enter(d, ES, 2)
    assert "RULE-012" in d.acct.holds


def test_just_under_the_multiple_does_not_fire_and_scaling_back_in_does() -> None:
    d = driver(multiplier="1.5")
    lose(d, size=2)  # 1.5 x 2 = 3 contracts fire it
    later(d, 10)
    enter(d, ES, 2)
    assert d.acct.state is State.Trading
    later(d, 10)
    enter(d, ES, 1, held=2)
    assert "RULE-012" in d.acct.holds
    assert "3 contracts entered 20s after" in d.acct.holds["RULE-012"].detail


def test_the_watch_includes_its_last_second_and_not_the_next() -> None:
    edge = driver()
    lose(edge)
    later(edge, 300)
    enter(edge, ES, 2)
    assert "RULE-012" in edge.acct.holds
    past = driver()
    lose(past)
    later(past, 301)
    enter(past, ES, 2)
    assert past.acct.state is State.Trading


def test_a_reversal_after_a_loss_is_a_re_entry() -> None:
    d = driver()
    enter(d, ES, 1)
    later(d, 5)
    # one fill: closes the long at -$150 and opens a 2-lot short
    out = d.send(fill(ES, Side.SELL, 3, "99", pnl="-150", order_id=next(_ids), at=d.now))
    out += d.send(position(ES, 2, "99", long=False, at=d.now))
    assert [c.contract_id for c in closes(out)] == [ES]
    assert "2 contracts entered 0s after a -150.00 loss" in d.acct.holds["RULE-012"].detail


def test_same_root_mode_fires_on_any_re_entry_in_the_losing_root_only() -> None:
    d = driver(mode="same_root")
    lose(d, contract=MNQ)
    enter(d, MES, 1)  # another root: not revenge in this mode
    d.send(fill(MES, Side.SELL, 1, "100", pnl="0", order_id=next(_ids)), flat(MES))
    assert d.acct.state is State.Trading
    enter(d, MNQ_H27, 1)  # another month of the same root
    assert d.acct.holds["RULE-012"].detail == "re-entry in MNQ 0s after a -100.00 loss of 1 MNQ"


def test_once_fired_later_fills_of_the_entry_do_not_extend_the_cooldown() -> None:
    d = driver()
    lose(d)
    enter(d, ES, 2)
    until = d.acct.holds["RULE-012"].until
    later(d, 1)
    d.send(fill(ES, Side.BUY, 1, "100", order_id=next(_ids), at=d.now))  # slips through
    assert d.acct.holds["RULE-012"].until == until


# --- the service's own closes and fills ----------------------------------------------------


def close_on_quote(contract: str) -> Any:
    def make(ctx: Any) -> Scripted:
        def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
            if isinstance(event, Quote) and event.contract_id == contract:
                return (
                    Verdict(
                        "RULE-T01",
                        Reason.POSITION_STOP_LOSS,
                        Action.CLOSE,
                        Scope.CONTRACT,
                        contract_id=contract,
                    ),
                )
            return ()

        return Scripted(ctx, script, level_triggered=False)

    return make


def test_a_loss_closed_by_the_service_starts_no_watch() -> None:
    d = Driver(make_engine({RevengeTrading: {}}, extra=[close_on_quote(ES)]))
    d.send(account())
    enter(d, ES, 1)
    d.send(quote(ES, "90"), order(980, ES, Side.SELL, 1, type=OrderType.MARKET))
    d.send(fill(ES, Side.SELL, 1, "90", pnl="-500", order_id=980), flat(ES))
    assert d.acct.day.trips[-1].enforced
    enter(d, ES, 2)
    assert d.acct.state is State.Trading and "RULE-012" not in d.acct.holds


def test_a_fill_of_the_service_own_close_is_never_a_re_entry() -> None:
    d = Driver(make_engine({RevengeTrading: {}}, extra=[close_on_quote(MNQ)]))
    d.send(account())
    enter(d, MNQ, 1)
    lose(d, "-150", NQ)  # the watch: 2 contracts fire it
    d.send(quote(MNQ, "90"), order(981, MNQ, Side.SELL, 1, type=OrderType.MARKET))
    d.send(fill(MNQ, Side.SELL, 1, "90", pnl="-5", order_id=982))  # the trader's exit, first
    d.send(fill(MNQ, Side.SELL, 1, "90", order_id=981))  # the close fills: it opens a short
    assert d.acct.day.fills[-1].entry == 1 and d.acct.day.fills[-1].enforcement
    assert rule(d).usage(d.acct, d.now).value == 0
    enter(d, ES, 1)
    assert "RULE-012" not in d.acct.holds


# --- locks ---------------------------------------------------------------------------------


def test_a_later_cooldown_extends_a_shorter_one() -> None:
    d = Driver(make_engine({RevengeTrading: {}, TradeCooldown: {}}))
    d.send(account())
    lose(d, "-100")  # RULE-008: 15 minutes
    assert d.acct.holds["RULE-008"].until == T0 + timedelta(minutes=15)
    later(d, 60)
    enter(d, ES, 2)  # slips through the cooldown: revenge, 30 minutes from now
    d.send(flat(ES))
    assert d.acct.state is State.Cooldown
    d.at(T0 + timedelta(minutes=15))
    assert d.acct.state is State.Cooldown  # RULE-008 ended, RULE-012 holds
    d.at(T0 + timedelta(minutes=31))
    assert d.acct.state is State.Trading


def test_a_shorter_cooldown_never_shortens_a_longer_one() -> None:
    d = Driver(make_engine({RevengeTrading: {"cooldown_minutes": "5"}, TradeCooldown: {}}))
    d.send(account())
    lose(d, "-600")  # RULE-008: 60 minutes
    enter(d, ES, 2)
    d.send(flat(ES))
    assert d.acct.holds["RULE-012"].until == T0 + timedelta(minutes=5)
    d.at(T0 + timedelta(minutes=30))
    assert d.acct.state is State.Cooldown
    d.at(T0 + timedelta(minutes=60))
    assert d.acct.state is State.Trading


def test_while_locked_daily_the_cooldown_keeps_the_lock_and_its_deadline() -> None:
    d = driver()
    lose(d)
    d.send(AdminCommand(ACC, State.LockedDaily, "risk desk", "ops"))
    daily = d.acct.holds["ADMIN"]
    d.send(fill(NQ, Side.BUY, 2, "100", order_id=next(_ids)))  # slips through
    assert "RULE-012" in d.acct.holds
    assert d.acct.state is State.LockedDaily and d.acct.holds["ADMIN"] == daily


# --- time ----------------------------------------------------------------------------------


def test_the_watch_is_real_time_across_the_fall_back_hour() -> None:
    # the loss at 01:59:30 CDT, the entry at 01:00:10 CST on 2026-11-01: 40 seconds later
    d = driver(datetime(2026, 11, 1, 6, 59, 30, tzinfo=UTC), seconds="60")
    lose(d)
    d.now = datetime(2026, 11, 1, 7, 0, 10, tzinfo=UTC)
    enter(d, ES, 2)
    assert "40s after" in d.acct.holds["RULE-012"].detail


def test_the_daily_reset_does_not_end_the_watch() -> None:
    reset = datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # 17:00 CDT on the spring-forward day
    d = driver(reset - timedelta(minutes=1))
    lose(d)
    d.at(reset)
    assert d.acct.day.start == reset
    later(d, 30)
    enter(d, ES, 2)
    assert "RULE-012" in d.acct.holds


def test_restart_keeps_the_watch() -> None:
    d = driver()
    lose(d)
    assert json.loads(json.dumps(d.acct.rule_state)) == d.acct.rule_state  # stored as JSON
    again = restart(d, lambda: make_engine({RevengeTrading: {}}), at=T0 + timedelta(seconds=120))
    enter(again, ES, 2)
    assert again.acct.holds["RULE-012"].until == again.now + timedelta(minutes=30)


def test_restart_during_the_cooldown_keeps_its_deadline() -> None:
    d = driver()
    lose(d)
    enter(d, ES, 2)
    d.send(flat(ES))
    until = d.acct.holds["RULE-012"].until
    again = restart(d, lambda: make_engine({RevengeTrading: {}}), at=T0 + timedelta(minutes=10))
    assert again.acct.state is State.Cooldown and again.engine.next_deadline() == until
    again.at(until)
    assert again.acct.state is State.Trading


# --- settings and usage --------------------------------------------------------------------


def test_defaults() -> None:
    cfg = rule(driver()).config
    assert (cfg.loss, cfg.seconds, cfg.mode) == (Decimal(100), 300.0, "size")
    assert (cfg.multiplier, cfg.cooldown_minutes) == (Decimal(2), 30)


def test_usage_is_the_running_watch() -> None:
    d = driver()
    assert rule(d).usage(d.acct, d.now).detail == "no recent loss"
    lose(d, size=2)
    enter(d, ES, 1)
    u = rule(d).usage(d.acct, d.now)
    assert (u.value, u.limit, u.fraction) == (Decimal(1), Decimal(4), Decimal("0.25"))
    assert rule(d).usage(d.acct, d.now + timedelta(seconds=301)).value == 0
