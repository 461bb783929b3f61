"""A reversal through zero in one fill: the gateway charges fees per contract, so its one
trade carries the fees of the contracts that close the old position and of those that open
the new one. The old round trip pays the first, the new round trip the second.

Found by a hunt: the whole trade's fees went to the closed round trip and the new one started
at 0.00, never paying its entry. A losing short opened by a reversal read as a winner (RULE-011's
streak reset instead of locking) and a short losing 153.00 read 139.00, short of a 150 cooldown
tier (RULE-008). Only the split between the two round trips moves: the day's and week's books
(and the balance) take the whole fill, as before."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.max_consecutive_losses import MaxConsecutiveLosses
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    CL,
    ES,
    MNQ,
    Driver,
    account,
    fill,
    flat,
    make_engine,
    position,
    rule_driver,
)

D = Decimal
_orders = count(3_700_000)


def _trade(
    d: Driver, side: Side, cid: str, size: int, price: str, fees: str, pnl: str | None
) -> None:
    d.send(fill(cid, side, size, price, pnl=pnl, fees=fees, order_id=next(_orders), at=d.now))


def buy(d: Driver, cid: str, size: int, price: str, fees: str, pnl: str | None = None) -> None:
    _trade(d, Side.BUY, cid, size, price, fees, pnl)


def sell(d: Driver, cid: str, size: int, price: str, fees: str, pnl: str | None = None) -> None:
    _trade(d, Side.SELL, cid, size, price, fees, pnl)


def test_a_reversal_books_each_round_trip_its_own_fees() -> None:
    """MNQ, $0.37 a side a contract. Long 1 at 21000, sell 2 at 21000.25 (+0.50 on the long,
    fees 0.74 for the two contracts), buy 1 back at 21000 (+0.50, fee 0.37). Each round trip
    made 0.50 less a fee in and a fee out (0.74): -0.24, two losers (it read -0.61, +0.13)."""
    d = rule_driver(MaxConsecutiveLosses)
    buy(d, MNQ, 1, "21000", "0.37")
    d.send(position(MNQ, 1, "21000", at=d.now))
    d.now += timedelta(seconds=30)
    sell(d, MNQ, 2, "21000.25", "0.74", pnl="0.50")
    d.send(position(MNQ, 1, "21000.25", long=False, at=d.now))
    assert d.acct.trips_open[MNQ].net == D("-0.37")
    d.now += timedelta(seconds=30)
    buy(d, MNQ, 1, "21000", "0.37", pnl="0.50")
    d.send(flat(MNQ, at=d.now))
    assert [t.net for t in d.acct.day.trips] == [D("-0.24"), D("-0.24")]


def test_the_short_leg_of_a_reversal_is_a_loss_in_the_streak() -> None:
    """losses = 3: a plain loser, then a long reversed into a short, each leg -0.24 net of
    its fees. The short is the third loser in a row: the day locks. It read +0.13 (its entry
    fee on the long's round trip), a winner, and the streak was reset instead."""
    d = rule_driver(MaxConsecutiveLosses)
    buy(d, MNQ, 1, "21000", "0.37")
    d.send(position(MNQ, 1, "21000", at=d.now))
    d.now += timedelta(seconds=30)
    sell(d, MNQ, 1, "20990", "0.37", pnl="-20.00")
    d.send(flat(MNQ, at=d.now))
    d.now += timedelta(minutes=1)
    buy(d, MNQ, 1, "21000", "0.37")
    d.send(position(MNQ, 1, "21000", at=d.now))
    d.now += timedelta(seconds=30)
    sell(d, MNQ, 2, "21000.25", "0.74", pnl="0.50")  # the long: +0.50 - 0.74 = -0.24
    d.send(position(MNQ, 1, "21000.25", long=False, at=d.now))
    assert d.acct.state is State.Trading  # two losers so far
    d.now += timedelta(seconds=30)
    buy(d, MNQ, 1, "21000", "0.37", pnl="0.50")  # the short: +0.50 - 0.74 = -0.24
    d.send(flat(MNQ, at=d.now))
    nets = [t.net for t in d.acct.day.trips]
    assert nets == [D("-20.74"), D("-0.24"), D("-0.24")], nets
    assert d.acct.state is State.LockedDaily, (d.acct.state, nets)


def test_a_reversed_round_trip_past_a_cooldown_tier_cools_down() -> None:
    """ES, $1.40 a side a contract. Long 10 at 6000, sell 20 at 6000 (0.00 on the long, fees
    28.00), buy 10 back at 6000.25 (-125.00 on the short, fees 14.00). The short round trip
    lost 125.00 + 14.00 in + 14.00 out = 153.00, past a $150 tier; it read 139.00 (and the
    long, which lost its two fees, 28.00, read 42.00)."""
    d = rule_driver(TradeCooldown, tiers="150: 15")
    buy(d, ES, 10, "6000", "14.00")
    d.send(position(ES, 10, "6000", at=d.now))
    d.now += timedelta(seconds=30)
    sell(d, ES, 20, "6000", "28.00", pnl="0.00")
    d.send(position(ES, 10, "6000", long=False, at=d.now))
    assert d.acct.state is State.Trading  # the long's -28.00 is inside every tier
    d.now += timedelta(seconds=30)
    buy(d, ES, 10, "6000.25", "14.00", pnl="-125.00")
    d.send(flat(ES, at=d.now))
    assert [t.net for t in d.acct.day.trips] == [D("-28.00"), D("-153.00")]
    assert d.acct.state is State.Cooldown


@pytest.mark.parametrize(
    ("held", "sold", "fees", "closing"),
    [
        (1, 3, "1.00", "0.33"),  # 0.333...: the new round trip's 2 contracts pay 0.67
        (2, 3, "1.00", "0.67"),  # 0.666...: 0.33 for the 1 opened
        (1, 2, "0.05", "0.02"),  # 0.025: half a cent to the even cent, 0.03 opens
        (1, 2, "0.15", "0.08"),  # 0.075: to the even cent, 0.07 opens
        (3, 10, "4.17", "1.25"),  # 1.251
    ],
)
def test_fees_that_do_not_divide_are_split_to_the_cent_and_lose_nothing(
    held: int, sold: int, fees: str, closing: str
) -> None:
    """CL long ``held`` (entry fees 0.50), reversed by a sale of ``sold`` at +10 ticks whose
    fees do not divide by its contracts: the closing contracts' part is rounded to the cent,
    the opening contracts' is the rest, so the two round trips together take the whole fill
    (P&L less every fee, to the cent). The day's and week's books, the fees, the balance
    awaited and the equity are the whole fill's, as they were before the split."""
    d = Driver(make_engine())
    d.send(account("50000"))
    buy(d, CL, held, "70.00", "0.50")
    d.send(position(CL, held, "70.00", at=d.now))
    pnl = D(100 * held)  # +10 ticks at $10 a tick, on the contracts held
    sell(d, CL, sold, "70.10", fees, pnl=str(pnl))
    d.send(position(CL, sold - held, "70.10", long=False, at=d.now))
    # the books: every fill's P&L less every fee, unchanged by the split
    whole = pnl - D("0.50") - D(fees)
    for book in (d.acct.day, d.acct.week):
        assert (book.realized, book.fees) == (whole, D("0.50") + D(fees))
    assert d.acct.pending_realized == whole
    d.send(account(str(D("50000") + whole)))  # the gateway's balance after both trades
    assert d.acct.equity == D("50000") + whole
    # the split: the closing contracts' part to the cent, the opening ones' the rest
    [closed] = d.acct.day.trips
    opened = d.acct.trips_open[CL]
    assert closed.net == pnl - D("0.50") - D(closing), (closed.net, opened.net)
    assert opened.net == D(closing) - D(fees), (closed.net, opened.net)
    assert closed.net + opened.net == whole
    assert (closed.long, opened.long, opened.size) == (True, False, sold - held)
