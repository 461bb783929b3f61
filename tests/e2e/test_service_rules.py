"""RULE-004 to RULE-018 end to end: the real project-x-py SDK against the paper gateway.

Each scenario configures one rule, trips it through the trader's orders and the gateway's
prices (and the shared clock where time matters), and checks what reached the gateway (closes,
cancels, positions), the machines' states, the lock's deadline and the audit row; where the
rule locks, a follow-up shows the lock enforcing or ending at its deadline. RULE-001 to
RULE-003 are in test_service.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fsm_risk.core.models import Trip
from fsm_risk.core.states import State
from fsm_risk.paper import PaperGateway
from fsm_risk.paper.engine import OrderStatus
from fsm_risk.paper.gateway import OrderLogEntry
from tests.e2e.service_harness import ACCOUNT, Harness
from tests.factories import T0

MNQ = "CON.F.US.MNQ.Z26"
ES = "CON.F.US.ES.Z26"
MES = "CON.F.US.MES.Z26"
NQ = "CON.F.US.NQ.Z26"


@pytest.fixture
async def h(tmp_path: Path, paper_gateway: PaperGateway) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path, paper_gateway)
    try:
        yield harness
    finally:
        await harness.close()


# --- helpers ---------------------------------------------------------------------------------


def cid(root: str) -> str:
    return f"CON.F.US.{root}.Z26"


async def seen(h: Harness, root: str, size: int, *, priced: bool = False) -> None:
    """Wait until the service holds ``size`` contracts of ``root`` (0: none), valued at a
    quote when ``priced``."""
    contract = cid(root)

    def holds() -> bool:
        p = h.acct.positions.get(contract)
        if size == 0:
            return p is None
        return p is not None and p.size == size and (p.priced or not priced)

    await h.until(holds, f"the service sees {size} {root}")


async def enter(h: Harness, root: str, side: str, size: int, *, held: int = 0) -> OrderLogEntry:
    """The trader's market order that opens (or adds to) a position, seen by the service."""
    order = h.trade(root, side, size)
    await seen(h, root, held + size)
    return order


async def round_trip(h: Harness, root: str, size: int, ticks: int) -> Trip:
    """The trader buys ``size``, the price moves ``ticks``, the trader sells: the service has
    recorded the round trip."""
    trips = len(h.acct.day.trips)
    await enter(h, root, "buy", size)
    h.gateway.move_price(root, ticks)
    h.trade(root, "sell", size)
    await h.until(lambda: len(h.acct.day.trips) > trips, f"the {root} round trip recorded")
    return h.acct.day.trips[-1]


def working(h: Harness, root: str, side: str, price: float) -> OrderLogEntry:
    """A working limit order of the trader's, away from the market."""
    return h.trade(root, side, 1, type=1, limit_price=price)


async def cancelled(h: Harness, order: OrderLogEntry, what: str) -> None:
    await h.gw_until(lambda: h.gateway.order(order.order_id).status == OrderStatus.CANCELLED, what)


def status(h: Harness, order: OrderLogEntry) -> OrderStatus:
    return h.gateway.order(order.order_id).status


def rules_of(h: Harness, rule_id: str) -> list[tuple[str | None, str, str, str, str | None]]:
    """The audit rows that name ``rule_id`` (the rule column joins every firing rule)."""
    return [a for a in h.audit() if a[4] is not None and rule_id in a[4].split(",")]


async def locked_out(h: Harness, state: State) -> None:
    """While the account is locked, a new opening order is cancelled on sight and a new
    position closed at once."""
    limit = working(h, "NQ", "buy", 15000)
    await cancelled(h, limit, "the opening order cancelled on sight")
    before = len(h.closes("MES"))
    h.trade("MES", "buy", 1)
    await h.gw_until(lambda: len(h.closes("MES")) > before, "the new position closed")
    await h.gw_until(lambda: h.position("MES") == 0, "flat again")
    await h.until(lambda: h.acct.contracts[MES].state is State.Trading, "the close confirmed")
    assert h.acct.state is state


async def released_at(h: Harness, until: datetime) -> None:
    """The lock ends at its deadline, by the scheduler, with no event arriving."""
    h.clock.set(until)
    await h.until(lambda: h.acct.state is State.Trading, "released at the deadline")


