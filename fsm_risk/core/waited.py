"""Quotes that waited together: a run of quotes taken from the queue at once, with nothing
else among them, is judged as a few quotes per contract held apart, however many waited; the
quotes of contracts held together are judged one by one, up to `TOGETHER` of them in a run, and
past that at a few places, every contract's mark at each moved together to its word there
(`strided`: a consumer that fell behind catches up; every state judged is one that was).

A quote carries only the fields that changed (a new bid, or a print), so dropping all but the
latest would lose the only word of a field. Here the run's quotes of a contract held apart
become, in the place of its first, the marks the quotes one by one left at the quotes that
carried a turn of a price field (below), in their order, then the latest: each a quote of every
field's latest word up to that quote, stamped as that quote (`core.quotes` keeps each field's
latest word the same way), so each is a mark the contract had one by one, and the last is the
mark they leave. The quotes handed on are what the engine is given, so they are what the
journal records. Only what waited together is merged: a consumer that keeps up takes the quotes
one by one and judges every one of them.

Held apart: no holder of the contract holds another contract quoted in the run (`shared`). Its
holders' value then moves with its quotes alone: the other contracts they hold keep their
marks through the run, so where among the other contracts' quotes its own are judged changes
nothing for them. A contract one of whose holders holds another of the run's (a calendar
spread, a hedge, two contracts that fall together) is handed on as it came, every quote in its
place: merged, each contract's quotes judged in the place of its first, a spread long 10 MNQ
Z26 and short 10 H27 in a steady fall of both was judged at Z26's low beside H27's mark from
before the run, -$1,200 where one by one it never went below -$20, and two contracts that dipped
together and came back were judged at one dip at a time. Who holds what is asked when the run is
reached (`handing` is lazy: the items before it handled first, a position opened earlier in the
batch counts); a quote opens or closes no position, so it holds through the run. A rule that
judges the quoted contract's position alone (`Rule.per_position`: a position stop loss or take
profit) never rests on another contract's mark: where every quote rule is such, the caller says
no contract is held beside another (`RuleBook.whole`), and every contract merges.

Found by a review: merged into the latest alone, a long 1 MNQ's bid 1,200 down (a 1,000 daily
limit), then back, was never judged; one by one the touch flattens and locks. A holder's value
in a contract rests on one field of its mark (`judged`: a long's bid and a short's ask at
liquidation value, else the last) and moves with it one way. Kept per field (`turns`): its
lowest and highest word (a loss limit or a target touched, a peak reached); for a field that
values longs, the ends of its deepest fall from a high and the highest before its lowest (an
intraday trailing floor raised within the run and touched within it), for one that values
shorts the same of its rises; and for a capped peak (`capped`), at each holder's cap level (the
price where its equity reaches its cap: `core.caps`, asked as who holds what), the new high
first reaching it, the lowest after it and the deepest fall before it. A lowest, highest, or
the end of a fall or rise, that the latest word repeats is judged with the latest, last. So a
run hands on a few quotes per contract held apart, `most` and at most eight for each holder's
cap the run reaches, whatever its length; a contract held together with another of the run's
is handed on whole, or past `TOGETHER` at its own turns, its holdings' and a stride's.

Found by a review of 160d7c6: without `capped` a trailing floor whose peak is capped (frozen at
the start) touched within the run by a fall neither the deepest nor ending at the lowest (the
deepest began above the cap) was not judged, nearly a whole drawdown deep: a 1,000 drawdown
from 50,000 capped at 51,000, a long 1 MNQ's bid at 20,501 (49,002: the floor then 49,000), up
to the cap (the floor 50,000), down to 20,502 (49,004: 996 under the floor), then far above the
cap, a deeper fall that touches nothing, and up: one by one it flattens at 49,004, and now so
does the run. Found by a review of 3faee57: with every level the run first reaches at a new
high taken as a cap, a rise whose every dip is deeper than the one before (prints bouncing
between a bid and an ask that drift apart) was handed on whole, with no RULE-004 at all: a
300-account burst's last stop loss closed 12.8-16.2 s after its breach. The caps are now
asked (``caps``): none where no holder's peak can reach one in the run (no cap, end of day,
capped already, its level outside the run's prices); every level only where one cannot be
placed (``caps`` None, or a holder's unknown).

A quote is merged only with the newer quotes after it, and only when it is not older than its
contract's mark, nor than a quote of its contract earlier in the batch (which will have moved
the mark by its turn): the engine ignores such a quote, merged its fields would move the mark. A
quote older than the mark, or older than the run's quote of its contract, is left as it is for
the engine to judge (after the run, for the second), as it would have been.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import cast

from fsm_risk.core.events import Leg, Quote
from fsm_risk.core.mark import Mark
from fsm_risk.core.records import ZERO
from fsm_risk.core.turns import EVERY as EVERY
from fsm_risk.core.turns import LAST as LAST
from fsm_risk.core.turns import LIQUIDATION as LIQUIDATION
from fsm_risk.core.turns import Capping as Capping
from fsm_risk.core.turns import Caps as Caps
from fsm_risk.core.turns import Fields as Fields
from fsm_risk.core.turns import HeldLevels as HeldLevels
from fsm_risk.core.turns import Levels as Levels
from fsm_risk.core.turns import capped as capped
from fsm_risk.core.turns import judged as judged
from fsm_risk.core.turns import most as most
from fsm_risk.core.turns import turns as turns
from fsm_risk.core.valuation import Holding, leg_value


def turned(
    quotes: Iterable[tuple[int, Quote]], fields: Fields, caps: Capping | None = None
) -> set[int]:
    """The places (the numbers given) of ``quotes`` of one contract, in order, that carried a
    turn of a field in ``fields`` (`turns`; a capped peak's at its holders' cap levels, every
    level where ``caps`` is None)."""
    numbered = list(quotes)
    kept: set[int] = set()
    for name, falls, rises in fields:
        words = [(i, w) for i, q in numbered if (w := getattr(q, name)) is not None]
        if words:
            levels = None if caps is None else caps.of(numbered[0][1].contract_id, name)
            kept |= turns(words, falls, rises, levels)
    return kept


def handed(
    quotes: Sequence[Quote], fields: Fields = EVERY, caps: Capping | None = None
) -> list[Quote]:
    """What a run's quotes of one contract (in order, none older than the one before it) are
    judged as: the marks one by one at the turns of each field, in order, then the latest
    (see the module)."""
    if len(quotes) == 1:
        return [quotes[0]]
    kept = turned(enumerate(quotes), fields, caps)
    kept.add(len(quotes) - 1)  # the latest: the mark they leave
    out: list[Quote] = []
    last = bid = ask = None
    for i, q in enumerate(quotes):  # each field's latest word, as `core.quotes` keeps it
        if q.last is not None:
            last = q.last
        if q.bid is not None:
            bid = q.bid
        if q.ask is not None:
            ask = q.ask
        if i in kept:
            out.append(Quote(q.contract_id, q.at, last, bid, ask))
    return out


class _Run:
    """A run's quotes of one contract, in the place of its first."""

    __slots__ = ("quotes",)

    def __init__(self, first: Quote) -> None:
        self.quotes = [first]


