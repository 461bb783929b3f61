"""What each winning trade of the day raised an intraday trailing peak from, for its void.

A peak that trails every mark rises with a position's open gain and, once the position is
closed, with the realized P&L. When the gateway voids the closing trade (see `voids`), that
gain never was: the peak it raised is given back, to ``max(before, peak - net)``, never below
what equity without the trade reached:

- ``before`` is remembered when the trade's record is first seen (`track`): the peak when its
  contract's position was first seen open (the highest the peak was before the trade could
  raise it), or the equity without the position then (the balance and realized P&L, less the
  trade's net P&L and that of the records after it), whichever is higher. While another
  contract's position is open too, its marks may have raised the peak: nothing before the
  trade is certain, and ``before`` is the peak when the trade's record is seen (only what the
  peak rose by after it is given back);
- ``peak - net``: what the peak became since the trade, without its net P&L.

A voided loss or a trade that paid only fees raised nothing and is not remembered. The memo
(a rule's memory, stored with the peak) holds, per contract open, the peak when it was first
seen open and whether it was the only one open since (``opened``); per winning trade of the
day, by trade id, ``before`` and its net P&L (``gains``, forgotten at the daily reset: a void
of an older trade gives nothing back); and the last record seen (``synced``). A void
gives back each ``before`` and opening peak remembered since alike: those above the voided
trade's ``before`` were taken from a peak it had raised (those of a trade while another
position was open are the peak at its record; a solo trade's are below them).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from decimal import Decimal
from typing import Any

from fsm_risk.core.records import FillRecord

ZERO = Decimal(0)


def track(
    memo: dict[str, Any],
    fills: Sequence[FillRecord],
    positions: Collection[str],
    base: Decimal | None,
    peak: Decimal,
) -> None:
    """Remember ``before`` for each winning record of ``fills`` (the day's) not seen yet, then
    the contracts of ``positions`` newly open. ``base`` is the equity without the open
    positions (it includes every record's net P&L), None: unknown; ``peak`` the peak now."""
    opened: dict[str, list[Any]] = memo.setdefault("opened", {})
    gains: dict[str, list[str]] = memo.setdefault("gains", {})
    last = memo.get("synced")
    after = ZERO  # the net P&L of the records after the one at hand (in ``base``)
    for record in reversed(fills):
        if record.trade_id == last:
            break
        net, key = record.net, str(record.trade_id)
        if net > ZERO and key not in gains:
            held = opened.get(record.contract_id)
            before = peak
            if held is not None and held[1] and base is not None:
                before = min(peak, max(Decimal(held[0]), base - after - net))
            gains[key] = [str(before), str(net)]
        after += net
    memo["synced"] = fills[-1].trade_id if fills else None
    for c in [c for c in opened if c not in positions]:
        del opened[c]
    for c in positions:
        if c not in opened:
            opened[c] = [str(peak), True]
    if len(positions) > 1:
        for held in opened.values():
            held[1] = False


def give_back(
    memo: dict[str, Any], voided: Iterable[int], peak: Decimal, frozen: bool = False
) -> Decimal:
    """The peak once the remembered trades among ``voided`` give back what they raised (each
    is forgotten; ``frozen``: the peak no longer moves, nothing is given back)."""
    gains: dict[str, list[str]] | None = memo.get("gains")
    if not gains:
        return peak
    for tid in voided:
        kept = gains.pop(str(tid), None)
        if kept is None or frozen:
            continue
        before, net = Decimal(kept[0]), Decimal(kept[1])
        peak = _without(peak, before, net)
        # the peaks remembered since (each holds the gain as the peak does), given back alike
        for held in (*gains.values(), *memo.get("opened", {}).values()):
            held[0] = str(_without(Decimal(held[0]), before, net))
    return peak


def _without(peak: Decimal, before: Decimal, net: Decimal) -> Decimal:
    """A peak without a voided gain of ``net`` whose trade's peak before it was ``before``:
    one remembered before the trade's record (never above ``before``) is left as it is."""
    return min(peak, max(before, peak - net))


def forget(memo: dict[str, Any]) -> None:
    """The daily reset: the day's trades are no longer given back."""
    memo.pop("gains", None)
