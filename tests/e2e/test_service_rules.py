"""RULE-004 to RULE-018 end to end: the real project-x-py SDK against the paper gateway.

Each scenario configures one rule, trips it through the trader's orders and the gateway's
prices (and the shared clock where time matters), and checks what reached the gateway (closes,
cancels, positions), the machines' states, the lock's deadline and the audit row; where the
rule locks, a follow-up shows the lock enforcing or ending at its deadline. RULE-001 to
RULE-003 are in test_service.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from fsm_risk.core.events import OrderType
from fsm_risk.core.models import Trip
from fsm_risk.core.states import State
from fsm_risk.paper.engine import OrderStatus
from fsm_risk.paper.gateway import OrderLogEntry
from fsm_risk.paper.settings import REAL_PRODUCT_CODES
from tests.e2e.service_harness import ACCOUNT, Harness
from tests.factories import T0

MNQ = "CON.F.US.MNQ.Z26"
ES = "CON.F.US.EP.Z26"
MES = "CON.F.US.MES.Z26"
NQ = "CON.F.US.ENQ.Z26"

# the scenarios hand-compute P&L from the fee table: the gateway's commissions (counted beside
# the fees, tested on their own) are left out here
pytestmark = pytest.mark.paper(commission=Decimal(0))


# --- helpers ---------------------------------------------------------------------------------


def cid(root: str) -> str:
    """The contract id the gateway lists for ``root`` (as the real one does: NQ is ENQ)."""
    return f"CON.F.US.{REAL_PRODUCT_CODES.get(root, root)}.Z26"


async def seen(h: Harness, root: str, size: int) -> None:
    """Wait until the service holds ``size`` contracts of ``root`` (0: none)."""
    contract = cid(root)

    def holds() -> bool:
        p = h.acct.positions.get(contract)
        return p is None if size == 0 else p is not None and p.size == size

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
    await h.until(lambda: h.contract_state(MES) is State.Trading, "the close confirmed")
    assert h.acct.state is state


async def released_at(h: Harness, until: datetime) -> None:
    """The lock ends at its deadline, by the scheduler, with no event arriving."""
    h.clock.set(until)
    await h.until(lambda: h.acct.state is State.Trading, "released at the deadline")


async def quote_now(h: Harness, root: str) -> None:
    """The gateway quotes ``root`` again at the current time and the service has handled it:
    anything due by now has been handled too (a sync point for "nothing happens yet")."""
    q = h.gateway.quote(root)
    h.gateway.set_price(root, q.last, bid=q.bid, ask=q.ask)
    now = h.clock.now()

    def quoted() -> bool:
        mark = h.svc.engine.marks.get(cid(root))
        return mark is not None and mark.at == now

    await h.until(quoted, f"{root} quoted at {now}")


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


async def test_rule_006_an_entry_at_the_open_by_the_gateway_clock_stays_while_ours_is_behind(
    h: Harness,
) -> None:
    """The gateway's clock runs half a second ahead of the service's. At 16:59:59.900 by the
    service's clock the trader buys: the gateway (production profile, which refuses orders
    outside its hours) fills it at 17:00:00.400 by its own, in the new session. The entry is
    judged at its fill's stamp: it stays, in the new trading day, and nothing is locked."""
    await h.start(HOURS)
    opens = T0 + timedelta(hours=8)  # Mon 17:00 Chicago
    h.gateway.set_clock(lambda: h.clock.now() + timedelta(milliseconds=500))
    h.clock.set(opens - timedelta(milliseconds=100))
    await enter(h, "MNQ", "buy", 1)
    assert h.clock.now() < opens
    assert [f.at for f in h.acct.day.fills] == [opens + timedelta(milliseconds=400)]
    assert h.acct.day.start == opens
    assert h.acct.state is State.Trading and "RULE-006" not in h.acct.holds
    assert h.closes("MNQ") == [] and h.position("MNQ") == 1
    assert all(rule != "RULE-006" for *_, rule in h.audit())


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
    assert h.acct.orders[exit_.order_id].cancel_sent_at is None
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
    h.clock.set(T0 + timedelta(minutes=5) - timedelta(seconds=1))
    await quote_now(h, "MNQ")
    assert all(m.state is State.Trading for m in h.acct.contracts.values())
    assert h.closes() == []
    h.clock.set(T0 + timedelta(minutes=5))  # MNQ's deadline: the scheduler wakes the account
    await h.gw_until(lambda: h.position("MNQ") == 0, "MNQ closed")
    [close] = h.closes("MNQ")
    assert close.size == 2 and close.received_at == T0 + timedelta(minutes=5)
    assert h.position("ES") == 1 and h.closes("ES") == []
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "close confirmed")
    assert h.acct.state is State.Trading and h.acct.holds == {}
    assert (MNQ, "Trading", "Flattening", "breach", "RULE-009") in h.audit()
    assert (MNQ, "Flattening", "Trading", "flat_confirmed", "RULE-009") in h.audit()
    assert rules_of(h, "RULE-009") == [
        (MNQ, "Trading", "Flattening", "breach", "RULE-009"),
        (MNQ, "Flattening", "Trading", "flat_confirmed", "RULE-009"),
    ]
    h.clock.set(T0 + timedelta(minutes=8))  # ES's own deadline
    await h.gw_until(lambda: h.position("ES") == 0, "ES closed at its deadline")
    await h.until(lambda: h.contract_state(ES) is State.Trading, "close confirmed")
    assert h.acct.state is State.Trading