#: the contracts held beside a contract by any of its holders (`Valuation.beside`)
type Beside = Callable[[str], Collection[str]]


def shared(quotes: Sequence[Quote], beside: Beside | None) -> set[str]:
    """The run's contracts a holder of which holds another of the run's contracts (handed on
    one by one); ``beside`` None (unknown): every contract of a run of more than one."""
    cids = {q.contract_id for q in quotes}
    if len(cids) < 2:
        return set()
    if beside is None:
        return cids
    return {c for c in cids if not cids.isdisjoint(beside(c))}


def _run(
    quotes: Sequence[Quote],
    marks: Mapping[str, Mark],
    fields: Fields,
    one_by_one: set[str],
    newest: dict[str, datetime],
    holdings: Holdings | None = None,
    caps: Capping | None = None,
) -> list[Quote]:
    """A run's quotes as handed on (see the module): those of a contract in ``one_by_one`` as
    they are, in their places; each other contract's as `handed`, in the place of its first."""
    out: list[Quote | _Run | None] = []
    together: list[int] = []  # where the quotes of contracts held together are in ``out``
    run: dict[str, _Run] = {}  # contract id -> its quotes in the run
    late: list[Quote] = []  # older than the run's quote of its contract: after the run
    for q in quotes:
        cid = q.contract_id
        seen = newest.get(cid)
        if cid in one_by_one:
            out.append(q)  # one by one: as it is (unless too many: `strided`)
            together.append(len(out) - 1)
            if seen is None or seen < q.at:
                newest[cid] = q.at
            continue
        held = run.get(cid)
        if held is None:
            mark = marks.get(cid)
            if (mark is None or mark.at <= q.at) and (seen is None or seen <= q.at):
                held = run[cid] = _Run(q)
                out.append(held)
            else:
                out.append(q)  # (older than the mark: as it is, never merged)
            if seen is None or seen < q.at:
                newest[cid] = q.at
            continue
        if q.at < held.quotes[-1].at:
            late.append(q)
        else:
            held.quotes.append(q)
            newest[cid] = q.at
    strided(out, together, marks, fields, holdings, caps)
    result: list[Quote] = []
    for x in out:
        if isinstance(x, _Run):
            result.extend(handed(x.quotes, fields, caps))
        elif x is not None:
            result.append(x)
    result.extend(late)
    return result


