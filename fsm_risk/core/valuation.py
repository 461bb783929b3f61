"""Valuation: the marks, the instruments, who holds what, and each position valued exactly."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import cast

from fsm_risk.core.effects import Effect, WatchContract
from fsm_risk.core.models import ZERO, AccountModel, InstrumentBook, Mark, Position
from fsm_risk.core.own_price import owns
from fsm_risk.core.pnl import MarkMode, booked
from fsm_risk.core.settings import EngineSettings

#: a mark stamped further ahead of the engine's clock than this is wrong, never "newer"
MARK_SKEW = timedelta(seconds=60)
#: a position's cost, in dollars, is taken to this (see `Valuation._value`)
COST_QUANTUM = Decimal("0.000001")
CENTS = Decimal("0.01")
#: an account's positions in some contracts: each one's id, side, signed dollars a point,
#: whether it is valued at its contract's mark (not waiting for a quote of this run: `saved`),
#: and, where the engine books its value to the cent (`_value`), its cost modulo two cents
type HoldingLeg = tuple[str, bool, Decimal | None, bool, Decimal | None]
type Holding = tuple[HoldingLeg, ...]
#: booking to the cent, half a cent to the even cent, repeats every two cents
TWO_CENTS = Decimal("0.02")


def alike(held: Holding) -> Holding:
    """What holdings valued alike share (`Valuation.holdings` merges by it): legs valued
    exactly, their dollars a point in proportion (to the first's); a leg booked to the cent
    (a half cent rounds by the cost), the holding itself."""
    unit = held[0][2]
    if unit and all(r is None for *_, r in held):
        return tuple((c, s, v and v / abs(unit), p, r) for c, s, v, p, r in held)
    return held


def leg_value(price: Decimal | None, leg: HoldingLeg) -> Decimal:
    """A leg's value at ``price`` (not None) as the engine books it, less a constant
    (`Holding`): a holder's equity moves with the sum of its legs' exactly."""
    value = cast(Decimal, price) * cast(Decimal, leg[2])
    return value if leg[4] is None else booked(value - leg[4])


def _to_quantum(x: Decimal) -> Decimal:
    """``x`` to `COST_QUANTUM` when it has more places (126009.499999999992 -> 126009.5),
    without the zeros that would add to every figure derived from it; else as it is."""
    exponent = x.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= -6:
        return x
    q = x.quantize(COST_QUANTUM)
    return q.quantize(CENTS) if q == q.to_integral_value() else q.normalize()


def _cents(x: Decimal) -> bool:
    """Whether ``x`` is a whole number of cents."""
    return x == x.quantize(CENTS)


def gateway_now(stamp: datetime | None, now: datetime) -> datetime:
    """The time by the gateway's clock, as a ``stamp`` of its own shows it: the stamp when it
    is ahead of ``now`` by no more than a gateway time may be (`MARK_SKEW`), else ``now``. A
    stamp further ahead is wrong, not later; one behind never takes our clock back."""
    return stamp if stamp is not None and now < stamp <= now + MARK_SKEW else now


#: a price of each contract at one instant (contract id -> price)
Prices = Mapping[str, Decimal]


class Valuation:
    """The marks of the contracts held (none kept for a contract nobody holds), the
    instruments' tick values, and the accounts holding each contract (who a quote concerns)."""

    def __init__(
        self, settings: EngineSettings, instruments: InstrumentBook, marks: dict[str, Mark]
    ) -> None:
        self.settings = settings
        self.instruments = instruments
        self.marks = marks
        self.liquidation = settings.mark_mode is MarkMode.LIQUIDATION
        self.holders: dict[str, set[AccountModel]] = {}
        self.holder_list: dict[str, tuple[AccountModel, ...]] = {}  # cached view of holders
        #: the stored marks a restore found too old to value a position now: still the prices
        #: last known before the service stopped (see `last_known`); and the prices read at a
        #: reset (`learn`: the last trade before it, never a fresh quote)
        self.stored: dict[str, Mark] = {}
        #: the contracts whose mark was saved before a restart and not quoted in this run: fresh
        #: by its age for the positions held across the restart, never a price for a position
        #: opened since (its market unwatched meanwhile: see `unwatched`)
        self.saved: set[str] = set(marks)
        #: the prices read at a reset that became marks (`learn`), until the shell takes them
        #: (`take_learned`): kept in `stored`, which the marks saved leave out, they are saved
        #: with the state whose carry they valued; else a restart values the position at the
        #: stop's older price
        self.learned: dict[str, Mark] = {}

    def holding(self, contract_id: str) -> tuple[AccountModel, ...]:
        """The accounts holding the contract, by account id (cached until it changes)."""
        holders = self.holder_list.get(contract_id)
        if holders is None:
            holders = self.holder_list[contract_id] = tuple(
                sorted(self.holders.get(contract_id, ()), key=lambda a: a.account_id)
            )
        return holders

    def beside(self, contract_id: str) -> set[str]:
        """The other contracts the contract's holders hold: an account's value moves with
        the order of their quotes (`core.waited`)."""
        return {
            c for a in self.holders.get(contract_id, ()) for c in a.positions if c != contract_id
        }

    def holdings(self, contracts: Collection[str]) -> list[Holding]:
        """Each holding of two or more of ``contracts`` (`Holding`, by contract), one of those
        whose legs are valued alike and whose dollars a point are in the same proportion: their
        values move alike, scaled (`core.waited.combined`); one with a leg booked to the cent
        (a half cent rounds by the cost) only with those equal to it."""
        wanted = set(contracts)
        out: dict[Holding, Holding] = {}
        held_by = {a.account_id: a for c in wanted for a in self.holders.get(c, ())}
        for _, a in sorted(held_by.items()):
            held = tuple(sorted(self.leg(p) for c, p in a.positions.items() if c in wanted))
            if len(held) > 1:
                out.setdefault(alike(held), held)
        return sorted(out.values(), key=repr)

    def per_point(self, pos: Position) -> Decimal | None:
        """The position's signed dollars a point of its price, unrounded (None: no instrument)."""
        return self.leg(pos)[2]

    def leg(self, pos: Position) -> HoldingLeg:
        """The position as a leg of a `Holding`."""
        cid = pos.contract_id
        priced = pos.priced and cid not in self.saved
        inst = self.instruments.get(cid)
        if inst is None:
            return cid, pos.long, None, priced, None
        valued = max(pos.size - pos.settling, 0)
        signed = inst.tick_value * (valued if pos.long else -valued)
        per_point = signed / inst.tick_size
        cost = _to_quantum(pos.average_price * signed / inst.tick_size)
        if per_point * inst.tick_size == signed and _cents(signed) and _cents(cost):
            return cid, pos.long, per_point, priced, None  # valued exactly (`_value`)
        return cid, pos.long, per_point, priced, cost % TWO_CENTS

    def fresh(self, contract_id: str, now: datetime) -> None:
        """A stored mark too old (or too far ahead) to value a position at ``now``, at a
        restore: stale, kept as the last price known (see `stored`)."""
        mark = self.marks.get(contract_id)
        if mark is not None and not (now - self.settings.stale_after <= mark.at <= now + MARK_SKEW):
            self.stored[contract_id] = self.marks.pop(contract_id)

    def restored(self, acct: AccountModel, pos: Position, now: datetime, out: list[Effect]) -> None:
        """A restored position, valued at its contract's last price known (one too old, or
        misdated, to be fresh now goes to `stored`: stale) if that price is its own (`owns`):
        valued at the stop (``priced``, saved with it; else ``waiting``), its value came from
        that price, or one before it, taken while the position, at its size, was held. One
        unpriced at the stop (opened or grown since its contract's last quote) waits for a
        quote of this run, or is valued at the price read at a reset missed since the stop
        (`learn`), which its carry counts: a price saved is from before it (a second quick
        restart valued 4 ES bought at 6010 in the run between at the 6000 saved by the first
        stop: -$2,000, flattened; or, nobody holding the contract at the first stop, at its
        row of before); valued at nothing beside a reset's carry of +$2,000 the new day read
        -$2,000, flattened and locked. A price stamped before its opening never values it (a
        row saved without ``priced``)."""
        cid = pos.contract_id
        last = self.last_mark(cid)
        self.fresh(cid, now)
        self.hold(acct, cid, out)
        if self.owns(acct, pos, last):
            self.revalue(acct, pos, last)

    def owns(self, acct: AccountModel, pos: Position, mark: Mark | None) -> bool:
        """Whether ``mark`` is a price of ``pos`` (`own_price`): one known since the stop is a
        quote of this run (its contract quoted since the restore: not `saved`) or a price read
        at a reset missed since the stop (`learned`, until the shell takes them)."""
        cid = pos.contract_id
        since = mark is not None and (
            self.learned.get(cid) == mark or (cid not in self.saved and self.marks.get(cid) is mark)
        )
        return owns(acct, pos, mark, since)

    def last_mark(self, contract_id: str) -> Mark | None:
        """The last price known of a contract, fresh or not (a restore's: see `stored`)."""
        return self.marks.get(contract_id) or self.stored.get(contract_id)

    def last_known(
        self, acct: AccountModel, at: datetime | None = None, prices: Prices | None = None
    ) -> Decimal:
        """The account's open P&L at ``prices`` (a contract's price at the instant ``at``: a
        reset missed while the service was stopped, as the gateway's history gives it) and,
        for a contract not in them, at the last mark known (one a restore found stale too),
        with the value kept for dropped contracts; a position with no price, or only one from
        before it (`owns`: one waiting for a quote at the stop), counts nothing.
        What a missed reset carries into the new day: the prices at the reset, else the prices
        last known before the stop (the nearest known to them)."""
        total = sum((a for a, _ in acct.unsettled.values()), ZERO)
        return total + sum((v for v, _ in self.known_by_contract(acct, at, prices).values()), ZERO)

    def known_by_contract(
        self, acct: AccountModel, at: datetime | None = None, prices: Prices | None = None
    ) -> dict[str, tuple[Decimal, int]]:
        """`last_known`'s value of each position priced, and the contracts it values (the
        part of a missed reset's carry each contract is: `missed_carry`)."""
        out: dict[str, tuple[Decimal, int]] = {}
        for c, pos in acct.positions.items():
            price = None if prices is None or at is None else prices.get(c)
            mark = (
                self.last_mark(c) if at is None or price is None else Mark(price, price, price, at)
            )
            if mark is not None and price is None and not self.owns(acct, pos, mark):
                continue  # a price from before it (4 ES bought at 6010 carried at 6000: -$2,000)
            found = self._value(pos, mark)
            if found is not None:
                out[c] = (found[0], max(pos.size - pos.settling, 0))
        return out

    def learn(self, at: datetime, prices: Prices, now: datetime | None = None) -> None:
        """Prices at the instant ``at`` (a missed reset's, read from the gateway for a restore):
        each contract's last price known where newer than its stored mark, so a position held
        across the reset is valued at it (stale) rather than at the price of the stop. A mark
        stamped further ahead of ``now`` than a gateway time may be (`MARK_SKEW`) is wrong,
        not newer (as a quote takes it): the price read replaces it. Kept in `stored`: the last
        trade before ``at`` (at 17:00 Chicago the close before the halt, an hour old), stamped
        ``at``, is no fresh quote: as one, contracts bought at the reopen were valued at it,
        a loss or a gain never made judged as certain (a false lock, a peak raised)."""
        for c, price in prices.items():
            mark = self.last_mark(c)
            if mark is None or mark.at < at or (now is not None and mark.at > now + MARK_SKEW):
                # stale, never a fresh quote: the last trade before ``at`` (`stored`)
                self.marks.pop(c, None)
                self.stored[c] = Mark(price, price, price, at)
                self.learned[c] = Mark(price, price, price, at)

    def take_learned(self) -> dict[str, Mark]:
        """The prices `learn` made marks since the last call (to save: see `learned`)."""
        learned = self.learned
        if learned:  # (none on almost every call: nothing allocated then)
            self.learned = {}
        return learned

    def worth(
        self, contract_id: str, signed: int, cost: Decimal, mark: Mark | None
    ) -> Decimal | None:
        """``signed`` contracts of a contract that cost ``cost`` (the average price times
        ``signed``) valued at ``mark``, exactly (None: no mark, instrument or price): what a
        position opened while the service was stopped held at a missed reset (`missed`)."""
        inst = self.instruments.get(contract_id)
        if mark is None or inst is None:
            return None
        price = (mark.bid if signed > 0 else mark.ask) if self.liquidation else mark.last
        if price is None:
            return None
        return booked((price * signed - cost) * inst.tick_value / inst.tick_size)

    def revalue(self, acct: AccountModel, pos: Position, mark: Mark | None = None) -> None:
        """Value one position at its contract's mark (or at ``mark``), exactly; with no mark,
        at the last price a restore knew (stale: as `restore_account` values it). The start-up
        read's position, replacing the restored one before the first quote, otherwise counted
        nothing beside the carry its reset took at a price: a position carried at +$1,800
        read back as a day at -$1,800, flattened and locked."""
        found = self._value(pos, mark if mark is not None else self.last_mark(pos.contract_id))
        if found is None:
            if self.marks.get(pos.contract_id) is not None:
                pos.priced = False  # a mark without its side's price: the value is stale
            return
        value, per_point, cost = found
        if per_point is not None:
            pos.point_value, pos.cost = per_point, cost  # the hot path: mark x point - cost
        acct.open_upnl += value - pos.upnl
        pos.upnl = value
        pos.priced = True
        pos.waiting = False  # valued at a price of its own (the callers': `owns`)

    def _value(
        self, pos: Position, mark: Mark | None
    ) -> tuple[Decimal, Decimal | None, Decimal] | None:
        """A position's value at ``mark``, exactly, and, when exact, its dollars per point and
        its cost in those dollars (value = mark x per point - cost; None: no mark, instrument
        or price).

        The gateway's average price is a float, off in its last digits when the fills average
        to a repeating fraction (21000.25 + 2 x 21002.25 comes as 21001.583333333332): the day
        read -251.359999999992 where it was -251.36, and a loss limit of 251.36 fired a tick
        late. The cost is taken to a millionth of a dollar (`COST_QUANTUM`): far below a cent
        and any tick value, far above the float's error; a cost that is truly fractional (a
        part of a position closed at that average) keeps its fraction.

        The value is what closing the position would book (`booked`: to the cent, half a
        cent to the even cent). Where every tick moves it by whole cents from a cost in whole
        cents it is already so, and a quote is valued as mark x per point - cost (the hot
        path); else (ZN's $15.625 a tick on an odd number of contracts, a cost with a
        fraction) per point is None and each quote is valued and booked here."""
        inst = self.instruments.get(pos.contract_id)
        if mark is None or inst is None:
            return None
        price = (mark.bid if pos.long else mark.ask) if self.liquidation else mark.last
        if price is None:
            return None
        valued = max(pos.size - pos.settling, 0)
        signed = inst.tick_value * (valued if pos.long else -valued)
        cost = _to_quantum(pos.average_price * signed / inst.tick_size)
        per_point = signed / inst.tick_size
        if per_point * inst.tick_size == signed and _cents(signed) and _cents(cost):
            return price * per_point - cost, per_point, cost
        return booked(price * signed / inst.tick_size - cost), None, cost

    def relearn(self, contract_id: str) -> None:
        """The instrument's tick size or value changed: value its positions again, each one
        valued, or its last price known its own (`owns`): a position kept off a saved price
        (waiting for a quote) stays so (4 SI bought at 32.56 read -$1,200 at a saved 32.50)."""
        for acct in list(self.holders.get(contract_id, ())):
            pos = acct.positions.get(contract_id)
            if pos is not None:
                pos.point_value = None  # re-read the instrument
                if pos.priced or self.owns(acct, pos, self.last_mark(contract_id)):
                    self.revalue(acct, pos)

    def unwatched(self, acct: AccountModel, cid: str, grown: bool = False) -> bool:
        """A position opens in a contract the account does not hold: whether it may be valued
        at the contract's last price known. Nobody holding it, a price kept for it is one saved
        before a restart (running, `unhold` drops it), its market unwatched since, however
        recent its stamp (ES run 10 points in the 20 s since, 4 bought at 6010 read -$2,000 as
        fresh): it goes, and the position waits for a fresh quote, as it would have. Others
        holding it, a restore's price (`stored`: their position's at the stop, too old to be a
        mark) stays theirs: it never values a position opened since (a short 3 ES at 6110
        valued at another account's 6000 of hours before showed +$16,500); nor does a mark
        saved before the restart, however recent, until a quote of this run (`saved`: 4 ES
        bought at 6010 five seconds after it read -$2,000 at another holder's saved 6000), nor
        the holder's own position once it ``grown`` since (contracts bought since the restart:
        1 ES held at 6000 and 3 bought at 6010 read -$1,500 at the saved 6000), or what is left
        of one not valued at it (4 ES bought at 6010 after the restart, 1 sold: the 3 left
        read -$1,500 at the saved 6000)."""
        holders = self.holders.get(cid)
        if holders:
            if cid in self.saved:
                return acct in holders and not grown
            return acct in holders or cid in self.marks
        self.marks.pop(cid, None)
        self.stored.pop(cid, None)
        return True

    def hold(self, acct: AccountModel, cid: str, out: list[Effect]) -> None:
        holders = self.holders.setdefault(cid, set())
        if not holders:
            out.append(WatchContract(cid, True))
        if acct not in holders:
            holders.add(acct)
            self.holder_list.pop(cid, None)

    def unhold(self, acct: AccountModel, cid: str, out: list[Effect]) -> None:
        holders = self.holders.get(cid)
        if holders and acct in holders:
            holders.discard(acct)
            self.holder_list.pop(cid, None)
            if not holders:
                out.append(WatchContract(cid, False))
                # unwatched, its price moves unseen: the next position waits for a fresh quote
                self.marks.pop(cid, None)
                self.stored.pop(cid, None)
                self.learned.pop(cid, None)
                self.saved.discard(cid)

    def forget(self, acct: AccountModel) -> None:
        """The account is dropped: it holds nothing any more (no effect: it is replaced)."""
        for holders in self.holders.values():
            holders.discard(acct)
        self.holder_list.clear()
