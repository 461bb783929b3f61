"""Is a new value of a rule's setting at least as strict as the old one?

Each rule declares, next to its fields, how each key compares (``Rule.tighter``): a function
``(old, new) -> bool`` that is True when ``new`` restricts the trader at least as much as
``old``. A key a rule does not list has no known direction: any change of it counts as a
loosening (settings are tightened at once and loosened only at the next daily reset, so an
unknown direction must wait).

A per-root map over a default (RULE-002's ``limits``, RULE-014's ``limits``, RULE-015's
``targets``) is compared with the rule's other values at hand (`PerRoot`): root by root, with
what applied to that root before.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from datetime import time
from typing import Any

Compare = Callable[[Any, Any], bool]

#: one week in seconds (trading windows are measured from Monday 00:00)
_WEEK = 7 * 24 * 3600


def lower(old: Any, new: Any) -> bool:
    """A smaller number is stricter (a limit, a threshold, a grace period)."""
    return bool(new <= old)


def higher(old: Any, new: Any) -> bool:
    """A larger number is stricter (a cooldown's length, a watch window)."""
    return bool(new >= old)


def true_is_stricter(old: bool, new: bool) -> bool:
    return new or not old


def false_is_stricter(old: bool, new: bool) -> bool:
    return old or not new


def ranked(*loosest_first: str) -> Compare:
    """Choices ordered from the loosest to the strictest (compared without case)."""
    order = [c.lower() for c in loosest_first]

    def compare(old: Any, new: Any) -> bool:
        o, n = str(old).lower(), str(new).lower()
        if o not in order or n not in order:
            return False
        return order.index(n) >= order.index(o)

    return compare


def each_lower(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> bool:
    """Every limit kept and none raised; an added key has no known direction (it replaces a
    default or a policy), so it does not count as stricter."""
    return set(new) == set(old) and all(new[k] <= old[k] for k in old)


#: a rule's parsed values and a root -> the limit that applies to that root (None: none)
Effective = Callable[[Mapping[str, Any], str], Any]


class PerRoot:
    """A per-root map over a default: stricter when no root it lists (before or after) gets a
    higher limit than applied to it before. ``effective`` is the rule's own reading of its
    values: an entry, else the default (or an unknown-root policy). So an added root compares
    with the default it replaces, a removed one falls back to the new default, and a root
    that had no limit (``None``) gets one.

    Called with the map alone (no other values at hand) it is `each_lower`."""

    def __init__(self, effective: Effective) -> None:
        self.effective = effective

    def __call__(self, old: Mapping[Any, Any], new: Mapping[Any, Any]) -> bool:
        return each_lower(old, new)

    def judge(self, key: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
        """Whether ``key``'s map in ``after`` (the rule's new values) is at least as strict,
        root by root, as in ``before`` (its old values)."""
        for root in {*before[key], *after[key]}:
            old, new = self.effective(before, root), self.effective(after, root)
            if old is None:
                continue  # no limit before: any is at least as strict
            if new is None or new > old:
                return False
        return True


def each_lower_or_added(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> bool:
    """Every limit kept and none raised; added limits only restrict more (extra windows)."""
    return all(k in new and new[k] <= old[k] for k in old)


def superset(old: Any, new: Any) -> bool:
    """More entries restrict more (extra holidays)."""
    return set(new) >= set(old)


def patterns_cover(old: Any, new: Any) -> bool:
    """Blocked root patterns (shell wildcards, upper case): stricter when every root an old
    pattern blocks is blocked by a new one (``M*`` covers ``MNQ`` and ``MC*``). Where that
    cannot be told for sure (``M?`` against ``MC*``), it counts as a loosening."""
    return all(any(_covers(q, p) for q in new) for p in old)


_WILD = re.compile(r"[*?\[]")


def _covers(q: str, p: str) -> bool:
    """Whether pattern ``q`` blocks every root pattern ``p`` blocks."""
    if q == p or (not _WILD.search(p) and fnmatch.fnmatchcase(p, q)):
        return True
    head = q[:-1]  # ``M*``: every root beginning with M, so every pattern beginning with it
    return q.endswith("*") and not _WILD.search(head) and p.startswith(head)


class EarlyCloses:
    """Early closes (a day and its closing time): stricter when every day listed before
    still closes at that time or earlier, or is an extra holiday now (with the rule's other
    values at hand: `judge`)."""

    def __call__(self, old: Any, new: Any) -> bool:
        return self._judge(old, new, ())

    def judge(self, key: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
        return self._judge(before[key], after[key], after.get("extra_holidays") or ())

    @staticmethod
    def _judge(old: Any, new: Any, holidays: Any) -> bool:
        closes = {e.day: e.at for e in new}
        return all(e.day in holidays or (e.day in closes and closes[e.day] <= e.at) for e in old)


def tiers_stricter(old: Mapping[Any, int], new: Mapping[Any, int]) -> bool:
    """Loss tiers (loss -> minutes; the largest loss reached decides): stricter when every loss
    gets at least as long a cooldown as before."""

    def minutes(tiers: Mapping[Any, int], loss: Any) -> int:
        reached = [m for t, m in tiers.items() if t <= loss]
        return max(reached) if reached else 0

    return all(minutes(new, t) >= minutes(old, t) for t in (*old, *new))


def earlier_or_set(old: time | None, new: time | None) -> bool:
    """A flat-by time: none is the loosest; otherwise earlier is stricter."""
    if new is None:
        return old is None
    return old is None or new <= old


class FlatBy:
    """A flat-by time, read in each trading window (with the rule's windows at hand:
    `judge`): none is the loosest; otherwise stricter when it comes no later after each
    window opens. In a window that crosses midnight an evening time comes before a morning
    one (17:00-16:00: 22:00 is 5 h in, 15:08 is 22 h in). A flat-by in a spring-forward gap
    stops at the moment of the change (`SessionCalendar.at_or_change`), so one judged stricter
    never stops later on that night either."""

    def __call__(self, old: time | None, new: time | None) -> bool:
        return earlier_or_set(old, new)

    def judge(self, key: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
        old, new = before[key], after[key]
        if new is None or old is None:
            return earlier_or_set(old, new)
        for w in after.get("windows") or ():
            if not (w.contains(old) and w.contains(new)):
                return False  # not both inside the window: no known direction
            if _into(w.start, new) > _into(w.start, old):
                return False
        return True


def _into(start: time, t: time) -> int:
    """Seconds from a window's opening ``start`` to the wall time ``t`` (the next day's when
    ``t`` is not after ``start``)."""
    secs = (t.hour - start.hour) * 3600 + (t.minute - start.minute) * 60 + t.second - start.second
    return secs % (24 * 3600)


def windows_within(old: Any, new: Any) -> bool:
    """Trading windows: stricter when every new window lies inside the old ones (narrower)."""
    spans = [_span(w) for w in old]

    def inside(start: int, end: int) -> bool:
        for s, e in spans:
            for shift in (0, _WEEK, -_WEEK):  # a window may run past the end of the week
                if s + shift <= start and end <= e + shift:
                    return True
        return False

    return all(inside(*_span(w)) for w in new)


def _span(window: Any) -> tuple[int, int]:
    start, end = window.seconds()
    return int(start), int(end)


def tightens(
    table: Mapping[str, Compare],
    key: str,
    old: Any,
    new: Any,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> bool:
    """Whether changing ``key`` from ``old`` to ``new`` is at least as strict (unlisted keys:
    only when unchanged). ``before`` and ``after``: all of the rule's old and new values, for
    a comparison that needs the others (a per-root map's default, see `PerRoot`)."""
    if old == new:
        return True
    compare = table.get(key)
    if compare is None:
        return False
    try:
        if (
            isinstance(compare, PerRoot | EarlyCloses | FlatBy)
            and before is not None
            and after is not None
        ):
            return compare.judge(key, before, after)
        return compare(old, new)
    except (TypeError, ValueError, AttributeError):
        return False  # values that cannot be compared: treat the change as a loosening