#: the most quotes of contracts held together a run hands on one by one (see `strided`)
TOGETHER = 16
#: who holds two or more of some contracts together (`Valuation.holdings`)
type Holdings = Callable[[Collection[str]], Collection[Holding]]


def combined(
    numbered: Sequence[tuple[int, Quote]],
    marks: Mapping[str, Mark],
    held: Collection[Holding],
    fields: Fields = EVERY,
    caps: Capping | None = None,
) -> set[int] | None:
    """The places (numbered, in order) carrying a turn (`turns`: lowest, highest, the ends of
    the deepest fall and rise) of each holding's combined value as the engine books it (a leg
    booked to the cent rounded as it is: a tie of the exact sums can book a cent apart),
    valued on its ``fields`` (`judged`: a long's bid and a short's ask, or the last; both for
    `EVERY`) from the marks before the run; where a leg has no price yet, or is not valued at
    its mark (a position waiting for a quote of this run, a mark saved before a restart: its
    first quote replaces it), every place of the holding's until the leg's first word, then
    every new high as a cap. Each holding's value is followed only where its prices moved (a
    burst of 300 accounts at mixed sizes makes about 180 holdings: their places are still few),
    a capped peak's at its holders' cap levels in that booked value (``caps``, asked once a
    run). None where it cannot be valued (a point value unknown): the run is judged one by one."""
    kept: set[int] = set()
    run = {q.contract_id for _, q in numbered}
    levels_of: dict[bool, HeldLevels] = {}  # by mode: the run's holders' cap levels
    modes = {LAST: (False,), LIQUIDATION: (True,)}.get(fields, (False, True))
    paths: dict[tuple[tuple[str, str], ...], tuple[list[tuple[int, Prices]], dict[str, int]]] = {}
    for holding in held:
        for liquidation in modes:
            named = tuple(
                (c, ("bid" if s else "ask") if liquidation else "last") for c, s, *_ in holding
            )
            if named not in paths:
                paths[named] = _path(numbered, marks, named)
            places, first = paths[named]
            start = 0  # the first place where every leg is valued at its price
            for (cid, name), (_, _, per_point, priced, _) in zip(named, holding, strict=True):
                if per_point is None:
                    return None
                if not priced or getattr(marks.get(cid), name, None) is None:
                    start = max(start, first.get(cid, len(places)))
            kept.update(j for j, _ in places[:start])  # a leg not priced yet: one by one
            memo: dict[Prices, Decimal] = {}  # its value at each prices met
            values: list[tuple[int, Decimal]] = []
            for j, prices in places[start:]:
                value = memo.get(prices)
                if value is None:
                    value = memo[prices] = sum(map(leg_value, prices, holding), ZERO)
                values.append((j, value))
            if values:  # (its holders' equity moves with the value: a cap is reached rising)
                if caps is not None and liquidation not in levels_of:
                    levels_of[liquidation] = caps.held(run, liquidation)  # once a run and mode
                levels = None if caps is None else levels_of[liquidation](holding)
                kept |= turns(values, True, True, None if levels is None else (levels, ()))
    return kept


#: a holding's legs' prices at a place, in its order
type Prices = tuple[Decimal | None, ...]


def _path(
    numbered: Sequence[tuple[int, Quote]],
    marks: Mapping[str, Mark],
    named: tuple[tuple[str, str], ...],
) -> tuple[list[tuple[int, Prices]], dict[str, int]]:
    """The places (numbered) of the quotes of the ``named`` contracts, each with every one's
    named field's price there (from the marks before the run), and where each contract's
    first word of it is (its place in them); less a place whose prices are those of the place
    before it (not its contract's first quote or word): never first reached, never a turn (`turns`,
    `capped`) of any holding's value."""
    names = dict(named)
    price = {cid: getattr(marks.get(cid), name, None) for cid, name in named}
    places: list[tuple[int, Prices]] = []
    first: dict[str, int] = {}
    quoted: set[str] = set()
    for j, q in numbered:
        name = names.get(q.contract_id)
        if name is None:
            continue
        cid, word = q.contract_id, getattr(q, name)
        new = cid not in quoted or (word is not None and cid not in first)
        if word is not None:
            price[cid] = word
            first.setdefault(cid, len(places))
        prices = tuple(price.values())
        if new or not places or places[-1][1] != prices:
            quoted.add(cid)  # (a contract's first quote, or word, values a position waiting)
            places.append((j, prices))
    return places, first


