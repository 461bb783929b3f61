"""Quotes that waited together: a run of quotes taken from the queue at once, with nothing
else among them, is judged as one quote per contract.

A quote carries only the fields that changed (a new bid, or a print), so dropping all but the
latest would lose the only word of a field. Here the run's quotes of a contract become one, in
the place of its first, each price field the latest word heard of it and stamped as the latest:
the mark it leaves is the one the quotes one by one would have left (`core.quotes` keeps each
field's latest word the same way). What a later quote superseded while both waited is not
judged on its own (it was no longer the price when its turn came), and the merged quote is what
the engine is given, so it is what the journal records. Only what waited together is merged: a
consumer that keeps up takes the quotes one by one and judges every one of them.

A quote is merged only with the newer quotes after it, and only when it is not older than its
contract's mark, nor than a quote of its contract earlier in the batch (which will have moved
the mark by its turn): the engine ignores such a quote, merged its fields would move the mark. A
quote older than the mark, or older than the run's quote of its contract, is left as it is for
the engine to judge (after the run, for the second), as it would have been.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from fsm_risk.core.events import Quote
from fsm_risk.core.records import Mark


def merged(first: Quote, then: Quote) -> Quote:
    """One quote of both (``then`` heard after ``first``, not older): its fields where it has
    them, ``first``'s where it has none."""
    return Quote(
        first.contract_id,
        then.at,
        first.last if then.last is None else then.last,
        first.bid if then.bid is None else then.bid,
        first.ask if then.ask is None else then.ask,
    )


def waited[T](items: Sequence[T], marks: Mapping[str, Mark]) -> list[T]:
    """``items`` with each run of quotes merged per contract (see the module); everything
    else in its place. ``marks``: the engine's marks, by contract."""
    out: list[T] = []
    run: dict[str, int] = {}  # contract id -> its merged quote's index in ``out``
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
        at = run.get(cid)
        if at is None:
            mark = marks.get(cid)
            seen = newest.get(cid)
            if (mark is None or mark.at <= it.at) and (seen is None or seen <= it.at):
                run[cid] = len(out)
            if seen is None or seen < it.at:
                newest[cid] = it.at
            out.append(it)  # (older than the mark: as it is, never merged)
            continue
        held = cast(Quote, out[at])
        if it.at < held.at:
            late.append(it)
        else:
            out[at] = cast(T, merged(held, it))
            newest[cid] = it.at
    out.extend(late)
    return out
