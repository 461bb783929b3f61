"""Found by a review: a loss after a confirmed firm's reset is never given back. A late loss
given back when its balance came ahead of its fills (a `fallen` module, reverted) gave back
REAL losses on four paths; each must stay counted once, the limit firing where it must."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.events import Fill, Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import MNQ, Driver, account, fill, flat, gateway_read, position, rule_driver
from tests.unit.test_firm_reset_books import reset, round_trip, won
from tests.unit.test_firm_reset_confirmed import answer

D = Decimal
LIMIT = "500"


def late_loss(d: Driver, balance: str) -> list[object]:
    """A -300 round trip (2 MNQ, ten minutes) whose balance (``balance``) comes live ahead of
    its records: returned, to be sent later (stamped when they were made)."""
    buy = fill(MNQ, Side.BUY, 2, "21000", order_id=3, at=d.now)
    d.advance(minutes=10)
    sell = fill(MNQ, Side.SELL, 2, "20925", pnl="-300", order_id=4, at=d.now)
    d.send(account(balance))  # the balance first: 300 below what the fills explain
    d.advance(seconds=2)
    return [buy, position(MNQ, 2, "21000", at=buy.at), sell, flat(MNQ, at=sell.at)]


def test_a_real_loss_after_a_real_reset_whose_balance_came_first_is_not_given_back() -> None:
    """Up 396.52; the firm resets the account to 50,000; the trader then loses 300 (balance
    49,700) and the gateway's balance comes ahead of the loss's fills (the read's list does
    not list them yet). The read: list empty, the balance fell 696.52 with no fill; confirmed,
    the day comes down by its wiped 396.52 alone (the cap, 696.52, does not bind: the 300 was
    NOT taken off). The fills then come (-300) and a read confirms the balance: the loss is
    real and was counted once. It must stay: day -300, and a further -250 locks the day."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    d.send(account("50000.00"))  # the firm's reset, live: no fill explains it
    d.advance(seconds=30)
    records = late_loss(d, "49700.00")  # a real -300 after the reset, its balance first
    out = gateway_read(d, account("49700.00"), trades=(), since=d.acct.week.start)
    answer(d, out)  # confirmed: the wiped trades are gone for good
    assert (d.acct.day.realized, d.acct.week.realized) == (D("0"), D("0"))
    d.advance(seconds=5)
    d.send(*records)  # the loss's fills, heard late
    assert d.acct.day.realized == D("-300")
    d.send(account("49700.00"))  # its balance again: it did not move with them
    d.advance(seconds=1)
    trades = [r for r in records if isinstance(r, Fill)]
    gateway_read(d, account("49700.00"), trades=trades, since=d.acct.week.start)
    assert (d.acct.day.realized, d.acct.week.realized) == (D("-300"), D("-300")), (
        f"a real loss given back: day {d.acct.day.realized}, week {d.acct.week.realized} "
        f"(the account lost 300 since the reset to 50,000: balance 49,700)"
    )
    d.advance(minutes=1)
    round_trip(d, "-250", "0", "49450.00", 5)
    assert d.acct.state is State.LockedDaily, (d.acct.day.realized, d.acct.state)