async def next_day(h: Harness) -> None:
    """Move the clock past the next daily reset; the scheduler opens the new trading day."""
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    h.clock.set(reset + timedelta(seconds=1))
    await h.until(lambda: h.acct.day.start == reset, "the new trading day opened")


# --- RULE-004 trailing_drawdown --------------------------------------------------------------


async def test_rule_004_the_floor_trails_the_intraday_peak_and_locks_for_the_week(
    h: Harness,
) -> None:
    await h.start("[rule.trailing_drawdown]\ndrawdown = 300\nmode = intraday\n")
    await h.until(lambda: "peak" in h.acct.rule_state.get("RULE-004", {}), "peak seeded")
    assert Decimal(h.acct.rule_state["RULE-004"]["peak"]) == Decimal("50000.00")
    await enter(h, "MNQ", "buy", 2)  # bought at the ask, 21000.25: $1 a tick, fees 0.74
    working_es = working(h, "ES", "buy", 5000)
    h.gateway.move_price("MNQ", 100)  # +99 ticks: equity 50098.26, and the peak follows it
    peak = Decimal("50098.26")
    await h.until(lambda: Decimal(h.acct.rule_state["RULE-004"]["peak"]) == peak, "peak up")
    assert h.acct.state is State.Trading
    # -201 ticks from the entry: equity 49798.26 touches the trailed floor (peak - 300); the
    # floor from the starting balance, 49700, is still far
    h.gateway.move_price("MNQ", -300)
    await h.until(lambda: h.acct.state is State.LockedWeekly, "locked by RULE-004")
    [close] = h.closes("MNQ")
    assert close.size == 2 and close.status == OrderStatus.FILLED
    assert h.position("MNQ") == 0 and status(h, working_es) == OrderStatus.CANCELLED
    hold = h.acct.holds["RULE-004"]
    assert hold.until == h.svc.engine.calendar.next_weekly_reset(h.clock.now())
    assert "equity 49798.26 <= floor 49798.26" in hold.detail
    assert (None, "Trading", "Flattening", "breach", "RULE-004") in h.audit()
    assert (None, "Flattening", "LockedWeekly", "flat_confirmed", "RULE-004") in h.audit()
    await locked_out(h, State.LockedWeekly)
    await next_day(h)  # the daily reset does not end a weekly lock
    assert h.acct.state is State.LockedWeekly
    # a blown account: at the weekly reset equity is still under the floor, the lock renews
    h.clock.set(hold.until)
    week = timedelta(days=7)
    await h.until(lambda: h.acct.holds["RULE-004"].until == hold.until + week, "renewed")
    assert h.acct.state is State.LockedWeekly
    assert (None, "LockedWeekly", "Trading", "release", "RULE-004") in h.audit()
    h.gateway.set_balance(ACCOUNT, 50000)  # the firm resets the account: above the floor
    await h.until(lambda: h.acct.balance == 50000, "the new balance seen")
    await released_at(h, hold.until + week)


# --- RULE-005 daily_profit_target ------------------------------------------------------------


async def test_rule_005_open_profit_at_the_target_flattens_and_locks_the_day(h: Harness) -> None:
    await h.start("[rule.daily_profit_target]\ntarget = 200\n")
    await enter(h, "MNQ", "buy", 2)  # at 21000.25, fees 0.74
    limit = working(h, "ES", "buy", 5000)
    h.gateway.move_price("MNQ", 201)  # +200 ticks: day P&L 199.26, under the target
    await h.until(lambda: h.acct.positions[MNQ].upnl == 200, "the mark seen")
    assert h.acct.state is State.Trading
    h.gateway.move_price("MNQ", 1)  # 200.26 >= 200
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-005")
    [close] = h.closes("MNQ")
    assert close.size == 2 and h.position("MNQ") == 0
    assert status(h, limit) == OrderStatus.CANCELLED
    hold = h.acct.holds["RULE-005"]
    assert hold.until == h.svc.engine.calendar.next_daily_reset(h.clock.now())
    assert (None, "Trading", "Flattening", "breach", "RULE-005") in h.audit()
    assert (None, "Flattening", "LockedDaily", "flat_confirmed", "RULE-005") in h.audit()
    await locked_out(h, State.LockedDaily)