# --- RULE-010 rapid_fire ---------------------------------------------------------------------


async def test_rule_010_a_third_entry_within_a_minute_cools_down_for_the_window(
    h: Harness,
) -> None:
    await h.start("[rule.rapid_fire]\nwindows = 60: 2, 3600: 10\n")
    await enter(h, "MNQ", "buy", 1)
    await enter(h, "MNQ", "buy", 1, held=1)
    await h.advance(seconds=61)  # the window rolls on: those two are out of it
    await enter(h, "MNQ", "buy", 1, held=2)
    await enter(h, "ES", "buy", 1)  # two entries within 60 s: the limit, not over it
    assert h.acct.state is State.Trading
    h.trade("MNQ", "buy", 1)  # the third within 60 s
    await h.until(lambda: h.acct.state is State.Cooldown, "cooling down (RULE-010)")
    [close] = h.closes("MNQ")
    assert close.size == 4 and h.position("MNQ") == 0
    assert len(h.closes("ES")) == 1 and h.position("ES") == 0
    hold = h.acct.holds["RULE-010"]
    assert hold.until == T0 + timedelta(seconds=61 + 60)
    assert "3 entries within 60s > 2" in hold.detail
    assert (None, "Trading", "Flattening", "breach", "RULE-010") in h.audit()
    assert (None, "Flattening", "Cooldown", "flat_confirmed", "RULE-010") in h.audit()
    await locked_out(h, State.Cooldown)
    await released_at(h, hold.until)


# --- RULE-011 max_consecutive_losses ---------------------------------------------------------


async def test_rule_011_two_losing_round_trips_in_a_row_lock_the_day(h: Harness) -> None:
    await h.start("[rule.max_consecutive_losses]\nlosses = 2\n")
    await enter(h, "ES", "buy", 1)
    assert (await round_trip(h, "MNQ", 1, -20)).net < 0  # loss 1
    assert (await round_trip(h, "MNQ", 1, 20)).net > 0  # a winner ends the streak
    assert (await round_trip(h, "MNQ", 1, -20)).net < 0  # loss 1 again
    assert h.acct.state is State.Trading and h.position("ES") == 1
    await round_trip(h, "MNQ", 1, -20)  # loss 2 in a row
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-011")
    [close] = h.closes("ES")
    assert close.status == OrderStatus.FILLED and h.position("ES") == 0
    assert h.closes("MNQ") == []  # the trader closed every MNQ round trip
    hold = h.acct.holds["RULE-011"]
    assert hold.until == h.svc.engine.calendar.next_daily_reset(h.clock.now())
    assert "2 losing round trips in a row" in hold.detail
    assert (None, "Trading", "Flattening", "breach", "RULE-011") in h.audit()
    assert (None, "Flattening", "LockedDaily", "flat_confirmed", "RULE-011") in h.audit()
    await locked_out(h, State.LockedDaily)
    await released_at(h, hold.until)


# --- RULE-012 revenge_trading ----------------------------------------------------------------

REVENGE = (
    "[rule.revenge_trading]\nloss = 50\nseconds = 300\nmultiplier = 2\ncooldown_minutes = 30\n"
)


