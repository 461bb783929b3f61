"""Cap levels: where, in a contract's price or a holding's combined value, each holder's
trailing peak not yet capped reaches its cap (`Rule.cap_room`), so that a run of queued quotes
judges a capped floor's touches at those levels alone (`core.waited`, `core.turns.capped`). A
holder's equity moves with the price at its dollars a point, the other contracts it holds kept
at their marks: it reaches its cap at the mark's price plus the room left over those dollars.
Each level is a narrow range, a cent of value a leg either way (a position's value is to the
cent, half a cent to the even cent): every word its cap may first be reached at is in it. What
cannot be told (a peak not seeded, a position not valued at its mark, an instrument unknown)
is None: every level the run reaches may be one."""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

from fsm_risk.core.rulebook import RuleBook
from fsm_risk.core.turns import Caps, HeldLevels, Levels
from fsm_risk.core.valuation import Holding, Valuation, alike, leg_value

CENT = Decimal("0.01")


def level(at: Decimal, room: Decimal, per_point: Decimal, legs: int) -> tuple[Decimal, Decimal]:
    """The range of words where a value now ``at``, moving an equity by ``per_point`` a point
    (not zero), lifts it by ``room``, give or take a cent for each of ``legs`` positions."""
    a, b = at + (room - CENT * legs) / per_point, at + (room + CENT * legs) / per_point
    return (a, b) if a <= b else (b, a)


class CapLevels:
    """The cap levels of the holders of the contracts quoted, as they hold them now and as
    the rules in force trail their peaks (`Capping` for `core.waited.handing`): asked when a
    run is reached, the items before it handled."""

    __slots__ = ("book", "valuation")

    def __init__(self, valuation: Valuation, book: RuleBook) -> None:
        self.valuation = valuation
        self.book = book

    def of(self, contract_id: str, field: str) -> Caps:
        """The cap levels in the contract's price ``field`` of its holders valued on it, longs'
        and shorts' (`turns.Caps`)."""
        v, trailer = self.valuation, self.book.trailer
        if trailer is None:
            return ((), ())
        longs: list[tuple[Decimal, Decimal]] = []
        shorts: list[tuple[Decimal, Decimal]] = []
        at: Decimal | None = getattr(v.marks.get(contract_id), field, None)
        for acct in v.holding(contract_id):
            pos = acct.positions.get(contract_id)
            if pos is None or field != (
                ("bid" if pos.long else "ask") if v.liquidation else "last"
            ):
                continue  # (not valued on this field)
            room = trailer.cap_room(acct)
            if room is None:
                return None
            if not room:
                continue
            per_point = v.per_point(pos)
            if per_point is None or at is None or not pos.priced:
                return None
            if per_point:
                (longs if per_point > 0 else shorts).append(level(at, room[0], per_point, 1))
        return tuple(set(longs)), tuple(set(shorts))  # (holders alike: one level)

    def held(self, contracts: Collection[str], liquidation: bool) -> HeldLevels:
        """The cap levels in each holding's combined value (`core.waited.combined`: its legs'
        marks in the fields a holder of them is valued on, each booked as the engine books it,
        `leg_value`) of the accounts holding, of ``contracts``, its contracts valued alike
        (`alike`: on the same sides, at the same marks, in its proportions; one with a leg
        booked to the cent, equal), each at its own scale of it: the holders grouped once."""
        v, trailer = self.valuation, self.book.trailer
        if trailer is None or liquidation is not v.liquidation:
            return lambda _holding: ()  # (no holder is valued so)
        wanted = set(contracts)
        rooms: dict[Holding, list[tuple[Decimal, tuple[Decimal, ...] | None]]] = {}
        held_by = {a.account_id: a for c in wanted for a in v.holders.get(c, ())}
        for acct in held_by.values():
            legs = tuple(sorted(v.leg(p) for c, p in acct.positions.items() if c in wanted))
            if len(legs) > 1 and legs[0][2] is not None:
                room = trailer.cap_room(acct)
                rooms.setdefault(alike(legs), []).append((legs[0][2], room))

        def levels(holding: Holding) -> Levels | None:
            value = Decimal(0)
            for leg in holding:
                name = ("bid" if leg[1] else "ask") if liquidation else "last"
                at: Decimal | None = getattr(v.marks.get(leg[0]), name, None)
                if leg[2] is None or at is None or not leg[3]:
                    return None  # (a leg waiting for its first word: every level)
                value += leg_value(at, leg)
            unit = holding[0][2] or Decimal(1)  # (no proportion: only equal ones alike)
            out: set[tuple[Decimal, Decimal]] = set()
            for first, room in rooms.get(alike(holding), ()):
                if room is None:
                    return None
                scale = (first or Decimal(1)) / unit
                if room and scale > 0:
                    out.add(level(value, room[0], scale, len(holding)))
            return tuple(out)

        return levels
