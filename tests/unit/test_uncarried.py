"""A position opened before a live reset that the engine learned of only after it carries its
open P&L at the gateway's price at that reset (`core.uncarried`).

Found by a hunt: long 3 MNQ bought at 21,000 at 15:30 (gateway time) while the user hub was
silent, the firm's reset at 16:00 with MNQ at 21,500, the position read at 16:05: the reset
carried nothing of it, the new day read +$3,000 (Monday's), and at 21,000 (-$3,000 since the
reset, limit $1,000) the account was still Trading. The same at a first start (no stored
state) with a position held since the day before."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from fsm_risk.core.events import PriceAt, PricesAtReset, Side
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ACC,
    MES,
    MNQ,
    Driver,
    account,
    fill,
    gateway_read,
    make_engine,
    position,
    quote,
    restart,
    start_up_read,
)

NY_CLOSE = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # Monday 16:00 CST: the firm's reset
BOUGHT = NY_CLOSE - timedelta(minutes=30)
CAL = SessionCalendar(daily_reset=time(16, 0))
RULES = {DailyLossLimit: {"limit": "1000"}}


def asked(effects: list[object]) -> list[tuple[datetime, str]]:
    """The (reset, contract) prices the engine asked the gateway for (`ReadResetPrices`)."""
    return [w for e in effects for w in getattr(e, "wanted", ())]


def answer(d: Driver, *prices: tuple[datetime, str, str]) -> None:
    """The shell's answer to the engine's ask (only the prices it could read)."""
    d.send(PricesAtReset(ACC, tuple(PriceAt(at, c, Decimal(p)) for at, c, p in prices)))


def bought_before_read_after(read_at: timedelta = timedelta(minutes=5)) -> Driver:
    """The hunt's case up to the read: the buy and the position listed at ``read_at`` after
    the reset; the answer not given yet."""
    d = Driver(make_engine(RULES, calendar=CAL), now=NY_CLOSE - timedelta(hours=1))
    d.send(account("50000"))
    d.now = NY_CLOSE + read_at
    gateway_read(
        d,
        fill(MNQ, Side.BUY, 3, "21000", order_id=8, at=BOUGHT),
        account("50000"),
        position(MNQ, 3, "21000", at=BOUGHT),
    )
    return d


def test_a_position_learned_of_after_the_reset_carries_its_value_at_the_reset() -> None:
    d = bought_before_read_after()
    assert d.acct.day.start == NY_CLOSE
    answer(d, (NY_CLOSE, MNQ, "21500"))
    d.send(quote(MNQ, "21500", at=d.now))
    assert d.acct.day.carry == 3000, "the reset's carry left out the position it learned later"
    assert d.acct.day_pnl(with_unrealized=True) == 0, "Monday's +3,000 counted as Tuesday's"
    assert d.acct.week.carry == 0  # (the week began Sunday: all it made is the week's)
    assert d.acct.day.late == 3000  # the equity at the reset (RULE-004's end-of-day peak)
    d.now += timedelta(minutes=1)
    d.send(quote(MNQ, "21000", at=d.now))
    assert d.acct.day_pnl(with_unrealized=True) == -3000
    assert d.acct.state is not State.Trading, "-3,000 since the reset under a 1,000 limit"
    assert asked(d.effects) == [(NY_CLOSE, MNQ)]  # asked once


def test_the_price_at_the_reset_is_the_gateways_not_the_first_quote_after() -> None:
    d = bought_before_read_after()
    d.send(quote(MNQ, "21500", at=d.now))
    answer(d, (NY_CLOSE, MNQ, "21400"))  # MNQ was 21,400 at 16:00, 21,500 at 16:05
    assert d.acct.day.carry == 2400
    assert d.acct.day_pnl(with_unrealized=True) == 600, "what it made since the reset"


def test_no_price_read_carries_at_the_last_price_known() -> None:
    d = bought_before_read_after()
    d.send(quote(MNQ, "21500", at=d.now))
    answer(d)  # the gateway had no bar before the reset
    assert d.acct.day.carry == 3000
    assert d.acct.day_pnl(with_unrealized=True) == 0


def test_carried_once_across_a_restart_and_a_second_read() -> None:
    d = bought_before_read_after()
    answer(d, (NY_CLOSE, MNQ, "21500"))
    d.send(quote(MNQ, "21500", at=d.now))
    d = restart(d, lambda: make_engine(RULES, calendar=CAL), at=d.now + timedelta(minutes=1))
    start_up_read(d, account("50000"), position(MNQ, 3, "21000", at=BOUGHT))
    d.send(quote(MNQ, "21500", at=d.now))
    gateway_read(d, account("50000"), position(MNQ, 3, "21000", at=BOUGHT))
    assert asked(d.effects) == [], "asked again for a position already carried"
    assert d.acct.day.carry == 3000
    assert d.acct.day_pnl(with_unrealized=True) == 0


def test_a_position_known_at_the_reset_is_not_carried_twice() -> None:
    """The control: the same records before the reset (the reset carries it); and a position
    record before the reset with only its fill late."""
    for early in (True, False):
        d = Driver(make_engine(RULES, calendar=CAL), now=NY_CLOSE - timedelta(hours=1))
        d.send(account("50000"))
        d.now = NY_CLOSE - timedelta(minutes=1)
        listed = [account("50000"), position(MNQ, 3, "21000", at=BOUGHT)]
        bought = fill(MNQ, Side.BUY, 3, "21000", order_id=8, at=BOUGHT)
        gateway_read(d, *([bought, *listed] if early else listed))
        d.send(quote(MNQ, "21500", at=d.now))
        d.at(NY_CLOSE)
        d.now = NY_CLOSE + timedelta(minutes=5)
        if not early:
            gateway_read(d, bought, account("50000"), position(MNQ, 3, "21000", at=BOUGHT))
        d.send(quote(MNQ, "21500", at=d.now))
        assert asked(d.effects) == [], early
        assert d.acct.day.carry == 3000, early
        assert d.acct.day_pnl(with_unrealized=True) == 0, early


def test_the_new_days_own_fills_are_not_carried() -> None:
    """Long 3 bought before the reset, learned after it, 1 more bought at 16:02 (heard): the
    reset carries the 3 held at it, valued at the gateway's price then."""
    d = Driver(make_engine(RULES, calendar=CAL), now=NY_CLOSE - timedelta(hours=1))
    d.send(account("50000"))
    d.now = NY_CLOSE + timedelta(minutes=2)
    d.send(quote(MNQ, "21600", at=d.now))
    d.send(fill(MNQ, Side.BUY, 1, "21600", order_id=9, at=d.now))
    d.now += timedelta(minutes=3)
    gateway_read(
        d,
        fill(MNQ, Side.BUY, 3, "21000", order_id=8, at=BOUGHT),
        account("50000"),
        position(MNQ, 4, "21150", at=BOUGHT),
    )
    answer(d, (NY_CLOSE, MNQ, "21500"))
    assert d.acct.day.carried[MNQ] == (Decimal(3000), 3)
    d.send(quote(MNQ, "21600", at=d.now))
    # the 3 carried made 100 points each since the reset; the new 1 nothing
    assert d.acct.day_pnl(with_unrealized=True) == 600