def test_a_loss_the_read_listed_is_not_given_back_by_a_second_reset() -> None:
    """Up 396.52; the firm resets to 50,000; a -300 loss after it, listed by the read that
    finds the reset (its fills applied from the read, before its balance: the fall is the
    wiped 396.52 alone). Confirmed: day -300. Then -150 (day -450), and the firm resets the
    account again, to 50,000 (up 450 with no fill). A wiped loss is kept: the day must stay
    at -450, and a further -100 locks the day (-550 of a 500 limit)."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    d.send(account("50000.00"))  # the firm's reset, live
    d.advance(seconds=30)
    records = late_loss(d, "49700.00")  # the loss's balance first, its fills not heard yet
    trades = [r for r in records if isinstance(r, Fill)]
    out = gateway_read(d, *trades, account("49700.00"), trades=trades, since=d.acct.week.start)
    answer(d, out)
    assert (d.acct.day.realized, d.acct.week.realized) == (D("-300"), D("-300"))
    d.advance(minutes=1)
    round_trip(d, "-150", "0", "49550.00", 7)
    assert d.acct.day.realized == D("-450")
    answer(d, reset(d, "50000.00"))  # the firm resets the account again
    assert (d.acct.day.realized, d.acct.week.realized) == (D("-450"), D("-450")), (
        f"a wiped loss given back: day {d.acct.day.realized}, week {d.acct.week.realized}"
    )
    d.advance(minutes=1)
    round_trip(d, "-100", "0", "49900.00", 9)
    assert d.acct.state is State.LockedDaily, (d.acct.day.realized, d.acct.state)


def test_a_loss_whose_fills_came_ahead_of_its_balance_is_not_given_back_by_a_later_rise() -> None:
    """Up 396.52; the firm resets to 50,000 (its balance live). A -300 loss made just before
    the read: the read's list does not list it yet, nor does its balance hold it (50,000:
    the fall is the wiped 396.52 alone), and its fills are heard after the read began.
    Confirmed: day 0. The fills come (-300), then their balance (49,700: explained, taken).
    The firm then resets the account again, to 50,000 (up 300 with no fill): a wiped loss
    is kept, the day must stay at -300, and a further -250 locks it."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    won(d)
    d.send(account("50000.00"))  # the firm's reset, live
    d.advance(seconds=30)
    records = late_loss(d, "50000.00")  # (the balance the gateway shows: not yet the loss)
    out = gateway_read(d, account("50000.00"), trades=(), since=d.acct.week.start)
    answer(d, out)
    assert (d.acct.day.realized, d.acct.week.realized) == (D("0"), D("0"))
    d.advance(seconds=2)
    d.send(*records, account("49700.00"))  # the fills, then their balance: it moved with them
    assert d.acct.day.realized == D("-300") and d.acct.balance == D("49700.00")
    d.advance(minutes=5)
    answer(d, reset(d, "50000.00"))  # the firm resets it again
    assert (d.acct.day.realized, d.acct.week.realized) == (D("-300"), D("-300")), (
        f"a real loss given back: day {d.acct.day.realized}, week {d.acct.week.realized}"
    )
    d.advance(minutes=1)
    round_trip(d, "-250", "0", "49750.00", 9)
    assert d.acct.state is State.LockedDaily, (d.acct.day.realized, d.acct.state)


def test_a_loss_after_a_reset_beside_an_earlier_days_wiped_loss_is_not_given_back() -> None:
    """Monday -450; Tuesday +396.52 (49,946.52); the firm resets to 50,000; a real -300 after
    it whose balance (49,700) comes ahead of its fills. Confirmed: the day's wiped 396.52
    comes off (the cap of the fall beside Monday's wiped loss: 246.52 + 450). The fills come,
    then a read confirms 49,700: the account lost 300 since the reset, the day must be -300
    and a further -250 locks it."""
    from tests.unit.test_firm_reset_fall import next_day

    d = rule_driver(DailyLossLimit, limit=LIMIT, balance="50000")
    round_trip(d, "-450", "0", "49550.00", 1)
    next_day(d)
    d.send(account("49550.00"))
    round_trip(d, "400", "3.48", "49946.52", 3)
    d.send(account("50000.00"))  # the firm's reset, live
    d.advance(seconds=30)
    records = late_loss(d, "49700.00")
    out = gateway_read(d, account("49700.00"), trades=(), since=d.acct.week.start)
    answer(d, out)
    assert d.acct.day.realized == D("0"), d.acct.day.realized
    d.advance(seconds=5)
    d.send(*records)
    d.send(account("49700.00"))
    d.advance(seconds=1)
    trades = [r for r in records if isinstance(r, Fill)]
    gateway_read(d, account("49700.00"), trades=trades, since=d.acct.week.start)
    assert d.acct.day.realized == D("-300"), f"a real loss given back: day {d.acct.day.realized}"
    d.advance(minutes=1)
    round_trip(d, "-250", "0", "49450.00", 9)
    assert d.acct.state is State.LockedDaily, (d.acct.day.realized, d.acct.state)
