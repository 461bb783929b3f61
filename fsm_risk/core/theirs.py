"""Whose exit a fill during a flatten is: ours, unless it is of a standing order of the trader's.

While a scope flattens, an exit fill of an order we do not know as ours is taken for our close
(the gateway's ``closeContract`` names no order: its fills may come before we know its id).
An order of the trader's that is not a market order (a protective stop or a limit he had
working, or one he placed while we close: his exit sent into our reduce) is not our close,
though: ours are market orders. When it fills first, the trade is his, and the rules that
judge his trades (the loss streak, the revenge watch, the cooldown) must see it. Such an order
is recognised while it works and for a while after it ended (its final record may come before
its fill). Runtime only, bounded.
"""

from __future__ import annotations

from datetime import datetime

from fsm_risk.core.events import OrderType
from fsm_risk.core.models import AccountModel, ContractModel, Order
from fsm_risk.core.states import State

#: ended orders of the trader's remembered per account (their fills arrive within moments)
KEEP = 256


class TraderOrders:
    """When the working orders were first seen (our clock); the trader's standing (not market)
    orders that ended lately."""

    __slots__ = ("_ended", "_seen")

    def __init__(self) -> None:
        self._ended: dict[int, dict[int, None]] = {}  # (as an ordered set)
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
        self._seen.get(acct.account_id, {}).pop(order.order_id, None)
        if order.type is OrderType.MARKET or order.order_id in acct.own_orders:
            return
        ended = self._ended.setdefault(acct.account_id, {})
        ended[order.order_id] = None
        if len(ended) > KEEP:
            del ended[next(iter(ended))]

    def placed_before(self, acct: AccountModel, cm: ContractModel | None, order_id: int) -> bool:
        """Whether ``order_id``, filled while its scope flattens, is a standing (not market)
        order of the trader's: never our close (ours are market orders), whenever he placed it,
        before the flatten began or while it runs. A market order may be ours (the gateway's
        close names no order): it stays ours."""
        if order_id in acct.own_orders:
            return False
        if acct.state is not State.Flattening and (cm is None or cm.state is not State.Flattening):
            return False
        working = acct.orders.get(order_id)
        if working is not None:
            return working.type is not OrderType.MARKET
        return order_id in self._ended.get(acct.account_id, {})

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
