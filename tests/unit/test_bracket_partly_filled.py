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
from fsm_risk.core.events import EnforcementRejected, OrderType, OrderUpdate, Side
from fsm_risk.rules.max_contracts import MaxContracts
from tests.factories import (
    ACC,
    MES,
    MNQ,
    cancels,
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
