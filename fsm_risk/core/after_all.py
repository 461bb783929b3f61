"""Trades a list brings that close a position settled without a fill.

A position found gone with no fill on its way waits for a confirmed balance, whose move
beyond the fills is booked as its settlement (`settled`). When its trade record was only
lost (the order event and the flat position came, the trade did not), a trades list later
holds that trade, never applied. Its P&L is in the balance: the list's books (rebuilt from
the trades) and the settlement would each count it, a -$250 exit booked -$500. So such a
trade is applied first, as the fill that came after all (`Settlement.before_fill`): it takes
its contracts off the position waiting to be settled, or takes its own P&L back from a
settlement already booked (`settled.take_back`), and the balance's move beyond the fills no
longer holds it. A position the list's trades do not close is settled as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fsm_risk.core.events import Fill, Side, TradesSnapshot

if TYPE_CHECKING:
    from fsm_risk.core.models import AccountModel


def came_listed(acct: AccountModel, ev: TradesSnapshot) -> tuple[Fill, ...]:
    """The list's trades never applied that close a position found gone without a fill
    (``acct.vanished``, or settled since: ``acct.settled``, flat since), oldest first, each
    no larger than what is left of it and newer than every fill applied in its contract: to
    apply before the list, as fills."""
    left = {c: n for c, (n, _, _) in acct.settled.items() if acct.net.get(c, 0) == 0}
    left |= acct.vanished
    if not left:
        return ()
    voided = set(acct.voided) | set(ev.voided or ())
    out: list[Fill] = []
    for t in ev.trades:
        n = left.get(t.contract_id, 0)
        delta = t.size if t.side is Side.BUY else -t.size
        if not n or (n > 0) == (delta > 0) or abs(delta) > abs(n):
            continue  # (none gone, or not a close of it)
        if t.voided or t.trade_id in voided or t.trade_id in acct.seen_trades:
            continue
        if any(f.contract_id == t.contract_id and f.at > t.at for f in acct.day.fills):
            continue  # older than a fill applied: not what closed it
        left[t.contract_id] = n + delta
        out.append(t)
    return tuple(out)
