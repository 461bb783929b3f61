"""Found by a review: the plan's edges. A read sent in an earlier silence, answered in a later one
(it waited for a slot past a quote and a new silence), is judged against the new quote: the
feed called broken on a price older than that quote. And what a closed market costs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.models import Mark
from fsm_risk.core.silence import RestPricing
from tests.factories import MNQ, T0

D = Decimal
S = timedelta(seconds=1)


def test_a_read_sent_before_a_quote_never_proves_the_next_silence_broken() -> None:
    p = RestPricing()
    p.update({MNQ: Mark(D("20850"), D("20849.75"), D("20850"), T0)}, T0)
    assert p.due(T0) == [MNQ]  # sent at T0 (then waits: the window full, a 429)
    p.update({}, T0 + 5 * S)  # a quote at 20,900: silence over
    later = T0 + 40 * S  # silent again since 20,900
    p.update({MNQ: Mark(D("20900"), D("20899.75"), D("20900"), T0 + 5 * S)}, later)
    assert p.due(later) == [MNQ]  # the new silence's own read, in flight
    broken = p.answered(MNQ, T0, D("20850"))  # the T0 read answers: the price before 20,900
    s = p.contracts[MNQ]
    assert broken is False and not s.frozen, "a price older than the quote called the feed broken"
    assert s.in_flight, "the new read's in-flight mark was cleared: a second read may go"


def count_reads(answer: Decimal | None, hours: int) -> int:
    p = RestPricing()
    p.update({MNQ: Mark(D("20850"), D("20849.75"), D("20850"), T0)}, T0)
    now, sent = T0, 0
    while now < T0 + timedelta(hours=hours):
        for c in p.due(now):
            sent += 1
            p.answered(c, now, answer)
        now += S
    return sent


def test_what_a_weekend_closed_market_costs() -> None:
    """Friday 16:00 to Sunday 17:00 (49 h), one held contract never quoted: a read every 2 s
    where the gateway answers the last bar (the paper gateway: a bar every minute), one every
    30 s where it has none (each a WARNING line)."""
    with_bars, without = count_reads(D("20850"), 49), count_reads(None, 49)
    assert with_bars == 88200 and without == 5883