async def test_rule_012_doubling_back_in_right_after_a_loss_cools_down(h: Harness) -> None:
    await h.start(REVENGE)
    trip = await round_trip(h, "MNQ", 1, -120)  # -121 ticks of $0.50, fees 0.74
    assert trip.net == Decimal("-61.24")
    await h.advance(seconds=60)
    await enter(h, "MNQ", "buy", 1)  # 1 of the 2 that would be revenge
    assert h.acct.state is State.Trading
    h.trade("ES", "buy", 1)  # 2 contracts entered 60 s after the loss (every root counts)
    await h.until(lambda: h.acct.state is State.Cooldown, "cooling down (RULE-012)")
    assert [c.size for c in h.closes("MNQ")] == [1] and h.position("MNQ") == 0
    assert [c.size for c in h.closes("ES")] == [1] and h.position("ES") == 0
    hold = h.acct.holds["RULE-012"]
    assert hold.until == T0 + timedelta(seconds=60, minutes=30)
    assert "2 contracts entered 60s after a -61.24 loss of 1 MNQ" in hold.detail
    assert (None, "Trading", "Flattening", "breach", "RULE-012") in h.audit()
    assert (None, "Flattening", "Cooldown", "flat_confirmed", "RULE-012") in h.audit()
    await locked_out(h, State.Cooldown)
    await released_at(h, hold.until)


async def test_rule_012_the_same_re_entry_after_the_watch_is_allowed(h: Harness) -> None:
    await h.start(REVENGE)
    await round_trip(h, "MNQ", 1, -120)
    assert h.acct.rule_state["RULE-012"]["watches"]
    await h.advance(seconds=301)
    await enter(h, "MNQ", "buy", 2)  # as big, but the watch is over
    assert h.acct.state is State.Trading and h.closes() == []
    assert "watches" not in h.acct.rule_state["RULE-012"]
    assert rules_of(h, "RULE-012") == []


# --- RULE-013 weekly_loss_limit --------------------------------------------------------------


async def test_rule_013_losses_of_two_days_add_up_to_the_weekly_limit(h: Harness) -> None:
    # the daily limit (250) is never reached on either day; the week's sum reaches 300
    await h.start("[rule.weekly_loss_limit]\nlimit = 300\n[rule.daily_loss_limit]\nlimit = 250\n")
    monday = await round_trip(h, "MNQ", 2, -200)  # -201 ticks of $1, fees 1.48
    assert monday.net == Decimal("-202.48")
    await next_day(h)  # Tuesday's trading day
    assert h.acct.day.realized == 0 and h.acct.week.realized == Decimal("-202.48")
    await enter(h, "MNQ", "buy", 2)  # fees 0.74
    h.gateway.move_price("MNQ", -95)  # -96 ticks: week -299.22
    await h.until(lambda: h.acct.positions[MNQ].upnl == -96, "the mark seen")
    assert h.acct.state is State.Trading
    h.gateway.move_price("MNQ", -1)  # week -300.22 <= -300 (the day: -97.74)
    await h.until(lambda: h.acct.state is State.LockedWeekly, "locked by RULE-013")
    assert [c.size for c in h.closes("MNQ")] == [2] and h.position("MNQ") == 0
    hold = h.acct.holds["RULE-013"]
    assert hold.until == h.svc.engine.calendar.next_weekly_reset(h.clock.now())
    assert "week P&L -300.22 <= -300.00" in hold.detail
    assert (None, "Trading", "Flattening", "breach", "RULE-013") in h.audit()
    assert (None, "Flattening", "LockedWeekly", "flat_confirmed", "RULE-013") in h.audit()
    assert rules_of(h, "RULE-003") == []
    await locked_out(h, State.LockedWeekly)
    await next_day(h)  # Wednesday: still locked
    assert h.acct.state is State.LockedWeekly
    await released_at(h, hold.until)


# --- RULE-014 position_stop_loss -------------------------------------------------------------


