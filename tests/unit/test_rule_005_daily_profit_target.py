"""RULE-005 daily_profit_target: the edge to the cent, both bases, stale quotes, locks, the reset
across daylight-saving changes, and a restart."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk.core.effects import AuditEntry, Effect, RecordTransition
from fsm_risk.core.events import AccountUpdate, AdminCommand, Event, OrderStatus, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Verdict
from fsm_risk.rules.daily_profit_target import DailyProfitTarget
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import (
    ACC,
    CL,
    ES,
    MES,
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
    rule_engine,
    start_up_read,
    transitions,
)

SPRING = datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # Sunday 17:00 CDT: the first reset in summer
FALL = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # Sunday 17:00 CST: the first reset in winter


engine = partial(rule_engine, DailyProfitTarget, target="1500")
driver = partial(rule_driver, DailyProfitTarget, target="1500")


def win(d: Driver, pnl: str, fees: str = "0") -> list[Effect]:
    """A closed ES round trip at ``d.now`` with the given P&L."""
    return d.send(
        fill(ES, Side.BUY, 1, "6000", fees=fees, at=d.now),
        fill(ES, Side.SELL, 1, "6010", pnl=pnl, fees=fees, at=d.now),
    )


def audit(effects: Iterable[Effect]) -> list[AuditEntry]:
    return [e.entry for e in effects if isinstance(e, RecordTransition)]


# --- the edge ------------------------------------------------------------------------------


def test_realized_profit_one_cent_short_of_the_target_does_not_fire() -> None:
    d = driver()
    win(d, "1499.99")
    assert d.acct.state is State.Trading
    assert d.acct.holds == {}


def test_realized_profit_exactly_at_the_target_fires_and_locks_until_the_daily_reset() -> None:
    d = driver()
    out = win(d, "1500.00")
    assert d.acct.state is State.LockedDaily
    hold = d.acct.holds["RULE-005"]
    assert hold.kind is State.LockedDaily
    assert hold.reason is Reason.DAILY_PROFIT_TARGET
    assert hold.until == d.engine.calendar.next_daily_reset(T0)
    assert transitions(out) == [
        (None, "Trading", "Flattening", "breach"),
        (None, "Flattening", "LockedDaily", "flat_confirmed"),
    ]
    assert audit(out)[0].rule_id == "RULE-005"


def test_fees_count_against_the_target() -> None:
    d = driver()
    win(d, "1504.99", fees="2.50")  # 1504.99 - 5.00 = 1499.99
    assert d.acct.state is State.Trading
    win(d, "0.01")  # another trip: exactly 1500.00 net
    assert d.acct.state is State.LockedDaily


def test_equity_basis_counts_open_profit_and_closes_it() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), order(77, NQ, Side.BUY, 1, limit="20000"))
    out = d.send(quote(MNQ, "21374.75"))  # 2 x 1499 ticks x $0.50 = $1,499.00
    assert d.acct.state is State.Trading and closes(out) == []
    out = d.send(quote(MNQ, "21375.00"))  # exactly $1,500.00 open
    assert d.acct.state is State.Flattening
    [close] = closes(out)
    assert (close.contract_id, close.rule_id, close.reason) == (
        MNQ,
        "RULE-005",
        Reason.DAILY_PROFIT_TARGET,
    )
    assert [c.order_id for c in cancels(out)] == [77]


def test_the_account_enters_the_lock_once_the_broker_confirms_flat() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), order(77, NQ, Side.BUY, 1, limit="20000"))
    d.send(quote(MNQ, "21375"))
    d.send(flat(MNQ))
    assert d.acct.state is State.Flattening
    out = d.send(order(77, NQ, Side.BUY, 1, limit="20000", status=OrderStatus.CANCELLED))
    assert d.acct.state is State.LockedDaily
    assert (None, "Flattening", "LockedDaily", "flat_confirmed") in transitions(out)


def test_realized_basis_ignores_open_profit() -> None:
    d = driver(basis="realized")
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "22000"))  # +$4,000 open
    assert d.acct.state is State.Trading
    win(d, "1500")
    assert d.acct.state is State.Flattening  # MNQ is still open: it gets closed
    assert [c.contract_id for c in closes(d.effects)] == [MNQ]


def test_a_stale_quotes_gain_never_fires_the_equity_basis() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "21375"))  # +$1,500 open
    assert d.acct.state is State.Flattening
    d = driver()
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "21300"))  # +$1,200 open
    d.now = T0 + timedelta(seconds=31)  # the MNQ quote is now stale
    d.send(quote(ES, "6000", at=d.now), position(ES, 1, "6000"))
    d.send(quote(ES, "6006", at=d.now))  # +$300 at a fresh quote: $1,500, $1,200 of it stale
    assert d.acct.state is State.Trading
    d.send(quote(MNQ, "21300", at=d.now))  # the same price, fresh again: the profit is real
    assert d.acct.state is State.Flattening


def test_a_quiet_contract_does_not_hold_back_a_target_reached_elsewhere() -> None:
    d = driver()
    d.send(position(MES, 1, "6000"), quote(MES, "5990"))  # -$50 open
    d.now = T0 + timedelta(seconds=40)  # the MES quote is stale: its loss still counts
    win(d, "1549.99")
    assert d.acct.state is State.Trading  # +$1,499.99
    win(d, "0.01")
    assert d.acct.state is State.Flattening


def test_a_profit_carried_across_the_reset_does_not_count_for_the_new_day() -> None:
    d = driver()
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "21300"))  # +$1,200 open at the reset
    reset = d.engine.calendar.next_daily_reset(T0)
    d.at(reset)
    d.send(quote(MNQ, "21600", at=reset))  # +$2,400 open, but only +$1,200 of it today
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("1200.00")
    assert d.acct.state is State.Trading


# --- locks ---------------------------------------------------------------------------------


def weekly_lock_on_balance_drop(ctx: Any) -> Scripted:
    """A stronger lock from another rule: LockedWeekly when the balance falls below 50,000."""

    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if not isinstance(event, AccountUpdate) or event.balance >= 50000:
            return ()
        return (
            Verdict(
                "RULE-T01",
                Reason.WEEKLY_LOSS_LIMIT,
                Action.FLATTEN,
                lock=State.LockedWeekly,
                until=ctx.calendar.next_weekly_reset(now),
            ),
        )

    return Scripted(ctx, script)


def test_the_daily_lock_never_shortens_a_weekly_lock_that_holds() -> None:
    d = Driver(
        make_engine({DailyProfitTarget: {"target": "1500"}}, extra=[weekly_lock_on_balance_drop])
    )
    d.send(account("47000"))
    assert d.acct.state is State.LockedWeekly
    out = win(d, "2000")  # the target is reached while LockedWeekly holds
    assert d.acct.state is State.LockedWeekly
    assert set(d.acct.holds) == {"RULE-T01", "RULE-005"}
    assert transitions(out) == [(None, "LockedWeekly", "LockedWeekly", "breach")]
    assert closes(out) == []  # nothing open: the weaker lock starts no flatten
    out = d.at(d.engine.calendar.next_daily_reset(T0))  # RULE-005's lock ends at the reset
    assert d.acct.state is State.LockedWeekly
    assert set(d.acct.holds) == {"RULE-T01"}
    assert transitions(out) == [(None, "LockedWeekly", "LockedWeekly", "release")]


def test_when_weekly_loss_and_profit_target_fire_on_one_event_the_weekly_lock_wins() -> None:
    tuesday = T0 + timedelta(days=1)
    d = Driver(
        make_engine({DailyProfitTarget: {"target": "1500"}, WeeklyLossLimit: {"limit": "2500"}}),
        now=tuesday,
    )
    d.send(account())
    # an ES position at -$200 whose quote is stale: the weekly loss does not count that loss
    d.send(position(ES, 1, "6000"), quote(ES, "5996", at=tuesday - timedelta(minutes=1)))
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "21400", at=tuesday))  # +$1,600
    # ... while Monday's losing round trip arrives late (in this week's book, not today's)
    d.send(
        fill(CL, Side.BUY, 1, "60.00", at=T0),
        fill(CL, Side.SELL, 1, "59.60", pnl="-4000", at=T0),
    )
    assert d.acct.day.realized == 0 and d.acct.week.realized == Decimal("-4000")
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("1400.00")  # under the target
    assert d.acct.state is State.Trading  # the week at -$2,400 without the stale ES loss
    # ... until ES is quoted again, at -$100: day +1,500 and week -2,500 on one event
    out = d.send(quote(ES, "5998", at=tuesday))
    assert d.acct.state is State.Flattening
    [entry] = [a for a in audit(out) if a.contract_id is None]
    assert entry.rule_id == "RULE-013,RULE-005"  # every firing rule, strongest first
    assert "WEEKLY_LOSS_LIMIT" in entry.reason and "DAILY_PROFIT_TARGET" in entry.reason
    assert sorted(c.contract_id for c in closes(out)) == sorted([ES, MNQ])
    d.send(flat(MNQ), flat(ES))
    assert d.acct.state is State.LockedWeekly
    assert set(d.acct.holds) == {"RULE-013", "RULE-005"}


def test_an_admin_override_sticks_until_the_reset_although_the_target_still_holds() -> None:
    d = driver()
    win(d, "1600")
    assert d.acct.state is State.LockedDaily
    d.send(AdminCommand(ACC, State.Trading, "profit target was set too low", "ops"))
    assert d.acct.state is State.Trading
    win(d, "10")  # still above the target, but the override holds for the day
    assert d.acct.state is State.Trading


# --- daylight saving and restart -----------------------------------------------------------


@pytest.mark.parametrize(
    ("breach", "reset"),
    [
        # Sunday 16:30 CDT, the day the clocks went forward: the day ends 22:00 UTC, not 23:00
        (SPRING - timedelta(minutes=30), SPRING),
        # Sunday 16:30 CST, the day the clocks went back: the day ends 23:00 UTC, not 22:00
        (FALL - timedelta(minutes=30), FALL),
    ],
)
def test_the_lock_ends_at_17_00_chicago_across_daylight_saving(
    breach: datetime, reset: datetime
) -> None:
    d = driver(now=breach)
    win(d, "1500")
    assert d.acct.holds["RULE-005"].until == reset
    d.at(reset - timedelta(seconds=1))
    assert d.acct.state is State.LockedDaily
    out = d.at(reset)
    assert d.acct.state is State.Trading
    assert (None, "LockedDaily", "Trading", "release") in transitions(out)
    assert d.acct.day.start == reset and d.acct.day.realized == 0


def test_restart_while_locked_keeps_the_lock_and_a_reset_missed_while_down_ends_it() -> None:
    d = driver()
    win(d, "1700")
    until = d.acct.holds["RULE-005"].until
    assert until is not None
    again = restart(d, engine, at=until - timedelta(hours=1))
    assert again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-005"].until == until
    assert again.engine.next_deadline() == until
    assert [c.contract_id for c in closes(again.send(position(MNQ, 1, "21000")))] == [MNQ]
    again.send(flat(MNQ))
    later = restart(again, engine, at=until + timedelta(hours=2))  # down across the reset
    assert later.acct.day.start == until and later.acct.day.realized == 0
    # the lock outlives its deadline until the trades are read (the rule judges them then)
    assert later.acct.state is State.LockedDaily
    start_up_read(later)  # nothing traded while it was down
    assert later.acct.state is State.Trading


# --- settings and status -------------------------------------------------------------------


def test_defaults_are_a_1500_target_on_the_equity_basis() -> None:
    [rule] = make_engine({DailyProfitTarget: {}}).rules
    assert rule.config.target == Decimal("1500") and rule.config.basis == "equity"
    assert DailyProfitTarget.level_triggered and not DailyProfitTarget.stateful


def test_usage_is_the_share_of_the_target_reached() -> None:
    d = driver()
    win(d, "1200")
    u = d.engine.rules[0].usage(d.acct, d.now)
    assert (u.value, u.limit, u.fraction) == (Decimal("1200"), Decimal("1500"), Decimal("0.8"))
    loser = driver()
    win(loser, "-300")
    assert loser.engine.rules[0].usage(loser.acct, loser.now).fraction == 0
