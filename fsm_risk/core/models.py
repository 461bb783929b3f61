"""The two machine models: `AccountModel` (one monitored account) and `ContractModel` (one
of its contracts, from `contract`), and what they share (`Lockable`); the records they are
made of (from `records`, `orders`, `instruments`) are re-exported: the core imports its
objects from here.

An account's data is *state* (small, bounded by what is open now, rewritten when it moves:
`persisted()`), *history* (the day's fills and round trips, the trade ids seen: append-only
rows, rebuilt at start-up as a `History`) or *runtime caches* (derived, never stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fsm_risk.core.contract import ContractModel, Lockable
from fsm_risk.core.exposure import Behind, Unjudged, exposed
from fsm_risk.core.instruments import DEFAULT_INSTRUMENTS, Instrument, InstrumentBook, root_of
from fsm_risk.core.mark import Mark
from fsm_risk.core.orders import Order
from fsm_risk.core.own import OwnOrders, listed
from fsm_risk.core.reasons import Reason
from fsm_risk.core.records import (
    ZERO,
    Book,
    FillRecord,
    History,
    Lock,
    Position,
    Trip,
    _dec,
    _dt,
    _pdec,
    _pdt,
    _req,
    lock_state,
    strongest,
)
from fsm_risk.core.seen import SeenTrades

if TYPE_CHECKING:
    from fsm_risk.core.events import PositionUpdate, TradesSnapshot
    from fsm_risk.core.missed import MissedResets
    from fsm_risk.core.tolerance import Ended

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "ZERO",
    "AccountModel",
    "Book",
    "ContractModel",
    "FillRecord",
    "History",
    "Instrument",
    "InstrumentBook",
    "Lock",
    "Lockable",
    "Mark",
    "Order",
    "Position",
    "Trip",
    "lock_state",
    "root_of",
    "strongest",
]

# --- the machine models ------------------------------------------------------------------


class AccountModel(Lockable):
    """One monitored account: its machine state and holds, the broker's view of it (balance,
    positions, working orders), its books and journal, and the contract models it touched.

    Its attributes are of three kinds (a test checks each is in exactly one tuple below):

    - ``STATE``: what a restart must find exactly as it was, and small: bounded by what is
      open now (positions, working orders, holds, settlement in progress, rule memory), never
      by how much was traded. `persisted()` is the row the store rewrites when the account moves.
      The contract models are state too, each in its own row (while not `work.idle`).
    - ``HISTORY``: the day's fills and round trips, and the trade ids seen (`History`). They
      only grow, so they are never written whole: each fill, closed round trip and voided trade
      is appended once as its own row, and start-up rebuilds them with indexed queries.
    - ``RUNTIME``: caches derived from the rest (valuations, guard bands, wake-ups, deadline
      answers) and the audit records to drain: recomputed after a restart, never stored.
    """

    STATE = (
        "account_id",
        "name",
        "state",
        "holds",
        "balance",
        "can_trade",
        "pending_realized",
        "positions",
        "orders",
        "net",
        "trips_open",
        "contracts",
        "own_orders",
        "tolerated",
        "expected",
        "unsettled",
        "settled",
        "vanished",
        "vanished_at",
        "judged",
        "wiped_until",
        "resetting",
        "filling",
        "day",
        "week",
        "rule_state",
        "last_event_at",
        "flatten_started",
        "flatten_cause",
        "flatten_reason",
        "close_seq",
        "missed",
    )
    HISTORY = ("seen_trades", "day.fills", "day.trips", "week.fills", "week.trips")
    RUNTIME: tuple[str, ...] = ("audit", "open_upnl", "wakeup", "band", "bands", "rest")
    RUNTIME += ("deadlines", "behind", "unexplained", "unbooked", "gateway_at", "doubted")
    RUNTIME += ("undone", "unpriced", "voided", "wiping", "untolerated", "balance_due", "unjudged")

    def __init__(self, account_id: int, name: str, day: Book, week: Book) -> None:
        self.account_id = account_id
        self.name = name
        self.holds = {}
        self.audit = []
        self.balance: Decimal | None = None
        self.can_trade: bool | None = None
        self.pending_realized = ZERO  # net realized since the last balance update
        self.positions: dict[str, Position] = {}
        self.orders: dict[int, Order] = {}  # working orders only
        self.net: dict[str, int] = {}  # signed size per contract, moved by fills
        self.trips_open: dict[str, Trip] = {}
        self.contracts: dict[str, ContractModel] = {}
        self.own_orders: set[int] = OwnOrders()
        #: every trade id applied this week and last, with its time: a trade re-read at a
        #: reconciliation (which reads the whole week) is never applied twice
        self.seen_trades = SeenTrades()
        self.tolerated: dict[str, int] = {}  # positions allowed to stay while locked
        self.untolerated: dict[str, Ended] = {}  # fills since one was set (`tolerance`): runtime
        #: a gateway position the fills have not reached yet: (signed size, deadline); the
        #: deadline is set only while value is kept for dropped contracts (see unsettled)
        self.expected: dict[str, tuple[int, datetime | None]] = {}
        #: value kept for contracts a position update dropped before their closing fills came:
        #: (amount, contracts); released as those fills realize it
        self.unsettled: dict[str, tuple[Decimal, int]] = {}
        #: positions the gateway removed without a fill, their balance move booked as their
        #: settlement: (signed contracts, amount, when), until a late fill of theirs replaces
        #: it (see `Settlement.vanished`)
        self.settled: dict[str, tuple[int, Decimal, datetime]] = {}
        #: positions a read found gone without a fill (signed contracts) when no balance a
        #: read confirmed could settle them yet: booked at the next (see `Settlement.vanished`)
        self.vanished: dict[str, int] = {}
        #: when the first of them was found gone: they are booked into that day (and week)
        self.vanished_at: datetime | None = None
        #: whether their read's trade list judged them settled, not a reset's (see `settled`)
        self.judged = True
        #: orders the gateway reported filled whose fills have not all arrived yet (the order
        #: event comes first): contract, contracts still to come, and how long to wait
        self.filling: dict[int, tuple[str, int, datetime]] = {}
        self.day, self.week, self.open_upnl = day, week, ZERO
        self.rule_state: dict[str, dict[str, Any]] = {}
        self.last_event_at: datetime | None = None
        self.flatten_started: datetime | None = None
        self.flatten_cause: str | None = None
        self.flatten_reason: Reason | None = None
        #: the number of the account's last close sent (`ContractModel.close_seq`): kept with
        #: the account, as a contract's model is let go between its closes
        self.close_seq = 0
        #: the resets a restore applied before the trades made while stopped were read: kept
        #: (and stored, only then) until they are (see `core.missed`)
        self.missed: MissedResets | None = None
        self.wakeup: datetime | None = None
        #: the quote guard band of the open P&L (see Rule.quote_band); None: to be computed
        self.band: tuple[Decimal, Decimal] | None = None
        #: each quote rule's own band, in the engine's order; valid while ``band`` is set
        self.bands: list[tuple[Decimal, Decimal] | None] = []
        #: the intersection of those bands but the trailing rule's (see Rule.trail)
        self.rest: tuple[Decimal, Decimal] = (Decimal("Infinity"), Decimal("-Infinity"))
        #: each deadline rule's last answer (see Timers.schedule); not stored
        self.deadlines: dict[str, datetime | None] = {}
        self.behind: Behind | None = None  # its trades not read yet after a restart
        self.balance_due = False  # its trades read behind: its balance, read after them, not yet
        self.unjudged: Unjudged | None = None  # its P&L rules waiting for its trades (`unjudged`)
        #: the last balance update's move no fill explains, not taken (see `Ledger.account`)
        self.unexplained = ZERO
        #: the move of the balance a read confirmed beyond the fills, until the read's
        #: positions are applied: a position it found gone without a fill settled it; None:
        #: no balance confirmed since the last taken (none read, or one older than a fill)
        self.unbooked: Decimal | None = None
        #: the latest gateway stamp (a fill's, a position's or an order's) seen ahead of our
        #: clock by no more than `MARK_SKEW`: the gateway's clock has reached it (see
        #: `Timers.roll`); not stored, it matters for a minute at most
        self.gateway_at: datetime | None = None
        #: live position records larger than the fills make, held until a read or a fill
        #: confirms them or the deadline, and since when (see `core.doubted`); not stored: a
        #: restart reads
        self.doubted: dict[str, tuple[PositionUpdate, datetime, datetime]] = {}
        #: per contract, what voided trades moved the gateway's position back by since its
        #: last record (signed): a record holding it is explained (see `doubted.undone`)
        self.undone: dict[str, int] = {}
        #: the trade ids seen voided by this run, each with its contract: a read asked for
        #: before a void was applied may list its trade unvoided, and its position, older news
        #: (see `voids.listed`); not stored: a restart reads after every void it restores
        self.voided: dict[int, str] = {}
        #: positions in contracts whose tick size and value are unknown, waiting until then
        #: for the gateway to say (see `core.unpriced`); not stored: a restart reads again
        self.unpriced: dict[str, datetime] = {}
        #: a start-up read's trade list that looked wiped, until that read's balance (which
        #: comes after it) says whether the firm appears to have reset the account (see
        #: `core.wiped`); not stored: a restart reads again
        self.wiping: TradesSnapshot | None = None
        #: a read's list that looked wiped, told, until the narrower read asked for confirms
        #: the firm's reset or not (see `core.firm_reset`); stored: a restart asks it again
        self.resetting: Suspect | None = None
        #: the newest trade a confirmed reset wiped: every trade up to it is gone from the
        #: gateway's list for good and never taken for a list cut short (see `core.firm_reset`)
        self.wiped_until: datetime | None = None

    def exposed(self) -> bool:
        """A position at the gateway, a position the fills say is open (its gateway update
        is still on its way), or a working order: flat means all three agree."""
        return exposed(self)

    def open_size(self, contract_id: str) -> int:
        """The size open in a contract per the gateway's latest word: its position update
        when the fills have not caught up with it yet, else the fills since the last one."""
        expected = self.expected.get(contract_id)
        return abs(expected[0]) if expected is not None else abs(self.net.get(contract_id, 0))

    # -- read-only conveniences for rules and status --------------------------------------

    @property
    def equity(self) -> Decimal | None:
        """Balance (plus realized P&L not yet in a balance update) plus open unrealized P&L."""
        if self.balance is None:
            return None
        return self.balance + self.pending_realized + self.open_upnl

    def day_pnl(self, *, with_unrealized: bool) -> Decimal:
        if with_unrealized:
            return self.day.realized + self.open_upnl - self.day.carry
        return self.day.realized

    def week_pnl(self, *, with_unrealized: bool) -> Decimal:
        if with_unrealized:
            return self.week.realized + self.open_upnl - self.week.carry
        return self.week.realized

    def gross_size(self) -> int:
        return sum(p.size for p in self.positions.values())

    def root_sizes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.positions.values():
            r = root_of(p.contract_id)
            out[r] = out.get(r, 0) + p.size
        return out

    def reducing_to(self, contract_id: str) -> int | None:
        """The size a close in progress takes this contract to (None: none is)."""
        cm = self.contracts.get(contract_id)
        return cm.closing_to() if cm is not None else None

    def persisted(self) -> dict[str, Any]:
        """The persisted state, JSON-able: everything in ``STATE`` but the contract models
        (their own rows). Its size does not depend on how much the account traded, but for
        the trades made since a stop across a missed reset (``missed``, only until the
        start-up read has listed them)."""
        d: dict[str, Any] = {
            "account_id": self.account_id,
            "name": self.name,
            "state": self.state.value,
            "holds": {k: v.to_dict() for k, v in self.holds.items()},
            "balance": _dec(self.balance),
            "can_trade": self.can_trade,
            "pending_realized": str(self.pending_realized),
            "positions": [p.to_dict() for p in self.positions.values()],
            "orders": [o.to_dict() for o in self.orders.values()],
            "net": dict(self.net),
            "trips_open": [t.to_dict() for t in self.trips_open.values()],
            "own_orders": listed(self.own_orders),
            "tolerated": dict(self.tolerated),
            "expected": {c: [n, _dt(t)] for c, (n, t) in self.expected.items()},
            "unsettled": {c: [str(a), n] for c, (a, n) in self.unsettled.items()},
            "settled": {c: [n, str(a), _dt(t)] for c, (n, a, t) in self.settled.items()},
            "vanished": dict(self.vanished),
            "vanished_at": _dt(self.vanished_at),
            "judged": self.judged,
            "wiped_until": _dt(self.wiped_until),
            "resetting": None if self.resetting is None else self.resetting.to_list(),
            "filling": {str(o): [c, n, _dt(t)] for o, (c, n, t) in self.filling.items()},
            "day": self.day.persisted(),
            "week": self.week.persisted(),
            "rule_state": self.rule_state,
            "last_event_at": _dt(self.last_event_at),
            "flatten_started": _dt(self.flatten_started),
            "flatten_cause": self.flatten_cause,
            "flatten_reason": self.flatten_reason.name if self.flatten_reason else None,
            "close_seq": self.close_seq,
        }
        if self.missed is not None:  # (else absent: this runs before every close)
            d["missed"] = self.missed.to_dict()
        return d

    def history(self) -> History:
        """The history, as a restore from the append-only rows gives it back (copies)."""
        return History(
            sorted(self.day.fills, key=lambda f: (f.at, f.trade_id)),
            list(self.day.trips),
            self.seen_trades.copy(),
        )

    def to_dict(self) -> dict[str, Any]:
        """State and history together, JSON-able (what a restart must give back exactly)."""
        d = self.persisted()
        d["day"] = self.day.to_dict()
        d["week"] = self.week.to_dict()
        d["seen_trades"] = {str(i): _dt(t) for i, t in sorted(self.seen_trades.items())}
        return d

    @staticmethod
    def from_dict(d: dict[str, Any], history: History | None = None) -> AccountModel:
        """Everything but the machine state, the contract models and ``missed`` (restored by
        the engine), from a state (`persisted()`) and its ``history``, or from a `to_dict` alone."""
        if history is None:
            seen = d.get("seen_trades", {})
            day = Book.from_dict(d["day"])
            history = History(
                day.fills,
                day.trips,
                SeenTrades((int(i), _req(_pdt(t))) for i, t in seen.items())
                if isinstance(seen, dict)
                else SeenTrades((int(i), day.start) for i in seen),  # stored as ids only
            )
        m = AccountModel(
            d["account_id"],
            d["name"],
            Book.from_dict(d["day"], history.fills, history.trips),
            Book.from_dict(d["week"], [], []),
        )
        m.seen_trades = history.seen
        m.holds = {k: Lock.from_dict(v) for k, v in d["holds"].items()}
        m.balance = _pdec(d["balance"])
        m.can_trade = d["can_trade"]
        m.pending_realized = Decimal(d["pending_realized"])
        m.positions = {p["contract_id"]: Position.from_dict(p) for p in d["positions"]}
        m.orders = {o["order_id"]: Order.from_dict(o) for o in d["orders"]}
        m.net = dict(d["net"])
        m.trips_open = {t["contract_id"]: Trip.from_dict(t) for t in d["trips_open"]}
        m.own_orders = OwnOrders(d["own_orders"])
        m.tolerated = dict(d["tolerated"])
        m.expected = {c: (n, _pdt(t)) for c, (n, t) in d.get("expected", {}).items()}
        m.unsettled = {c: (Decimal(a), n) for c, (a, n) in d.get("unsettled", {}).items()}
        m.settled = {
            c: (n, Decimal(a), _req(_pdt(t))) for c, (n, a, t) in d.get("settled", {}).items()
        }
        m.vanished = dict(d.get("vanished", {}))
        m.vanished_at = _pdt(d.get("vanished_at"))
        m.judged = bool(d.get("judged", not m.vanished))  # (stored before: judged by a read)
        m.wiped_until = _pdt(d.get("wiped_until"))
        m.resetting = Suspect.from_list(d.get("resetting"))
        # the value kept for dropped contracts is part of the open P&L until their fills
        # realize it (the positions' own value is added as the engine revalues them)
        m.open_upnl = sum((a for a, _ in m.unsettled.values()), ZERO)
        m.filling = {int(o): (c, n, _req(_pdt(t))) for o, (c, n, t) in d.get("filling", {}).items()}
        m.rule_state = d["rule_state"]
        m.last_event_at = _pdt(d["last_event_at"])
        m.flatten_started = _pdt(d["flatten_started"])
        m.flatten_cause = d["flatten_cause"]
        m.flatten_reason = Reason[d["flatten_reason"]] if d.get("flatten_reason") else None
        m.close_seq = d.get("close_seq", 0)
        return m


@dataclass(frozen=True, slots=True)
class Suspect:
    """A read's list that looked wiped by a firm's reset, told: what its confirming read is
    asked over, and what each book comes down by if it confirms it (see `core.firm_reset`)."""

    since: datetime
    #: the newest trade the list lacked: the confirming read is asked up to a second after it
    newest: datetime
    missing: frozenset[int]
    #: per book ("day", "week"): its start, and what it comes down by; below nothing, what
    #: its wiped trades lost (kept: `Book.wiped_loss`)
    drops: tuple[tuple[str, datetime, Decimal], ...]

    @property
    def until(self) -> datetime:
        return self.newest + timedelta(seconds=1)

    def to_list(self) -> list[Any]:
        drops = [[n, at.isoformat(), str(d)] for n, at, d in self.drops]
        return [self.since.isoformat(), self.newest.isoformat(), sorted(self.missing), drops]

    @staticmethod
    def from_list(v: list[Any] | None) -> Suspect | None:
        if v is None:
            return None
        since, newest, missing, drops = v
        back = tuple((n, datetime.fromisoformat(at), Decimal(d)) for n, at, d in drops)
        return Suspect(_req(_pdt(since)), _req(_pdt(newest)), frozenset(missing), back)
