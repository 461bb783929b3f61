"""RULE-007 max_trades_per_day: the trader's entries this trading day may not exceed a limit.

An *entry* is an order of the trader's that opened or added to a position; its partial fills
count once. With ``count = round_trips`` only positions opened from flat count (a reversal
opens a new one; adding to an open position does not). The service's own orders (closes,
reduces) never count. Both counts are read from the day's fill journal, which the engine keeps
and persists with the account: they survive a restart and start again at the daily reset.

Over the limit the account is ``LockedDaily`` until the next daily reset. By default the lock
does not flatten: positions already open may stay and only shrink (the trader may exit), while
new entries are cancelled and new positions closed. ``flatten_existing = true`` closes them
too. The rule is level-triggered: an admin override waives it until the reset.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, Fill, Side, Tick
from fsm_risk.core.models import Book, Trip
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import (
    AccountView,
    Action,
    Outcome,
    Rule,
    RuleContext,
    Usage,
    Verdict,
    used,
)
from fsm_risk.schema import Field


class DayEntries:
    """The trader's entries of one trading day, read from the day's fill journal.

    Reading is incremental (the journal only grows during a day), so a rule pays for each
    fill once. This is a cache, not memory: it is rebuilt from the journal whenever the day's
    book is not the one it was read from (a new day, a restored account).
    """

    __slots__ = ("book", "closed_trips", "fills_read", "first", "openings", "times", "trips_read")

    def __init__(self, book: Book, *, openings: bool = False) -> None:
        self.book = book
        self.fills_read = 0
        #: order id -> index in the journal of the order's first entry fill
        self.first: dict[int, int] = {}
        #: the first-fill time of every entry, sorted
        self.times: list[datetime] = []
        #: (contract, time) of every entry fill, to tell a position the trader opened
        self.openings: set[tuple[str, datetime]] | None = set() if openings else None
        self.trips_read = 0
        self.closed_trips = 0

    def read(self) -> None:
        fills = self.book.fills
        for i in range(self.fills_read, len(fills)):
            f = fills[i]
            if f.enforcement or f.entry <= 0:
                continue
            if self.openings is not None:
                self.openings.add((f.contract_id, f.at))
            if f.order_id not in self.first:
                self.first[f.order_id] = i
                insort(self.times, f.at)
        self.fills_read = len(fills)

    @property
    def count(self) -> int:
        return len(self.times)

    def within(self, end: datetime, length: timedelta | None) -> int:
        """Entries in the window of ``length`` that ends at ``end`` (``end - length``
        excluded), or in the whole trading day up to ``end`` when ``length`` is None."""
        upto = bisect_right(self.times, end)
        if length is None:
            return upto
        return upto - bisect_right(self.times, end - length)

    def is_first_fill(self, order_id: int) -> bool:
        """The journal's latest fill is the first fill of this entry order."""
        return self.first.get(order_id) == self.fills_read - 1

    def round_trips(self, trips_open: Mapping[str, Trip]) -> int:
        """Positions the trader opened today (closed since, or still open)."""
        trips = self.book.trips
        for t in trips[self.trips_read :]:
            if self._opened_by_trader(t):
                self.closed_trips += 1
        self.trips_read = len(trips)
        return self.closed_trips + sum(1 for t in trips_open.values() if self._opened_by_trader(t))

    def _opened_by_trader(self, t: Trip) -> bool:
        # a trip counts when a trader's entry fill opened it (not a position that was already
        # open when monitoring began, whose trip starts at the first fill seen)
        return self.openings is not None and (t.contract_id, t.opened_at) in self.openings


class EntryCache:
    """`DayEntries` per account, kept current from the account's journal."""

    def __init__(self, *, openings: bool = False) -> None:
        self._openings = openings
        self._by_account: dict[int, DayEntries] = {}

    def of(self, view: AccountView) -> DayEntries:
        day = view.day
        entries = self._by_account.get(view.account_id)
        if entries is None or entries.book is not day or entries.fills_read > len(day.fills):
            entries = DayEntries(day, openings=self._openings)
            self._by_account[view.account_id] = entries
        entries.read()
        return entries


@dataclass(frozen=True)
class Config:
    limit: int
    count: str  # entries | round_trips
    flatten_existing: bool

    @property
    def unit(self) -> str:
        return "entries" if self.count == "entries" else "round trips"


class MaxTradesPerDay(Rule):
    id = "RULE-007"
    name = "max_trades_per_day"
    fires_when = "the trader's entries (or round trips) this trading day > limit"
    default_action = (
        "cancel new entries, close new positions, LockedDaily until the next daily reset "
        "(flatten_existing: close open positions too)"
    )
    tighter = {
        "limit": strict.lower,
        "count": strict.ranked("round_trips", "entries"),
        "flatten_existing": strict.true_is_stricter,
    }
    fields = (
        Field(
            "limit",
            schema.integer(minimum=1),
            "10",
            "most trades in one trading day; the next one locks the account until the reset",
        ),
        Field(
            "count",
            schema.choice("entries", "round_trips"),
            "entries",
            "entries: every order that opens or adds to a position; "
            "round_trips: each position opened from flat",
        ),
        Field(
            "flatten_existing",
            schema.boolean,
            "false",
            "true: also close the positions open when the limit is passed; "
            "false: they may stay and only shrink",
        ),
    )
    reacts_to = frozenset({Fill, Tick})

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(values["limit"], values["count"], values["flatten_existing"])

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        action = Action.FLATTEN if config.flatten_existing else Action.LOCK
        return Outcome(action, State.LockedDaily)

    config: Config

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self._round_trips = config.count == "round_trips"
        self._entries = EntryCache(openings=self._round_trips)

    def count(self, view: AccountView) -> int:
        entries = self._entries.of(view)
        return entries.round_trips(view.trips_open) if self._round_trips else entries.count

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        breaking: tuple[str, int] | None = None
        if isinstance(event, Fill):
            last = view.day.fills[-1] if view.day.fills else None
            if last is None or last.trade_id != event.trade_id or last.entry <= 0:
                return ()  # only an entry can raise the count (the hold, if any, stays)
            # the entry taking the count past the limit, if it does: never one the lock keeps
            breaking = (last.contract_id, last.entry if last.side is Side.BUY else -last.entry)
        n = self.count(view)
        cfg = self.config
        if n <= cfg.limit:
            return ()
        return (
            Verdict(
                self.id,
                Reason.MAX_TRADES_PER_DAY,
                Action.FLATTEN if cfg.flatten_existing else Action.LOCK,
                lock=State.LockedDaily,
                until=self.ctx.next_reset(view, now),
                detail=f"{n} {cfg.unit} today > limit {cfg.limit}",
                breaking=breaking,
            ),
        )

    def usage(self, view: AccountView, now: datetime) -> Usage:
        n, limit = self.count(view), self.config.limit
        return Usage(Decimal(n), Decimal(limit), self.config.unit, used(n, limit))
