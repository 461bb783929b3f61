"""A voided win gives back RULE-004's ``intraday`` peak only on the gateway's word that the
void left its contracts where they were.

Found by a review: the core takes a void to give the trade's position back at the gateway
(`doubted.undone`: "as if it had never been made"), the paper gateway leaves it as it was,
and what ProjectX does is not known. The peak was lowered to ``max(b, peak - n)`` at once,
which holds only when the position stays: with the contracts back, their marks carry what the
trade made, equity without the trade reached the peak all the same, and the limit fired up to
``n`` later (long 2 from 21,000, sold at 21,200 for +800, the 21,200 quote seen; voided with
the long 2 given back: peak 50,400 where equity reached 50,800; at 20,875, equity 49,500,
1,300 under it, the account kept trading).

Now the void asks for a read of the account; the peak is lowered when the read (asked after
the void) shows the contract as the fills make it with the voided trade still counted (the
position left), no fill in it and no other record of it meanwhile, and then to no less than
the settled equity seen since the void. Anything else (the contracts back, a record of them,
a fill, the wait over, a restart) leaves the peak where it was: the strict way.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import ReadTrades
from fsm_risk.core.events import Fill, PositionUpdate, Side, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.rules.trailing_drawdown import GIVE_BACK_WAIT, TrailingDrawdown
from tests.factories import (
    MNQ,
    T0,
    Driver,
    account,
    fill,
    flat,
    gateway_read,
    position,
    quote,
    restart,
    the_rule,
    trade_reads,
)
from tests.unit.test_void_peak import driver, engine, peak

D = Decimal


BUY = fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=T0, trade_id=5000)


def sold_flat(d: Driver) -> Fill:
    """Long 2 MNQ from 21,000, sold at 21,200 (+800): flat, balance 50,800, the 21,200 quote
    seen: peak 50,800."""
    d.send(quote(MNQ, "21000", at=d.now))
    d.send(BUY, position(MNQ, 2, "21000"))
    d.now += timedelta(seconds=1)
    sell = fill(MNQ, Side.SELL, 2, "21200", pnl="800", order_id=2, at=d.now, trade_id=5001)
    d.send(sell, flat(MNQ, at=d.now), account("50800"), quote(MNQ, "21200", at=d.now))
    assert peak(d) == D("50800")
    return sell


def void(d: Driver, trade: Fill, *after: object) -> list[ReadTrades]:
    """The firm voids ``trade`` a minute on (the fill again, voided), then ``after``."""
    d.advance(minutes=1)
    return trade_reads(d.send(dataclasses.replace(trade, voided=True), *after))  # type: ignore[arg-type]


def read(d: Driver, balance: str, *held: PositionUpdate) -> None:
    """The read asked for, a second on: the balance and the positions ``held`` (none: flat)."""
    d.advance(seconds=1)
    gateway_read(d, account(balance), *(dataclasses.replace(p, snapshot=True) for p in held))


def test_a_void_that_gives_the_position_back_keeps_the_peak_equity_reached() -> None:
    """Found by a review (the case above): the position's record says long 2 again (the
    contracts back): the peak stays 50,800 and the fall to 20,875 fires."""
    d = driver()
    sell = sold_flat(d)
    d.now += timedelta(seconds=30)
    d.send(quote(MNQ, "21100", at=d.now))
    asked = void(d, sell, position(MNQ, 2, "21000"), account("50000"), quote(MNQ, "21100"))
    assert d.acct.equity == D("50400")
    assert peak(d) == D("50800"), "the peak came down below what equity reached"
    assert asked == [ReadTrades(d.acc)]
    read(d, "50000", position(MNQ, 2, "21000"))  # the read agrees: long 2
    assert peak(d) == D("50800")
    d.send(quote(MNQ, "20875", at=d.now))
    assert d.acct.equity == D("49500")
    assert d.acct.state is State.Flattening, f"peak {peak(d)}"


def test_a_void_of_a_partial_close_after_the_peak_rose_on_the_rest() -> None:
    """Found by a review: long 2 from 21,000, sell 1 at 21,100 (+200), the long 1 left marked
    at 21,300 (peak 50,800); voided at 21,150 with the long 2 given back (equity 50,600). The
    lowering gave 50,600 where equity without the trade reached 51,200 and with it 50,800:
    a fall to 20,950 (49,800) must fire."""
    d = driver()
    d.send(quote(MNQ, "21000", at=d.now))
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now), position(MNQ, 2, "21000"))
    d.now += timedelta(seconds=1)
    sell = fill(MNQ, Side.SELL, 1, "21100", pnl="200", order_id=2, at=d.now, trade_id=5002)
    d.send(sell, position(MNQ, 1, "21000", at=d.now), account("50200"))
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "21300", at=d.now))
    assert peak(d) == D("50800")
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "21150", at=d.now))
    void(d, sell, position(MNQ, 2, "21000"), account("50000"), quote(MNQ, "21150"))
    assert d.acct.equity == D("50600")
    assert peak(d) == D("50800"), "the peak came down below what equity reached"
    d.send(quote(MNQ, "20950", at=d.now))
    assert d.acct.equity == D("49800")
    assert d.acct.state is State.Flattening, f"peak {peak(d)}"


def test_a_read_that_finds_the_contracts_back_keeps_the_peak() -> None:
    """No live record of them, but the read lists long 2: the contracts are back."""
    d = driver()
    sell = sold_flat(d)
    assert void(d, sell, account("50000")) == [ReadTrades(d.acc)]
    read(d, "50000", position(MNQ, 2, "21000"))
    assert peak(d) == D("50800")


def test_a_read_that_finds_the_position_left_gives_the_peak_back() -> None:
    """The paper gateway's way: flat after the voided close, the read says flat (and lists
    the day's buy again, a repeat that moves nothing): 50,000."""
    d = driver()
    sell = sold_flat(d)
    void(d, sell, account("50000"))
    assert peak(d) == D("50800")  # (not before the word)
    d.advance(seconds=1)
    gateway_read(d, BUY, account("50000"))
    assert peak(d) == D("50000")


