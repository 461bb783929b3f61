"""Where a replay's events come from: the service's journal (in the database), or the
gateway's own history when there is no journal (see `fsm_risk.adapters.history`)."""

from __future__ import annotations

import json
from datetime import datetime

from fsm_risk.adapters.journal import START
from fsm_risk.adapters.store import Store
from fsm_risk.core import codec
from fsm_risk.replay import Entry


def journal_entries(
    store: Store,
    account_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Entry]:
    """The journal's rows in the order handled, decoded (one account's, with ``account_id``)."""
    out = []
    for at, acc, kind, data in store.journal(account_id, since, until):
        instant = datetime.fromisoformat(at)
        if kind == START:
            acc_id, name = json.loads(data)
            out.append(Entry(instant, int(acc_id), None, str(name)))
        else:
            out.append(Entry(instant, acc, codec.decode(kind, data)))
    return out


def own_fills(store: Store, account_id: int) -> tuple[set[int], set[int]]:
    """The trade and order ids of the live service's own enforcement fills."""
    trades, orders = set(), set()
    for f in store.fills(account_id):
        if f.enforcement:
            trades.add(f.trade_id)
            orders.add(f.order_id)
    return trades, orders
