"""A reduce of ours judges a partly filled exit by what it has left to fill, and resizes it by
its total (the gateway reads a modify's size as the order's total, what filled included).

Reported against the paper gateway's production profile: long 4 MNQ with a stop of 4 and a
take-profit limit of 4 at 20720; the limit filled 2 of 4 (long 2); the trader bought 2 more
and 3 MES, RULE-001 at 5 reduced MNQ by 2 and resized the limit "4 -> 2": the gateway made
it size 2 with 2 filled, nothing left, and at 20720 it sold nothing, the account long 2 with
no take-profit. It has 2 left to sell, no more than the 2 the reduce leaves: untouched."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from fsm_risk.core.effects import Effect, ResizeOrder
from fsm_risk.core.events import EnforcementRejected, OrderStatus, OrderType, OrderUpdate, Side
from fsm_risk.rules.max_contracts import MaxContracts
from tests.factories import (
    ACC,
    MES,
    MNQ,
    Driver,
    cancels,
    fill,
    order,
    position,
    reduces,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
)

driver = partial(rule_driver, MaxContracts, limit="5")
STOP, TAKE = 11, 12


def resizes(effects: list[Effect]) -> list[tuple[int, int, int, int]]:
    """(order, size before, new total, filled) of each resize."""
    return [(e.order_id, e.was, e.size, e.filled) for e in effects if isinstance(e, ResizeOrder)]


def stop(size: int, filled: int = 0) -> OrderUpdate:
    return replace(
        order(STOP, MNQ, Side.SELL, size, type=OrderType.STOP, stop="20600"), fill_volume=filled
    )


def take(size: int, filled: int = 0) -> OrderUpdate:
    return replace(order(TAKE, MNQ, Side.SELL, size, limit="20720"), fill_volume=filled)


def test_a_take_profit_filled_in_part_keeps_what_it_has_left_when_that_fits() -> None:
    d = driver()
    d.send(stop(4), take(4, filled=2), position(MES, 3, "6000"))
    out = d.send(position(MNQ, 4, "20700"))  # 4 + 3 = 7 > 5: MNQ, the largest, by 2
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 2)]
    assert resizes(out) == [(STOP, 4, 2, 0)]  # the limit's 2 left fit the 2 that remain
    assert cancels(out) == []


def test_with_one_reduced_the_take_profit_filled_in_part_is_untouched() -> None:
    # MES 2: reduced by 1 to 3; the old code cut the limit "4 -> 3": 1 left to sell of 2
    d = driver()
    d.send(stop(4), take(4, filled=2), position(MES, 2, "6000"))
    out = d.send(position(MNQ, 4, "20700"))
    assert [r.size for r in reduces(out)] == [1]
    assert resizes(out) == [(STOP, 4, 3, 0)]


def test_a_cut_keeps_what_filled_and_sends_the_total() -> None:
    """Long 3 with a limit of 4 filled 1 (3 left to sell), reduced to 1: 1 is left to sell,
    so its total goes to 2 (1 filled + 1), not to 1 (the gateway would read it as nothing
    left, or refuse it)."""
    d = driver(limit="1")
    d.send(take(4, filled=1))
    out = d.send(position(MNQ, 3, "20700"))
    assert [r.size for r in reduces(out)] == [2]
    assert resizes(out) == [(TAKE, 4, 2, 1)]
    # the gateway shows it at 2 (1 filled): answered, nothing more to send
    out = d.send(take(2, filled=1))
    assert resizes(out) == [] and d.acct.orders[TAKE].resize_to is None


def test_a_part_with_nothing_left_to_keep_is_cancelled_not_resized_to_its_fills() -> None:
    """Long 2 with two limits of 1 left each (the farther one 4 with 3 filled): both
    together would sell the 2, more than the 1 a reduce leaves; the farther gives first and
    has nothing left to keep: cancelled, never resized to its 3 filled (nothing left)."""
    d = driver(limit="1")
    d.send(
        order(13, MNQ, Side.SELL, 1, limit="20720"),
        replace(order(TAKE, MNQ, Side.SELL, 4, limit="20800"), fill_volume=3),
    )
    out = d.send(position(MNQ, 2, "20700"))
    assert [r.size for r in reduces(out)] == [1]
    assert resizes(out) == []
    assert [c.order_id for c in cancels(out)] == [TAKE]


def test_a_refused_reduce_gives_back_what_was_left_to_fill() -> None:
    """The old code gave the limit back its total capped at the position (3), which left it
    2 to sell beside the 3 held."""
    d = driver(limit="1")
    d.send(take(4, filled=1))
    d.send(position(MNQ, 3, "20700"))
    d.send(take(2, filled=1))
    out = d.send(EnforcementRejected(ACC, MNQ, None, "Market is closed"))
    assert resizes(out) == [(TAKE, 2, 4, 1)]  # 3 left to sell again, for the 3 held


def test_what_filled_survives_a_restart() -> None:
    d = driver()
    d.send(stop(4), take(4, filled=2), position(MNQ, 2, "20700"))
    d = restart(d, lambda: rule_engine(MaxContracts, limit="5"))
    assert d.acct.orders[TAKE].fill_volume == 2
    # the read lists it without its fillVolume (a word may omit it), and the trader has
    # bought 2 more MNQ and 2 MES: 6 > 5, MNQ reduced by 1
    out = start_up_read(d, stop(4), take(4), position(MES, 2, "6000"), position(MNQ, 4, "20700"))
    assert d.acct.orders[TAKE].fill_volume == 2
    # (decided before the read and again as the account resumes: the shell sends one)
    assert {r.size for r in reduces(out)} == {1}
    assert set(resizes(out)) == {(STOP, 4, 3, 0)}  # the limit's 2 left fit the 3 that remain


# -- exits sized for an entry filled in part ------------------------------------------------

ENTRY, OURS = 20, 99


def entry(filled: int, status: OrderStatus = OrderStatus.OPEN) -> OrderUpdate:
    buy = order(ENTRY, MNQ, Side.BUY, 7, limit="20990", status=status)
    return replace(buy, fill_volume=filled)


def child(order_id: int, size: int, status: OrderStatus = OrderStatus.SUSPENDED) -> OrderUpdate:
    kind = OrderType.STOP if order_id == STOP else OrderType.LIMIT
    price = {"stop": "20980"} if order_id == STOP else {"limit": "21010"}
    return order(order_id, MNQ, Side.SELL, size, type=kind, status=status, **price)


def reduced_by_us(d: Driver, size: int, left: int) -> list[Effect]:
    """Our reduce's market order fills: ``left`` held."""
    return d.send(
        order(OURS, MNQ, Side.SELL, size, type=OrderType.MARKET),
        fill(MNQ, Side.SELL, size, "20989.75", pnl="0", order_id=OURS),
        order(OURS, MNQ, Side.SELL, size, type=OrderType.MARKET, status=OrderStatus.FILLED),
        position(MNQ, left, "20990"),
    )


