"""The prices each contract really had, with their times, and the bars built from them.

`/History/retrieveBars` answers from this path, so a bar says what the paper market did: a
bar's open, high, low and close are those of the price changes within it (its start
included, its end not), and a bar in which the price did not change carries the price
standing at its start. Before the first price kept, the contract's price is the one it was
created with. The path is compact (two lists) and bounded: changes older than `KEPT` go, the
last of them standing in for all (as the price before the first kept).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

#: how far back each contract's prices are kept (bars before that carry the oldest kept price)
KEPT = timedelta(days=4)
#: older changes are dropped in batches of at least this much time (not one by one)
_TRIM_SLACK = 3600.0


@dataclass(slots=True)
class PricePath:
    """One contract's last prices, oldest first: ``times`` (seconds since the epoch) and
    ``prices``; ``before``: the price before the first kept (at first, its initial price)."""

    before: Decimal
    times: list[float] = field(default_factory=list)
    prices: list[Decimal] = field(default_factory=list)

    def add(self, at: float, price: Decimal) -> None:
        """The price changed at ``at``. A clock set back (a test's clock, or a gateway clock
        handed over after the opening prices) rewrites the path from there on."""
        times, prices = self.times, self.prices
        if times and at < times[-1]:
            cut = bisect.bisect_right(times, at)
            del times[cut:], prices[cut:]
        standing = prices[-1] if prices else self.before
        if price == standing and times:
            return  # not a change
        times.append(at)
        prices.append(price)
        horizon = at - KEPT.total_seconds()
        if times[0] < horizon - _TRIM_SLACK:
            cut = bisect.bisect_left(times, horizon)
            self.before = prices[cut - 1]
            del times[:cut], prices[:cut]

    def at(self, t: float) -> Decimal:
        """The price standing at ``t`` (the last change at or before it)."""
        i = bisect.bisect_right(self.times, t)
        return self.prices[i - 1] if i else self.before

    def bar(self, start: float, end: float) -> tuple[Decimal, Decimal, Decimal, Decimal, int]:
        """Open, high, low, close and the number of changes of the bar [start, end)."""
        times, prices = self.times, self.prices
        first = bisect.bisect_left(times, start)
        stop = bisect.bisect_left(times, end)
        if first >= stop:
            price = prices[first - 1] if first else self.before
            return price, price, price, price, 0
        within = prices[first:stop]
        return within[0], max(within), min(within), within[-1], len(within)