def test_what_equity_reached_while_the_word_was_awaited_is_kept() -> None:
    """Voided flat; before the read answers, long 1 MES from 6,000 marked at 6,060 (equity
    50,300, settled): the peak comes down to 50,300, no further (MNQ is flat as the fills
    make it: the voided sell is counted in them, and the position was left)."""
    d = driver()
    sell = sold_flat(d)
    void(d, sell, account("50000"))
    other = "CON.F.US.MES.H26"
    d.send(quote(other, "6000", at=d.now))
    d.send(fill(other, Side.BUY, 1, "6000", order_id=9, at=d.now), position(other, 1, "6000"))
    d.send(quote(other, "6060", at=d.now))  # +300 (5 a point)
    assert d.acct.equity == D("50300") and peak(d) == D("50800")
    read(d, "50000", position(other, 1, "6000"))
    assert peak(d) == D("50300")


def test_a_fill_in_the_contract_before_the_word_keeps_the_peak() -> None:
    d = driver()
    sell = sold_flat(d)
    void(d, sell, account("50000"))
    d.send(fill(MNQ, Side.BUY, 1, "21200", order_id=3, at=d.now), position(MNQ, 1, "21200"))
    read(d, "50000", position(MNQ, 1, "21200"))
    assert peak(d) == D("50800")


def test_a_read_asked_for_before_the_void_is_not_the_word() -> None:
    """A trade list asked for before the void (the void not among those seen then) comes
    after it: the positions read with it are older than the void. The peak waits on."""
    d = driver()
    sell = sold_flat(d)
    void(d, sell, account("50000"))
    seen = frozenset(d.acct.seen_trades)
    d.send(TradesSnapshot(d.acc, d.acct.day.start, (), seen, frozenset()))
    assert peak(d) == D("50800")
    read(d, "50000")
    assert peak(d) == D("50000")


def test_the_wait_is_bounded() -> None:
    """No word within `GIVE_BACK_WAIT`: what waited is let go, the peak left."""
    d = driver()
    sell = sold_flat(d)
    void(d, sell, account("50000"))
    d.advance(seconds=GIVE_BACK_WAIT.total_seconds() + 1)
    read(d, "50000")
    assert peak(d) == D("50800")
    assert not the_rule(d, TrailingDrawdown).waiting


def test_a_restart_lets_go_of_what_waits() -> None:
    d = driver()
    sell = sold_flat(d)
    void(d, sell, account("50000"))
    again = restart(d, engine, at=d.now + timedelta(minutes=1))
    read(again, "50000")
    assert peak(again) == D("50800")
