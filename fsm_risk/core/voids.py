"""A trade the gateway voided: what its fill did to the books, given back.

The gateway voids a trade after the fact (the fill with ``voided`` true; its position and
balance updates follow, as if it had never been made). A fill of the day already applied
gives back its P&L and fees (the day's, the week's, and what awaits a balance update) and
leaves the day's fills. An older one is corrected by the next rebuild from the gateway's
trades, and a read of the balance its void moves.
"""

from __future__ import annotations

from fsm_risk.core.events import Fill
from fsm_risk.core.exits import Computed
from fsm_risk.core.models import AccountModel
from fsm_risk.core.pnl import realized_net
from fsm_risk.core.work import Work


def void(acct: AccountModel, ev: Fill, computed: Computed, work: Work) -> None:
    """Give back what the voided trade ``ev`` did (see the module's docstring); a trade never
    applied is remembered as seen, so that its record, should it come, is never applied."""
    if ev.trade_id not in acct.seen_trades:
        acct.seen_trades[ev.trade_id] = ev.at  # never applied: nothing to take back
        work.new_voids.append((acct.account_id, ev.trade_id, ev.at))
        return
    computed.void(acct, ev.trade_id)
    record = next((f for f in acct.day.fills if f.trade_id == ev.trade_id), None)
    if record is None:
        return
    acct.day.drop_fill(record)
    work.new_voids.append((acct.account_id, ev.trade_id, ev.at))
    net = realized_net(record.pnl, record.fees)
    acct.pending_realized -= net
    acct.day.realized -= net
    acct.day.fees -= record.fees
    if record.at >= acct.week.start:
        acct.week.realized -= net
        acct.week.fees -= record.fees
