"""A firm's reset, as the service can tell it, never makes the loss limits looser.

Found by reviews of the first fix (ebe768e), which restarted the day's and week's books from
the list whenever a read's trade list lacked every applied trade of its window (none listed
older) and its balance moved beyond the fills: a list capped newest first, empty for a moment
or served a few seconds stale looks exactly like that, and a fee, a settlement or a fill not
yet listed moves the balance. The books were wiped with no reset (a day's -400 of a 500 limit
became -100 or 0) and RULE-004's peak re-seeded lower (the floor 805 lower); a second try
(a book replaced only by a lower one) still loosened through the carry and a settlement it
dropped. Nothing is changed on it now: a person is told (`wiped`)."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.events import Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    MNQ,
    account,
    alerts,
    fill,
    flat,
    gateway_read,
    position,
    quote,
    rule_driver,
)
from tests.unit.test_firm_reset_books import round_trip

D = Decimal


def test_a_capped_list_and_a_fee_keep_the_days_loss() -> None:
    """`/Trade/search` answers newest first: capped, it keeps the newest and drops the oldest.
    A $5 fee charged apart from any fill moves the balance the same read takes."""
    d = rule_driver(DailyLossLimit, limit="500")
    round_trip(d, "-300", "0", "49700.00", 1)
    newest = round_trip(d, "-100", "0", "49600.00", 3)
    d.send(account("49595.00"))
    out = gateway_read(d, account("49595.00"), trades=newest, since=d.acct.week.start)
    assert [a for a in alerts(out) if a.reason is Reason.ACCOUNT_RESET]  # (it looks like one)
    assert d.acct.day.realized == D("-400") and d.acct.week.realized == D("-400")
    round_trip(d, "-350", "0", "49245.00", 5)  # the trader goes on losing: a day of -750
    assert d.acct.state is State.LockedDaily


def test_an_empty_list_for_a_moment_keeps_the_days_loss() -> None:
    """The list comes back empty for one read; a close fills between the list and the
    balance read (its balance includes -50, its trade not yet applied)."""
    d = rule_driver(DailyLossLimit, limit="500")
    round_trip(d, "-400", "0", "49600.00", 1)
    gateway_read(d, account("49550.00"), trades=(), since=d.acct.week.start)
    assert d.acct.day.realized == D("-400")


def test_a_read_served_stale_keeps_the_weeks_first_loss() -> None:
    """The week's first round trip loses 450 (limit 500), heard live; the next read is
    answered from a moment before it (no trade, the balance before)."""
    d = rule_driver(DailyLossLimit, limit="500")
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now), position(MNQ, 2, "21000"))
    d.advance(seconds=2)
    sell = fill(MNQ, Side.SELL, 2, "20887.5", pnl="-450", order_id=2, at=d.now)
    d.send(sell, flat(MNQ, at=d.now), account("49550.00"))
    d.advance(seconds=1)
    gateway_read(d, account("50000.00"), trades=(), since=d.acct.week.start)
    assert d.acct.day.realized == D("-450") and d.acct.week.realized == D("-450")


def test_a_capped_list_and_a_fee_keep_the_trailing_peak() -> None:
    """RULE-004 intraday 2,000: up 1,000 (peak 51,000), then -800; a fee no fill explains,
    read with a capped list. The trader then loses 1,500: 305 below the true floor."""
    d = rule_driver(TrailingDrawdown, drawdown="2000", mode="intraday")
    d.send(quote(MNQ, "21000", at=d.now))
    round_trip(d, "1000", "0", "51000.00", 1)
    newest = round_trip(d, "-800", "0", "50200.00", 3)
    memo = d.acct.rule_state["RULE-004"]
    d.send(account("50195.00"))
    gateway_read(d, account("50195.00"), trades=newest, since=d.acct.week.start)
    assert D(memo["peak"]) == D("51000")
    round_trip(d, "-1500", "0", "48695.00", 5)
    assert d.acct.state is not State.Trading
