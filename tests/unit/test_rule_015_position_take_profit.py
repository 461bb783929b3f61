"""RULE-015 position_take_profit: per position, from quotes, to the cent; closes that contract
only, locks nothing, never fires on a stale quote; locks held by others are not shortened."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk import schema
from fsm_risk.config import RuleSettings
from fsm_risk.core.events import AccountUpdate, Event, OrderStatus, OrderType, Side
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.crosschecks import take_profit_within_daily_target
from fsm_risk.rules.base import Action, Verdict
from fsm_risk.rules.daily_profit_target import DailyProfitTarget
from fsm_risk.rules.position_take_profit import (
    PositionTakeProfit,
)
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
    flat,
    make_engine,
    order,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    transitions,
)

engine = partial(rule_engine, PositionTakeProfit, target="500")
driver = partial(rule_driver, PositionTakeProfit, target="500")


# --- the edge ------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "fires"), [("499.51", False), ("499.50", True)])
def test_the_target_is_judged_to_the_cent(target: str, fires: bool) -> None:
    d = driver(target=target)
    d.send(position(MNQ, 1, "21000"), quote(MNQ, "21249.75"))  # 999 ticks x $0.50 = $499.50
    assert [c.contract_id for c in closes(d.effects)] == ([MNQ] if fires else [])


def test_a_long_exactly_at_its_target_is_closed_with_its_own_orders_only() -> None:
    d = driver()
    d.send(
        position(MNQ, 1, "21000"),
        position(ES, 1, "6000"),
        quote(ES, "6009"),  # ES +$450: inside its target
        order(7, MNQ, Side.SELL, 1, type=OrderType.STOP, stop="20950"),  # the trader's stop
        order(8, ES, Side.SELL, 1, type=OrderType.STOP, stop="5990"),
    )
    out = d.send(quote(MNQ, "21249.75"))
    assert closes(out) == []
    out = d.send(quote(MNQ, "21250.00"))  # +$500.00
    [close] = closes(out)
    assert (close.contract_id, close.rule_id, close.reason) == (
        MNQ,
        "RULE-015",
        Reason.POSITION_TAKE_PROFIT,
    )
    assert [(c.order_id, c.contract_id) for c in cancels(out)] == [(7, MNQ)]
    assert transitions(out) == [(MNQ, "Trading", "Flattening", "breach")]
    assert d.acct.state is State.Trading and d.acct.holds == {}
    out = d.send(flat(MNQ))
    assert transitions(out) == []  # order 7 still works at the broker: not flat yet
    out = d.send(
        order(7, MNQ, Side.SELL, 1, type=OrderType.STOP, stop="20950", status=OrderStatus.CANCELLED)
    )
    assert transitions(out) == [(MNQ, "Flattening", "Trading", "flat_confirmed")]
    assert d.acct.contracts[MNQ].holds == {}  # no lock: the trader may trade MNQ again


def test_a_short_takes_profit_when_the_price_falls_to_the_target() -> None:
    d = driver()
    d.send(position(ES, 1, "6000", long=False), quote(ES, "5990.25"))  # +$487.50
    assert closes(d.effects) == []
    out = d.send(quote(ES, "5990.00"))  # +$500.00
    assert [c.contract_id for c in closes(out)] == [ES]


def test_one_close_in_flight_however_many_quotes_keep_the_profit() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"))
    for price in ("21300", "21310", "21320"):
        d.send(quote(MNQ, price))
    assert len(closes(d.effects)) == 1


# --- stale quotes and marks ----------------------------------------------------------------


def test_a_stale_quote_never_takes_profit() -> None:
    d = driver()
    d.now = T0 + timedelta(seconds=31)
    d.send(position(MNQ, 1, "21000"), quote(MNQ, "22000", at=T0))  # old news: +$2,000
    d.send(position(MNQ, 2, "21000"))  # revalued at the same stale mark
    assert closes(d.effects) == []
    d.send(quote(MNQ, "21125", at=d.now))  # fresh: 2 x +$250
    assert [c.contract_id for c in closes(d.effects)] == [MNQ]


def test_the_liquidation_mark_values_a_short_at_the_ask() -> None:
    d = Driver(make_engine({PositionTakeProfit: {"target": "500"}}, mark_mode=MarkMode.LIQUIDATION))
    d.send(account(), position(ES, 1, "6000", long=False))
    d.send(quote(ES, "5980", bid="5980", ask="5990.25"))  # +$487.50 at the ask
    assert closes(d.effects) == []
    d.send(quote(ES, "5980", bid="5980", ask="5990.00"))
    assert [c.contract_id for c in closes(d.effects)] == [ES]


def test_per_root_targets_override_the_default() -> None:
    d = driver(targets="NQ: 1000")
    d.send(position(NQ, 1, "21000"), quote(NQ, "21025"))  # +$500: NQ's target is $1,000
    assert closes(d.effects) == []
    d.send(quote(NQ, "21050"))  # +$1,000
    assert [c.contract_id for c in closes(d.effects)] == [NQ]


# --- locks ---------------------------------------------------------------------------------


def lock_without_flatten(ctx: Any) -> Scripted:
    """Another rule locks the account for the day but lets open positions stay."""

    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if not isinstance(event, AccountUpdate) or event.balance >= 50000:
            return ()
        until = ctx.calendar.next_daily_reset(now)
        verdict = Verdict(
            "RULE-T01", Reason.MAX_TRADES_PER_DAY, Action.LOCK, lock=State.LockedDaily, until=until
        )
        return (verdict,)

    return Scripted(ctx, script)


def test_take_profit_closes_a_tolerated_position_and_the_account_lock_stays() -> None:
    d = Driver(make_engine({PositionTakeProfit: {"target": "500"}}, extra=[lock_without_flatten]))
    d.send(account(), position(MNQ, 1, "21000"), quote(MNQ, "21000"))
    d.send(account("49000"))
    assert d.acct.state is State.LockedDaily and closes(d.effects) == []
    out = d.send(quote(MNQ, "21250"))
    assert [(c.contract_id, c.rule_id) for c in closes(out)] == [(MNQ, "RULE-015")]
    d.send(flat(MNQ))
    assert d.acct.contracts[MNQ].state is State.Trading
    assert d.acct.state is State.LockedDaily
    assert d.acct.holds["RULE-T01"].until == d.engine.calendar.next_daily_reset(T0)


def test_when_the_daily_target_fires_on_the_same_quote_the_account_lock_wins() -> None:
    d = Driver(
        make_engine({PositionTakeProfit: {"target": "500"}, DailyProfitTarget: {"target": "1500"}})
    )
    d.send(account(), position(MNQ, 2, "21000"))
    out = d.send(quote(MNQ, "21500"))  # +$2,000: both rules fire
    assert [c.contract_id for c in closes(out)] == [MNQ]
    d.send(flat(MNQ))
    assert d.acct.state is State.LockedDaily and set(d.acct.holds) == {"RULE-005"}


def test_after_a_restart_the_restored_position_takes_profit_on_the_next_quote() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"), quote(MNQ, "21100"))
    again = restart(d, engine, at=T0 + timedelta(seconds=5))
    out = again.send(quote(MNQ, "21250", at=again.now))
    assert [c.contract_id for c in closes(out)] == [MNQ]


# --- settings, cross-check and status -------------------------------------------------------


def test_defaults_are_a_500_target_for_every_root() -> None:
    [rule] = make_engine({PositionTakeProfit: {}}).rules
    assert rule.config.target == Decimal("500") and rule.config.targets == {}
    assert PositionTakeProfit.level_triggered and not PositionTakeProfit.stateful


def settings(cls: Any, **raw: str) -> RuleSettings:
    values, problems = schema.parse_section("t.ini", "rule." + cls.name, cls.fields, raw)
    assert problems == []
    return RuleSettings(cls, True, cls.configure(values), values)


def test_cross_check_wants_every_take_profit_below_the_daily_target() -> None:
    daily = settings(DailyProfitTarget, target="1500")
    ok = settings(PositionTakeProfit, target="1499.99")
    rules = {"position_take_profit": ok, "daily_profit_target": daily}
    assert take_profit_within_daily_target("t.ini", rules) == []
    rules["position_take_profit"] = settings(PositionTakeProfit, target="1500", targets="NQ: 2000")
    problems = take_profit_within_daily_target("t.ini", rules)
    assert [(p.section, p.key) for p in problems] == [
        ("rule.position_take_profit", "target"),
        ("rule.position_take_profit", "targets"),
    ]
    assert "[rule.daily_profit_target]" in problems[0].reason


def test_usage_shows_the_position_closest_to_its_target() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"), quote(MNQ, "21200"))  # +$400 of $500
    d.send(position(ES, 1, "6000"), quote(ES, "5990"))  # a loss: nothing of the target
    u = d.engine.rules[0].usage(d.acct, d.now)
    assert u is not None
    assert (u.value, u.limit, u.fraction, u.detail) == (
        Decimal("400"),
        Decimal("500"),
        Decimal("0.8"),
        MNQ,
    )
