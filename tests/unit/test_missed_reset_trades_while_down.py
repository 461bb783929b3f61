"""A reset missed while the service was stopped is applied to what the account held at that
instant, and its balance then: the trades made while it was stopped (listed only by the
start-up read) and stamped before the reset change what it held at the reset, so the new day's
(and week's) carry and the end-of-day trailing peak are redone from them; trades after the
reset are the new day's.

The reads are applied as the service applies them (`Service._reconcile_now` for an account
found flat, `_enforcing_step` then `_history_step` for an exposed one): the trades, oldest
first, before the positions, and the prices at the reset of a contract opened while stopped
(`PricesAtReset`) before the trades."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import (
    Event,
    Fill,
    Listing,
    PositionUpdate,
    PriceAt,
    PricesAtReset,
    Side,
    Tick,
    TradesSnapshot,
)
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    MNQ,
    Driver,
    account,
    fill,
    gateway_read,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
)

D = Decimal
MON_RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Mon 17:00 CST, the reset after T0
TUESDAY = MON_RESET + timedelta(hours=16)  # Tue 09:00 CST: the restart
SUN_RESET = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # the weekly reset after T0
MON_30 = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # the daily reset after it

daily_loss = partial(rule_engine, DailyLossLimit, limit="1000")
end_of_day = partial(rule_engine, TrailingDrawdown, drawdown="2000", mode="end_of_day")


def prices_event(d: Driver, prices: dict[datetime, dict[str, str]]) -> list[Event]:
    found = tuple(PriceAt(at, c, D(p)) for at, by in prices.items() for c, p in by.items())
    return [PricesAtReset(d.acc, found)] if found else []


def whole_read(
    d: Driver,
    trades: Sequence[Fill],
    balance: str,
    positions: Sequence[PositionUpdate] = (),
    prices: dict[datetime, dict[str, str]] | None = None,
) -> None:
    """The start-up read of an account the probe found flat (`Service._reconcile_now`): any
    prices at the reset the trades call for, then the trades since the stop (oldest first),
    the balance, the open positions, the `Listing`, the `TradesSnapshot`; the account resumes."""
    since = min(d.acct.week.start, d.acct.day.start)
    d.send(*prices_event(d, prices or {}))
    listed = [dataclasses.replace(p, snapshot=True) for p in positions]
    gateway_read(d, *trades, account(balance), *listed, trades=trades, since=since)
    d.effects.extend(d.engine.resume(d.acc, set(), d.now))


def two_step_read(
    d: Driver,
    trades: Sequence[Fill],
    balance: str,
    positions: Sequence[PositionUpdate] = (),
    prices: dict[datetime, dict[str, str]] | None = None,
) -> None:
    """The start-up read of an exposed account: its positions behind a `Listing` that marks
    it behind (`Service._enforcing_step`; it then enforces), then any prices at the reset the
    trades call for, the `TradesSnapshot` (its trades booked first), the balance and a `Tick`
    (`Service._history_step`)."""
    acct = d.acct
    applied = frozenset(acct.seen_trades)
    held = frozenset(set(acct.positions) | {c for c, n in acct.net.items() if n})
    listed = [dataclasses.replace(p, snapshot=True, applied=applied) for p in positions]
    behind = Listing(
        d.acc,
        frozenset(p.contract_id for p in listed),
        frozenset(),
        held,
        frozenset(acct.orders),
        applied,
        behind=True,
        began=d.now,
    )
    d.send(behind, *listed)
    d.effects.extend(d.engine.resume(d.acc, set(), d.now))
    since = min(acct.week.start, acct.day.start)
    balance_read = dataclasses.replace(
        account(balance), applied=applied | {t.trade_id for t in trades}
    )
    d.send(
        *prices_event(d, prices or {}),
        TradesSnapshot(d.acc, since, tuple(trades), applied),
        balance_read,
        Tick(d.acc),
    )


def held_3_mnq(rule: partial[RiskEngine], mark: str) -> Driver:
    """Long 3 MNQ at 21,000 on Monday 09:00 CST, quoted at ``mark`` when the service stops."""
    d = Driver(rule())
    d.send(account("50000"), position(MNQ, 3, "21000"), quote(MNQ, mark))
    return d


def test_a_position_closed_at_a_profit_while_stopped_before_the_reset_carries_nothing() -> None:
    """Long 3 MNQ at 21,000 (+$600 at 21,100) when the service stops; the trader sells at
    21,100 at 10:00 CST (+$600, Monday's); MNQ is 21,300 at the reset. Restarted Tuesday
    09:00: flat since Monday, Tuesday is at $0 and the $1,000 daily limit does not fire (it
    carried +$1,800 of a position no longer held: -$1,800 and LockedDaily all day)."""
    d = held_3_mnq(daily_loss, "21100")
    closed_at = d.now + timedelta(hours=1)
    again = restart(d, daily_loss, at=TUESDAY, at_reset={MON_RESET: {MNQ: D("21300")}})
    assert again.acct.day.carry == D("1800")  # as the stop left it, until the read
    sold = fill(MNQ, Side.SELL, 3, "21100", pnl="600", order_id=77, at=closed_at)
    two_step_read(again, [sold], "50600")
    assert again.acct.day.carry == 0
    assert again.acct.day_pnl(with_unrealized=True) == 0
    assert again.acct.state is State.Trading and not again.acct.holds


def test_a_position_closed_at_a_loss_while_stopped_gives_no_room_the_next_day() -> None:
    """Mirror: sold at 20,900 while stopped (-$600, Monday's), MNQ 20,700 at the reset (-$1,800
    for a position no longer held). Tuesday starts at $0: a new 3-lot losing $1,200 locks (the
    old carry of -$1,800 gave $1,800 of room: $2,800 lost against a $1,000 limit)."""
    d = held_3_mnq(daily_loss, "20950")
    closed_at = d.now + timedelta(hours=1)
    again = restart(d, daily_loss, at=TUESDAY, at_reset={MON_RESET: {MNQ: D("20700")}})
    sold = fill(MNQ, Side.SELL, 3, "20900", pnl="-600", order_id=77, at=closed_at)
    two_step_read(again, [sold], "49400")
    assert again.acct.state is State.Trading
    assert again.acct.day_pnl(with_unrealized=True) == 0
    again.now = t = TUESDAY + timedelta(minutes=5)
    again.send(
        fill(MNQ, Side.BUY, 3, "21000", order_id=88, at=t),
        position(MNQ, 3, "21000", at=t),
        quote(MNQ, "20800", at=t),
    )
    assert again.acct.day_pnl(with_unrealized=True) == D("-1200")
    assert again.acct.state is State.Flattening and "RULE-003" in again.acct.holds


def test_a_position_opened_while_stopped_and_held_across_the_reset_carries_its_gain() -> None:
    """Flat when the service stops. The trader buys 3 MNQ at 21,000 at 10:00 CST and holds;
    MNQ is 21,300 at the reset (+$1,800, Monday's: the price the shell reads for it, as the
    restore read none). Restarted Tuesday: at 21,300 the day is $0, and a fall to 21,000 is
    -$1,800 today, past the $1,000 limit (the gain before the reset hid it)."""
    d = rule_driver(DailyLossLimit, limit="1000")
    bought = fill(MNQ, Side.BUY, 3, "21000", order_id=78, at=d.now + timedelta(hours=1))
    again = restart(d, daily_loss, at=TUESDAY)
    assert again.acct.day.carry == 0
    held = position(MNQ, 3, "21000", at=bought.at)
    missed = again.acct.missed
    assert missed.wanted(again.acct, [bought]) == [(MON_RESET, MNQ)]  # what the shell reads
    two_step_read(again, [bought], "50000", [held], prices={MON_RESET: {MNQ: "21300"}})
    assert again.acct.day.carry == D("1800")
    again.send(quote(MNQ, "21300", at=TUESDAY))
    assert again.acct.day_pnl(with_unrealized=True) == 0
    assert again.acct.state is State.Trading
    again.send(quote(MNQ, "21000", at=TUESDAY))
    assert again.acct.day_pnl(with_unrealized=True) == D("-1800")
    assert again.acct.state is State.Flattening


def test_a_position_opened_while_stopped_without_its_price_at_the_reset_uses_its_last_trade() -> (
    None
):
    """The price at the reset not read (the shell warned): the position opened while stopped
    is valued at its last trade before the reset, the newest price known then (2 bought at
    21,000, 1 added at 21,200: +$800 carried, exactly, on 3 at an average of 21,066.67)."""
    d = rule_driver(DailyLossLimit, limit="1000")
    t1, t2 = d.now + timedelta(hours=1), d.now + timedelta(hours=2)
    trades = [
        fill(MNQ, Side.BUY, 2, "21000", order_id=78, at=t1),
        fill(MNQ, Side.BUY, 1, "21200", order_id=79, at=t2),
    ]
    again = restart(d, daily_loss, at=TUESDAY)
    two_step_read(again, trades, "50000", [position(MNQ, 3, "21066.66666666666666666666667")])
    assert again.acct.day.carry == D("800")


def test_the_end_of_day_peak_is_not_raised_by_a_position_closed_while_stopped() -> None:
    """End-of-day trailing drawdown of $2,000 from a peak of 50,000. Long 3 MNQ at 21,000; the
    service stops; the trader sells at 21,100 (+$600): the equity at the reset is 50,600, so
    the peak is 50,600 (the floor 48,600), not the 51,800 of the position no longer held at
    the reset's 21,300 (a floor of 49,800: a false LockedWeekly at 49,800)."""
    d = held_3_mnq(end_of_day, "21100")
    closed_at = d.now + timedelta(hours=1)
    again = restart(d, end_of_day, at=TUESDAY, at_reset={MON_RESET: {MNQ: D("21300")}})
    assert D(again.acct.rule_state["RULE-004"]["peak"]) == D("51800")  # until the read
    sold = fill(MNQ, Side.SELL, 3, "21100", pnl="600", order_id=77, at=closed_at)
    two_step_read(again, [sold], "50600")
    assert D(again.acct.rule_state["RULE-004"]["peak"]) == D("50600")
    assert again.acct.state is State.Trading


def test_the_end_of_day_peak_takes_a_profit_made_while_stopped_before_the_reset() -> None:
    """Peak 50,000, flat when the service stops Monday 09:00 CST. The trader makes +$1,500 on
    a round trip at 10:00 CST and is flat at the reset: the end-of-day equity is 51,500, the
    peak 51,500 and the floor 49,500 (as the firm computes it), not 48,000."""
    d = Driver(end_of_day())
    d.send(account("50000"))
    t1, t2 = d.now + timedelta(hours=1), d.now + timedelta(hours=1, minutes=5)
    again = restart(d, end_of_day, at=TUESDAY)
    trades = [
        fill(MNQ, Side.BUY, 3, "21000", order_id=70, at=t1),
        fill(MNQ, Side.SELL, 3, "21250", pnl="1500", order_id=71, at=t2),
    ]
    assert again.acct.missed.wanted(again.acct, trades) == []
    whole_read(again, trades, "51500")
    assert D(again.acct.rule_state["RULE-004"]["peak"]) == D("51500")
    assert again.acct.day_pnl(with_unrealized=True) == 0  # the round trip was Monday's


def test_a_trade_made_while_stopped_after_the_reset_is_the_new_day_s() -> None:
    """Held 3 MNQ at 21,000 across the reset (21,300 there: +$1,800 carried); sold at 20,900
    on Tuesday 08:00 CST while stopped (-$300 on the trip, -$2,100 since the reset). The
    carry stands and the day is -$2,100: LockedDaily."""
    d = held_3_mnq(daily_loss, "21100")
    again = restart(d, daily_loss, at=TUESDAY, at_reset={MON_RESET: {MNQ: D("21300")}})
    sold = fill(
        MNQ, Side.SELL, 3, "20900", pnl="-300", order_id=77, at=TUESDAY - timedelta(hours=1)
    )
    two_step_read(again, [sold], "49700")
    assert again.acct.day.carry == D("1800")
    assert again.acct.day_pnl(with_unrealized=True) == D("-2100")
    assert again.acct.state is State.LockedDaily


def test_the_week_and_the_day_are_each_redone_from_what_was_held_at_their_own_reset() -> None:
    """Stopped on Monday 23rd holding 3 MNQ at 21,000; the week began Sunday 29th 17:00 (MNQ
    21,200), the trader sold at 21,100 on Monday 30th 10:00 CST (+$600), before that day's
    reset. The week carries the +$1,200 held at its start (its P&L is then -$600: sold $100
    below its start); the day carries nothing (flat at its start)."""
    d = held_3_mnq(daily_loss, "21100")
    sold = fill(MNQ, Side.SELL, 3, "21100", pnl="600", order_id=77, at=MON_30 - timedelta(hours=7))
    prices = {SUN_RESET: {MNQ: D("21200")}, MON_30: {MNQ: D("21300")}}
    again = restart(d, daily_loss, at=MON_30 + timedelta(hours=16), at_reset=prices)
    assert (again.acct.week.carry, again.acct.day.carry) == (D("1200"), D("1800"))
    two_step_read(again, [sold], "50600")
    assert (again.acct.week.carry, again.acct.day.carry) == (D("1200"), 0)
    assert again.acct.week_pnl(with_unrealized=True) == D("-600")
    assert again.acct.day_pnl(with_unrealized=True) == 0
    assert again.acct.state is State.Trading


def test_without_trades_while_stopped_the_read_changes_nothing_of_the_reset() -> None:
    """No trade made while stopped: the carry and the peak stay as the restore set them."""
    mk = partial(rule_engine, TrailingDrawdown, drawdown="2000", mode="end_of_day")
    d = held_3_mnq(mk, "21100")
    again = restart(d, mk, at=TUESDAY, at_reset={MON_RESET: {MNQ: D("21300")}})
    two_step_read(again, [], "50000", [position(MNQ, 3, "21000")])
    assert again.acct.day.carry == D("1800")
    assert D(again.acct.rule_state["RULE-004"]["peak"]) == D("51800")
    assert again.acct.day.start == MON_RESET


def test_a_second_restart_before_the_start_up_read_still_redoes_the_missed_reset() -> None:
    """Long 3 MNQ at 21,000 when stopped; sold while down Monday 10:00 CST (+$600, Monday's);
    MNQ 21,300 at the reset. Restarted Tuesday 09:00: the restore carries +$1,800 (and the
    service commits it at once). Stopped again before the start-up read, restarted 09:01 (no
    reset is missed any more): the stored record of the missed reset is restored with the
    account, and the read's Monday sell takes the carry back: Tuesday at $0, Trading (was
    -$1,800 and LockedDaily all day)."""
    d = held_3_mnq(daily_loss, "21100")
    closed_at = d.now + timedelta(hours=1)
    first = restart(d, daily_loss, at=TUESDAY, at_reset={MON_RESET: {MNQ: D("21300")}})
    assert first.acct.day.carry == D("1800")
    second = restart(first, daily_loss, at=TUESDAY + timedelta(minutes=1))
    third = restart(second, daily_loss, at=TUESDAY + timedelta(minutes=2))
    assert third.acct.state is State.Trading  # valued at the reset's price, as the first
    sold = fill(MNQ, Side.SELL, 3, "21100", pnl="600", order_id=77, at=closed_at)
    two_step_read(third, [sold], "50600")
    assert (third.acct.day.carry, third.acct.day_pnl(with_unrealized=True), third.acct.state) == (
        0,
        0,
        State.Trading,
    )
    assert "missed" not in third.acct.persisted()


def test_a_restart_across_another_reset_before_the_read_redoes_both() -> None:
    """Stopped Monday holding 3 MNQ at 21,000, sold while down at 10:00 CST (+$600). Restarted
    Tuesday 09:00 (MNQ 21,300 at Monday's reset), stopped again before the read, restarted
    Wednesday 09:00 (MNQ 21,200 at Tuesday's reset): the pending record takes Tuesday's reset
    too, and the read's Monday sell leaves the account flat at both: Wednesday starts at $0
    (a record made afresh at the second restart began at its stop, after the sell: Wednesday
    carried +$1,200 of a position sold on Monday, -$1,200 and LockedDaily)."""
    tue_reset = MON_RESET + timedelta(days=1)
    d = held_3_mnq(daily_loss, "21100")
    closed_at = d.now + timedelta(hours=1)
    first = restart(d, daily_loss, at=TUESDAY, at_reset={MON_RESET: {MNQ: D("21300")}})
    second = restart(
        first, daily_loss, at=TUESDAY + timedelta(days=1), at_reset={tue_reset: {MNQ: D("21200")}}
    )
    assert second.acct.day.carry == D("1200")  # as the stop left it, until the read
    sold = fill(MNQ, Side.SELL, 3, "21100", pnl="600", order_id=77, at=closed_at)
    two_step_read(second, [sold], "50600")
    assert second.acct.day.start == tue_reset
    assert (second.acct.day.carry, second.acct.day_pnl(with_unrealized=True)) == (0, 0)
    assert second.acct.state is State.Trading


def test_a_trade_of_the_read_applied_before_a_restart_still_counts_at_the_reset() -> None:
    """Long 3 MNQ at 21,000 when stopped; sold 2 at 10:00 CST and 1 at 11:00 while down (flat
    at the reset, 21,300 there). The read's first sell is applied, then the service stops
    again: at the next start that sell is no longer new (its trade id is seen), but the
    stored record keeps it, so the second sell redoes the reset from both: $0 carried (the
    record lost, nothing was redone: the +$600 of the 1 still held after the first sell stayed
    carried, -$600 all day)."""
    d = held_3_mnq(daily_loss, "21100")
    t1, t2 = d.now + timedelta(hours=1), d.now + timedelta(hours=2)
    first = restart(d, daily_loss, at=TUESDAY, at_reset={MON_RESET: {MNQ: D("21300")}})
    sells = [
        fill(MNQ, Side.SELL, 2, "21100", pnl="400", order_id=77, at=t1),
        fill(MNQ, Side.SELL, 1, "21100", pnl="200", order_id=78, at=t2),
    ]
    first.send(sells[0])
    assert first.acct.day.carry == D("600")  # 1 held at the reset
    second = restart(first, daily_loss, at=TUESDAY + timedelta(minutes=1))
    two_step_read(second, sells, "50600")
    assert (second.acct.day.carry, second.acct.day_pnl(with_unrealized=True)) == (0, 0)
    assert second.acct.state is State.Trading


def test_an_account_with_no_missed_reset_pending_stores_no_record() -> None:
    """The record is stored only while a missed reset waits for the account's trades: an
    ordinary account's stored state has no such field, nor one whose read came."""
    d = held_3_mnq(daily_loss, "21100")
    assert "missed" not in d.acct.persisted()
    again = restart(d, daily_loss, at=TUESDAY, at_reset={MON_RESET: {MNQ: D("21300")}})
    assert "missed" in again.acct.persisted()
    two_step_read(again, [], "50000", [position(MNQ, 3, "21000")])
    assert "missed" not in again.acct.persisted()
    assert "missed" not in restart(again, daily_loss).acct.persisted()


def test_a_trade_made_live_before_the_read_counts_at_a_reset_missed_at_the_next_restart() -> None:
    """Stopped Monday holding 3 MNQ at 21,000, sold while down at 10:00 CST. Restarted Tuesday
    09:00; before the read, 1 MNQ is bought live at 21,250 (10:00 CST); stopped again and
    restarted Wednesday (MNQ 21,200 at Tuesday's reset). The read's Monday sell redoes both
    resets, Tuesday's from the 1 bought live as well: -$100 carried into Wednesday."""
    tue_reset = MON_RESET + timedelta(days=1)
    d = held_3_mnq(daily_loss, "21100")
    closed_at = d.now + timedelta(hours=1)
    first = restart(d, daily_loss, at=TUESDAY, at_reset={MON_RESET: {MNQ: D("21300")}})
    first.now = t = TUESDAY + timedelta(hours=1)
    first.send(
        fill(MNQ, Side.BUY, 1, "21250", order_id=80, at=t),
        position(MNQ, 4, "21062.5", at=t),
        quote(MNQ, "21250", at=t),
    )
    later = TUESDAY + timedelta(days=1)
    second = restart(first, daily_loss, at=later, at_reset={tue_reset: {MNQ: D("21200")}})
    sold = fill(MNQ, Side.SELL, 3, "21100", pnl="600", order_id=77, at=closed_at)
    two_step_read(second, [sold], "50600", [position(MNQ, 1, "21250")])
    assert second.acct.day.carry == D("-100")
    second.send(quote(MNQ, "21200", at=later))
    assert second.acct.day_pnl(with_unrealized=True) == 0


def test_a_restart_between_the_two_read_steps_judges_no_loss_before_the_trades_are_read() -> None:
    """Stopped again after the start-up read's first step (its positions: flat) and before its
    trades. The stored row then holds the gateway's flat position beside the provisional carry
    of +$1,800 (the position sold while down not yet read): judged at once, the day stood at
    -$1,800, LockedDaily for all of Tuesday before the trades were read. The rules that wait for
    the trades (as between the two steps) wait while the missed reset is not made right."""
    d = held_3_mnq(daily_loss, "21100")
    closed_at = d.now + timedelta(hours=1)
    first = restart(d, daily_loss, at=TUESDAY, at_reset={MON_RESET: {MNQ: D("21300")}})
    acct = first.acct
    listing = Listing(
        first.acc,
        frozenset(),
        frozenset(),
        frozenset({MNQ}),
        frozenset(acct.orders),
        frozenset(acct.seen_trades),
        behind=True,
        began=first.now,
    )
    first.send(listing)  # the first step: no position at the gateway
    assert MNQ not in first.acct.positions and first.acct.state is State.Trading
    second = restart(first, daily_loss, at=TUESDAY + timedelta(minutes=1))
    second.send(Tick(second.acc))
    assert second.acct.state is State.Trading  # no loss judged before the trades are read
    sold = fill(MNQ, Side.SELL, 3, "21100", pnl="600", order_id=77, at=closed_at)
    two_step_read(second, [sold], "50600")
    assert (second.acct.day.carry, second.acct.day_pnl(with_unrealized=True)) == (0, 0)
    assert second.acct.state is State.Trading
