"""Whose exit a fill during a flatten is: ours, unless it is shown to be the trader's.

While a scope flattens, an exit fill of an order we do not know as ours is taken for our close
(the gateway's ``closeContract`` names no order: its fills may come before we know its id).
What shows it is his:

- an order of his that is not a market order (a protective stop or a limit he had working, or
  one he placed while we close: his exit sent into our reduce): ours are market orders. Such
  an order is recognised while it works and for a while after it ended (its final record may
  come before its fill);
- a market order (or an order not heard of yet) that none of the closes we sent could be
  (`sent`): its first record came before any of them went, or its size is more than any of
  them asked (beside a close whose order is known, one of its shape may still be ours: the
  close's order is known by its shape only). Market orders
  are remembered for a while after they ended too, with when their first record came. (While
  the account may not trade, such an order is the platform's liquidation, not his.)

An order that could be one of our closes stays ours, whatever else it could be: one of our
fills never counts as his (it would trip the rules that judge his trades). When his exit is
his, the rules that judge his trades (the loss streak, the revenge watch, the cooldown) see
it. Runtime only, bounded.
"""

from __future__ import annotations

from datetime import datetime

from fsm_risk.core.events import Fill, OrderType, Side
from fsm_risk.core.events import OrderUpdate as OrderEvent
from fsm_risk.core.models import AccountModel, ContractModel, Order
from fsm_risk.core.sent import SentCloses
from fsm_risk.core.states import State

#: ended orders of the trader's remembered per account (their fills arrive within moments)
KEEP = 256


class TraderOrders:
    """The trader's standing (not market) orders that ended lately, and his market orders
    (working or ended lately) with when the first record of each came (our clock); weighed
    against the closes we sent (``sent``)."""

    __slots__ = ("_ended", "_market", "sent")

    def __init__(self, sent: SentCloses) -> None:
        self.sent = sent
        self._ended: dict[int, dict[int, None]] = {}  # (as an ordered set)
        self._market: dict[int, dict[int, tuple[datetime, Side, int]]] = {}

    def seen(self, acct: AccountModel, order: Order, now: datetime) -> Order:
        """A working record of ``order`` came at ``now``. Returns it."""
        self._heard(acct, order.order_id, order.type, order.side, order.size, now)
        return order

    def ended(self, acct: AccountModel, ev: OrderEvent, order: Order | None, now: datetime) -> None:
        """An order left the working orders (``ev``: its final record, ``order``: what was
        known of it while it worked, None if nothing)."""
        if ev.order_id in acct.own_orders:
            return
        kind = ev.type if order is None else order.type
        self._heard(acct, ev.order_id, kind, ev.side, ev.size, now)
        if kind is OrderType.MARKET:
            return
        ended = self._ended.setdefault(acct.account_id, {})
        ended[ev.order_id] = None
        if len(ended) > KEEP:
            del ended[next(iter(ended))]

    def _heard(
        self, acct: AccountModel, oid: int, kind: OrderType, side: Side, size: int, now: datetime
    ) -> None:
        """A record of a market order not ours: the first one's time is kept."""
        if kind is not OrderType.MARKET or oid in acct.own_orders:
            return
        market = self._market.setdefault(acct.account_id, {})
        first = market.pop(oid, (now, side, size))[0]
        market[oid] = (first, side, size)
        if len(market) > KEEP:
            del market[next(iter(market))]

    def his_exit(self, acct: AccountModel, cm: ContractModel | None, ev: Fill) -> bool:
        """Whether ``ev``, an exit filled while its scope flattens, is the trader's: of a
        standing (not market) order of his, whenever he placed it; or of an order none of the
        closes we sent for its contract could be (see the module's docstring)."""
        oid = ev.order_id
        if oid in acct.own_orders:
            return False
        if acct.state is not State.Flattening and (cm is None or cm.state is not State.Flattening):
            return False
        working = acct.orders.get(oid)
        if working is not None and working.type is not OrderType.MARKET:
            return True
        if working is None and oid in self._ended.get(acct.account_id, {}):
            return True
        if cm is None or not acct.can_trade:  # (then an order not ours is the platform's)
            return False
        heard = self._market.get(acct.account_id, {}).get(oid)
        if heard is None:  # nothing heard of it yet: what its fill took, on its side
            return not self.sent.could_be(cm, oid, ev.side, ev.size, None)
        since, side, size = heard
        return not self.sent.could_be(cm, oid, side, max(size, ev.size), since)

    def whose(
        self, acct: AccountModel, cm: ContractModel | None, ev: Fill, entry: int, flattening: bool
    ) -> tuple[bool, bool]:
        """Whether a fill (``entry`` contracts of it opened exposure) is the service's own,
        and whether it is the platform's liquidation (an exit while the account may not
        trade, of an order neither ours nor shown to be the trader's)."""
        mine = ev.order_id in acct.own_orders
        his = entry == 0 and self.his_exit(acct, cm, ev)
        platform = not (acct.can_trade or his or mine) and entry == 0
        return not (platform or his) and (mine or (flattening and entry == 0)), platform
