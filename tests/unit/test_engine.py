"""The engine: flatten-then-lock, confirmation, one close per contract, feedback immunity,
lock-on-sight, retries, admin overrides and failing closed."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.core.effects import Alert, Level, WatchContract
from fsm_risk.core.engine import ADMIN, ENGINE
from fsm_risk.core.events import (
    AdminCommand,
    EnforcementRejected,
    Event,
    Fill,
    OrderStatus,
    OrderType,
    PositionType,
    PositionUpdate,
    Quote,
    Side,
    TradesSnapshot,
)
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.rules.base import Action, RuleContext, Scope, Verdict
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ACC,
    DAILY,
    ES,
    MNQ,
    NQ,
    T0,
    Driver,
    Scripted,
    account,
    alerts,
    cancels,
    closes,
    fill,
    flat,
    gateway_read,
    make_engine,
    order,
    position,
    quote,
    reads,
    reduces,
    restart,
    transitions,
    trip_on,
)


def loaded(driver: Driver) -> None:
    """2 MNQ long, 1 ES short and a working buy limit in NQ."""
    driver.send(
        account(),
        position(MNQ, 2, "21000"),
        position(ES, 1, "6000", long=False),
        order(77, NQ, Side.BUY, 1, limit="20000"),
    )


@pytest.fixture
def daily_loss() -> Driver:
    return Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))


# --- flatten, confirm, lock ----------------------------------------------------------------


def test_breach_flattens_every_position_and_cancels_every_order(daily_loss: Driver) -> None:
    d = daily_loss
    loaded(d)
    # MNQ falls 1,000 points: 2 contracts x 1000 / 0.25 x $0.50 = -$4,000 unrealized
    out = d.send(quote(ES, "6000"), quote(MNQ, "20000"))
    assert d.acct.state is State.Flattening
    assert sorted(c.contract_id for c in closes(out)) == sorted([MNQ, ES])
    assert [c.order_id for c in cancels(out)] == [77]
    assert (None, "Trading", "Flattening", "breach") in transitions(out)
    assert all(c.rule_id == "RULE-003" for c in closes(out))
    assert all(c.reason is Reason.DAILY_LOSS_LIMIT for c in closes(out))
    assert cancels(out)[0].reason is Reason.DAILY_LOSS_LIMIT


def test_flattening_confirms_only_when_really_flat(daily_loss: Driver) -> None:
    d = daily_loss
    loaded(d)
    d.send(quote(ES, "6000"), quote(MNQ, "20000"))
    d.send(flat(MNQ))
    assert d.acct.state is State.Flattening  # ES still open, NQ order still working
    d.send(flat(ES))
    assert d.acct.state is State.Flattening  # the order is still working
    d.send(order(77, NQ, Side.BUY, 1, status=OrderStatus.PENDING_CANCEL, limit="20000"))
    assert d.acct.state is State.Flattening  # pending cancellation is still working
    out = d.send(order(77, NQ, Side.BUY, 1, status=OrderStatus.CANCELLED, limit="20000"))
    assert d.acct.state is State.LockedDaily
    assert (None, "Flattening", "LockedDaily", "flat_confirmed") in transitions(out)
    lock = d.acct.holds["RULE-003"]
    assert lock.until == d.engine.calendar.next_daily_reset(T0)


def test_hundred_duplicate_position_updates_while_flattening_make_one_close_per_contract(
    daily_loss: Driver,
) -> None:
    d = daily_loss
    loaded(d)
    d.send(quote(ES, "6000"), quote(MNQ, "20000"))
    for _ in range(100):
        d.send(position(MNQ, 2, "21000"), position(ES, 1, "6000", long=False))
        d.send(quote(MNQ, "19990"))
    per_contract = [c.contract_id for c in closes(d.effects)]
    assert sorted(per_contract) == sorted([MNQ, ES])
    assert len(cancels(d.effects)) == 1


def test_new_breaches_while_flattening_do_not_start_a_second_flatten() -> None:
    weekly = Verdict(
        "RULE-T01",
        Reason.WEEKLY_LOSS_LIMIT,
        Action.FLATTEN,
        lock=State.LockedWeekly,
        until=T0 + timedelta(days=6),
    )
    d = Driver(make_engine(extra=[trip_on(Quote, weekly)]))
    d.send(account(), position(MNQ, 1, "21000"))
    d.send(quote(MNQ, "21000"))
    assert d.acct.state is State.Flattening
    d.send(quote(MNQ, "20990"), quote(MNQ, "20980"))
    assert len(closes(d.effects)) == 1
    assert [t for t in transitions(d.effects) if t[0] is None] == [
        (None, "Trading", "Flattening", "breach")
    ]


def test_already_flat_account_passes_through_flattening_into_the_lock() -> None:
    d = Driver(make_engine(extra=[trip_on(Fill, DAILY)]))
    d.send(account())
    out = d.send(fill(MNQ, Side.BUY, 1, "21000"))
    assert d.acct.state is State.Flattening  # the fill says 1 is open: not flat yet
    out += d.send(flat(MNQ))  # the gateway: closed already (its fill is on its way)
    assert d.acct.state is State.LockedDaily
    assert [t[1:] for t in transitions(out)] == [
        ("Trading", "Flattening", "breach"),
        ("Flattening", "LockedDaily", "flat_confirmed"),
    ]


def test_lock_expires_at_its_stored_deadline_and_not_before() -> None:
    cool = Verdict(
        "RULE-T01",
        Reason.TRADE_COOLDOWN,
        Action.FLATTEN,
        lock=State.Cooldown,
        until=T0 + timedelta(minutes=15),
    )
    d = Driver(make_engine(extra=[trip_on(Fill, cool)]))
    d.send(account(), fill(MNQ, Side.BUY, 1, "21000"), flat(MNQ))
    assert d.acct.state is State.Cooldown
    assert d.engine.next_deadline() == T0 + timedelta(minutes=15)
    d.advance(minutes=14, seconds=59)
    assert d.acct.state is State.Cooldown
    out = d.advance(seconds=1)
    assert d.acct.state is State.Trading
    assert (None, "Cooldown", "Trading", "release") in transitions(out)


# --- feedback immunity -------------------------------------------------------------------


def test_service_own_closing_fills_never_count_as_trader_trades(daily_loss: Driver) -> None:
    d = daily_loss
    loaded(d)
    d.send(quote(ES, "6000"), quote(MNQ, "20000"))
    # the gateway's market order for our closeContract, then its fill
    d.send(order(900, MNQ, Side.SELL, 2, type=OrderType.MARKET))
    d.send(fill(MNQ, Side.SELL, 2, "20000", pnl="-4000", fees="1.48", order_id=900))
    rec = d.acct.day.fills[-1]
    assert rec.enforcement and rec.entry == 0 and rec.exit == 2
    assert 900 in d.acct.own_orders
    assert d.acct.day.realized == Decimal("-4001.48")


def test_enforcement_fill_cannot_trigger_a_rule() -> None:
    seen: list[Event] = []

    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        seen.append(event)
        return ()

    close_mnq = Verdict(
        "RULE-T02", Reason.POSITION_HOLD_TIME, Action.CLOSE, Scope.CONTRACT, contract_id=MNQ
    )
    d = Driver(
        make_engine(
            extra=[
                lambda ctx: Scripted(ctx, script),
                trip_on(PositionUpdate, close_mnq),
            ]
        )
    )
    d.send(account(), position(MNQ, 1, "21000"))
    assert d.acct.contracts[MNQ].state is State.Flattening
    seen.clear()
    own_fill = fill(MNQ, Side.SELL, 1, "20990", pnl="-20", order_id=5)
    d.send(own_fill)
    assert own_fill not in seen
    assert d.acct.day.fills[-1].enforcement


def test_a_fill_that_increases_exposure_during_flatten_is_the_traders(daily_loss: Driver) -> None:
    d = daily_loss
    loaded(d)
    d.send(quote(ES, "6000"), quote(MNQ, "20000"))
    d.send(fill(MNQ, Side.BUY, 1, "20000", order_id=55))  # the trader adds while we flatten
    rec = d.acct.day.fills[-1]
    assert not rec.enforcement and rec.entry == 1


def test_duplicate_and_voided_fills_are_ignored() -> None:
    d = Driver(make_engine())
    d.send(account())
    f = fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=42)
    d.send(f, f, f)
    assert len(d.acct.day.fills) == 1 and d.acct.day.realized == Decimal("-0.74")
    d.send(Fill(ACC, 43, MNQ, 1, Side.BUY, 1, f.price, None, f.fees, T0, voided=True))
    assert len(d.acct.day.fills) == 1


# --- lock on sight -----------------------------------------------------------------------


def test_opening_order_while_locked_is_cancelled_on_sight(locked: Driver) -> None:
    out = locked.send(order(5, NQ, Side.BUY, 1, limit="20000"))
    [c] = cancels(out)
    assert c.order_id == 5 and c.reason is Reason.ORDER_WHILE_LOCKED
    # seen again before the cancel is confirmed: no second cancel
    assert cancels(locked.send(order(5, NQ, Side.BUY, 1, limit="20000"))) == []


def test_position_appearing_while_locked_is_closed_at_once(locked: Driver) -> None:
    out = locked.send(position(ES, 1, "6000"))
    [c] = closes(out)
    assert c.contract_id == ES and c.reason is Reason.POSITION_WHILE_LOCKED
    assert locked.acct.contracts[ES].state is State.Flattening
    out = locked.send(flat(ES))
    assert locked.acct.contracts[ES].state is State.Trading
    assert locked.acct.state is State.LockedDaily


def test_orders_placed_while_a_locked_position_closes_are_cancelled(locked: Driver) -> None:
    locked.send(position(ES, 2, "6000"))  # appears: close in flight
    out = locked.send(order(6, ES, Side.SELL, 2, type=OrderType.STOP, stop="5990"))
    # a protective stop placed while our close of everything is on its way would sell 2
    # once that close fills, opening a short: cancelled as the close's own (not as opening)
    assert [(c.order_id, c.reason) for c in cancels(out)] == [(6, Reason.ORDER_RESIZED)]
    out = locked.send(order(7, ES, Side.BUY, 1, limit="5990"))
    assert [(c.order_id, c.reason) for c in cancels(out)] == [(7, Reason.ORDER_WHILE_LOCKED)]


def test_close_not_confirmed_is_resent_with_backoff_and_alerts(locked: Driver) -> None:
    d = locked
    d.send(position(ES, 1, "6000"))
    assert len(closes(d.effects)) == 1
    d.advance(seconds=9)
    assert len(closes(d.effects)) == 1
    d.advance(seconds=1)  # 10 s: the gateway is read first
    assert len(closes(d.effects)) == 1 and len(reads(d.effects)) == 1
    gateway_read(d, position(ES, 1, "6000"))  # still open, nothing working: re-sent
    assert [c.attempt for c in closes(d.effects)] == [1, 2]
    d.advance(seconds=10)  # backoff doubled to 20 s: not yet
    assert len(closes(d.effects)) == 2 and len(reads(d.effects)) == 1
    d.advance(seconds=10)
    gateway_read(d, position(ES, 1, "6000"))
    assert [c.attempt for c in closes(d.effects)] == [1, 2, 3]
    crit = [a for a in alerts(d.effects) if a.level is Level.CRITICAL]
    assert [a.reason for a in crit] == [Reason.CLOSE_FAILING]


def test_a_close_still_working_at_the_gateway_is_not_sent_twice(locked: Driver) -> None:
    d = locked
    d.send(position(ES, 1, "6000"))
    # the gateway's market order for our close is accepted but not filled (a fill delay)
    d.send(order(901, ES, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.PENDING))
    assert 901 in d.acct.own_orders
    out = d.advance(seconds=10)
    assert closes(out) == []  # a second close would reverse the position once both fill
    assert [a.reason for a in alerts(out)] == [Reason.CLOSE_NOT_CONFIRMED]
    d.send(order(901, ES, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.REJECTED))
    d.advance(seconds=20)
    assert [c.attempt for c in closes(d.effects)] == [1, 3]  # gone: re-sent


def test_rejected_close_is_alerted_and_retried(locked: Driver) -> None:
    d = locked
    d.send(position(ES, 1, "6000"))
    out = d.send(EnforcementRejected(ACC, ES, None, "order rejected: market closed"))
    assert [a.reason for a in alerts(out)] == [Reason.CLOSE_REJECTED]
    d.advance(seconds=10)
    assert len(closes(d.effects)) == 2


# --- contract verdicts ------------------------------------------------------------------


def test_reduce_partially_closes_and_confirms_at_the_target_size() -> None:
    reduce_to_2 = Verdict(
        "RULE-T01",
        Reason.MAX_CONTRACTS,
        Action.REDUCE,
        Scope.CONTRACT,
        contract_id=MNQ,
        target_size=2,
    )
    d = Driver(make_engine(extra=[trip_on(PositionUpdate, reduce_to_2)]))
    out = d.send(account(), position(MNQ, 5, "21000"))
    [r] = reduces(out)
    assert (r.contract_id, r.size) == (MNQ, 3)
    assert d.acct.contracts[MNQ].state is State.Flattening
    out = d.send(position(MNQ, 2, "21000"))
    assert d.acct.contracts[MNQ].state is State.Trading
    assert d.acct.state is State.Trading


# --- admin -------------------------------------------------------------------------------


def test_admin_forces_trading_and_the_cleared_rule_is_waived_until_its_lock_would_end(
    daily_loss: Driver,
) -> None:
    d = daily_loss
    d.send(account(), fill(MNQ, Side.BUY, 1, "21000"), position(MNQ, 1, "21000"))
    d.send(quote(MNQ, "18000"), fill(MNQ, Side.SELL, 1, "18000", pnl="-6000"), flat(MNQ))
    assert d.acct.state is State.LockedDaily
    out = d.send(AdminCommand(ACC, State.Trading, "limit was misconfigured", "ops"))
    assert d.acct.state is State.Trading
    [entry] = [e for e in transitions(out)]
    assert entry[1:] == ("LockedDaily", "Trading", "force")
    # the day is still past the limit, but the override sticks until the next reset
    d.send(quote(MNQ, "21000"), fill(MNQ, Side.BUY, 1, "21000", order_id=2))
    d.send(position(MNQ, 1, "21000"), quote(MNQ, "20999"))
    assert d.acct.state is State.Trading
    d.at(d.engine.calendar.next_daily_reset(T0) + timedelta(seconds=1))
    assert ADMIN not in d.acct.rule_state or not d.acct.rule_state[ADMIN].get("waivers")


def test_admin_forced_lock_closes_what_is_open(daily_loss: Driver) -> None:
    d = daily_loss
    d.send(account(), position(MNQ, 1, "21000"), quote(MNQ, "21000"))
    out = d.send(AdminCommand(ACC, State.LockedWeekly, "risk desk", "ops"))
    assert d.acct.state is State.LockedWeekly
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert d.acct.holds[ADMIN].until == d.engine.calendar.next_weekly_reset(T0)


def test_admin_forced_cooldown_uses_the_given_minutes(daily_loss: Driver) -> None:
    d = daily_loss
    d.send(account())
    d.send(AdminCommand(ACC, State.Cooldown, "breathe", "ops", minutes=5))
    assert d.acct.holds[ADMIN].until == T0 + timedelta(minutes=5)


def test_admin_cannot_lock_a_contract_weekly(daily_loss: Driver) -> None:
    d = daily_loss
    d.send(account())
    with pytest.raises(FsmRiskError, match="no LockedWeekly"):
        d.send(AdminCommand(ACC, State.LockedWeekly, "x", "ops", contract_id=MNQ))


# --- failing closed ----------------------------------------------------------------------


def test_an_unexpected_error_leaves_the_account_flattening_into_a_lock() -> None:
    def broken(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, Quote):
            raise ZeroDivisionError("bug")
        return ()

    d = Driver(make_engine(extra=[lambda ctx: Scripted(ctx, broken)]))
    d.send(account(), position(MNQ, 1, "21000"))
    out = d.send(quote(MNQ, "21000"))
    assert d.acct.state is State.Flattening
    assert ENGINE in d.acct.holds and d.acct.holds[ENGINE].kind is State.LockedDaily
    assert [a.reason for a in alerts(out)] == [Reason.FAILSAFE]
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_position_in_unknown_contract_is_closed_and_alerted_when_the_gateway_is_silent() -> None:
    d = Driver(make_engine())
    d.send(account(), position("CON.F.US.ZZZ.Z26", 1, "10"))
    out = d.advance(seconds=10)  # (see test_unpriced: it waits for the gateway's word first)
    assert [(a.level, a.reason) for a in alerts(out)] == [
        (Level.CRITICAL, Reason.UNKNOWN_INSTRUMENT)
    ]
    assert [c.contract_id for c in closes(out)] == ["CON.F.US.ZZZ.Z26"]


# --- quotes ------------------------------------------------------------------------------


def test_quotes_touch_only_the_accounts_that_hold_the_contract() -> None:
    calls: list[int] = []

    def count(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, Quote):
            calls.append(view.account_id)
        return ()

    d = Driver(make_engine(extra=[lambda ctx: Scripted(ctx, count)]))
    for acc in range(1, 51):
        d.send(account(acc=acc))
    out = d.send(position(MNQ, 1, "21000", acc=7))
    assert WatchContract(MNQ, True) in out
    d.send(quote(MNQ, "21001"), quote(ES, "6000"))
    assert calls == [7]
    assert WatchContract(MNQ, False) in d.send(flat(MNQ, acc=7))


def test_an_older_quote_never_overwrites_a_newer_one() -> None:
    d = Driver(make_engine())
    d.send(account(), position(MNQ, 1, "21000"))
    d.send(quote(MNQ, "21010", at=T0 + timedelta(seconds=2)))
    d.send(quote(MNQ, "20000", at=T0 + timedelta(seconds=1)))
    assert d.acct.open_upnl == Decimal("20.00")


def test_alerts_carry_no_secret_and_name_the_account() -> None:
    d = Driver(make_engine())
    out = d.send(account(), position("CON.F.US.ZZZ.Z26", 1, "10"))
    assert all(isinstance(a, Alert) and a.account_id == ACC for a in alerts(out))


def test_context_is_shared_with_rules() -> None:
    e = make_engine(extra=[lambda ctx: Scripted(ctx, lambda v, ev, n: ())])
    rule = e.rules[0]
    assert isinstance(rule.ctx, RuleContext) and rule.ctx.marks is e.marks


def test_an_indefinite_hold_of_a_rule_no_longer_configured_is_released_on_restart() -> None:
    blocked = Verdict(
        "RULE-T01", Reason.TRADING_PERMISSION, Action.FLATTEN, lock=State.LockedDaily, until=None
    )
    d = Driver(make_engine(extra=[trip_on(Fill, blocked)]))
    d.send(account(), fill(MNQ, Side.BUY, 1, "21000"), flat(MNQ))
    assert d.acct.state is State.LockedDaily
    # restarted with the same rule: the hold stays (it ends only on its condition)
    same = restart(d, lambda: make_engine(extra=[trip_on(Fill, blocked)]))
    assert same.acct.state is State.LockedDaily
    # restarted without that rule: nothing could ever end the hold, so it is released
    without = restart(d, make_engine)
    assert without.acct.state is State.Trading
    assert (None, "LockedDaily", "Trading", "release") in transitions(without.effects)


def test_a_hold_with_a_deadline_outlives_its_rule_being_removed() -> None:
    d = Driver(make_engine(extra=[trip_on(Fill, DAILY)]))
    d.send(account(), fill(MNQ, Side.BUY, 1, "21000"), flat(MNQ))
    assert restart(d, make_engine).acct.state is State.LockedDaily


# --- a fill and its position update, in either order --------------------------------------


def loss_limited() -> Driver:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), fill(MNQ, Side.BUY, 2, "21000"), position(MNQ, 2, "21000"))
    d.send(quote(MNQ, "20850"))  # -$600 open
    return d


def test_a_closing_fill_before_its_position_update_is_counted_once() -> None:
    d = loss_limited()
    d.send(fill(MNQ, Side.SELL, 2, "20850", pnl="-600"))
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("-600")
    assert d.acct.state is State.Trading  # -$600 is not -$1,200
    d.send(flat(MNQ))
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("-600") and not d.acct.expected


def test_a_position_update_before_its_closing_fill_keeps_the_value_until_the_fill() -> None:
    d = loss_limited()
    d.send(flat(MNQ))
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("-600")
    d.send(fill(MNQ, Side.SELL, 2, "20850", pnl="-600"))
    rec = d.acct.day.fills[-1]
    assert (rec.entry, rec.exit) == (0, 2)  # an exit, not a new short entry
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("-600") and not d.acct.unsettled
    assert [t.net for t in d.acct.day.trips] == [Decimal("-600")]


def test_a_partial_exit_reported_first_is_released_fill_by_fill() -> None:
    d = loss_limited()
    d.send(position(MNQ, 1, "21000"))  # one of two closed at the gateway, its fill to come
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("-600")
    d.send(fill(MNQ, Side.SELL, 1, "20850", pnl="-300"))
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("-600")
    assert d.acct.net[MNQ] == 1 and not d.acct.expected


def test_a_reconciliation_snapshot_is_final() -> None:
    d = loss_limited()
    snap = PositionUpdate(ACC, MNQ, PositionType.LONG, 0, Decimal(0), T0, snapshot=True)
    out = d.send(snap)  # the gateway says flat and no fill explains it
    assert d.acct.net[MNQ] == 0 and MNQ not in d.acct.positions
    assert [a.reason for a in alerts(out)] == [Reason.POSITION_WITHOUT_FILLS]


def test_a_flatten_fired_by_a_closing_fill_sends_no_close_for_what_that_fill_closed() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000", "basis": "realized"}}))
    d.send(account(), fill(MNQ, Side.BUY, 2, "21000"), position(MNQ, 2, "21000"))
    d.send(fill(ES, Side.BUY, 1, "6000"), position(ES, 1, "6000"))
    out = d.send(fill(MNQ, Side.SELL, 2, "20500", pnl="-1000"))  # realized: the limit
    assert d.acct.state is State.Flattening
    assert [c.contract_id for c in closes(out)] == [ES]  # MNQ is already closed by that fill
    d.send(flat(MNQ))
    assert d.acct.state is State.Flattening  # ES still open
    d.send(fill(ES, Side.SELL, 1, "6000", pnl="0"), flat(ES))
    assert d.acct.state is State.LockedDaily


# --- the quote guard band ------------------------------------------------------------------


def test_quotes_inside_every_band_skip_the_rules_and_outside_they_fire_exactly() -> None:
    calls: list[Decimal] = []

    class Counting(DailyLossLimit):
        def evaluate(self, view: Any, event: Event, now: datetime) -> Any:
            calls.append(view.open_upnl)
            return super().evaluate(view, event, now)

    d = Driver(make_engine({Counting: {"limit": "1000"}}))
    d.send(account(), fill(MNQ, Side.BUY, 2, "21000"), position(MNQ, 2, "21000"))
    calls.clear()
    for px in ("20990", "20900", "20800", "20750.25"):  # -$40 .. -$999.50: inside the band
        d.send(quote(MNQ, px))
    assert calls == [] and d.acct.state is State.Trading
    d.send(quote(MNQ, "20750"))  # -$1,000.00: on the edge, evaluated, fires
    assert calls == [Decimal("-1000.00")] and d.acct.state is State.Flattening


def test_a_lock_expiring_on_a_quote_is_audited_at_once() -> None:
    cool = Verdict(
        "RULE-T01",
        Reason.TRADE_COOLDOWN,
        Action.FLATTEN,
        lock=State.Cooldown,
        until=T0 + timedelta(minutes=1),
    )
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}, extra=[trip_on(Fill, cool)]))
    d.send(account(), fill(MNQ, Side.BUY, 1, "21000"), flat(MNQ))
    assert d.acct.state is State.Cooldown
    d.send(position(ES, 1, "6000"))  # a position the quotes will reach (closed on sight)
    d.now = T0 + timedelta(minutes=2)
    out = d.send(quote(ES, "6000", at=d.now))  # ...the first event after the deadline
    assert (None, "Cooldown", "Trading", "release") in transitions(out)


# --- reconciliation: trades read back --------------------------------------------------------


def test_trades_read_back_later_in_the_week_are_not_applied_twice() -> None:
    d = Driver(make_engine())
    d.send(account())
    monday = [
        fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=501),
        fill(MNQ, Side.SELL, 1, "20990", pnl="-20", fees="0.74", trade_id=502),
    ]
    d.send(*monday)
    week = d.acct.week.realized
    assert week == Decimal("-21.48")
    d.at(T0 + timedelta(days=2))  # Wednesday: two daily resets later
    d.send(*monday)  # a reconciliation reads the whole week again
    assert d.acct.week.realized == week and d.acct.day.realized == 0
    again = restart(d, make_engine)  # and after a restart
    again.send(*monday)
    assert again.acct.week.realized == week


def test_the_books_are_rebuilt_from_the_gateways_trades_when_they_disagree() -> None:
    d = Driver(make_engine())
    d.send(account(), fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=601))
    d.acct.day.realized = Decimal("-999")  # a lost fill, a restored old database...
    known = fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=601)
    other = fill(MNQ, Side.SELL, 1, "21010", pnl="20", fees="0.74", trade_id=602)
    out = d.send(TradesSnapshot(ACC, d.acct.week.start, (known, other)))
    assert d.acct.day.realized == Decimal("18.52") and d.acct.week.realized == Decimal("18.52")
    assert {a.reason for a in alerts(out)} == {Reason.REALIZED_REBUILT}


def test_an_incomplete_trade_list_never_rebuilds_the_books() -> None:
    d = Driver(make_engine())
    d.send(account(), fill(MNQ, Side.SELL, 1, "21000", pnl="-400", fees="0.74", trade_id=701))
    out = d.send(TradesSnapshot(ACC, d.acct.week.start, ()))  # a capped search: nothing
    assert d.acct.day.realized == Decimal("-400.74")
    assert "kept" in alerts(out)[0].message
