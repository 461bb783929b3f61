"""RULE-014 position_stop_loss: per position, from quotes, to the cent; closes that contract only,
locks nothing, never fires on a stale quote; locks held by others are not shortened."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk import schema
from fsm_risk.config import RuleSettings
from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.events import AccountUpdate, Event, Fill, OrderStatus, OrderType, Quote, Side
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.crosschecks import stop_within_daily_loss
from fsm_risk.rules.base import Action, Scope, Verdict
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from tests.factories import (
    ES,
    MNQ,
    MNQ_H27,
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
    reduces,
    restart,
    rule_driver,
    rule_engine,
    transitions,
)

engine = partial(rule_engine, PositionStopLoss, limit="250")
driver = partial(rule_driver, PositionStopLoss, limit="250")


# --- the edge ------------------------------------------------------------------------------


def test_a_long_one_cent_inside_its_stop_is_kept() -> None:
    d = driver()
    out = d.send(position(MNQ, 1, "21000"), quote(MNQ, "20875.25"))  # 499 ticks x $0.50
    assert closes(out) == [] and transitions(out) == []


@pytest.mark.parametrize(("limit", "fires"), [("249.51", False), ("249.50", True)])
def test_the_stop_is_judged_to_the_cent(limit: str, fires: bool) -> None:
    d = driver(limit=limit)
    d.send(position(MNQ, 1, "21000"), quote(MNQ, "20875.25"))  # -$249.50
    assert [c.contract_id for c in closes(d.effects)] == ([MNQ] if fires else [])


def test_a_long_exactly_at_its_stop_is_closed_and_nothing_else_is_touched() -> None:
    d = driver()
    d.send(
        position(MNQ, 2, "21000"),
        position(ES, 1, "6000"),
        quote(ES, "5996"),  # ES -$200: inside its stop (each position is judged alone)
        order(7, MNQ, Side.SELL, 2, type=OrderType.LIMIT, limit="21100"),
        order(8, ES, Side.SELL, 1, type=OrderType.LIMIT, limit="6100"),
    )
    d.effects.clear()
    out = d.send(quote(MNQ, "20937.50"))  # 2 x 250 ticks x $0.50 = -$250.00
    [close] = closes(out)
    assert (close.contract_id, close.rule_id, close.reason) == (
        MNQ,
        "RULE-014",
        Reason.POSITION_STOP_LOSS,
    )
    assert [(c.order_id, c.contract_id) for c in cancels(out)] == [(7, MNQ)]
    assert transitions(out) == [(MNQ, "Trading", "Flattening", "breach")]
    assert d.acct.state is State.Trading and d.acct.holds == {}


def test_the_es_loss_beyond_the_stop_fires_for_es_once_es_is_quoted() -> None:
    d = driver()
    d.send(position(ES, 1, "6000"), quote(ES, "5990"))  # -$500 on the first quote
    assert [c.contract_id for c in closes(d.effects)] == [ES]


def test_a_short_is_stopped_when_the_price_rises_to_the_limit() -> None:
    d = driver()
    d.send(position(ES, 1, "6000", long=False), quote(ES, "6004.75"))  # -19 ticks x 12.50
    assert closes(d.effects) == []
    out = d.send(quote(ES, "6005.00"))  # -20 ticks x $12.50 = -$250.00
    assert [c.contract_id for c in closes(out)] == [ES]


def test_after_the_close_the_contract_is_free_again_no_lock() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "20700"))
    out = d.send(flat(MNQ))
    assert (MNQ, "Flattening", "Trading", "flat_confirmed") in transitions(out)
    assert d.acct.contracts[MNQ].holds == {} and d.acct.state is State.Trading
    out = d.send(position(MNQ, 1, "20700"), quote(MNQ, "20700"))  # a fresh entry is allowed
    assert closes(out) == []


def test_one_close_in_flight_however_many_quotes_keep_the_position_beyond_its_stop() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"))
    for price in ("20700", "20650", "20600", "20550"):
        d.send(quote(MNQ, price))
    assert len(closes(d.effects)) == 1


def test_a_position_update_beyond_the_stop_at_a_fresh_mark_fires() -> None:
    d = driver()
    d.send(position(MNQ, 1, "21000"), quote(MNQ, "20950"))  # -$100
    assert closes(d.effects) == []
    d.send(position(MNQ, 3, "21000"))  # added at the same average: 3 x -$100 = -$300
    assert [c.contract_id for c in closes(d.effects)] == [MNQ]


# --- stale quotes --------------------------------------------------------------------------


def test_a_stale_quote_never_fires_the_stop() -> None:
    d = driver()
    d.now = T0 + timedelta(seconds=31)
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "20000", at=T0))  # old news: -$4,000
    assert closes(d.effects) == []
    d.send(position(MNQ, 3, "21000"))  # revalued at the same stale mark
    assert closes(d.effects) == []
    d.send(quote(MNQ, "20900", at=d.now))  # a fresh quote: now it is real
    assert [c.contract_id for c in closes(d.effects)] == [MNQ]


def test_a_position_with_no_quote_yet_is_never_stopped() -> None:
    d = driver()
    d.send(position(MNQ, 2, "30000"))  # far above any price, but no quote has arrived
    assert closes(d.effects) == []


def test_the_liquidation_mark_values_a_long_at_the_bid() -> None:
    d = Driver(make_engine({PositionStopLoss: {"limit": "250"}}, mark_mode=MarkMode.LIQUIDATION))
    d.send(account(), position(MNQ, 2, "21000"))
    d.send(quote(MNQ, "21000", bid="20937.75", ask="21000.25"))  # -$249.00 at the bid
    assert closes(d.effects) == []
    d.send(quote(MNQ, "21000", bid="20937.50", ask="21000.25"))  # -$250.00 at the bid
    assert [c.contract_id for c in closes(d.effects)] == [MNQ]
    last = driver()
    last.send(position(MNQ, 2, "21000"), quote(MNQ, "21000", bid="20000", ask="21000.25"))
    assert closes(last.effects) == []  # last-trade marks ignore the bid


# --- per-root limits -----------------------------------------------------------------------


def test_per_root_limits_override_the_default_and_months_share_their_root() -> None:
    d = driver(limits="NQ: 500, MNQ: 100")
    d.send(position(NQ, 1, "21000"), quote(NQ, "20975.25"))  # -99 ticks x $5 = -$495
    d.send(position(ES, 1, "6000"), quote(ES, "5980.25"))  # -79 ticks x $12.50 = -$987.50
    d.send(position(MNQ_H27, 1, "21000"), quote(MNQ_H27, "20950"))  # -$100: MNQ's limit
    assert sorted(c.contract_id for c in closes(d.effects)) == sorted([ES, MNQ_H27])
    d.send(quote(NQ, "20975.00"))  # -$500
    assert NQ in {c.contract_id for c in closes(d.effects)}


# --- locks ---------------------------------------------------------------------------------


def lock_without_flatten(ctx: Any) -> Scripted:
    """Another rule locks the account for the day but lets open positions stay."""

    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if not isinstance(event, AccountUpdate) or event.balance >= 50000:
            return ()
        until = ctx.calendar.next_daily_reset(now)
        return (
            Verdict(
                "RULE-T01",
                Reason.MAX_TRADES_PER_DAY,
                Action.LOCK,
                lock=State.LockedDaily,
                until=until,
            ),
        )

    return Scripted(ctx, script)


def test_the_stop_closes_a_position_the_account_lock_tolerates_and_the_lock_stays() -> None:
    d = Driver(make_engine({PositionStopLoss: {"limit": "250"}}, extra=[lock_without_flatten]))
    d.send(account(), position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    d.send(account("49000"))
    assert d.acct.state is State.LockedDaily and closes(d.effects) == []  # MNQ may stay
    out = d.send(quote(MNQ, "20937.50"))
    assert [(c.contract_id, c.rule_id) for c in closes(out)] == [(MNQ, "RULE-014")]
    out = d.send(flat(MNQ))
    assert transitions(out) == [(MNQ, "Flattening", "Trading", "flat_confirmed")]
    assert d.acct.state is State.LockedDaily  # the account's lock is not shortened
    assert d.acct.holds["RULE-T01"].until == d.engine.calendar.next_daily_reset(T0)


def contract_lock(ctx: Any) -> Scripted:
    """Another rule blocks MNQ for the day (a contract lock, as symbol_block would)."""

    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if not isinstance(event, AccountUpdate) or event.balance >= 50000:
            return ()
        return (
            Verdict(
                "RULE-T01",
                Reason.SYMBOL_BLOCKED,
                Action.CLOSE,
                Scope.CONTRACT,
                lock=State.LockedDaily,
                until=ctx.calendar.next_daily_reset(now),
                contract_id=MNQ,
            ),
        )

    return Scripted(ctx, script)


def test_the_stop_never_shortens_a_contract_lock_nor_sends_a_second_close() -> None:
    d = Driver(make_engine({PositionStopLoss: {"limit": "250"}}, extra=[contract_lock]))
    d.send(account(), position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    d.send(account("49000"))  # MNQ blocked: its close is in flight
    assert [c.rule_id for c in closes(d.effects)] == ["RULE-T01"]
    d.send(quote(MNQ, "20700"))  # the stop is breached too
    assert len(closes(d.effects)) == 1
    out = d.send(flat(MNQ))
    assert transitions(out) == [(MNQ, "Flattening", "LockedDaily", "flat_confirmed")]
    assert set(d.acct.contracts[MNQ].holds) == {"RULE-T01"}


def test_when_the_daily_limit_fires_on_the_same_quote_the_account_lock_wins() -> None:
    d = Driver(make_engine({PositionStopLoss: {"limit": "250"}, DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), position(MNQ, 2, "21000"))
    out = d.send(quote(MNQ, "20000"))  # -$4,000: both rules fire on one quote
    assert [c.contract_id for c in closes(out)] == [MNQ]  # one close, not two
    assert (None, "Trading", "Flattening", "breach") in transitions(out)
    d.send(flat(MNQ))
    assert d.acct.state is State.LockedDaily  # the daily lock wins over "no lock"
    assert set(d.acct.holds) == {"RULE-003"}


# --- the audit log ---------------------------------------------------------------------------


def test_a_stop_firing_while_a_reduce_is_on_its_way_has_an_audit_row_of_its_own_once() -> None:
    # reported: a position stop that turned RULE-002's reduce into a close had no breach line,
    # only the later "flat_confirmed RULE-014"
    limits = {"default_limit": "3"}
    d = Driver(make_engine({MaxContractsPerInstrument: limits, PositionStopLoss: {"limit": "250"}}))
    d.send(account(), quote(MNQ, "21000"))
    out = d.send(position(MNQ, 4, "21000"))  # RULE-002: reduce 4 -> 3, on its way
    assert [(r.size, r.rule_id) for r in reduces(out)] == [(1, "RULE-002")]
    out = d.send(quote(MNQ, "20960"))  # 4 x 40 pts x $2 = -320: RULE-014 closes it all
    out += d.send(quote(MNQ, "20950"))  # fires again: not recorded again
    assert transitions(out) == [(MNQ, "Flattening", "Flattening", "fired")]
    [row] = [e.entry for e in out if isinstance(e, RecordTransition)]
    assert row.rule_id == "RULE-014" and row.reason.startswith("POSITION_STOP_LOSS: 4 ")
    assert d.acct.contracts[MNQ].target_size == 0  # enforced as before: the reduce is a close
    out = d.send(flat(MNQ))
    assert transitions(out) == [(MNQ, "Flattening", "Trading", "flat_confirmed")]


def test_a_rule_joining_an_account_flatten_without_a_hold_is_recorded_once() -> None:
    ids = iter(["RULE-T01", "RULE-T02"])

    def flatten(rule: str) -> Any:
        verdict = Verdict(rule, Reason.MAX_CONTRACTS, Action.FLATTEN)
        on = {"RULE-T01": Fill, "RULE-T02": Quote}[rule]
        return lambda ctx: Scripted(
            ctx, lambda v, e, n: (verdict,) if isinstance(e, on) else (), next(ids)
        )

    d = Driver(make_engine(extra=[flatten("RULE-T01"), flatten("RULE-T02")]))
    d.send(account(), position(MNQ, 1, "21000"), fill(MNQ, Side.BUY, 1, "21000"))
    assert d.acct.state is State.Flattening and d.acct.flatten_cause == "RULE-T01"
    out = d.send(quote(MNQ, "21001"), quote(MNQ, "21002"))
    assert transitions(out) == [(None, "Flattening", "Flattening", "fired")]
    assert d.acct.flatten_cause == "RULE-T01,RULE-T02"


# --- restart -------------------------------------------------------------------------------


def test_after_a_restart_the_restored_position_is_stopped_on_the_next_quote() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "20950"))  # -$200: kept
    again = restart(d, engine, at=T0 + timedelta(seconds=5))
    assert closes(again.effects) == []
    out = again.send(quote(MNQ, "20937.50", at=again.now))  # -$250
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_a_close_in_flight_survives_a_restart_and_is_not_sent_twice() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "20700"))
    again = restart(d, engine, at=T0 + timedelta(seconds=1))
    assert again.acct.contracts[MNQ].state is State.Flattening
    again.send(quote(MNQ, "20690", at=again.now))
    assert closes(again.effects) == []  # the first close is still within its timeout
    again.send(flat(MNQ))
    assert again.acct.contracts[MNQ].state is State.Trading


# --- settings, cross-check and status -------------------------------------------------------


def test_defaults_are_a_250_stop_for_every_root() -> None:
    [rule] = make_engine({PositionStopLoss: {}}).rules
    assert rule.config.limit == Decimal("250") and rule.config.limits == {}
    assert PositionStopLoss.level_triggered and not PositionStopLoss.stateful


def settings(cls: Any, **raw: str) -> RuleSettings:
    values, problems = schema.parse_section("t.ini", "rule." + cls.name, cls.fields, raw)
    assert problems == []
    return RuleSettings(cls, True, cls.configure(values), values)


def test_cross_check_wants_every_stop_tighter_than_the_daily_loss_limit() -> None:
    daily = settings(DailyLossLimit, limit="1000")
    ok = settings(PositionStopLoss, limit="999.99", limits="NQ: 999.99")
    assert (
        stop_within_daily_loss("t.ini", {"position_stop_loss": ok, "daily_loss_limit": daily}) == []
    )
    bad = settings(PositionStopLoss, limit="1000", limits="NQ: 1500, MNQ: 100")
    problems = stop_within_daily_loss(
        "t.ini", {"position_stop_loss": bad, "daily_loss_limit": daily}
    )
    assert [(p.section, p.key) for p in problems] == [
        ("rule.position_stop_loss", "limit"),
        ("rule.position_stop_loss", "limits"),
    ]
    assert "NQ: 1500" in problems[1].reason and "[rule.daily_loss_limit]" in problems[1].reason
    assert stop_within_daily_loss("t.ini", {"position_stop_loss": bad}) == []  # RULE-003 off


def test_usage_shows_the_position_closest_to_its_stop() -> None:
    d = driver(limits="NQ: 500")
    d.send(position(NQ, 1, "21000"), quote(NQ, "20980"))  # -$400 of $500: 0.8
    d.send(position(MNQ, 1, "21000"), quote(MNQ, "20962.50"))  # -$75 of $250: 0.3
    u = d.engine.rules[0].usage(d.acct, d.now)
    assert u is not None
    assert (u.value, u.limit, u.fraction, u.detail) == (
        Decimal("-400"),
        Decimal("-500"),
        Decimal("0.8"),
        NQ,
    )
    assert driver().engine.rules[0].usage(driver().acct, T0) is None


def test_orders_of_other_contracts_survive_the_stop() -> None:
    d = driver()
    d.send(
        position(MNQ, 1, "21000"),
        order(9, NQ, Side.BUY, 1, limit="20000"),
        quote(MNQ, "20500"),
    )
    assert cancels(d.effects) == []
    assert d.acct.orders[9].status is OrderStatus.OPEN
