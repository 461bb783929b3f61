"""Quotes that waited together: a run of quotes taken from the queue at once, with nothing
else among them, is judged as a few quotes per contract, however many waited.

A quote carries only the fields that changed (a new bid, or a print), so dropping all but the
latest would lose the only word of a field. Here the run's quotes of a contract become, in the
place of its first, the marks the quotes one by one left at the quotes that carried a turn of a
price field (below), in their order, then the latest: each a quote of every field's latest word
up to that quote, stamped as that quote (`core.quotes` keeps each field's latest word the same
way), so each is a mark the contract had one by one, and the last is the mark they leave. The
quotes handed on are what the engine is given, so they are what the journal records. Only what
waited together is merged: a consumer that keeps up takes the quotes one by one and judges every
one of them.

Found by a review: merged into the latest alone, a long 1 MNQ's bid 1,200 down (a 1,000 daily
limit), then back, was never judged; one by one the touch flattens and locks. A holder's value
in a contract rests on one field of its mark (`judged`: a long's bid and a short's ask at
liquidation value, else the last) and moves with it one way, and a contract's quotes handed on
are judged one after another, the other contracts' marks as they stand at the run's place.
Kept per field (`turns`): its lowest and highest word (a loss limit or a target touched, a peak
reached); for a field that values longs, the ends of its deepest fall from a high and the
highest before its lowest (an intraday trailing floor raised within the run and touched within
it), for one that values shorts the same of its rises. A lowest, highest, or the end of a fall
or rise, that the latest word repeats is judged with the latest, last. So a run hands on at
most `most` quotes per contract, whatever its length. Not kept: the moments between; so a
trailing floor whose peak is capped (frozen at the start) may be touched within the run by a
fall neither the deepest nor ending at the lowest (the deepest began above the cap), and is
not judged; nor which of two contracts' quotes came first within the run (each contract's are
judged together, in the place of its first).

A quote is merged only with the newer quotes after it, and only when it is not older than its
contract's mark, nor than a quote of its contract earlier in the batch (which will have moved
the mark by its turn): the engine ignores such a quote, merged its fields would move the mark. A
quote older than the mark, or older than the run's quote of its contract, is left as it is for
the engine to judge (after the run, for the second), as it would have been.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import cast

from fsm_risk.core.events import Quote
from fsm_risk.core.records import Mark

#: price fields, each with whether its falls and its rises are judged: the last values longs
#: and shorts (mark mode last); at liquidation value a bid values a long only (whose trailing
#: floor a fall touches), an ask a short only (a rise)
type Fields = tuple[tuple[str, bool, bool], ...]
LAST: Fields = (("last", True, True),)
LIQUIDATION: Fields = (("bid", True, False), ("ask", False, True))
#: every field, either mode's: what a caller that does not say its mode is given
EVERY: Fields = LAST + LIQUIDATION


def judged(liquidation: bool) -> Fields:
    """The fields a holder's value rests on, at liquidation value or else at the last."""
    return LIQUIDATION if liquidation else LAST


def most(fields: Fields) -> int:
    """The most quotes a run's quotes of one contract are handed on as, ``fields`` judged: a
    lowest and a highest, and three for each of a fall and a rise judged, per field (`turns`),
    and the latest."""
    return sum(2 + 3 * falls + 3 * rises for _name, falls, rises in fields) + 1


def turns(words: Sequence[tuple[int, Decimal]], falls: bool, rises: bool) -> set[int]:
    """The places (in ``words``: a field's words in order, each with its quote's place; the
    last is the latest word) to judge the field at: its lowest and highest; with ``falls`` the
    high and low ending its deepest fall and the highest before the lowest, with ``rises`` the
    low and high ending its steepest rise and the lowest before the highest (each first
    reached); less the lowest, highest and a fall's low or a rise's high that the latest word
    repeats (judged with it, last)."""
    first, word = words[0]
    low = high = word
    at_low = at_high = fall_high = fall_low = rise_low = rise_high = first
    high_before_low = low_before_high = first
    fall = rise = Decimal(0)
    for i, word in words:
        if word > high:
            high, at_high, low_before_high = word, i, at_low
        elif word < low:
            low, at_low, high_before_low = word, i, at_high
        if high - word > fall:
            fall, fall_high, fall_low = high - word, at_high, i
        if word - low > rise:
            rise, rise_low, rise_high = word - low, at_low, i
    kept: set[int] = set()
    ends = [at_low, at_high]
    if falls and fall:
        kept.update((fall_high, high_before_low))
        ends.append(fall_low)
    if rises and rise:
        kept.update((rise_low, low_before_high))
        ends.append(rise_high)
    latest = words[-1][1]
    value = dict(words)
    kept.update(i for i in ends if value[i] != latest)
    return kept


def handed(quotes: Sequence[Quote], fields: Fields = EVERY) -> list[Quote]:
    """What a run's quotes of one contract (in order, none older than the one before it) are
    judged as: the marks one by one at the turns of each field, in order, then the latest
    (see the module)."""
    if len(quotes) == 1:
        return [quotes[0]]
    kept: set[int] = set()
    for name, falls, rises in fields:
        words = [(i, w) for i, q in enumerate(quotes) if (w := getattr(q, name)) is not None]
        if words:
            kept |= turns(words, falls, rises)
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


def waited[T](items: Sequence[T], marks: Mapping[str, Mark], fields: Fields = EVERY) -> list[T]:
    """``items`` with each run's quotes of a contract handed on as `handed` (see the module);
    everything else in its place. ``marks``: the engine's marks, by contract; ``fields``: those
    holders are valued on (`judged`)."""
    out: list[T | _Run] = []
    run: dict[str, _Run] = {}  # contract id -> its quotes in the run
    late: list[T] = []  # older than the run's quote of its contract: after the run
    newest: dict[str, datetime] = {}  # contract id -> its newest stamp heard in the batch
    for it in items:
        if not isinstance(it, Quote):
            out.extend(late)
            late.clear()
            run.clear()
            out.append(it)
            continue
        cid = it.contract_id
        held = run.get(cid)
        if held is None:
            mark = marks.get(cid)
            seen = newest.get(cid)
            if (mark is None or mark.at <= it.at) and (seen is None or seen <= it.at):
                held = run[cid] = _Run(it)
                out.append(held)
            else:
                out.append(it)  # (older than the mark: as it is, never merged)
            if seen is None or seen < it.at:
                newest[cid] = it.at
            continue
        if it.at < held.quotes[-1].at:
            late.append(it)
        else:
            held.quotes.append(it)
            newest[cid] = it.at
    out.extend(late)
    result: list[T] = []
    for x in out:
        if isinstance(x, _Run):
            result.extend(cast(list[T], handed(x.quotes, fields)))
        else:
            result.append(x)
    return result