def strided(
    out: list[Quote | _Run | None],
    together: list[int],
    marks: Mapping[str, Mark],
    fields: Fields = EVERY,
    holdings: Holdings | None = None,
    caps: Capping | None = None,
) -> None:
    """Past `TOGETHER` quotes of contracts held together in one run (a consumer that fell
    behind; one by one, 300 accounts holding two contracts each fell 16 s behind a burst), the
    quotes at a few places are handed on: every ``stride``-th, each contract's turns of every
    field judged (`turned`: its positions alone, its holders of it alone), each holding's
    turns of its combined value (`combined`: a spread's loss, peak and fall are a turn of
    neither leg), and each contract's latest. Each carries its contract's latest word of every
    field up to it and, as its legs, every other contract's moved since the last handed on
    (`Quote.legs`: moved before any holder is judged), so every mark judged is one the quotes
    one by one left at that place, all together: never a leg's move beside another's older
    mark. Left whole (one by one): a run whose quotes of a contract are not in order, or whose
    holdings cannot be followed (`combined`; who holds what unknown)."""
    if len(together) <= TOGETHER or holdings is None:
        return
    numbered: list[tuple[int, Quote]] = []
    mine: dict[str, list[tuple[int, Quote]]] = {}  # each contract's quotes, numbered
    for j, i in enumerate(together):
        q = cast(Quote, out[i])
        mark, before = marks.get(q.contract_id), mine.get(q.contract_id)
        if (mark is not None and q.at < mark.at) or (before and q.at < before[-1][1].at):
            return  # (out of order: as they came)
        mine.setdefault(q.contract_id, []).append((j, q))
        numbered.append((j, q))
    kept = combined(numbered, marks, holdings(list(mine)), fields, caps)
    if kept is None:
        return
    stride = -(-len(together) // TOGETHER)
    final = {cid: quotes[-1][0] for cid, quotes in mine.items()}
    for quotes in mine.values():
        kept |= turned(quotes, fields, caps)
    words: dict[str, Leg] = {}  # each contract's latest word of every field, up to here
    moved: dict[str, None] = {}  # the contracts whose word moved since the last handed on
    for j, q in numbered:
        cid, w = q.contract_id, words.get(q.contract_id)
        if w is not None:
            q = Quote(
                cid,
                q.at,
                q.last if q.last is not None else w.last,
                q.bid if q.bid is not None else w.bid,
                q.ask if q.ask is not None else w.ask,
            )
        words[cid] = Leg(cid, q.at, q.last, q.bid, q.ask)
        moved[cid] = None
        if (j + 1) % stride == 0 or final[cid] == j or j in kept:
            legs = tuple(words[c] for c in moved if c != cid)
            moved.clear()
            out[together[j]] = Quote(cid, q.at, q.last, q.bid, q.ask, legs)
        else:
            out[together[j]] = None


def handing[T](
    items: Iterable[T],
    marks: Mapping[str, Mark],
    fields: Fields = EVERY,
    beside: Beside | None = None,
    holdings: Holdings | None = None,
    caps: Capping | None = None,
) -> Iterator[T]:
    """``items`` with each run's quotes handed on as the module says; everything else in its
    place. ``marks``: the engine's marks, by contract; ``fields``: those holders are valued on
    (`judged`); ``beside``: who holds what (`shared`), and it and ``marks`` are asked when a
    run is reached, not before: taken lazily, as the items before it are handled, they are
    what the run is judged beside; ``holdings``: who holds which of them together, asked as
    ``beside`` (`strided`; None: a run of contracts held together is handed on one by one);
    ``caps``: where its holders' trailing peaks reach their caps, asked as ``beside`` (None:
    not known, every level the run first reaches at a new high is judged as one)."""
    newest: dict[str, datetime] = {}  # contract id -> its newest stamp heard in the batch
    run: list[Quote] = []
    for it in items:
        if isinstance(it, Quote):
            run.append(it)
            continue
        if run:
            yield from cast(
                list[T], _run(run, marks, fields, shared(run, beside), newest, holdings, caps)
            )
            run = []
        yield it
    if run:
        yield from cast(
            list[T], _run(run, marks, fields, shared(run, beside), newest, holdings, caps)
        )


def waited[T](
    items: Sequence[T],
    marks: Mapping[str, Mark],
    fields: Fields = EVERY,
    beside: Beside | None = None,
    holdings: Holdings | None = None,
    caps: Capping | None = None,
) -> list[T]:
    """`handing`, all at once (who holds what as it is now, for every run)."""
    return list(handing(items, marks, fields, beside, holdings, caps))