async def test_rule_014_one_positions_loss_closes_that_position_only(h: Harness) -> None:
    await h.start("[rule.position_stop_loss]\nlimit = 100\n")
    await enter(h, "MNQ", "buy", 2)  # at 21000.25: $1 a tick
    target = working(h, "MNQ", "sell", 21500)  # the trader's own exit, in that contract
    await enter(h, "ES", "buy", 1)
    es_exit = working(h, "ES", "sell", 6100)
    h.gateway.move_price("MNQ", -98)  # -99 ticks: -$99
    await h.until(lambda: h.acct.positions[MNQ].upnl == -99, "the mark seen")
    assert h.closes() == []
    h.gateway.move_price("MNQ", -1)  # -$100: touches the stop
    await h.gw_until(lambda: h.position("MNQ") == 0, "MNQ closed")
    assert [c.size for c in h.closes("MNQ")] == [2]
    await cancelled(h, target, "the MNQ order cancelled with it")
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "close confirmed")
    assert h.position("ES") == 1 and h.closes("ES") == [] and status(h, es_exit) == OrderStatus.OPEN
    assert h.acct.state is State.Trading and h.acct.holds == {}
    assert rules_of(h, "RULE-014") == [
        (MNQ, "Trading", "Flattening", "breach", "RULE-014"),
        (MNQ, "Flattening", "Trading", "flat_confirmed", "RULE-014"),
    ]
    await enter(h, "MNQ", "buy", 1)  # no lock: the trader may trade it again
    assert h.acct.state is State.Trading and len(h.closes("MNQ")) == 1


# --- RULE-015 position_take_profit -----------------------------------------------------------


async def test_rule_015_one_positions_profit_closes_that_position_only(h: Harness) -> None:
    await h.start("[rule.position_take_profit]\ntarget = 100\n")
    await enter(h, "MNQ", "sell", 2)  # short at the bid, 21000.00: $1 a tick
    await enter(h, "ES", "buy", 1)
    h.gateway.move_price("MNQ", -99)  # +$99
    await h.until(lambda: h.acct.positions[MNQ].upnl == 99, "the mark seen")
    assert h.closes() == []
    h.gateway.move_price("MNQ", -1)  # +$100: the target
    await h.gw_until(lambda: h.position("MNQ") == 0, "MNQ closed")
    [close] = h.closes("MNQ")
    assert close.size == 2 and close.side == 0  # closing a short buys
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "close confirmed")
    assert h.position("ES") == 1 and h.closes("ES") == []
    assert h.acct.state is State.Trading and h.acct.holds == {}
    [trip] = h.acct.day.trips
    assert trip.net == Decimal(99) - Decimal("1.48") and trip.enforced  # bought at the ask
    assert rules_of(h, "RULE-015") == [
        (MNQ, "Trading", "Flattening", "breach", "RULE-015"),
        (MNQ, "Flattening", "Trading", "flat_confirmed", "RULE-015"),
    ]


# --- RULE-016 stop_loss_required -------------------------------------------------------------


async def test_rule_016_positions_without_a_protective_stop_are_closed_after_the_grace(
    h: Harness,
) -> None:
    await h.start("[rule.stop_loss_required]\ngrace_seconds = 30\n")
    await enter(h, "MNQ", "buy", 1)  # no stop at all
    await enter(h, "ES", "buy", 1)
    es_stop = h.trade("ES", "sell", 1, type=4, stop_price=5990)  # protective: below the entry
    await enter(h, "NQ", "buy", 1)
    nq_stop = h.trade("NQ", "buy", 1, type=4, stop_price=21100)  # a stop entry, no protection
    await h.until(lambda: len(h.acct.orders) == 2, "both stops seen")
    h.clock.set(T0 + timedelta(seconds=29))
    await quote_now(h, "MNQ")
    assert all(m.state is State.Trading for m in h.acct.contracts.values())
    assert h.closes() == []
    h.clock.set(T0 + timedelta(seconds=30))  # the grace ends: the scheduler wakes
    await h.gw_until(lambda: h.position("MNQ") == 0 and h.position("NQ") == 0, "closed")
    assert [c.size for c in h.closes("MNQ")] == [1] and [c.size for c in h.closes("NQ")] == [1]
    await cancelled(h, nq_stop, "the stop entry cancelled with its position")
    assert h.position("ES") == 1 and h.closes("ES") == []
    assert status(h, es_stop) == OrderStatus.OPEN
    await h.until(lambda: all(h.contract_state(c) is State.Trading for c in (MNQ, NQ)), "confirmed")
    assert h.acct.state is State.Trading and h.acct.holds == {}
    for c in (MNQ, NQ):
        assert (c, "Trading", "Flattening", "breach", "RULE-016") in h.audit()
        assert (c, "Flattening", "Trading", "flat_confirmed", "RULE-016") in h.audit()
    assert all(a[0] != ES for a in h.audit())


# --- RULE-017 symbol_block -------------------------------------------------------------------


