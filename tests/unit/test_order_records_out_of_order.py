"""One order's records out of order: a final record wins over one that says the order works,
whatever the order they arrive in, so no phantom exit holds a flatten's close back."""

from __future__ import annotations

import dataclasses

from fsm_risk.core.events import Listing, OrderStatus, OrderType, Side
from fsm_risk.core.final import KEEP, FinalOrders
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    closes,
    fill,
    make_engine,
    order,
    position,
    quote,
    reduces,
)

FILLED, PENDING = OrderStatus.FILLED, OrderStatus.PENDING


def exit_one_reversed(d: Driver, order_id: int = 50) -> None:
    """Long 3 MNQ at 21000; the trader sells 1 at market, and the hub delivers that order's
    records reversed: Filled first, then the Pending it passed through; then its trade and
    the position of 2."""
    sell = order(order_id, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=FILLED)
    d.send(sell, dataclasses.replace(sell, status=PENDING))
    d.send(fill(MNQ, Side.SELL, 1, "21000", pnl="0", order_id=order_id), position(MNQ, 2, "21000"))


def test_a_pending_record_after_the_filled_one_leaves_the_order_ended() -> None:
    d = Driver(make_engine())
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 3, "21000"))
    exit_one_reversed(d)
    assert d.acct.orders == {}
    # so the periodic read, which lists no order working, finds nothing to say
    assert d.engine.diverged(ACC, [account(), position(MNQ, 2, "21000")]) == []


def test_a_daily_loss_right_after_reversed_records_sends_its_close_at_once() -> None:
    """The tester's case: the stale Pending made the trader's filled exit a close still
    working, and the flatten's close waited for the periodic read (10 s and more)."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 3, "21000"))
    exit_one_reversed(d)
    out = d.send(quote(MNQ, "20750"))  # 2 x 1000 ticks x $0.50 = -$1,000.00
    assert d.acct.state is State.Flattening
    [c] = closes(out)
    assert (c.contract_id, c.reason) == (MNQ, Reason.DAILY_LOSS_LIMIT)


def test_a_size_breach_right_after_reversed_records_sends_its_reduce_at_once() -> None:
    d = Driver(make_engine({MaxContractsPerInstrument: {"limits": "MNQ: 4"}}))
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 3, "21000"))
    exit_one_reversed(d)
    buy = order(51, MNQ, Side.BUY, 3, type=OrderType.MARKET, status=FILLED)
    d.send(buy, fill(MNQ, Side.BUY, 3, "21000", order_id=51))
    [r] = reduces(d.send(position(MNQ, 5, "21000")))
    assert (r.contract_id, r.size, r.reason) == (MNQ, 1, Reason.MAX_CONTRACTS_PER_INSTRUMENT)


def test_every_final_status_wins_over_a_later_working_record() -> None:
    d = Driver(make_engine())
    d.send(account())
    for n, final in enumerate((FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED)):
        o = order(60 + n, MNQ, Side.BUY, 1, limit="20900", status=final)
        d.send(o, dataclasses.replace(o, status=OrderStatus.OPEN))
    rejected = order(63, MNQ, Side.BUY, 1, limit="20900", status=OrderStatus.REJECTED)
    d.send(rejected, dataclasses.replace(rejected, status=OrderStatus.PENDING_CANCEL))
    assert d.acct.orders == {}
    # in the usual order the records still make the order work, then end it
    d.send(order(70, MNQ, Side.BUY, 1, limit="20900", status=PENDING))
    assert set(d.acct.orders) == {70}
    d.send(order(70, MNQ, Side.BUY, 1, limit="20900", status=FILLED))
    assert d.acct.orders == {}


def test_a_read_listing_an_order_that_was_placed_and_ended_while_it_ran_leaves_it_ended() -> None:
    """Not held when the read began (so `held` does not say it), yet final since: older."""
    d = Driver(make_engine())
    d.send(account())
    d.send(order(7, MNQ, Side.BUY, 1, limit="20990", status=PENDING))
    d.send(order(7, MNQ, Side.BUY, 1, limit="20990", status=OrderStatus.CANCELLED))
    d.send(order(7, MNQ, Side.BUY, 1, limit="20990"))  # as the read listed it
    d.send(Listing(ACC, frozenset(), frozenset({7}), frozenset(), frozenset(), frozenset()))
    assert d.acct.orders == {}


def test_an_order_a_read_did_not_list_works_again_when_a_later_record_says_so() -> None:
    """A read's silence is not the gateway's final word (a reconnect's open-order search
    leaves a suspended bracket child out): its child is believed when it starts working."""
    d = Driver(make_engine())
    d.send(account(), quote(MNQ, "21000"), position(MNQ, 1, "21000"))
    child = order(9, MNQ, Side.SELL, 1, type=OrderType.STOP, stop="20900")
    d.send(dataclasses.replace(child, status=OrderStatus.SUSPENDED))
    before = frozenset({MNQ}), frozenset({9}), frozenset()
    d.send(position(MNQ, 1, "21000"))
    d.send(Listing(ACC, frozenset({MNQ}), frozenset(), *before))
    assert d.acct.orders == {}
    d.send(child)
    assert set(d.acct.orders) == {9}


def test_the_final_orders_kept_are_an_accounts_last_few_hundred() -> None:
    final = FinalOrders()
    for oid in range(1, KEEP + 11):
        final.add(ACC, oid)
    final.add(ACC, KEEP + 10)  # once only
    assert not any(final.has(ACC, oid) for oid in range(1, 11))
    assert all(final.has(ACC, oid) for oid in range(11, KEEP + 11))
    assert not final.has(ACC + 1, KEEP)
    final.add(ACC, 1)  # the oldest slot goes next
    assert final.has(ACC, 1) and not final.has(ACC, 11) and final.has(ACC, 12)
