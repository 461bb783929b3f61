"""Whether a price is a position's own: stamped after the position was opened or last grown.

A price from before a position (its opening, or an add since) is no price of it: 4 ES bought
at 6010 valued at a 6000 saved before them read -$2,000 on a day nothing was lost. A price
after it values it: the gateway's price at a reset missed since the stop is the position's
value there, and the carry of that reset counts it (valued at nothing, the new day read the
carry's opposite: -$2,000, flattened and locked, or +$2,000 at a profit target).

A position restored unpriced (``waiting``: opened or grown since its contract's last price
known at the stop) is valued only at a price read at a reset missed since the stop (`learned`
in this restore, or by its trades read: `PricesAtReset`) or at a quote of this run; never at a
mark saved at a stop (its stamp may even pass its opening: another holder's quote without its
side). Rows saved before the flag existed say nothing of it: both stamps still hold.

A position valued at the stop (``priced``, saved with it), as restored, was valued at the mark
saved, with every add made since it: the engine priced the add at that mark, the part held
before it too. Its adds are not asked: refused, the part held before the add lost its value
with it (1 ES held at -$900, 3 added just after the last quote: the 4 ES restored at $0 until a
quote, or carried at $0 by a missed reset whose price was not read: yesterday's -$900 counted
on the new day, a $1,000 daily limit fired at a real loss of $100).
"""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.events import Side
from fsm_risk.core.mark import Mark
from fsm_risk.core.models import AccountModel, Position

#: the gateway's average price is a float: two readings of one position differ below this
AVERAGE_NOISE = Decimal("0.000001")


def owns(acct: AccountModel, pos: Position, mark: Mark | None, since_stop: bool) -> bool:
    """Whether ``mark`` may value ``pos``: stamped at or after its opening and after every
    fill of the day's journal that added to it (unless restored valued at the stop and
    ``mark`` saved then), and, for one ``waiting``, a price known since the stop
    (``since_stop``: a quote of this run, a price read at a reset missed since)."""
    if mark is None or mark.at < pos.opened_at:
        return False
    if pos.stored and pos.waiting is False and not since_stop:
        return True  # valued at it at the stop, its adds since too (the engine's own value)
    cid = pos.contract_id
    adds = Side.BUY if pos.long else Side.SELL
    if any(f.contract_id == cid and f.side is adds and f.at > mark.at for f in acct.day.fills):
        return False
    return since_stop or not pos.waiting


def reopened(old: Position, pos: Position, mark: Mark | None) -> bool:
    """Whether a read's ``pos`` (same side, no larger) is other than the ``old`` one valued at
    ``mark``: opened after it (closed and bought back while stopped: 4 ES bought again at 6010
    read -$2,000 at the 6000 saved before, flattened and locked, truth $0), or its average
    moved (2 of 4 sold and bought back at 6010: 2 of them valued at a price from before them).
    Its value then waits for a price of its own, as one grown does."""
    opened_since = mark is not None and pos.opened_at > mark.at
    return opened_since or abs(pos.average_price - old.average_price) > AVERAGE_NOISE