async def test_rule_017_a_blocked_root_is_cancelled_closed_and_its_contract_locked(
    h: Harness,
) -> None:
    await h.start("[rule.symbol_block]\nroots = CL, M*\n")
    await enter(h, "ES", "buy", 1)  # not blocked
    limit = working(h, "MNQ", "buy", 20000)  # MNQ matches M*
    await cancelled(h, limit, "the blocked order cancelled")
    await h.until(lambda: h.acct.contracts[MNQ].state is State.LockedDaily, "MNQ locked")
    hold = h.acct.contracts[MNQ].holds["RULE-017"]
    assert hold.until is None  # for as long as the root is blocked
    assert (MNQ, "Trading", "Flattening", "breach", "RULE-017") in h.audit()
    assert (MNQ, "Flattening", "LockedDaily", "flat_confirmed", "RULE-017") in h.audit()
    h.trade("MNQ", "buy", 2)  # a market order fills before anyone can cancel it
    await h.gw_until(lambda: h.closes("MNQ") and h.position("MNQ") == 0, "closed on sight")
    await h.until(lambda: h.acct.contracts[MNQ].state is State.LockedDaily, "locked again")
    assert h.acct.state is State.Trading and h.position("ES") == 1 and h.closes("ES") == []
    await next_day(h)  # a daily reset does not end the block
    assert h.acct.contracts[MNQ].state is State.LockedDaily
    assert h.acct.contracts[MNQ].holds["RULE-017"].until is None
    again = working(h, "MNQ", "buy", 20000)
    await cancelled(h, again, "still cancelled on sight")
    assert all(a[0] == MNQ for a in rules_of(h, "RULE-017"))  # the account was never locked


# --- RULE-018 trading_permission -------------------------------------------------------------


async def test_rule_018_can_trade_false_flattens_and_locks_until_it_is_true_again(
    h: Harness,
) -> None:
    await h.start("[rule.trading_permission]\n")
    await enter(h, "MNQ", "buy", 1)
    limit = working(h, "ES", "buy", 5000)
    await h.until(lambda: len(h.acct.orders) == 1, "the order seen")
    h.gateway.set_can_trade(ACCOUNT, False)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-018")
    assert [c.size for c in h.closes("MNQ")] == [1] and h.position("MNQ") == 0
    assert status(h, limit) == OrderStatus.CANCELLED
    hold = h.acct.holds["RULE-018"]
    assert hold.until is None  # until the gateway says otherwise
    assert (None, "Trading", "Flattening", "breach", "RULE-018") in h.audit()
    assert (None, "Flattening", "LockedDaily", "flat_confirmed", "RULE-018") in h.audit()
    await next_day(h)  # a daily reset does not end it
    assert h.acct.state is State.LockedDaily
    h.gateway.set_can_trade(ACCOUNT, True)
    await h.until(lambda: h.acct.state is State.Trading, "released")
    assert (None, "LockedDaily", "Trading", "release", "RULE-018") in h.audit()
    await enter(h, "MNQ", "buy", 1)  # trading again: the position stays
    assert h.acct.state is State.Trading and len(h.closes("MNQ")) == 1


async def test_rule_016_and_008_the_traders_stop_out_is_his_losing_trade_not_a_breach(
    h: Harness,
) -> None:
    """Reported (a simulated week): the trader's protective stop filled; the gateway told the
    stop filled before the fill and the position, RULE-016 judged a position without a stop,
    and his exit fill was booked as our close: no cooldown after his loss, and a
    STOP_LOSS_REQUIRED breach in the audit of a trader who had a stop."""
    await h.start(
        "[rule.stop_loss_required]\ngrace_seconds = 30\n"
        "[rule.trade_cooldown]\ntiers = 100: 15, 250: 30\n"
    )
    await enter(h, "MES", "buy", 1)
    price = h.gateway.quote(cid("MES")).last
    h.trade("MES", "sell", 1, type=4, stop_price=price - 25)  # 100 ticks below
    await h.until(lambda: any(o.type is OrderType.STOP for o in h.acct.orders.values()), "stop")
    await h.advance(seconds=60)  # past the grace, protected
    await quote_now(h, "MES")
    h.gateway.move_price("MES", -104)  # through the stop: -$130 and fees
    await h.until(lambda: h.acct.state is State.Cooldown, "cooling down (RULE-008)")
    assert h.closes("MES") == []  # the trader's stop closed it
    assert not any(rule == "RULE-016" for *_, rule in h.audit())
    assert h.acct.day.trips[-1].enforced is False
