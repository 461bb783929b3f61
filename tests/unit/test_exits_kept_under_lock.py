"""Found by a hunt (hbracket): RULE-007's lock without flatten (its default) keeps the
position the trader held and lets him exit it, yet its sweep cancelled exits that could only
reduce that position, sometimes its only stop. `exposure.reduces` added up every order on the
closing side, whatever its type, in the order placed: a bracket's stop and target (one fills,
the other is cancelled) counted as two exits, so the leg placed second was cancelled as one
that would reverse the position; a stop larger than what was left (a partial exit, an entry
filled in part) was cancelled whole where a resize to what is held was all it needed.

Now a stop and a limit are each judged beside their own kind (a market order ahead of any
resting one), a trader's stop too large under the lock is cut to what is held (`shrink`) and
cancelled only if that cut is refused or goes unanswered, and an order that would open or
reverse the position is still cancelled on sight."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from fsm_risk.core.effects import Effect, ReducePosition, ResizeOrder
from fsm_risk.core.events import (
    EnforcementAccepted,
    EnforcementRejected,
    Event,
    OrderStatus,
    OrderType,
    Side,
)
from fsm_risk.core.orders import RESIZE_WAIT
from fsm_risk.core.states import State
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from tests.factories import (
    ACC,
    ES,
    MNQ,
    Driver,
    cancels,
    closes,
    fill,
    flat,
    order,
    position,
    rule_driver,
)

driver = partial(rule_driver, MaxTradesPerDay, limit="2")


def locked_with_mnq_held(d: Driver, legs: Sequence[Event], size: int = 1) -> None:
    """MNQ long ``size`` with its exits ``legs`` working, then two ES entries: the third entry
    of the day breaks the limit of 2 and locks the account, the MNQ long tolerated."""
    d.send(fill(MNQ, Side.BUY, size, "21000", order_id=1), position(MNQ, size, "21000"), *legs)
    d.send(
        fill(ES, Side.BUY, 1, "6000", order_id=4),
        position(ES, 1, "6000"),
        fill(ES, Side.SELL, 1, "6000", pnl="0", order_id=5),
        flat(ES),
    )
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=6), position(ES, 1, "6000"))
    assert d.acct.state is State.LockedDaily
    assert d.acct.tolerated == {MNQ: size}
    assert [c.contract_id for c in closes(d.effects)] == [ES]  # the new ES entry goes


def cancelled(effects: Sequence[Effect]) -> list[int]:
    return sorted(c.order_id for c in cancels(effects))


def resizes(effects: Sequence[Effect]) -> list[tuple[int, int, int]]:
    return [(e.order_id, e.was, e.size) for e in effects if isinstance(e, ResizeOrder)]


def stop(size: int, oid: int = 2, kind: OrderType = OrderType.STOP) -> Event:
    return order(oid, MNQ, Side.SELL, size, type=kind, stop="20900")


def target(size: int, oid: int) -> Event:
    return order(oid, MNQ, Side.SELL, size, limit="21100")


def test_target_placed_first_then_its_stop_both_kept() -> None:
    d = driver()
    locked_with_mnq_held(d, [target(1, 2), stop(1, 3)])
    assert 3 not in cancelled(d.effects), "the tolerated long 1 lost its protective stop"
    assert cancelled(d.effects) == [] and resizes(d.effects) == []


def test_stop_placed_first_then_its_target_both_kept() -> None:
    """The SDK's bracket and the gateway's native bracket place the stop first."""
    d = driver()
    locked_with_mnq_held(d, [stop(1, 2), target(1, 3)])
    assert cancelled(d.effects) == [], "the bracket's take profit on a held long 1"


def test_a_stop_placed_again_beside_a_working_target_is_kept() -> None:
    d = driver()
    locked_with_mnq_held(d, [target(1, 2)])
    out = d.send(stop(1, 7))
    assert cancelled(out) == [], "the trader's stop on a held long 1"


def test_a_limit_exit_beside_the_stop_is_kept() -> None:
    """The trader exits his long 1 with a sell limit of 1, his stop of 1 still working."""
    d = driver()
    locked_with_mnq_held(d, [stop(1)])
    out = d.send(order(7, MNQ, Side.SELL, 1, limit="21010"))
    assert cancelled(out) == [], "the trader's exit, cancelled"


def test_a_market_exit_beside_a_larger_stop_is_kept_and_the_stop_cut_once_it_fills() -> None:
    """He sells 2 of his long 3 at market, his bracket's stop of 3 (placed earlier) still
    working: the market exit fills first; the stop waits for it, then is cut to the 1 left."""
    d = driver()
    locked_with_mnq_held(d, [stop(3)], size=3)
    out = d.send(order(7, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.PENDING))
    assert 7 not in cancelled(out), "the trader's market exit, cancelled"
    assert cancelled(out) == [] and resizes(out) == []  # the stop fits what is held now
    out = d.send(
        order(7, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 2, "21010", pnl="20", order_id=7),
        position(MNQ, 1, "21000"),
    )
    assert resizes(out) == [(2, 3, 1)] and cancelled(out) == []


def test_an_entry_filled_in_part_leaves_its_stop_cut_to_the_position() -> None:
    """A limit entry of 3 with its stop of 3 filled 1 when the lock comes: the rest of the
    entry is cancelled (it adds), and the stop cut to the long 1, not cancelled."""
    d = driver()
    entry = order(1, MNQ, Side.BUY, 3, limit="21000")
    locked_with_mnq_held(d, [entry, stop(3)])
    assert 2 not in cancelled(d.effects), "the long 1 lost its stop (3 > 1: cut, not cancelled)"
    assert cancelled(d.effects) == [1]
    assert resizes(d.effects) == [(2, 3, 1)]


def test_a_partial_exit_cuts_the_stop_to_what_is_left_and_cancels_a_larger_limit() -> None:
    d = driver()
    locked_with_mnq_held(d, [stop(3), target(3, 3)], size=3)
    assert cancelled(d.effects) == []  # the stop and the target both kept
    out = d.send(fill(MNQ, Side.SELL, 2, "21010", pnl="10", order_id=95), position(MNQ, 1, "21000"))
    assert resizes(out) == [(2, 3, 1)]
    assert cancelled(out) == [3]  # a limit past the position would reverse it: cancelled


def test_a_stop_raised_under_the_lock_is_cut_back_once() -> None:
    d = driver()
    locked_with_mnq_held(d, [stop(1)])
    out = d.send(stop(5))
    assert resizes(out) == [(2, 5, 1)] and cancelled(out) == []
    out = d.send(stop(5))  # the same word again: nothing more is sent
    assert resizes(out) == [] and cancelled(out) == []
    out = d.send(stop(1))  # the gateway's answer
    assert resizes(out) == [] and cancelled(out) == []
    assert d.acct.orders[2].size == 1 and not d.acct.orders[2].shrunk
    out = d.send(stop(4))  # raised again by the trader: cut again
    assert resizes(out) == [(2, 4, 1)] and cancelled(out) == []


def test_a_trailing_stop_raised_is_cut_too() -> None:
    d = driver()
    locked_with_mnq_held(d, [stop(1, kind=OrderType.TRAILING_STOP)])
    out = d.send(stop(3, kind=OrderType.TRAILING_STOP))
    assert resizes(out) == [(2, 3, 1)] and cancelled(out) == []


def test_a_refused_cut_cancels_the_stop() -> None:
    d = driver()
    locked_with_mnq_held(d, [stop(1)])
    assert resizes(d.send(stop(5))) == [(2, 5, 1)]
    out = d.send(EnforcementRejected(ACC, MNQ, 2, "Order is locked", resize=1, was=5))
    assert cancelled(out) == [2]


def test_an_unanswered_cut_cancels_the_stop_once_its_wait_is_over() -> None:
    d = driver()
    locked_with_mnq_held(d, [stop(1)])
    out = d.send(stop(5))
    assert resizes(out) == [(2, 5, 1)] and cancelled(out) == []
    out = d.advance(seconds=RESIZE_WAIT.total_seconds() - 1)
    assert cancelled(out) == []  # still on its way
    out = d.advance(seconds=2)
    assert cancelled(out) == [2] and resizes(out) == []


def test_a_stop_on_a_flat_contract_is_still_cancelled() -> None:
    d = driver()
    locked_with_mnq_held(d, [])
    out = d.send(order(8, "CON.F.US.MES.Z26", Side.SELL, 1, type=OrderType.STOP, stop="5900"))
    assert cancelled(out) == [8] and resizes(out) == []


def test_a_second_stop_beside_the_first_is_still_cancelled() -> None:
    """Two stops of 1 beside a long 1 fill one after the other: the second would reverse it."""
    d = driver()
    locked_with_mnq_held(d, [stop(1)])
    out = d.send(stop(1, 7))
    assert cancelled(out) == [7] and resizes(out) == []


def test_a_buy_stop_on_the_opening_side_is_still_cancelled() -> None:
    d = driver()
    locked_with_mnq_held(d, [])
    out = d.send(order(8, MNQ, Side.BUY, 1, type=OrderType.STOP, stop="21100"))
    assert cancelled(out) == [8] and resizes(out) == []


def test_the_target_left_after_its_stop_filled_is_cancelled_on_sight() -> None:
    """An unlinked stop and target beside a long 1: once the stop fills, the target would
    open a short, and goes."""
    d = driver()
    locked_with_mnq_held(d, [stop(1, 2), target(1, 3)])
    out = d.send(
        order(2, MNQ, Side.SELL, 1, type=OrderType.STOP, stop="20900", status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 1, "20900", pnl="-100", order_id=2),
        flat(MNQ),
    )
    assert cancelled(out) == [3]


def test_our_close_of_what_was_added_leaves_the_stop_for_what_is_tolerated() -> None:
    """Tolerated long 1 with a stop of 1; the trader adds 2 under the lock: our reduce of the
    2 is sent and the stop is neither cut nor cancelled (it fits the 1 kept)."""
    d = driver()
    locked_with_mnq_held(d, [stop(1)])
    out = d.send(fill(MNQ, Side.BUY, 2, "21005", order_id=9), position(MNQ, 3, "21003"))
    assert [(r.contract_id, r.size) for r in out if isinstance(r, ReducePosition)] == [(MNQ, 2)]
    assert cancelled(out) == [] and resizes(out) == []


def test_a_stop_raised_beside_our_reduce_is_cut_at_once_not_left_whole() -> None:
    """Tolerated long 1; the trader adds 2 under the lock and our reduce of 2 works at the
    gateway; he raises his stop to 3. Left whole beside our reduce (it fits the 3 held
    until the reduce fills), both filled would sell 5 of a long 3: it is cut to the 1 our
    reduce leaves at once, and cancelled if that cut is refused."""
    d = driver()
    locked_with_mnq_held(d, [stop(1)])
    out = d.send(fill(MNQ, Side.BUY, 2, "21005", order_id=9), position(MNQ, 3, "21003"))
    assert [(r.contract_id, r.size) for r in out if isinstance(r, ReducePosition)] == [(MNQ, 2)]
    d.send(EnforcementAccepted(ACC, MNQ, 70), order(70, MNQ, Side.SELL, 2, type=OrderType.MARKET))
    out = d.send(stop(3))
    assert resizes(out) == [(2, 3, 1)] and cancelled(out) == []
    out = d.send(EnforcementRejected(ACC, MNQ, 2, "Order is locked", resize=1, was=3))
    assert cancelled(out) == [2] and resizes(out) == []
