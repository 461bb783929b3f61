"""A reset missed while the service was stopped, made right by the trades made meanwhile.

A restore applies each missed reset at once (`Timers.catch_up`), as the stop left the account:
its positions then, valued at the gateway's price at the reset. The trader may have traded
while the service was stopped, and only the start-up read lists those trades. Until the
account's trades are read (its `TradesSnapshot`), each such trade stamped before a missed
reset changes what the account held, and its balance, at that reset: the resets are then
redone, before the trade is judged (`MissedResets.redo`), each from what the account held at
its instant (the stored positions with the trades made before it, in time order) valued at
the price at the reset (the gateway's, from the restore or `PricesAtReset`; else the last
trade before it, else the price last known before the stop): the new day's (and week's)
``carry``, and the rules' reset hooks with the equity then. A rule's memory is redone from
what it was before the resets only while nothing but a reset has changed it since.

Without it a position closed while the service was down, before the reset, went on counting
its open P&L at the reset in the new day (a false lock, or room to lose more than the limit),
one opened while down and held across the reset hid its gain or loss before it, and the
end-of-day trailing peak was the equity of positions no longer held (or missed a profit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from fsm_risk.core import codec
from fsm_risk.core.early import _made
from fsm_risk.core.events import Fill, Side
from fsm_risk.core.missed_carry import held_split
from fsm_risk.core.models import ZERO, AccountModel, Mark
from fsm_risk.core.pnl import realized_net
from fsm_risk.core.records import FillRecord, _dec, _dt, _pdec, _pdt
from fsm_risk.core.valuation import Prices, Valuation
from fsm_risk.rules.base import Rule

#: a contract's open position while it is replayed: signed size, and its cost (the average
#: price times the signed size: exact while contracts are only added)
_Lot = tuple[int, Decimal]


@dataclass
class MissedResets:
    """The resets a restore applied before the trades made while stopped were known."""

    resets: list[tuple[datetime, bool]]  # (instant, weekly) in the order applied
    stop: datetime | None  # the last event the stored account had seen
    held: dict[str, _Lot]  # the positions at the stop
    marks: dict[str, Mark]  # the price last known before the stop of each contract held
    prices: dict[datetime, dict[str, Decimal]]  # the gateway's price at each reset
    base: Decimal | None  # balance and realized P&L not yet in it, at the stop
    kept: Decimal  # the value kept for contracts dropped before their fill (`unsettled`)
    before: dict[str, dict[str, Any]]  # the stateful rules' memories before the resets
    after: dict[str, dict[str, Any]] = field(default_factory=dict)  # as the resets left them
    trades: list[Fill] = field(default_factory=list)  # made while stopped, before a reset
    unpriced: list[datetime] = field(default_factory=list)  # applied reading no price (below)
    #: fills booked before the stop stamped at or after the first missed reset (our clock
    #: behind the gateway's, see `early`): in ``held``, not held at the resets before them
    early: list[FillRecord] = field(default_factory=list)
    #: when a position was first left to this read (`awaiting`): stored, so that a restart
    #: does not start the wait again (a crash loop would leave it for good)
    left_since: datetime | None = None

    @classmethod
    def record(
        cls, acct: AccountModel, rules: Sequence[Rule], valuation: Valuation
    ) -> MissedResets:
        """The account as the stop left it, before its missed resets are applied."""
        return cls(
            [],
            acct.last_event_at,
            {c: (p.signed, p.average_price * p.signed) for c, p in acct.positions.items()},
            {  # (a price from before a position is none of it: `own_price`)
                c: m
                for c, p in acct.positions.items()
                if (m := valuation.last_mark(c)) is not None and valuation.owns(acct, p, m)
            },
            {},
            None if acct.balance is None else acct.balance + acct.pending_realized,
            sum((a for a, _ in acct.unsettled.values()), ZERO),
            {r.id: deepcopy(acct.rule_state.get(r.id, {})) for r in rules if r.stateful},
            early=[f for f in acct.day.fills if f.at >= min(acct.day.end, acct.week.end)],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: stored with the account (`AccountModel.persisted`) until its trades are
        read, so that a restart before then redoes the resets too (the stored day is already
        the new one: no reset is missed any more, and nothing else would know of them)."""
        return {
            "resets": [[at.isoformat(), weekly] for at, weekly in self.resets],
            "stop": _dt(self.stop),
            "held": {c: [n, str(cost)] for c, (n, cost) in self.held.items()},
            "marks": {
                c: [_dec(m.last), _dec(m.bid), _dec(m.ask), m.at.isoformat()]
                for c, m in self.marks.items()
            },
            "prices": {
                at.isoformat(): {c: str(p) for c, p in by.items()} for at, by in self.prices.items()
            },
            "base": _dec(self.base),
            "kept": str(self.kept),
            "before": self.before,
            "after": self.after,
            "trades": [codec.fields_of(t) for t in self.trades],
            "unpriced": [at.isoformat() for at in self.unpriced],
            "early": [f.to_dict() for f in self.early],
            "left_since": _dt(self.left_since),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MissedResets:
        """The record `to_dict` stored."""
        return cls(
            [(datetime.fromisoformat(at), weekly) for at, weekly in d["resets"]],
            _pdt(d["stop"]),
            {c: (n, Decimal(cost)) for c, (n, cost) in d["held"].items()},
            {
                c: Mark(_pdec(last), _pdec(bid), _pdec(ask), datetime.fromisoformat(at))
                for c, (last, bid, ask, at) in d["marks"].items()
            },
            {
                datetime.fromisoformat(at): {c: Decimal(p) for c, p in by.items()}
                for at, by in d["prices"].items()
            },
            _pdec(d["base"]),
            Decimal(d["kept"]),
            d["before"],
            d["after"],
            [codec.from_fields(Fill, t) for t in d["trades"]],
            [datetime.fromisoformat(at) for at in d.get("unpriced", ())],
            [FillRecord.from_dict(f) for f in d.get("early", ())],
            _pdt(d.get("left_since")),
        )

    def applied(
        self,
        acct: AccountModel,
        at: datetime,
        weekly: bool,
        prices: Prices | None,
        *,
        read: bool = True,
    ) -> None:
        """One reset applied at restore, at ``prices`` (the gateway's, or None). Not ``read``:
        a restore that read no price at all (a change made through the database while no
        service runs), at the prices of the stop: the reset stays `unpriced`, so that the
        service's start reads the gateway's prices at it and redoes it (`price_unpriced`)."""
        self.resets.append((at, weekly))
        self.prices.setdefault(at, {}).update(prices or {})
        if not read and any(n for n, _ in self.held.values()) and at not in self.unpriced:
            self.unpriced.append(at)
        self.after = {i: deepcopy(acct.rule_state.get(i, {})) for i in self.before}

    def unread(self, acct: AccountModel, fill: Fill) -> bool:
        """A trade not applied yet, made after the stop: while stopped, or live while the
        resets wait for the start-up read (kept: a reset missed at a later restore, when the
        service stops again before its read, was applied to what it held then)."""
        return (
            not fill.voided
            and fill.trade_id not in acct.seen_trades
            and (self.stop is None or fill.at > self.stop)
        )

    def made_while_stopped(self, acct: AccountModel, fill: Fill) -> bool:
        """A trade not applied yet, made after the stop and before the last missed reset."""
        return self.unread(acct, fill) and fill.at < self.resets[-1][0]

    def wanted(self, acct: AccountModel, fills: Iterable[Fill]) -> list[tuple[datetime, str]]:
        """The prices the start-up read's trades (``fills``) call for: (reset, contract) for
        each contract held at a missed reset through a trade made while stopped, not held at
        the stop (those the restore read) and not priced yet."""
        trades = sorted(
            (f for f in fills if self.made_while_stopped(acct, f)), key=lambda f: (f.at, f.trade_id)
        )
        out: set[tuple[datetime, str]] = set()
        for at, _, lots, _, _ in self._walk(trades, None):
            given = self.prices.get(at, {})
            out |= {(at, c) for c, (n, _) in lots.items() if n and c not in self.held}
            out -= {(at, c) for c in given}
        return sorted(out)

    def price_unpriced(self, prices: Mapping[datetime, Prices]) -> bool:
        """Take the gateway's ``prices`` at the resets applied reading none (`unpriced`): a
        reset priced by them is read (a contract not in them keeps the price of the stop, as
        at a start whose read failed). Whether any was: the resets are then to be redone."""
        got = [at for at in self.unpriced if prices.get(at)]
        for at in got:
            self.prices.setdefault(at, {}).update(prices[at])
        self.unpriced = [at for at in self.unpriced if at not in got]
        return bool(got)

    def learn(self, at: datetime, contract_id: str, price: Decimal) -> None:
        self.prices.setdefault(at, {})[contract_id] = price

    def redo(self, acct: AccountModel, rules: Sequence[Rule], valuation: Valuation) -> None:
        """Apply the missed resets again, each to what the account held at its instant."""
        trades = sorted(self.trades, key=lambda f: (f.at, f.trade_id))
        again = [
            r
            for r in rules
            if r.id in self.before and acct.rule_state.get(r.id, {}) == self.after.get(r.id)
        ]
        for rule in again:  # as before the resets: nothing else changed it since
            acct.rule_state[rule.id] = deepcopy(self.before[rule.id])
        held = acct.open_upnl
        try:
            for at, weekly, lots, realized, last in self._walk(trades, valuation):
                values = {
                    c: (self._value(c, n, cost, at, last, valuation), n)
                    for c, (n, cost) in lots.items()
                }
                upnl = self.kept + sum((v for v, _ in values.values()), ZERO)
                upnl += self._early(at, valuation)  # (held at the stop, not at ``at``)
                book = acct.week if weekly else acct.day
                if book.start == at:
                    book.carry = upnl
                    book.missed_carried = held_split(values)  # its part of each contract
                # the equity at the reset, for the rules' hooks (as `catch_up` shows it them)
                acct.open_upnl = upnl
                if self.base is not None and acct.balance is not None:
                    acct.open_upnl += self.base + realized - acct.balance - acct.pending_realized
                    acct.open_upnl -= sum((f.net for f in self.early if f.at >= at), ZERO)
                for rule in again:
                    rule.on_reset(acct.rule_state.setdefault(rule.id, {}), acct, weekly, at)
        finally:
            acct.open_upnl = held
        self.after = {i: deepcopy(acct.rule_state.get(i, {})) for i in self.before}

    def _walk(
        self, trades: Sequence[Fill], valuation: Valuation | None
    ) -> Iterable[tuple[datetime, bool, dict[str, _Lot], Decimal, dict[str, Fill]]]:
        """Each missed reset, in the order applied, with what the account held at its instant
        (`_replay` of the ``trades`` before it, in time order, from the positions at the stop),
        the net realized P&L of those trades, and the last of them in each contract. One pass
        over the trades for all the resets (a stop of weeks: dozens of resets, thousands of
        trades, each trade of the start-up read redoing them all); a reset earlier than the
        one before it (none is) starts the pass again."""
        lots, realized, last, done, before = dict(self.held), ZERO, {}, 0, None
        for at, weekly in self.resets:
            if before is not None and at < before:
                lots, realized, last, done = dict(self.held), ZERO, {}, 0
            end = done
            while end < len(trades) and trades[end].at < at:
                last[trades[end].contract_id] = trades[end]
                end += 1
            lots, got = _replay(lots, trades[done:end], valuation)
            realized, done, before = realized + got, end, at
            yield at, weekly, lots, realized, last

    def _early(self, at: datetime, valuation: Valuation) -> Decimal:
        """What the fills booked before the stop and stamped at or after the reset ``at``
        (`early`) take off the value of the positions at the stop, to leave those held at
        ``at``, valued at the price then (as `early.carry_over` does at a restore)."""
        out = ZERO
        for cid in sorted({f.contract_id for f in self.early if f.at >= at}):
            fills = [f for f in self.early if f.at >= at and f.contract_id == cid]
            price = self.prices.get(at, {}).get(cid)
            mark = Mark(price, price, price, at) if price is not None else self.marks.get(cid)
            out += _made(valuation, cid, fills, mark) or ZERO
        return out

    def _value(
        self,
        cid: str,
        signed: int,
        cost: Decimal,
        at: datetime,
        last: dict[str, Fill],
        valuation: Valuation,
    ) -> Decimal:
        """A position held at the reset ``at``, valued at the price then: the gateway's, else
        the newest of its last trade before it (``last``) and the price last known before the
        stop."""
        if not signed:
            return ZERO
        price = self.prices.get(at, {}).get(cid)
        if price is not None:
            mark: Mark | None = Mark(price, price, price, at)
        else:
            mark = self.marks.get(cid)
            t = last.get(cid)
            if t is not None and (mark is None or mark.at < t.at):
                mark = Mark(t.price, t.price, t.price, t.at)
        return valuation.worth(cid, signed, cost, mark) or ZERO


def unpriced(snapshot: Mapping[str, Any]) -> list[tuple[datetime, str]]:
    """The prices a stored account's record of missed resets still wants (see `applied`):
    (reset, contract) for each contract held at the stop, at each reset a restore applied
    reading no price, that no read has priced since."""
    d = snapshot.get("missed")
    if not d:
        return []
    held = sorted(c for c, (n, _) in d["held"].items() if n)
    return [
        (datetime.fromisoformat(at), c)
        for at in d.get("unpriced", ())
        for c in held
        if c not in d["prices"].get(at, {})
    ]


def _replay(
    held: dict[str, _Lot], trades: Iterable[Fill], valuation: Valuation | None
) -> tuple[dict[str, _Lot], Decimal]:
    """The positions after ``trades`` (in time order) from ``held``, at their average cost,
    and the trades' net realized P&L (with ``valuation``: the gateway's P&L, else the closed
    part valued at the trade's price; fees always count)."""
    lots = dict(held)
    realized = ZERO
    for t in trades:
        n, cost = lots.get(t.contract_id, (0, ZERO))
        q = t.size if t.side is Side.BUY else -t.size
        pnl = t.pnl
        if n and (n > 0) != (q > 0):  # it closes (part of) the position, at its average
            closed = min(abs(n), abs(q)) * (1 if n > 0 else -1)
            part = cost if closed == n else cost * closed / n
            if pnl is None and valuation is not None:
                pnl = valuation.worth(
                    t.contract_id, closed, part, Mark(t.price, t.price, t.price, t.at)
                )
            n, cost, q = n - closed, cost - part, q + closed
        # what it opens or adds (the rest of a reversal) costs the trade's price
        lots[t.contract_id] = (n + q, cost + t.price * q)
        realized += realized_net(pnl, t.fees)
    return lots, realized
