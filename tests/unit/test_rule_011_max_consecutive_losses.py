"""RULE-011 max_consecutive_losses: the streak to its edge, winners and break-even, fees, the
service's own closes, both locks, the reset across daylight saving, restart and overrides."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk.core.events import AdminCommand, Event, OrderStatus, OrderType, Quote, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Scope, Verdict
from fsm_risk.rules.max_consecutive_losses import MaxConsecutiveLosses
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from tests.factories import (
    ACC,
    CL,
    ES,
    MNQ,
    NQ,
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
)

_ids = iter(range(1_100_000, 10**9))
RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 17:00 CST after T0


driver = partial(rule_driver, MaxConsecutiveLosses)
rule = partial(the_rule, cls=MaxConsecutiveLosses)


def streak(d: Driver) -> int:
    return int(rule(d).usage(d.acct, d.now).value)


def enter(d: Driver, contract: str = ES, size: int = 1, *, fees: str = "0") -> None:
    d.send(
        fill(contract, Side.BUY, size, "100", fees=fees, order_id=next(_ids), at=d.now),
        position(contract, size, "100", at=d.now),
    )


def exit_(d: Driver, pnl: str, contract: str = ES, size: int = 1, *, held: int = 1) -> None:
    d.send(fill(contract, Side.SELL, size, "99", pnl=pnl, order_id=next(_ids), at=d.now))
    rest = held - size
    d.send(position(contract, rest, "100", at=d.now) if rest else flat(contract, at=d.now))


def trips(d: Driver, *pnls: str, contract: str = ES) -> None:
    """One-lot round trips with these P&Ls (no fees), a minute apart."""
    for pnl in pnls:
        enter(d, contract)
        exit_(d, pnl, contract)
        d.now += timedelta(minutes=1)


# --- the streak ----------------------------------------------------------------------------


def test_two_losses_in_a_row_are_allowed() -> None:
    d = driver()
    trips(d, "-50", "-50")
    assert d.acct.state is State.Trading and streak(d) == 2


def test_the_third_loss_in_a_row_locks_until_the_daily_reset() -> None:
    d = driver()
    trips(d, "-50", "-10", "-0.01")
    assert d.acct.state is State.LockedDaily
    hold = d.acct.holds["RULE-011"]
    assert hold.reason is Reason.MAX_CONSECUTIVE_LOSSES and hold.until == RESET
    assert hold.detail == "3 losing round trips in a row"


def test_a_winner_ends_the_streak() -> None:
    d = driver()
    trips(d, "-50", "-50", "0.01", "-50", "-50")
    assert d.acct.state is State.Trading and streak(d) == 2
    trips(d, "-50")
    assert d.acct.state is State.LockedDaily


def test_the_lock_flattens_other_positions_and_cancels_orders() -> None:
    d = driver()
    trips(d, "-50", "-50")
    d.send(position(MNQ, 2, "21000"), order(81, NQ, Side.BUY, 1, limit="20000"))
    enter(d, ES)
    d.send(fill(ES, Side.SELL, 1, "99", pnl="-50", order_id=next(_ids), at=d.now))
    d.send(flat(ES))
    assert d.acct.state is State.Flattening
    assert MNQ in {c.contract_id for c in closes(d.effects)}
    assert 81 in {c.order_id for c in cancels(d.effects)}
    d.send(flat(MNQ), order(81, NQ, Side.BUY, 1, status=OrderStatus.CANCELLED))
    assert d.acct.state is State.LockedDaily


def test_a_round_trip_counts_when_flat_with_every_fill_and_fee() -> None:
    d = driver()
    trips(d, "-50", "-50")
    enter(d, size=2, fees="1")
    exit_(d, "30", held=2)  # half out at a profit: the round trip is not over
    assert d.acct.state is State.Trading
    exit_(d, "-28", held=1)  # +30 - 28 - 1 = +1.00: a winner
    assert d.acct.state is State.Trading and streak(d) == 0
    enter(d, fees="1.24")
    exit_(d, "0")  # flat in price, but the fee makes it a loss
    assert streak(d) == 1


def test_a_partial_exit_in_the_same_instant_as_the_last_close_is_not_a_round_trip() -> None:
    d = driver()
    enter(d)
    exit_(d, "-50")  # a round trip closed at T0
    enter(d, size=2)
    exit_(d, "-10", held=2)  # still T0, half out: nothing completed
    assert streak(d) == 1


def test_a_reversal_closes_a_round_trip() -> None:
    d = driver(losses="1")
    enter(d)
    d.send(fill(ES, Side.SELL, 2, "99", pnl="-50", order_id=next(_ids)))
    d.send(position(ES, 1, "99", long=False))
    assert "RULE-011" in d.acct.holds


# --- break-even ----------------------------------------------------------------------------


def test_break_even_is_ignored_by_default() -> None:
    d = driver()
    trips(d, "-50", "-50", "0")
    assert streak(d) == 2 and d.acct.state is State.Trading
    trips(d, "-50")
    assert d.acct.state is State.LockedDaily


def test_break_even_as_a_win_ends_the_streak() -> None:
    d = driver(breakeven="win")
    trips(d, "-50", "-50", "0", "-50")
    assert streak(d) == 1 and d.acct.state is State.Trading


def test_break_even_as_a_loss_adds_to_the_streak() -> None:
    d = driver(breakeven="loss")
    trips(d, "-50", "-50", "0")
    assert d.acct.state is State.LockedDaily


def test_the_break_even_band_edge_to_the_cent() -> None:
    d = driver(breakeven_within="1.00")
    trips(d, "-50", "-50", "-1.00", "1.00")  # both break-even: ignored
    assert streak(d) == 2
    trips(d, "-1.01")
    assert d.acct.state is State.LockedDaily


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


@pytest.mark.parametrize("pnl", ["-500", "500"])
def test_a_round_trip_closed_by_the_service_neither_grows_nor_ends_the_streak(pnl: str) -> None:
    d = Driver(make_engine({MaxConsecutiveLosses: {}}, extra=[close_es_on_quote]))
    d.send(account())
    trips(d, "-50", "-50", contract=NQ)
    enter(d, ES)
    d.send(quote(ES, "90"))
    d.send(order(970, ES, Side.SELL, 1, type=OrderType.MARKET))  # the gateway's close order
    d.send(fill(ES, Side.SELL, 1, "90", pnl=pnl, order_id=970), flat(ES))
    assert d.acct.day.trips[-1].enforced and d.acct.state is State.Trading
    assert streak(d) == 2
    trips(d, "-50", contract=NQ)
    assert d.acct.state is State.LockedDaily


# --- cooldown, locks, overrides ------------------------------------------------------------


def test_lock_cooldown_lasts_its_minutes_and_the_count_starts_again() -> None:
    d = driver(lock="cooldown", cooldown_minutes="45")
    trips(d, "-50", "-50", "-50")
    fired = d.now - timedelta(minutes=1)
    assert d.acct.state is State.Cooldown
    assert d.acct.holds["RULE-011"].until == fired + timedelta(minutes=45)
    d.at(fired + timedelta(minutes=45))
    assert d.acct.state is State.Trading and streak(d) == 0
    trips(d, "-50", "-50")
    assert d.acct.state is State.Trading
    trips(d, "-50")
    assert d.acct.state is State.Cooldown


def test_a_cooldown_while_locked_daily_keeps_the_daily_lock() -> None:
    engine = make_engine(
        {MaxTradesPerDay: {"limit": "2"}, MaxConsecutiveLosses: {"losses": "2", "lock": "cooldown"}}
    )
    d = Driver(engine)
    d.send(account())
    enter(d, ES)
    enter(d, NQ)
    enter(d, CL)  # the 3rd entry: LockedDaily; ES and NQ may stay, CL is closed
    d.send(flat(CL))
    daily = d.acct.holds["RULE-007"]
    assert d.acct.state is State.LockedDaily and set(d.acct.tolerated) == {ES, NQ}
    exit_(d, "-50", ES)
    exit_(d, "-50", NQ)  # the 2nd loss in a row: a 60-minute cooldown
    assert d.acct.holds["RULE-011"].kind is State.Cooldown
    assert d.acct.state is State.LockedDaily and d.acct.holds["RULE-007"] == daily
    d.advance(minutes=61)
    assert d.acct.state is State.LockedDaily and "RULE-011" not in d.acct.holds


def test_after_an_admin_override_it_takes_a_full_streak_to_lock_again() -> None:
    d = driver()
    trips(d, "-50", "-50", "-50")
    assert d.acct.state is State.LockedDaily
    d.send(AdminCommand(ACC, State.Trading, "reviewed with the trader", "ops"))
    trips(d, "-50", "-50")
    assert d.acct.state is State.Trading
    trips(d, "-50")
    assert d.acct.state is State.LockedDaily


# --- time ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reset",
    [datetime(2026, 3, 8, 22, 0, tzinfo=UTC), datetime(2026, 11, 1, 23, 0, tzinfo=UTC)],
)
def test_the_daily_reset_at_17_chicago_clears_the_streak_on_a_dst_change_day(
    reset: datetime,
) -> None:
    d = driver(reset - timedelta(hours=1))
    trips(d, "-50", "-50")
    d.at(reset)
    assert streak(d) == 0
    trips(d, "-50")
    assert d.acct.state is State.Trading

    late = driver(reset - timedelta(hours=1))
    trips(late, "-50", "-50")
    late.now = reset - timedelta(seconds=1)
    trips(late, "-50")
    assert late.acct.holds["RULE-011"].until == reset


def test_restart_keeps_the_streak() -> None:
    d = driver()
    trips(d, "-50", "-50")
    assert json.loads(json.dumps(d.acct.rule_state)) == d.acct.rule_state  # stored as JSON
    again = restart(d, lambda: make_engine({MaxConsecutiveLosses: {}}), at=d.now)
    assert streak(again) == 2
    trips(again, "-50")
    assert again.acct.state is State.LockedDaily


def test_restart_while_locked_keeps_the_lock_and_its_deadline() -> None:
    d = driver()
    trips(d, "-50", "-50", "-50")
    until = d.acct.holds["RULE-011"].until
    again = restart(d, lambda: make_engine({MaxConsecutiveLosses: {}}), at=d.now)
    assert again.acct.state is State.LockedDaily and again.acct.holds["RULE-011"].until == until
    assert [c.contract_id for c in closes(again.send(position(NQ, 1, "100")))] == [NQ]


def test_a_reset_missed_while_stopped_clears_the_streak_at_start_up() -> None:
    d = driver()
    trips(d, "-50", "-50")
    again = restart(
        d, lambda: make_engine({MaxConsecutiveLosses: {}}), at=RESET + timedelta(hours=1)
    )
    assert again.acct.day.start == RESET and streak(again) == 0
    trips(again, "-50")
    assert again.acct.state is State.Trading


# --- settings and usage --------------------------------------------------------------------


def test_defaults() -> None:
    cfg = rule(driver()).config
    assert (cfg.losses, cfg.lock, cfg.cooldown_minutes, cfg.breakeven) == (3, "daily", 60, "ignore")
    assert cfg.breakeven_within == 0


def test_usage_is_the_streak_against_the_limit() -> None:
    d = driver()
    trips(d, "-50", "-50")
    u = rule(d).usage(d.acct, d.now)
    assert (u.value, u.limit, u.unit) == (Decimal(2), Decimal(3), "losses in a row")
    assert rule(d).usage(d.acct, RESET).value == 0  # the reset is due: the streak is over
