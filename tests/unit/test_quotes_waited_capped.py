"""Found by a review of 160d7c6: with RULE-004's peak capped (``freeze_at_start``), a run of
queued quotes was judged at each price's lowest, highest, deepest fall and rise alone, so a
touch of the frozen floor by a fall neither the deepest nor to the lowest was never judged: a
1,000 drawdown from 50,000 capped at 51,000, a long 1 MNQ's bid at 20,501 (49,002, the floor
then 49,000), up to the cap, down to 20,502 (49,004: 996 under the floor of 50,000), then far
above the cap and a deeper fall that touches nothing: one by one it flattens at 49,004, waited
together it stayed Trading. Every cap a holder's peak may have is now judged: for each level
the price first reaches within the run, the lowest after it (`core.waited.turns`)."""

from __future__ import annotations

import random
from decimal import Decimal as D

from fsm_risk.core.caps import CapLevels
from fsm_risk.core.events import Quote
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.states import State
from fsm_risk.core.waited import EVERY, Fields, Levels, judged, turns, waited
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import MNQ, Driver, account, make_engine, position
from tests.unit.test_quotes_waited_turns import AT, S, _prices, _verdict, _walk


def _capped(mode: MarkMode, size: int, entry: str = "21000") -> Driver:
    """``size`` MNQ (negative: short) at ``entry``, $2 a point each, quoted there; a 1,000
    intraday trailing drawdown from 50,000, its peak capped at 51,000, and a 1,500 daily loss
    limit (no profit target: a price may go far above the cap)."""
    rules = {
        TrailingDrawdown: {"drawdown": "1000", "starting_balance": "50000", "mode": "intraday"},
        DailyLossLimit: {"limit": "1500"},
    }
    d = Driver(make_engine(rules, mark_mode=mode))  # type: ignore[arg-type]
    d.now = AT
    d.send(account(), position(MNQ, abs(size), entry, long=size > 0, at=AT))
    p = D(entry)
    d.send(Quote(MNQ, AT - 10 * S, p, p, p + D("0.25")))
    return d


def _waited(d: Driver, quotes: list[Quote], fields: Fields) -> list[Quote]:
    """The run as the service hands it on to ``d``'s engine: at its holders' cap levels."""
    caps = CapLevels(d.engine.valuation, d.engine.book)
    return waited(quotes, d.engine.marks, fields, d.engine.valuation.beside, None, caps)


def test_a_frozen_floor_touched_by_a_fall_neither_the_deepest_nor_to_the_lowest_flattens() -> None:
    """The lowest (49,002) is judged under the floor of 49,000 of a peak still 50,000; the
    deepest fall (23,000 to 21,800) begins above the cap and ends at 51,600; the touch at
    20,502 (49,004, the frozen floor 50,000) is neither: one by one it flattens, and waited
    together it must too, with the same peak, open P&L and marks left."""
    quotes = _prices("bid", ["20501", "21500", "20502", "23000", "21800", "22000"])
    one_by_one = _verdict(_capped(MarkMode.LIQUIDATION, 1), quotes)
    assert one_by_one[:2] == (State.Flattening, "51000")
    d = _capped(MarkMode.LIQUIDATION, 1)
    assert _verdict(d, _waited(d, quotes, judged(True))) == one_by_one


def test_a_short_whose_frozen_floor_is_touched_by_a_rise_within_the_run_flattens() -> None:
    """The same, mirrored: a short 1 MNQ on the last, the rise to 21,499 (49,002) from a peak
    of 50,000, down to the cap (20,500), up to 21,498 (49,004), far below the cap and a steeper
    rise that touches nothing."""
    quotes = _prices("last", ["21499", "20500", "21498", "19000", "20200", "20000"])
    one_by_one = _verdict(_capped(MarkMode.LAST, -1), quotes)
    assert one_by_one[:2] == (State.Flattening, "51000")
    d = _capped(MarkMode.LAST, -1)
    assert _verdict(d, _waited(d, quotes, judged(False))) == one_by_one