async def test_rule_005_realized_basis_fires_on_the_traders_winning_exit(h: Harness) -> None:
    await h.start("[rule.daily_profit_target]\ntarget = 200\nbasis = realized\n")
    await enter(h, "ES", "buy", 1)
    await enter(h, "MNQ", "buy", 2)
    h.gateway.move_price("MNQ", 250)  # 249 ticks of open profit: not realized, no breach
    await h.until(lambda: h.acct.positions[MNQ].upnl == 249, "the mark seen")
    assert h.acct.state is State.Trading
    exit_ = h.trade("MNQ", "sell", 2)  # the trader takes it: 249 - 1.48 = 247.52 realized
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-005")
    # and the ES the service closed: bought at the ask, sold at the bid, fees 2.80
    assert h.acct.day.realized == Decimal("247.52") - Decimal("15.30")
    assert status(h, exit_) == OrderStatus.FILLED and h.closes("MNQ") == []
    [close] = h.closes("ES")
    assert close.status == OrderStatus.FILLED and h.position("ES") == 0
    assert (None, "Trading", "Flattening", "breach", "RULE-005") in h.audit()
    await released_at(h, h.acct.holds["RULE-005"].until)


# --- RULE-006 trading_hours ------------------------------------------------------------------

HOURS = "[rule.trading_hours]\n"  # Sun-Thu 17:00-16:00 Chicago, flat by 15:08


async def test_rule_006_a_position_open_at_the_flat_by_time_is_closed_until_the_next_open(
    h: Harness,
) -> None:
    await h.start(HOURS)
    await enter(h, "MNQ", "buy", 1)
    limit = working(h, "ES", "buy", 5000)
    await h.until(lambda: any(o.contract_id == ES for o in h.acct.orders.values()), "seen")
    h.clock.set(T0 + timedelta(hours=6, minutes=8))  # 15:08 Chicago: the scheduler wakes
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-006")
    [close] = h.closes("MNQ")
    assert close.received_at == T0 + timedelta(hours=6, minutes=8)
    assert h.position("MNQ") == 0 and status(h, limit) == OrderStatus.CANCELLED
    hold = h.acct.holds["RULE-006"]
    assert hold.until == T0 + timedelta(hours=8)  # the next window opens 17:00 Chicago
    assert "past the flat-by time" in hold.detail
    assert (None, "Trading", "Flattening", "breach", "RULE-006") in h.audit()
    assert (None, "Flattening", "LockedDaily", "flat_confirmed", "RULE-006") in h.audit()
    await locked_out(h, State.LockedDaily)
    await released_at(h, hold.until)


async def test_rule_006_trading_in_the_daily_break_is_removed_at_once(h: Harness) -> None:
    await h.start(HOURS)
    h.clock.set(T0 + timedelta(hours=7, minutes=30))  # 16:30 Chicago: the 16:00-17:00 break
    limit = working(h, "NQ", "buy", 15000)
    await cancelled(h, limit, "the order cancelled")
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-006")
    assert h.acct.holds["RULE-006"].until == T0 + timedelta(hours=8)
    assert "outside the trading windows" in h.acct.holds["RULE-006"].detail
    h.trade("MNQ", "buy", 1)
    await h.gw_until(lambda: h.closes("MNQ") and h.position("MNQ") == 0, "closed on sight")
    assert (None, "Trading", "Flattening", "breach", "RULE-006") in h.audit()
    await released_at(h, T0 + timedelta(hours=8))
    await enter(h, "MNQ", "buy", 1)  # the session is open again: the position may stay
    assert h.acct.state is State.Trading and h.position("MNQ") == 1


# --- RULE-007 max_trades_per_day -------------------------------------------------------------


