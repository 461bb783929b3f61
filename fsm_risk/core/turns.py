"""A field's turns: the places in a run of quotes of one contract where a holder's value, resting
on one price field, must be judged so that the run judged at them alone fires where the quotes
one by one would (`core.waited` hands a run on at them)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Collection, Sequence
from decimal import Decimal
from itertools import accumulate
from typing import Protocol

from fsm_risk.core.valuation import Holding

#: price fields, each with whether its falls and its rises are judged: the last values longs
#: and shorts (mark mode last); at liquidation value a bid values a long only (whose trailing
#: floor a fall touches), an ask a short only (a rise)
type Fields = tuple[tuple[str, bool, bool], ...]
LAST: Fields = (("last", True, True),)
LIQUIDATION: Fields = (("bid", True, False), ("ask", False, True))
#: every field, either mode's: what a caller that does not say its mode is given
EVERY: Fields = LAST + LIQUIDATION
#: the words (each a narrow range: the lowest and the highest it may be) at which a holder's
#: trailing peak, not yet capped, reaches its cap (`core.caps`)
type Levels = tuple[tuple[Decimal, Decimal], ...]
#: a field's cap levels of the holders valued on it: longs' (reached by a rise) and shorts'
#: (by a fall); None: not known (every level the words reach may be one)
type Caps = tuple[Levels, Levels] | None


class Capping(Protocol):
    """Where the holders' trailing peaks not yet capped reach their caps (`core.caps`), asked
    when a run is reached."""

    def of(self, contract_id: str, field: str) -> Caps:
        """The contract's cap levels in its price ``field`` (`turns.Caps`)."""
        ...

    def held(self, contracts: Collection[str], liquidation: bool) -> HeldLevels:
        """The cap levels in each holding's combined value (as `core.waited.combined` values it, its
        legs booked as the engine books them), of its holders alike, the holders of the
        run's ``contracts`` grouped once; None: not known."""
        ...


#: a holding's cap levels (`Capping.held`), None: not known
type HeldLevels = Callable[[Holding], Levels | None]


def judged(liquidation: bool) -> Fields:
    """The fields a holder's value rests on, at liquidation value or else at the last."""
    return LIQUIDATION if liquidation else LAST


def most(fields: Fields) -> int:
    """The most quotes a run's quotes of one contract are handed on as, ``fields`` judged,
    beside a capped floor's touches (`capped`: four for each new high first reaching a cap
    level's range, at most eight a level): a lowest and a highest, and three for each of a
    fall and a rise judged, per field (`turns`), and the latest."""
    return sum(2 + 3 * falls + 3 * rises for _name, falls, rises in fields) + 1


def turns(
    words: Sequence[tuple[int, Decimal]], falls: bool, rises: bool, caps: Caps = None
) -> set[int]:
    """The places (in ``words``: a field's words in order, each with its quote's place; the
    last is the latest word) to judge the field at: its lowest and highest; with ``falls`` the
    high and low ending its deepest fall and the highest before the lowest, with ``rises`` the
    low and high ending its steepest rise and the lowest before the highest (each first
    reached); less the lowest, highest and a fall's low or a rise's high that the latest word
    repeats (judged with it, last); and a capped peak's touches of its floor (`capped`), of
    the words for ``falls`` at the longs' levels of ``caps``, of the words negated for
    ``rises`` at the shorts' levels negated (None: every level)."""
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
    longs, shorts = (None, None) if caps is None else caps
    if falls and longs != ():
        kept |= capped(words, latest, longs)
    if rises and shorts != ():
        negated = None if shorts is None else tuple((-hi, -lo) for lo, hi in shorts)
        kept |= capped([(i, -w) for i, w in words], -latest, negated)
    return kept


def capped(
    words: Sequence[tuple[int, Decimal]], latest: Decimal, levels: Levels | None = None
) -> set[int]:
    """The places to judge a field that values longs at (``words`` as `turns`'s; ``latest``:
    the latest word, judged last) so that a floor under a peak capped at a level of ``levels``
    (None: at any level) is touched if the words one by one touch it. Before the new high that
    first reaches the level the peak trails the words (the deepest fall up to there), from it
    on it is the cap (the lowest from there). So for each new high first reaching a level: the
    lowest word from there on with the high before it, and the end of the deepest fall before
    that high with its own high; with ``levels`` None only where that lowest falls further
    from the high than any fall before it, or that fall further than the cap's (a rise whose
    every dip is deeper than the one before is then kept whole). With ``levels`` four places
    for each new high first reaching a level's range (a range a cent of value wide: at most
    two new highs, a word within it and the next), and none for a level the run never reaches
    at a new high (a peak the run does not cap)."""
    if levels is not None and not levels:
        return set()
    ranges = sorted(levels or ())
    lows = [lo for lo, _hi in ranges]
    highest = list(accumulate((hi for _lo, hi in ranges), max))  # of the ranges up to each
    n = len(words)
    ahead = list(range(n))  # k -> the place in ``words`` of the lowest word from k on
    for k in range(n - 2, -1, -1):
        later = ahead[k + 1]
        ahead[k] = later if words[later][1] < words[k][1] else k
    top = [0] * n  # k -> the place of the highest word up to k (first reached)
    for k in range(1, n):
        top[k] = k if words[k][1] > words[top[k - 1]][1] else top[k - 1]
    kept: set[int] = set()
    fall, fall_end = Decimal(0), 0
    for k, (_i, word) in enumerate(words):
        if top[k] == k and levels is not None:  # a new high: the levels in (before, word]
            before = words[top[k - 1]][1] if k else None
            reached = bisect_right(lows, word)  # the ranges from as low as the word
            if reached and (before is None or highest[reached - 1] > before):
                kept.add(words[top[ahead[k]]][0])
                if words[ahead[k]][1] != latest:
                    kept.add(words[ahead[k]][0])
                if fall:
                    kept.update((words[fall_end][0], words[top[fall_end]][0]))
        elif top[k] == k:  # a new high: caps up to it reached here
            low = words[ahead[k]][1]
            if word - low > fall:
                kept.add(words[top[ahead[k]]][0])
                if low != latest:
                    kept.add(words[ahead[k]][0])
            if fall and fall > words[top[k - 1]][1] - low:
                kept.update((words[fall_end][0], words[top[fall_end]][0]))
        if words[top[k]][1] - word > fall:
            fall, fall_end = words[top[k]][1] - word, k
    return kept
