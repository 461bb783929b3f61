"""A protective stop of the trader's that a lock would cancel only for its size.

Under a lock that keeps a position (RULE-007's lock without flatten) the trader may exit.
His stop sized for more than he holds now (he sold 2 of a long 3 and the bracket's stop is
still 3; an entry of 3 filled 1, its rest cancelled by the lock, leaves its bracket at 3)
would, reached, sell past flat: as it is, it is an order that would open a position. Cut to
what is left of the position for it (`exposure.room`), it only reduces and the position
keeps its stop; cancelled, the position is left with none while the lock lasts. So it is
resized, once per size of it: a resize refused, or unanswered for `RESIZE_WAIT`, leaves it
to be cancelled on sight, as any order that would open a position. A limit too large is
cancelled as before (the trader's exit at a price, not his protection)."""

from __future__ import annotations

from datetime import datetime

from fsm_risk.core.brackets import label
from fsm_risk.core.effects import Effect, ResizeOrder
from fsm_risk.core.events import OrderType
from fsm_risk.core.exposure import room, unfilled
from fsm_risk.core.models import AccountModel, Order
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State


def shrink(
    acct: AccountModel, o: Order, rule_id: str | None, now: datetime, out: list[Effect]
) -> bool:
    """Resize ``o`` to what it may fill and still only reduce rather than cancel it (True:
    sent, or one sent is on its way, or it waits for a market exit beside it to fill). Only
    a stop (stop, stop-limit, trailing stop) of the trader's on the closing side of a
    position that is not being closed whole (a close of everything cancels its exits:
    `brackets`); never twice for one size of it (``o.shrunk``). A market exit of the
    trader's beside it is waited for (it may be refused); a close of ours is not: the stop
    is cut at once to what the close leaves (the two could fill past flat together only while
    the cut is on its way). False: cancel it."""
    pos = acct.positions.get(o.contract_id)
    cm = acct.contracts.get(o.contract_id)
    if (
        pos is None
        or o.side is not pos.closing_side
        or not o.type.is_stop
        or o.order_id in acct.own_orders
        or o.cancel_sent_at is not None
        or (cm is not None and cm.state is State.Flattening and cm.target_size == 0)
    ):
        return False
    o.expire(now)  # (a resize unanswered past its wait is on its way no more)
    if o.shrunk:
        return o.resize_to is not None  # on its way; refused or unanswered: cancelled
    if room(acct, o, markets=False) >= unfilled(acct, o) and any(
        p.type is OrderType.MARKET
        and p.side is o.side
        and p.contract_id == o.contract_id
        and p.order_id not in acct.own_orders
        for p in acct.orders.values()
    ):
        return True  # right for what is held: judged again once his market exit fills
    left = room(acct, o)  # (after our close: cut now, never left to fill beside it)
    if left <= 0:
        return False
    if o.resize_to is not None and o.resize_to - o.fill_volume <= left:
        return True  # a resize of ours (for our reduce: `brackets`) fits, on its way
    size = o.fill_volume + left  # (a modify's size is the order's total)
    was = o.size
    o.ask(size, now)
    o.shrunk = True
    out.append(
        ResizeOrder(
            acct.account_id,
            o.order_id,
            o.contract_id,
            size,
            was,
            label(o),
            rule_id,
            Reason.ORDER_RESIZED,
            o.fill_volume,
        )
    )
    return True