def test_a_bracket_on_an_entry_filled_in_part_is_cut_by_each_reduce_and_never_reverses() -> None:
    """Reported: MES 2; MNQ buy 7 at 20990 with its bracket (a stop and a target of 7, not
    yet live); 4 filled (6 > 5: reduced by 1 to 3), then the 3 more (6 > 5 again: reduced by
    3 to 3). The old code left the bracket at 7 both times (larger than the position before
    each reduce, 4 then 6): at 20979.75 the stop sold 7 of the 3 held, short 4. The first
    reduce cuts it to 6 (the 3 held and the 3 to come), the second to 3."""
    d = driver()
    d.send(position(MES, 2, "6000"), entry(0), child(STOP, 7), child(TAKE, 7))
    out = d.send(entry(4), position(MNQ, 4, "20990"))
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 1)]
    assert resizes(out) == [(STOP, 7, 6, 0), (TAKE, 7, 6, 0)]
    d.send(child(STOP, 6), child(TAKE, 6))
    assert resizes(reduced_by_us(d, 1, 3)) == []
    out = d.send(
        entry(7, OrderStatus.FILLED),
        child(STOP, 6, OrderStatus.OPEN),
        child(TAKE, 6, OrderStatus.OPEN),
        position(MNQ, 6, "20990"),
    )
    assert [r.size for r in reduces(out)] == [3]
    assert resizes(out) == [(STOP, 6, 3, 0), (TAKE, 6, 3, 0)]


