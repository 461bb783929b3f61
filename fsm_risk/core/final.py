"""The orders each account saw reach a final state, kept compactly: news older than them.

Nothing happens to an order once it is filled, cancelled, expired or rejected, so a record
of it that says it works came from before: the user hub may deliver one order's records out
of order (Filled, then the Pending it passed through), and a read lists an order working that
ended live while the read ran. Either would bring back an order that no longer works (a
phantom exit that a flatten's close would wait for). A final record wins over one that is
not, whatever the order they arrive in. Runtime only: after a restart the start-up read is
the truth.
"""

from __future__ import annotations

from array import array

from fsm_risk.core.events import OrderStatus

FINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
)

#: final orders remembered per account: one order's records arrive within moments of each
#: other (and a read lists what worked when it began), far fewer orders than this apart
KEEP = 256


class FinalOrders:
    """The ids of the last `KEEP` orders of each account seen final, in a ring of 64-bit
    integers per account (2 KiB); a lookup scans it (a few hundred integers, in C)."""

    __slots__ = ("_ids", "_keep", "_next")

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._ids: dict[int, array[int]] = {}
        self._next: dict[int, int] = {}  # the slot the next id overwrites, once full

    def add(self, account_id: int, order_id: int) -> None:
        ids = self._ids.setdefault(account_id, array("q"))
        if order_id in ids:
            return
        if len(ids) < self._keep:
            ids.append(order_id)
            return
        k = self._next.get(account_id, 0)
        ids[k] = order_id
        self._next[account_id] = (k + 1) % self._keep

    def has(self, account_id: int, order_id: int) -> bool:
        ids = self._ids.get(account_id)
        return ids is not None and order_id in ids
