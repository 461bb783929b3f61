"""The trade ids an account has seen, compactly: what a reconciliation's re-read is checked
against so that no trade is applied twice."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


class SeenTrades:
    """The trade ids an account applied (or saw voided), each with its time, in two flat
    arrays of 64-bit integers kept in id order: 16 bytes a trade where a dict of ints to
    datetimes takes about 110. Times come back in UTC (the same instants). A lookup is a
    binary search; an id is inserted in place (the gateway's ids mostly only grow, so that
    is nearly always an append)."""

    __slots__ = ("_at", "_ids")

    def __init__(self, items: Iterable[tuple[int, datetime]] = ()) -> None:
        self._ids = array("q")
        self._at = array("q")
        for i, t in sorted(items):
            self[i] = t

    @classmethod
    def of(cls, micros: dict[int, int]) -> SeenTrades:
        """From trade id -> its time in microseconds since the epoch (`micros`), in any order:
        a restore builds each account's at once rather than id by id."""
        out = cls()
        ids = sorted(micros)
        out._ids = array("q", ids)
        out._at = array("q", [micros[i] for i in ids])
        return out

    def __contains__(self, trade_id: object) -> bool:
        if not isinstance(trade_id, int):
            return False
        k = bisect_left(self._ids, trade_id)
        return k < len(self._ids) and self._ids[k] == trade_id

    def __getitem__(self, trade_id: int) -> datetime:
        k = bisect_left(self._ids, trade_id)
        if k == len(self._ids) or self._ids[k] != trade_id:
            raise KeyError(trade_id)
        return _EPOCH + self._at[k] * _MICRO

    def __setitem__(self, trade_id: int, at: datetime) -> None:
        micros = (at - _EPOCH) // _MICRO  # as `micros` (inline: the hot path)
        ids = self._ids
        if not ids or ids[-1] < trade_id:
            ids.append(trade_id)
            self._at.append(micros)
            return
        k = bisect_left(ids, trade_id)
        if ids[k] == trade_id:
            self._at[k] = micros
        else:
            ids.insert(k, trade_id)
            self._at.insert(k, micros)

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SeenTrades):
            return self._ids == other._ids and self._at == other._at
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def items(self) -> Iterator[tuple[int, datetime]]:
        for i, t in zip(self._ids, self._at, strict=True):
            yield i, _EPOCH + t * _MICRO

    def values(self) -> Iterator[datetime]:
        for t in self._at:
            yield _EPOCH + t * _MICRO

    def latest(self) -> datetime | None:
        """The time of the latest trade (None: none)."""
        return _EPOCH + max(self._at) * _MICRO if self._at else None

    def since(self, start: datetime) -> set[int]:
        """The ids of the trades at or after ``start``."""
        bound = (start - _EPOCH) // _MICRO
        return {i for i, t in zip(self._ids, self._at, strict=True) if t >= bound}

    def keep_since(self, horizon: datetime) -> None:
        """Forget the trades before ``horizon``."""
        bound = (horizon - _EPOCH) // _MICRO
        if not self._at or min(self._at) >= bound:
            return  # none that old (a start's catch-up: a week of trades read back, all kept)
        kept = [(i, t) for i, t in zip(self._ids, self._at, strict=True) if t >= bound]
        self._ids = array("q", [i for i, _ in kept])
        self._at = array("q", [t for _, t in kept])

    def copy(self) -> SeenTrades:
        out = SeenTrades()
        out._ids = array("q", self._ids)
        out._at = array("q", self._at)
        return out


def micros(at: datetime) -> int:
    """An instant as microseconds since the epoch, as `SeenTrades` keeps it."""
    return (at - _EPOCH) // _MICRO