MON_RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday 17:00 CST (default reset)


def test_first_start_with_a_position_held_across_the_reset() -> None:
    """Tuesday 09:00 CST, a first start (no stored state): long 3 MNQ bought Monday 10:00 CST
    at 21,000; MNQ was 21,500 at Monday's reset and trades there. The day starts at 0, and a
    fall to 21,000 (-$3,000 since the reset, limit $1,000) ends Trading."""
    d = Driver(make_engine(RULES), now=MON_RESET + timedelta(hours=16))
    bought = MON_RESET - timedelta(hours=7)
    d.engine.add_account(ACC, "PRAC-1001", d.now)  # as `Service.start` does for a new account
    start_up_read(
        d,
        fill(MNQ, Side.BUY, 3, "21000", order_id=8, at=bought),
        account("50000"),
        position(MNQ, 3, "21000", at=bought),
    )
    assert asked(d.effects) == [(MON_RESET, MNQ)]
    answer(d, (MON_RESET, MNQ, "21500"))
    d.send(quote(MNQ, "21500", at=d.now))
    assert d.acct.day.start == MON_RESET
    assert d.acct.day_pnl(with_unrealized=True) == 0, "Monday's +3,000 counted as Tuesday's"
    d.now += timedelta(minutes=1)
    d.send(quote(MNQ, "21000", at=d.now))
    assert d.acct.state is not State.Trading


def test_a_position_with_no_price_at_all_is_asked_for_once() -> None:
    """No price read and no quote known: nothing to carry it at (left as before), and not
    asked again on every event that follows."""
    d = bought_before_read_after()
    answer(d)
    assert d.acct.day.carry == 0
    for _ in range(3):
        d.now += timedelta(seconds=1)
        gateway_read(d, account("50000"), position(MNQ, 3, "21000", at=BOUGHT))
    assert asked(d.effects) == [(NY_CLOSE, MNQ)]


def test_a_quiet_position_is_valued_at_the_price_read_at_the_reset() -> None:
    """Found by a fix helper: the price read carried the position, but was not its mark: with
    MNQ quiet after the read (no quote), long 3 MNQ counted nothing, and the day read the -$3,000
    carried (MNQ at 20,500 at the reset) as a gain of the new day's (+$3,000), and the $1,000
    limit fired at a real -$4,000 (MES 5,200)."""
    d = bought_before_read_after()
    answer(d, (NY_CLOSE, MNQ, "20500"))
    assert d.acct.day.carry == -3000
    assert d.acct.day_pnl(with_unrealized=True) == 0, "MNQ not valued at the price read"
    d.now += timedelta(minutes=1)  # MNQ quiet: no quote since the reset
    d.send(
        fill(MES, Side.BUY, 1, "6000", order_id=9, at=d.now),
        position(MES, 1, "6000", at=d.now),
        quote(MES, "5805", at=d.now),
    )
    assert d.acct.day_pnl(with_unrealized=True) == -975
    assert d.acct.state is State.Trading
    d.send(quote(MES, "5800", at=d.now))  # -$1,000 today, all of it MES's
    assert d.acct.state is not State.Trading, "the carried loss read as room"
