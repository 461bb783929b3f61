"""What a reset missed while the service was stopped carried of each contract.

A live reset keeps the carry's part of each contract (`Book.carried`, which a fill stamped
before the boundary takes back: `late`). A reset applied at a restore (`Timers.catch_up`)
values the account as a whole, and the trades made while stopped redo it (`missed`), so
``carried`` stays empty there. Its part of each contract is kept beside it instead
(``Book.missed_carried``): each position held at the reset, valued at the price the reset
took, and the contracts it values. Nothing takes it back or redoes it but the resets' own
redo (a fill taking it back as well as the redo would take the carry back twice); it is only
read by a rule valuing a stale position (`RuleContext.stale_value`), and only where it keeps
a limit from firing later: a carried loss for a loss limit, a carried gain for a target.

Without it a position carried at a loss by a missed reset and quiet since had its whole loss
left out of the loss limit while the carry of it stayed taken off: long 3 MNQ carried at
-$600, the trader lost $1,600 on MES before a $1,000 limit fired.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

#: contract id -> (the value the reset carried of it, the contracts that value is of)
Split = dict[str, tuple[Decimal, int]]


def split_to_json(split: Mapping[str, tuple[Decimal, int]]) -> dict[str, list[Any]]:
    """JSON-able, exactly (money as strings)."""
    return {c: [str(v), n] for c, (v, n) in sorted(split.items())}


def split_from_json(d: Mapping[str, Any] | None) -> Split:
    """The split `split_to_json` stored (none for a book stored before it was kept)."""
    return {c: (Decimal(v), int(n)) for c, (v, n) in (d or {}).items()}


def held_split(values: Mapping[str, tuple[Decimal | None, int]]) -> Split:
    """The split of the positions held at a missed reset: each one's value (None: no price,
    it carried nothing) and its signed size; a flat contract carried nothing."""
    return {c: (v, abs(n)) for c, (v, n) in values.items() if n and v is not None}


def moved_over(split: Split, cid: str, before: int, made: Decimal) -> None:
    """The new period's fills of ``cid`` booked before the reset (`early`) moved its carry by
    ``made``: its part is then what was held at the boundary (``before``, signed), none for a
    contract they opened from flat."""
    if before == 0:
        split.pop(cid, None)
        return
    value, _ = split.get(cid, (Decimal(0), 0))
    split[cid] = (value + made, abs(before))
