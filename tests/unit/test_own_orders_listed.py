"""The account's state row lists the service's own orders of the week sorted, without sorting
them again for every commit.

They are kept the whole week and the row is written before every close the service sends.
Measured on the row of the reaction bench's account (CPU time, best of 15 x 400), building it
took ~18 µs with no ids and ~90 µs with 1,000 (the bench's thousand closes), ~40 µs of that
sorting the same ids again (~49 µs once the sort is kept). What is written is the same text;
any change to the ids is in the next row."""

from __future__ import annotations

import builtins
import json
from typing import Any

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.own import OwnOrders
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import ACC, make_engine, reduces, restart
from tests.unit.test_close_answers import limit_3, traded


def closed_over_and_over(times: int) -> Any:
    """The trader goes 2 over the limit of 3 ``times``; each time our reduce of 2 fills."""
    d = limit_3()
    for k in range(times):
        over(d, 1000 + 2 * k, 5000 - 2 * k)  # ours: ids not in ascending order
    return d


def over(d: Any, his: int, ours: int) -> None:
    """His buy to 5 (from 3, or 5 from flat), our reduce of 2 decided, its fill (``ours``)."""
    decided = len(reduces(d.effects))
    d.send(*traded(his, Side.BUY, 2 if d.acct.positions else 5, 5))
    assert len(reduces(d.effects)) == decided + 1, "no reduce decided"
    d.send(*traded(ours, Side.SELL, 2, 3))


def sorts_of(monkeypatch: pytest.MonkeyPatch, ids: Any) -> list[int]:
    """Every ``sorted`` of ``ids`` from now on, recorded."""
    seen: list[int] = []
    real = builtins.sorted

    def spy(iterable: Any, *args: Any, **kwargs: Any) -> Any:
        if iterable is ids:
            seen.append(len(ids))
        return real(iterable, *args, **kwargs)

    monkeypatch.setattr(builtins, "sorted", spy)
    return seen


def test_an_unchanged_week_of_closes_is_not_sorted_again_for_each_state_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = closed_over_and_over(4)
    acct = d.acct
    ours = {5000, 4998, 4996, 4994}
    assert ours <= acct.own_orders
    first = acct.persisted()["own_orders"]
    assert first == sorted(acct.own_orders)
    sorts = sorts_of(monkeypatch, acct.own_orders)
    for _ in range(3):  # three commits with no new close in between
        assert acct.persisted()["own_orders"] == first
    assert sorts == [], f"the week's own orders were sorted again for each row: {sorts}"


def test_every_change_to_the_ids_is_in_the_next_row(monkeypatch: pytest.MonkeyPatch) -> None:
    d = closed_over_and_over(2)
    acct = d.acct
    acct.persisted()
    over(d, 2000, 10)  # ours, the lowest id yet
    listed = acct.persisted()["own_orders"]
    assert listed == sorted(acct.own_orders) and listed[0] == 10
    ids: OwnOrders = acct.own_orders  # type: ignore[assignment]
    changes: list[tuple[str, Any]] = [
        ("add", lambda: ids.add(1)),
        ("discard", lambda: ids.discard(1)),
        ("update", lambda: ids.update({7, 3})),
        ("remove", lambda: ids.remove(7)),
        ("&=", lambda: ids.__iand__({3, 10, 5000, 99})),  # the weekly reset's prune
        ("|=", lambda: ids.__ior__({42})),
        ("-=", lambda: ids.__isub__({42})),
        ("^=", lambda: ids.__ixor__({8, 3})),
        ("intersection_update", lambda: ids.intersection_update({8, 10, 5000})),
        ("difference_update", lambda: ids.difference_update({8})),
        ("symmetric_difference_update", lambda: ids.symmetric_difference_update({2, 10})),
        ("pop", lambda: ids.pop()),
        ("clear", lambda: ids.clear()),
    ]
    for name, change in changes:
        change()
        assert acct.own_orders is ids, f"{name} replaced the set"
        assert acct.persisted()["own_orders"] == sorted(ids), f"{name}: a stale row"
        assert acct.persisted()["own_orders"] == sorted(ids)


def test_the_row_reads_back_as_the_same_ids_that_keep_their_listing() -> None:
    d = closed_over_and_over(3)
    before = d.acct.persisted()["own_orders"]
    again = restart(d, lambda: make_engine({MaxContractsPerInstrument: {"limits": "MNQ: 3"}}))
    acct = again.engine.accounts[ACC]
    assert isinstance(acct.own_orders, OwnOrders)
    assert acct.persisted()["own_orders"] == before
    acct.own_orders.add(1)
    assert acct.persisted()["own_orders"] == [1, *before]
    # as JSON, the plain sorted list
    assert json.loads(json.dumps(acct.persisted()["own_orders"])) == sorted(acct.own_orders)


def test_the_state_row_is_the_same_text_as_with_a_plain_set() -> None:
    from fsm_risk.adapters.store import _account_rows

    d = closed_over_and_over(3)
    acct = d.acct
    kept, _ = _account_rows(acct)
    acct.own_orders = set(acct.own_orders)  # as every account held them before
    plain, _ = _account_rows(acct)
    assert kept["snapshot"] == plain["snapshot"]
    assert '"own_orders":[4996,4998,5000]' in kept["snapshot"]
