"""Whose exit a fill during a flatten is: ours, unless it is of a standing order of the trader's.

While a scope flattens, an exit fill of an order we do not know as ours is taken for our close
(the gateway's ``closeContract`` names no order: its fills may come before we know its id).
An order of the trader's that stood before the flatten began (a protective stop or a limit
he had working) is not our close, though: ours are market orders sent since. When it fills
first, the trade is his, and the rules that judge his trades (the loss streak, the revenge
watch, the cooldown) must see it. Such an order is recognised while it works and for a while
after it ended (its final record may come before its fill). It stood before the flatten when
we saw it working by then (our clock: a bracket's stop placed with the entry that breached),
or when the gateway stamped it more than `SKEW` before (an order read after a restart).
Runtime only, bounded.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fsm_risk.core.events import OrderType
from fsm_risk.core.models import AccountModel, ContractModel, Order
from fsm_risk.core.states import State

#: how far the gateway's clock may be behind ours (as `ledger.CLOCK_SKEW`)
SKEW = timedelta(seconds=5)
#: ended orders of the trader's remembered per account (their fills arrive within moments)
KEEP = 256


class TraderOrders:
    """When the working orders were first seen (our clock); the creation time (the gateway's)
    and first sighting of the trader's standing (not market) orders that ended lately."""

    __slots__ = ("_ended", "_seen")

    def __init__(self) -> None:
        self._ended: dict[int, dict[int, tuple[datetime, datetime | None]]] = {}
        self._seen: dict[int, dict[int, datetime]] = {}

    def seen(self, acct: AccountModel, order: Order, now: datetime) -> Order:
        """A working record of ``order`` came at ``now``: the first is kept. Returns it."""
        seen = self._seen.setdefault(acct.account_id, {})
        if order.order_id not in seen:
            seen[order.order_id] = now
            if len(seen) > 4 * KEEP:
                del seen[next(iter(seen))]
        return order

    def ended(self, acct: AccountModel, order: Order | None) -> None:
        """An order left the working orders (``order``: its record, None if not known)."""
        if order is None:
            return
        first = self._seen.get(acct.account_id, {}).pop(order.order_id, None)
        if order.type is OrderType.MARKET or order.order_id in acct.own_orders:
            return
        ended = self._ended.setdefault(acct.account_id, {})
        ended[order.order_id] = (order.created_at, first)
        if len(ended) > KEEP:
            del ended[next(iter(ended))]

    def placed_before(self, acct: AccountModel, cm: ContractModel | None, order_id: int) -> bool:
        """Whether ``order_id`` is a standing order of the trader's, placed before the flatten
        of its scope began: seen working by then, or stamped more than `SKEW` before."""
        if order_id in acct.own_orders:
            return False
        began = acct.flatten_started if acct.state is State.Flattening else None
        if cm is not None and cm.state is State.Flattening and cm.close_sent_at is not None:
            began = cm.close_sent_at if began is None else min(began, cm.close_sent_at)
        if began is None:
            return False
        working = acct.orders.get(order_id)
        if working is not None and working.type is OrderType.MARKET:
            return False  # (as our closes are)
        known = (
            (working.created_at, self._seen.get(acct.account_id, {}).get(order_id))
            if working is not None
            else self._ended.get(acct.account_id, {}).get(order_id)
        )
        if known is None:
            return False
        created, first = known
        return created < began - SKEW or (first is not None and first <= began)

    def whose(
        self,
        acct: AccountModel,
        cm: ContractModel | None,
        order_id: int,
        entry: int,
        flattening: bool,
    ) -> tuple[bool, bool]:
        """Whether a fill (``entry`` contracts of it opened exposure) is the service's own,
        and whether it is the platform's liquidation (an exit while the account may not
        trade, of an order neither ours nor a standing one of the trader's)."""
        mine = order_id in acct.own_orders
        his = entry == 0 and self.placed_before(acct, cm, order_id)
        platform = not (acct.can_trade or his or mine) and entry == 0
        return not (platform or his) and (mine or (flattening and entry == 0)), platform
