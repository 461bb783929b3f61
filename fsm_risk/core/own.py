"""The ids of the service's own enforcement orders of the week, as a set that keeps its
sorted list until it changes.

The account's state row holds them sorted, and that row is written in the commit before
every close the service sends. They are kept the whole week (a reconciliation re-reads the
week's trades, whose fills of our closes must be told apart from the trader's) and pruned at
the weekly reset only, so they grow with every close: sorting them again for each commit cost
the close more the more closes the week had seen (a thousand ids: some 40 µs each time).
Sorted once per change instead, the row is the same text.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Self


class OwnOrders(set[int]):
    """A set of order ids (membership, ``add`` and ``&=`` are what the engine uses) that
    keeps its sorted list (`listed`) until any change drops it."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        super().__init__(ids)
        self._sorted: list[int] | None = None

    def listed(self) -> list[int]:
        """The ids in ascending order (a new list, as ``sorted`` gives)."""
        if self._sorted is None:
            self._sorted = sorted(self)
        return list(self._sorted)

    def _changed(self) -> None:
        self._sorted = None

    # every method that changes a set drops the sorted list first

    def add(self, element: int, /) -> None:
        self._changed()
        super().add(element)

    def discard(self, element: object, /) -> None:
        self._changed()
        super().discard(element)

    def remove(self, element: int, /) -> None:
        self._changed()
        super().remove(element)

    def pop(self) -> int:
        self._changed()
        return super().pop()

    def clear(self) -> None:
        self._changed()
        super().clear()

    def update(self, *others: Iterable[int]) -> None:
        self._changed()
        super().update(*others)

    def intersection_update(self, *others: Iterable[object]) -> None:
        self._changed()
        super().intersection_update(*others)

    def difference_update(self, *others: Iterable[object]) -> None:
        self._changed()
        super().difference_update(*others)

    def symmetric_difference_update(self, other: Iterable[int], /) -> None:
        self._changed()
        super().symmetric_difference_update(other)

    def __ior__(self, other: AbstractSet[int], /) -> Self:  # type: ignore[override,misc]
        self._changed()
        return super().__ior__(other)

    def __iand__(self, other: AbstractSet[object], /) -> Self:
        self._changed()
        return super().__iand__(other)

    def __isub__(self, other: AbstractSet[object], /) -> Self:
        self._changed()
        return super().__isub__(other)

    def __ixor__(self, other: AbstractSet[int], /) -> Self:  # type: ignore[override,misc]
        self._changed()
        return super().__ixor__(other)


def listed(ids: set[int]) -> list[int]:
    """``ids`` in ascending order: kept by an `OwnOrders`, sorted now for any other set."""
    return ids.listed() if isinstance(ids, OwnOrders) else sorted(ids)
