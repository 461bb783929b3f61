"""The plain records the machine models are made of: locks and their strength, the broker's
view (positions; its marks are in `mark`, its working orders in `orders`), and the journal of
an account's trading (fills, round trips, the day's and week's books, the history restored
from append-only rows). Each converts to and from JSON-able dicts exactly (money as strings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fsm_risk.core.events import Side
from fsm_risk.core.late import Late, take_late
from fsm_risk.core.missed_carry import Split, split_from_json, split_to_json
from fsm_risk.core.reasons import Reason
from fsm_risk.core.seen import SeenTrades
from fsm_risk.core.states import LOCK_RANK, State

ZERO = Decimal(0)

# --- locks -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lock:
    """A hold on a model: the lock kind, its deadline (None: until its condition ends), the
    rule (or ``ADMIN``/``ENGINE``) that placed it, and why."""

    kind: State
    until: datetime | None
    source: str
    reason: Reason
    detail: str = ""

    def strength(self) -> tuple[int, float]:
        return (LOCK_RANK[self.kind], self.until.timestamp() if self.until else float("inf"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "until": _dt(self.until),
            "source": self.source,
            "reason": self.reason.name,
            "detail": self.detail,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Lock:
        return Lock(
            State(d["kind"]), _pdt(d["until"]), d["source"], Reason[d["reason"]], d["detail"]
        )


def strongest(holds: dict[str, Lock]) -> Lock | None:
    """The hold that decides the state: highest kind, then the latest expiry."""
    best: Lock | None = None
    for h in holds.values():
        if best is None or h.strength() > best.strength():
            best = h
    return best


def lock_state(holds: dict[str, Lock]) -> State:
    best = strongest(holds)
    return State.Trading if best is None else best.kind


# --- broker view -------------------------------------------------------------------------


@dataclass(slots=True)
class Position:
    contract_id: str
    long: bool
    size: int
    average_price: Decimal
    opened_at: datetime
    upnl: Decimal = ZERO  # cached unrealized P&L at the last usable mark
    priced: bool = False  # upnl comes from a mark (False until the first quote)
    #: contracts already closed by fills the gateway's position has not reflected yet: they
    #: are realized, so only size - settling is valued (no double count in between)
    settling: int = 0
    #: signed dollars per point of price (unrealized = mark x point_value - cost), set when
    #: size x tick value / tick size is exact (always, for real tick sizes; else: see `valuation`)
    point_value: Decimal | None = None
    #: with it: the signed dollars it cost, to a millionth (the gateway's average is a float)
    cost: Decimal = ZERO
    #: the quote guard band of this position's open P&L (see Rule.position_band); not stored
    band: tuple[Decimal, Decimal] | None = None
    stored: bool = False  # restored, not yet read back from the gateway (see settlement)
    #: restored from a stop where it was not ``priced`` (saved with it: no mark saved values
    #: it, `Valuation.restored`); None: from a row saved before the flag (`own_price`)
    waiting: bool | None = False

    @property
    def signed(self) -> int:
        return self.size if self.long else -self.size

    @property
    def closing_side(self) -> Side:
        return Side.SELL if self.long else Side.BUY

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract_id": self.contract_id,
            "long": self.long,
            "size": self.size,
            "average_price": str(self.average_price),
            "opened_at": _dt(self.opened_at),
            "settling": self.settling,
            "priced": self.priced,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Position:
        return Position(
            d["contract_id"],
            d["long"],
            d["size"],
            Decimal(d["average_price"]),
            _req(_pdt(d["opened_at"])),
            settling=d.get("settling", 0),
            stored=True,
            waiting=not d["priced"] if "priced" in d else None,
        )


# --- journal -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One fill as the engine classified it. ``entry`` contracts opened or increased exposure,
    ``exit`` contracts reduced it. ``enforcement`` fills were not the trader's: caused by the
    service, or by the platform liquidating the account on its own."""

    trade_id: int
    at: datetime
    contract_id: str
    order_id: int
    side: Side
    size: int
    price: Decimal
    pnl: Decimal | None
    fees: Decimal
    entry: int
    exit: int
    enforcement: bool

    @property
    def net(self) -> Decimal:
        return (self.pnl or ZERO) - self.fees

    def to_dict(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "at": _dt(self.at),
            "contract_id": self.contract_id,
            "order_id": self.order_id,
            "side": int(self.side),
            "size": self.size,
            "price": str(self.price),
            "pnl": _dec(self.pnl),
            "fees": str(self.fees),
            "entry": self.entry,
            "exit": self.exit,
            "enforcement": self.enforcement,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> FillRecord:
        return FillRecord(
            d["trade_id"],
            _req(_pdt(d["at"])),
            d["contract_id"],
            d["order_id"],
            Side(d["side"]),
            d["size"],
            Decimal(d["price"]),
            _pdec(d["pnl"]),
            Decimal(d["fees"]),
            d["entry"],
            d["exit"],
            d["enforcement"],
        )


@dataclass(slots=True)
class Trip:
    """A round trip in one contract: from flat to flat. ``net`` is P&L minus every fee."""

    contract_id: str
    long: bool
    opened_at: datetime
    closed_at: datetime | None = None
    net: Decimal = ZERO
    size: int = 0  # the largest size held during the trip
    enforced: bool = False  # closed (fully or in part) by the service
    his: Decimal | None = None  # his exits from it, net (None: none; `trips`); kept while open

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract_id": self.contract_id,
            "long": self.long,
            "opened_at": _dt(self.opened_at),
            "closed_at": _dt(self.closed_at),
            "net": str(self.net),
            "size": self.size,
            "enforced": self.enforced,
            **({} if self.his is None or self.closed_at else {"his": str(self.his)}),
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Trip:
        return Trip(
            d["contract_id"],
            d["long"],
            _req(_pdt(d["opened_at"])),
            _pdt(d["closed_at"]),
            Decimal(d["net"]),
            d["size"],
            d["enforced"],
            _pdec(d.get("his")),
        )


@dataclass(slots=True)
class Book:
    """The accumulators of one trading day or week.

    ``realized`` is net of fees; ``settled`` its part no trade makes (positions removed without
    a fill, booked at the balance's move: `Settlement.vanished`; a rebuild keeps it). ``carry``
    is the open unrealized P&L at the boundary (equity P&L: ``realized + open unrealized -
    carry``); ``carried`` its part of each contract (value, contracts) at a live reset, taken
    back by `take_fill` when a fill stamped before the boundary, heard after, shows them gone.
    ``late`` is what such fills change of the equity at a live boundary (their net P&L less
    the carry they take back; None: a reset applied at a restore, which they redo instead);
    ``lates`` what each of them did, by trade id, for its void to give back (see `late`).
    ``wiped``: what a firm's reset confirmed took off ``realized`` (`firm_reset`): the
    profit target still counts it (a reset never loosens a limit mid-period). ``wiped_loss``:
    what the trades confirmed resets wiped lost (those up to ``wiped_to``), kept in ``realized``
    (at most nothing): a later reset's wiped trades made ``realized`` less it and the rest.
    ``hidden``: a balance fall no booked trade explains, kept past its day (`hidden`; at most 0,
    the week's loss limit counts it); ``unheld``: what of it the stored balance does not hold.

    The accumulators are state (`persisted()`); ``fills`` and ``trips`` are history, kept in
    append-only rows and rebuilt from them (only the day's are kept: no rule reads a week's)."""

    label: date
    start: datetime
    end: datetime
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    carry: Decimal = ZERO
    fills: list[FillRecord] = field(default_factory=list)
    trips: list[Trip] = field(default_factory=list)
    carried: dict[str, tuple[Decimal, int]] = field(default_factory=dict)
    settled: Decimal = ZERO
    late: Decimal | None = None
    lates: dict[int, Late] = field(default_factory=dict)  # by trade id (see `late`)
    wiped: Decimal = ZERO
    wiped_loss: Decimal = ZERO
    missed_carried: Split = field(default_factory=dict)  # see `missed_carry`
    wiped_to: datetime | None = None
    hidden: Decimal = ZERO
    unheld: Decimal = ZERO
    #: derived from ``fills``: the size each order filled, and how many fills that counts
    _by_order: dict[int, int] = field(default_factory=dict, init=False, repr=False, compare=False)
    _counted: int = field(default=-1, init=False, repr=False, compare=False)

    def add_fill(self, record: FillRecord) -> None:
        """Append a fill, keeping the per-order sizes."""
        self._recount()
        self.fills.append(record)
        self._count(record, 1)

    def take_fill(self, record: FillRecord, net: Decimal, *, keep: bool) -> None:
        """Book a fill by its gateway time: one of this period adds its P&L (``net``) and fees
        (and itself, when ``keep``); one stamped before the period began (its record came
        late) is the last period's, and the contracts it closed were not held at the
        boundary: they carry nothing into this one (their part of the carry is taken back)."""
        if record.at >= self.start:
            self.realized += net
            self.fees += record.fees
            if keep:
                self.add_fill(record)
            return
        take_late(self, record, net)

    def drop_fill(self, record: FillRecord) -> None:
        """Remove a fill (a voided trade), keeping the per-order sizes."""
        self._recount()
        self.fills.remove(record)
        self._count(record, -1)

    def filled(self, order_id: int) -> int:
        """The size this order filled among the fills: a lookup, not a walk over the day's
        fills (an order event on an account with thousands of them came before every close)."""
        self._recount()
        return self._by_order.get(order_id, 0)

    def _recount(self) -> None:
        """Count the fills afresh if they changed other than through `add_fill`/`drop_fill`
        (or were never counted)."""
        if self._counted != len(self.fills):
            self._by_order = {}
            self._counted = 0
            for f in self.fills:
                self._count(f, 1)

    def _count(self, record: FillRecord, sign: int) -> None:
        by = self._by_order
        by[record.order_id] = by.get(record.order_id, 0) + sign * record.size
        self._counted += sign

    def persisted(self) -> dict[str, Any]:
        """The accumulators: what the store rewrites (never the fills or trips)."""
        return {
            "label": self.label.isoformat(),
            "start": _dt(self.start),
            "end": _dt(self.end),
            "realized": str(self.realized),
            "fees": str(self.fees),
            "carry": str(self.carry),
            "carried": {c: [str(v), n] for c, (v, n) in sorted(self.carried.items())},
            "settled": str(self.settled),
            "late": _dec(self.late),
            "lates": {str(i): v.to_list() for i, v in sorted(self.lates.items())},
            "wiped": str(self.wiped),
            "wiped_loss": str(self.wiped_loss),
            "missed_carried": split_to_json(self.missed_carried),
            "wiped_to": _dt(self.wiped_to),
            "hidden": str(self.hidden),
            "unheld": str(self.unheld),
        }

    def to_dict(self) -> dict[str, Any]:
        return self.persisted() | {
            "fills": [f.to_dict() for f in self.fills],
            "trips": [t.to_dict() for t in self.trips],
        }

    @staticmethod
    def from_dict(
        d: dict[str, Any],
        fills: list[FillRecord] | None = None,
        trips: list[Trip] | None = None,
    ) -> Book:
        """A book from its state; its fills and trips given, else read from ``d`` (if there)."""
        return Book(
            date.fromisoformat(d["label"]),
            _req(_pdt(d["start"])),
            _req(_pdt(d["end"])),
            Decimal(d["realized"]),
            Decimal(d["fees"]),
            Decimal(d["carry"]),
            [FillRecord.from_dict(x) for x in d.get("fills", ())] if fills is None else fills,
            [Trip.from_dict(x) for x in d.get("trips", ())] if trips is None else trips,
            {c: (Decimal(v), int(n)) for c, (v, n) in d.get("carried", {}).items()},
            Decimal(d.get("settled", "0")),
            _pdec(d.get("late")),
            {int(i): Late.from_list(v) for i, v in d.get("lates", {}).items()},
            Decimal(d.get("wiped", "0")),
            Decimal(d.get("wiped_loss", "0")),
            split_from_json(d.get("missed_carried")),
            _pdt(d.get("wiped_to")),
            Decimal(d.get("hidden", "0")),
            Decimal(d.get("unheld", "0")),
        )


@dataclass(slots=True)
class History:
    """What an account remembers of its past, kept in append-only rows (fills, round trips,
    voided trades) rather than in its state, and rebuilt from them at start-up by indexed
    queries since the week's start.

    - ``fills``: the day's fills, oldest first (a voided one removed);
    - ``trips``: the round trips closed today, in closing order;
    - ``seen``: every trade id applied or voided since the reconciliation's window opens (the
      earlier of the day's and the week's start), with its time: a trade re-read by a
      reconciliation is never applied twice. The running engine keeps last week's too, until
      its weekly reset has passed (a read begun before it may still list them)."""

    fills: list[FillRecord] = field(default_factory=list)
    trips: list[Trip] = field(default_factory=list)
    seen: SeenTrades = field(default_factory=lambda: SeenTrades())


def _dt(v: datetime | None) -> str | None:
    return None if v is None else v.isoformat()


def _pdt(v: str | None) -> datetime | None:
    return None if v is None else datetime.fromisoformat(v)


def _req(v: datetime | None) -> datetime:
    if v is None:
        raise ValueError("a required time is missing from the stored snapshot")
    return v


def _dec(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def _pdec(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)