def test_a_separate_stop_for_the_whole_entry_is_cut_the_same_way() -> None:
    d = driver()
    d.send(position(MES, 2, "6000"), entry(0), child(STOP, 7, OrderStatus.OPEN))
    out = d.send(entry(4), position(MNQ, 4, "20990"))
    assert resizes(out) == [(STOP, 7, 6, 0)]
    d.send(child(STOP, 6, OrderStatus.OPEN))
    reduced_by_us(d, 1, 3)
    out = d.send(entry(7, OrderStatus.FILLED), position(MNQ, 6, "20990"))
    assert resizes(out) == [(STOP, 6, 3, 0)]


def test_a_stop_for_the_whole_working_entry_is_untouched_while_nothing_of_ours_interferes() -> None:
    d = driver()
    d.send(entry(0), child(STOP, 7, OrderStatus.OPEN))
    out = d.send(entry(4), position(MNQ, 4, "20990"))  # 4 <= 5: nothing to reduce
    assert reduces(out) == [] and resizes(out) == []
    # a reduce of another contract leaves it alone too
    out = d.send(position(MES, 2, "6000"))  # 6 > 5: MNQ, the largest, by 1: its stop cut
    assert resizes(out) == [(STOP, 7, 6, 0)]
    d = driver(limit="9")
    d.send(entry(4), child(STOP, 7, OrderStatus.OPEN), position(MNQ, 4, "20990"))
    out = d.send(position(MES, 6, "6000"))  # 10 > 9: MES, the largest, by 1
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MES, 1)]
    assert resizes(out) == []


def test_a_refused_reduce_gives_the_stop_for_the_entry_all_of_it_back() -> None:
    """The old restore capped it at the position held (4): 3 of the entry's contracts to come
    would have had no stop."""
    d = driver()
    d.send(position(MES, 2, "6000"), entry(0), child(STOP, 7, OrderStatus.OPEN))
    d.send(entry(4), position(MNQ, 4, "20990"))
    d.send(child(STOP, 6, OrderStatus.OPEN))
    d = restart(d, lambda: rule_engine(MaxContracts, limit="5"))
    assert (d.acct.orders[STOP].resized_from, d.acct.orders[STOP].resized_basis) == (7, 4)
    start_up_read(
        d, entry(4), child(STOP, 6, OrderStatus.OPEN), position(MES, 2, "6000"),
        position(MNQ, 4, "20990"),
    )  # fmt: skip
    out = d.send(EnforcementRejected(ACC, MNQ, None, "Market is closed"))
    assert resizes(out) == [(STOP, 6, 7, 0)]


def test_a_reduce_filled_in_part_gives_back_the_excess_it_did_not_take() -> None:
    """Long 5 with a stop of 7 (2 past flat), reduced to 3: 5. The reduce fills 1 of 2 and is
    done: 4 held, the stop back to 6 (2 past flat again), never to 7."""
    d = driver(limit="3")
    d.send(child(STOP, 7, OrderStatus.OPEN))
    out = d.send(position(MNQ, 5, "21000"))
    assert resizes(out) == [(STOP, 7, 5, 0)]
    d.send(child(STOP, 5, OrderStatus.OPEN), order(OURS, MNQ, Side.SELL, 2, type=OrderType.MARKET))
    out = d.send(
        fill(MNQ, Side.SELL, 1, "21000", order_id=OURS),
        position(MNQ, 4, "21000"),
        replace(
            order(OURS, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.CANCELLED),
            fill_volume=1,
        ),
    )
    assert [r.size for r in reduces(out)] == [1] and resizes(out) == []  # 5 fits 4 -> 3
    out = d.send(EnforcementRejected(ACC, MNQ, None, "Market is closed"))
    assert resizes(out) == [(STOP, 5, 6, 0)]