def test_random_walks_under_a_capped_peak_are_judged_as_one_by_one() -> None:
    """Seeded random walks of 1 to 250 partial quotes of one contract in one run, long or
    short, at either mark mode, entered at prices that put the cap near or far: the state, the
    peak, the open P&L and the marks left are those one by one left (566 and 1,193: walks whose
    touch the turns alone missed, 2 of the first 1,500)."""
    flattened = 0
    for seed in (*range(150), 566, 1193):
        r = random.Random(seed)
        mode = r.choice((MarkMode.LIQUIDATION, MarkMode.LAST))
        size = r.choice((1, -1, 2, -2))
        entry = str(r.choice((20800, 21000, 21200)))
        quotes = _walk(r, MNQ, r.randint(1, 250), AT)
        one_by_one = _verdict(_capped(mode, size, entry), quotes)
        flattened += one_by_one[0] is not State.Trading
        for fields in (judged(mode is MarkMode.LIQUIDATION), EVERY):
            d = _capped(mode, size, entry)
            assert _verdict(d, waited(quotes, d.engine.marks, fields)) == one_by_one, seed
            d = _capped(mode, size, entry)
            assert _verdict(d, _waited(d, quotes, fields)) == one_by_one, seed
    assert flattened > 50


def _touched(words: list[D], kept: set[int], peak: D, cap: D, drawdown: D) -> bool:
    """Whether a long valued on ``words`` (only those at ``kept`` judged), its peak ``peak``
    before them and trailing every judged word up to ``cap``, touches ``peak - drawdown``."""
    for i, w in enumerate(words):
        if i in kept:
            peak = min(max(peak, w), cap)
            if w <= peak - drawdown:
                return True
    return False


def test_the_turns_judge_a_touch_of_every_cap_and_drawdown_as_every_word_does() -> None:
    """For seeded random words of a field that values longs (and, negated, shorts), for every
    cap, drawdown and peak before the run among the words' levels: a floor touched judging
    every word is touched judging the turns and the latest alone."""
    for seed in range(300):
        r = random.Random(seed)
        words = [D(r.randint(0, 30)) for _ in range(r.randint(1, 14))]
        every = set(range(len(words)))
        for falls, rises in ((True, False), (False, True), (True, True)):
            kept = turns(list(enumerate(words)), falls, rises) | {len(words) - 1}
            for sign in (1,) * falls + (-1,) * rises:  # a long's value rises with the price
                signed = [sign * w for w in words]
                values = sorted({sign * w for w in words} | {sign * w + D("0.5") for w in words})
                for cap in values:
                    for peak in values[:: max(1, len(values) // 4)]:
                        for dd in (D(1), D(3), D(7), D(12)):
                            start = min(peak, cap)
                            full = _touched(signed, every, start, cap, dd)
                            got = _touched(signed, kept, start, cap, dd)
                            assert got == full, (seed, sign, cap, peak, dd)


def test_the_turns_at_a_cap_level_judge_a_touch_of_that_cap_as_every_word_does() -> None:
    """Found by a review of 3faee57 (every new high kept as a cap: a rise with ever deeper
    dips kept whole): given the cap's level (`core.caps`: exact, or a range around it), the
    turns judge a touch of the floor under that cap, for every drawdown and peak before the
    run, as every word does; seeded random words, longs and, negated, shorts."""
    for seed in range(300):
        r = random.Random(seed)
        words = [D(r.randint(0, 30)) for _ in range(r.randint(1, 14))]
        every = set(range(len(words)))
        for falls, rises in ((True, False), (False, True), (True, True)):
            for sign in (1,) * falls + (-1,) * rises:
                signed = [sign * w for w in words]
                values = sorted({sign * w for w in words} | {sign * w + D("0.5") for w in words})
                for cap in values:
                    for width in (D(0), D("0.5")):
                        level = ((cap - width, cap + width),)
                        if sign == 1:
                            caps: tuple[Levels, Levels] = (level, ())
                        else:
                            caps = ((), ((-cap - width, -cap + width),))
                        kept = turns(list(enumerate(words)), falls, rises, caps)
                        kept.add(len(words) - 1)
                        for peak in values[: values.index(cap) + 1]:  # (not capped yet)
                            for dd in (D(1), D(3), D(7), D(12)):
                                full = _touched(signed, every, peak, cap, dd)
                                got = _touched(signed, kept, peak, cap, dd)
                                assert got == full, (seed, sign, cap, width, peak, dd)
