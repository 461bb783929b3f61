"""RULE-004 with no stored peak (a first start, a lost database): the day's and the week's
trades are rebuilt from the gateway, and the peak is seeded no lower than what they imply (the
equity at the day's and at the week's start), in both modes, the freeze's cap respected; a
peak so rebuilt says so in status while no starting balance is configured."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.trailing_drawdown import REBUILT, TrailingDrawdown
from tests.factories import (
    ACC,
    MNQ,
    T0,
    Driver,
    account,
    balance_read,
    closes,
    fill,
    gateway_read,
    position,
    quote,
    rule_engine,
)

NEXT_DAY = T0.replace(hour=23)  # the daily reset after T0 (17:00 Chicago)

engine = partial(rule_engine, TrailingDrawdown, drawdown="2000")


def fresh(now: Any = T0, **raw: str) -> Driver:
    """A service started with no stored state: the account is added (no balance yet)."""
    d = Driver(engine(**raw), now=now)
    d.engine.add_account(ACC, f"PRAC-{ACC}", d.now)
    return d


def memo(d: Driver) -> dict[str, Any]:
    return d.acct.rule_state["RULE-004"]


def peak(d: Driver) -> Decimal:
    return Decimal(memo(d)["peak"])


def trip(pnl: str, fees: str, at: Any = T0) -> tuple[Any, Any]:
    """A 1 MNQ round trip closed at ``pnl`` (the closing fill's fees ``fees``)."""
    entry = fill(MNQ, Side.BUY, 1, "21000", at=at)
    exit_price = Decimal("21000") + Decimal(pnl) / 2  # MNQ: $2 a point
    return entry, fill(MNQ, Side.SELL, 1, str(exit_price), pnl=pnl, fees=fees, at=at)


@pytest.mark.parametrize("mode", ["end_of_day", "intraday"])
def test_a_losing_day_rebuilt_from_the_trades_keeps_the_peak_at_the_days_opening(
    mode: str,
) -> None:
    # the account lost 816.60 today (peak 50,000, floor 48,000); the service starts without
    # its database: the first read lists the trades, then the balance after them
    d = fresh(mode=mode)
    gateway_read(d, *trip("-800", "16.60"), account("49183.40"))
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("-816.60")
    assert peak(d) == Decimal("50000"), f"peak {peak(d)}: seeded below the day's opening"
    # a new long 1 MNQ at 21,000 quoted at 20,408.25: equity 47,999.90, below the firm's
    # floor of 48,000: flattened and locked
    d.send(fill(MNQ, Side.BUY, 1, "21000"), position(MNQ, 1, "21000"))
    d.send(quote(MNQ, "20408.25", at=d.now))
    assert d.acct.equity == Decimal("47999.90")
    assert closes(d.effects), "no close at equity 47,999.90 (the firm's floor 48,000)"
    assert d.acct.state is State.Flattening


def test_a_losing_week_rebuilt_from_the_trades_keeps_the_peak_at_the_weeks_opening() -> None:
    # lost 816.60 on the week's first day; the service starts on its second day, afresh
    d = fresh(NEXT_DAY + timedelta(hours=2), mode="end_of_day")
    gateway_read(d, *trip("-800", "16.60"), account("49183.40"))
    assert d.acct.week_pnl(with_unrealized=True) == Decimal("-816.60")
    assert peak(d) == Decimal("50000"), f"peak {peak(d)}: seeded below the week's opening"


def test_a_winning_week_does_not_lower_the_peak_a_losing_day_implies() -> None:
    # +1,000 yesterday (the day opened at 51,000), -800 today: the week is up 200
    d = fresh(NEXT_DAY + timedelta(hours=2), mode="end_of_day")
    gateway_read(
        d,
        *trip("1000", "0"),
        *trip("-800", "0", at=NEXT_DAY + timedelta(hours=1)),
        account("50200"),
    )
    assert d.acct.day_pnl(with_unrealized=True) == Decimal("-800")
    assert d.acct.week_pnl(with_unrealized=True) == Decimal("200")
    assert peak(d) == Decimal("51000"), f"peak {peak(d)}: not the equity at today's reset"


def test_a_winning_week_never_lowers_the_balance_seed() -> None:
    d = fresh(mode="end_of_day")
    gateway_read(d, *trip("1000", "0"), account("51000"))
    assert peak(d) == Decimal("51000")


def test_a_balance_before_the_trades_is_lifted_once_they_are_read() -> None:
    # the live feed's balance may come first: the peak is seeded from it, then the first
    # read's trades (and the balance after them) lift it
    d = fresh(mode="end_of_day")
    d.send(account("49183.40"))
    assert peak(d) == Decimal("49183.40")
    gateway_read(d, *trip("-800", "16.60"), account("49183.40"))
    assert peak(d) == Decimal("50000"), f"peak {peak(d)}: not lifted by the rebuilt trades"
    assert "lift" not in memo(d)
    balance_read(d, "48000.00")  # at the floor
    assert d.acct.state is State.LockedWeekly


def test_the_freeze_cap_bounds_the_rebuilt_peak() -> None:
    # lost 2,500 this week with an empty starting balance: the start is the first balance
    # (47,500) and the freeze caps the peak at 49,500 (the floor at the start): it fires
    d = fresh(mode="end_of_day")
    gateway_read(d, *trip("-2500", "0"), account("47500"))
    assert peak(d) == Decimal("49500")
    assert d.acct.state is State.LockedWeekly


def test_a_reset_before_the_first_read_leaves_the_lift_to_it() -> None:
    # the live balance at T0 (after a -800 loss not read yet), the daily reset, then the
    # first read: yesterday's trade is the week's, which opened at 50,000
    d = fresh(mode="end_of_day")
    d.send(account("49200"))
    d.at(NEXT_DAY)
    assert peak(d) == Decimal("49200")
    d.now = NEXT_DAY + timedelta(minutes=1)
    gateway_read(d, *trip("-800", "0"), account("49200"), since=T0.replace(hour=0))
    assert d.acct.week.realized == Decimal("-800")
    assert peak(d) == Decimal("50000"), f"peak {peak(d)}: not the week's opening"
    assert "lift" not in memo(d)


def test_only_the_first_reads_balance_lifts() -> None:
    d = fresh(mode="end_of_day")
    d.send(account("50000"))
    gateway_read(d, account("50000"))  # no trade this week: nothing to lift, and done
    assert "lift" not in memo(d)
    balance_read(d, "50500")  # a move no trade explains, confirmed: not a peak in this mode
    assert peak(d) == Decimal("50000")


def test_status_says_the_peak_was_rebuilt_while_no_starting_balance_is_set() -> None:
    d = fresh(mode="end_of_day")
    gateway_read(d, *trip("-800", "16.60"), account("49183.40"))
    u = d.engine.rules[0].usage(d.acct, d.now)
    assert u is not None and u.detail == f"peak 50000.00, end_of_day, {REBUILT}"
    assert u.limit == Decimal("48000")


def test_no_note_with_a_configured_starting_balance_or_no_trades() -> None:
    d = fresh(mode="end_of_day", starting_balance="50000")
    gateway_read(d, *trip("-800", "16.60"), account("49183.40"))
    assert peak(d) == Decimal("50000") and "rebuilt" not in memo(d)
    new = fresh(mode="end_of_day")
    gateway_read(new, account("50000"))
    assert peak(new) == Decimal("50000") and "rebuilt" not in memo(new)
    u = new.engine.rules[0].usage(new.acct, new.now)
    assert u is not None and u.detail == "peak 50000.00, end_of_day"