async def test_rule_007_the_entry_past_the_limit_locks_the_day_and_is_closed(h: Harness) -> None:
    await h.start("[rule.max_trades_per_day]\nlimit = 2\n")
    await enter(h, "MNQ", "buy", 1)  # entry 1, held
    await round_trip(h, "ES", 1, 0)  # entry 2 (its exit is not an entry)
    assert h.acct.state is State.Trading
    h.trade("NQ", "buy", 1)  # entry 3 > 2
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-007")
    await h.gw_until(lambda: h.closes("NQ") and h.position("NQ") == 0, "the new NQ closed")
    assert h.position("MNQ") == 1 and h.closes("MNQ") == []  # open before: it may stay
    hold = h.acct.holds["RULE-007"]
    assert hold.until == h.svc.engine.calendar.next_daily_reset(h.clock.now())
    assert "3 entries today > limit 2" in hold.detail
    assert (None, "Trading", "LockedDaily", "lock", "RULE-007") in h.audit()
    # an exit is allowed, an entry is cancelled
    exit_ = working(h, "MNQ", "sell", 21500)
    entry = working(h, "ES", "buy", 5000)
    await cancelled(h, entry, "the entry cancelled")
    assert status(h, exit_) == OrderStatus.OPEN
    h.gateway.cancel_order(ACCOUNT, exit_.order_id)
    h.trade("MNQ", "sell", 1)  # the trader exits the position held before the lock
    await seen(h, "MNQ", 0)
    assert h.closes("MNQ") == []
    await locked_out(h, State.LockedDaily)
    await released_at(h, hold.until)


# --- RULE-008 trade_cooldown -----------------------------------------------------------------


@pytest.mark.parametrize(("ticks", "minutes"), [(-110, 15), (-300, 30)])
async def test_rule_008_a_losing_round_trip_cools_down_for_its_tier(
    h: Harness, ticks: int, minutes: int
) -> None:
    await h.start("[rule.trade_cooldown]\ntiers = 100: 15, 250: 30\n")
    await enter(h, "ES", "buy", 1)
    trip = await round_trip(h, "MNQ", 2, ticks)  # bought at the ask, sold at the bid
    assert trip.net == (ticks - 1) - Decimal("1.48")
    await h.until(lambda: h.acct.state is State.Cooldown, "cooling down (RULE-008)")
    [close] = h.closes("ES")
    assert close.status == OrderStatus.FILLED and h.position("ES") == 0
    assert h.closes("MNQ") == []  # the trader closed it
    hold = h.acct.holds["RULE-008"]
    assert hold.until == T0 + timedelta(minutes=minutes)
    assert f"cooldown {minutes} min" in hold.detail
    assert (None, "Trading", "Flattening", "breach", "RULE-008") in h.audit()
    assert (None, "Flattening", "Cooldown", "flat_confirmed", "RULE-008") in h.audit()
    await locked_out(h, State.Cooldown)
    await released_at(h, hold.until)
    assert (None, "Cooldown", "Trading", "release", "RULE-008") in h.audit()


# --- RULE-009 position_hold_time -------------------------------------------------------------


async def test_rule_009_a_position_held_past_the_limit_is_closed_alone(h: Harness) -> None:
    await h.start("[rule.position_hold_time]\nlimit_minutes = 5\n")
    await enter(h, "MNQ", "buy", 2)  # opened at T0
    await h.advance(minutes=3)
    await enter(h, "ES", "buy", 1)  # opened at T0 + 3 min
    h.clock.set(T0 + timedelta(minutes=5))  # MNQ's deadline: the scheduler wakes the account
    await h.gw_until(lambda: h.position("MNQ") == 0, "MNQ closed")
    [close] = h.closes("MNQ")
    assert close.size == 2 and close.received_at == T0 + timedelta(minutes=5)
    assert h.position("ES") == 1 and h.closes("ES") == []
    await h.until(lambda: h.acct.contracts[MNQ].state is State.Trading, "close confirmed")
    assert h.acct.state is State.Trading and h.acct.holds == {}
    assert (MNQ, "Trading", "Flattening", "breach", "RULE-009") in h.audit()
    assert (MNQ, "Flattening", "Trading", "flat_confirmed", "RULE-009") in h.audit()
    assert rules_of(h, "RULE-009") == [
        (MNQ, "Trading", "Flattening", "breach", "RULE-009"),
        (MNQ, "Flattening", "Trading", "flat_confirmed", "RULE-009"),
    ]
    h.clock.set(T0 + timedelta(minutes=8))  # ES's own deadline
    await h.gw_until(lambda: h.position("ES") == 0, "ES closed at its deadline")
    await h.until(lambda: h.acct.contracts[ES].state is State.Trading, "close confirmed")
    assert h.acct.state is State.Trading
