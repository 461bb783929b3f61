"""The trader's protective orders around a reduce of ours.

A trader long 5 with a sell stop of 5 (and a take-profit of 5) who is reduced to 3 keeps
orders of 5 at the gateway, which does not resize them when the position shrinks: the stop,
reached, would sell 5 and leave the account short 2, a position our reduce made. So every
working order of the trader's on the closing side that the reduce leaves larger than what
remains, yet was no larger than the position before it, is resized to what remains, in the
same batch as the reduce (still protecting the 3: cancelled, they would be naked). An order
already larger than the position before the reduce was the trader's choice and is left alone;
so are orders on the opening side. A bracket child still suspended counts too: the gateway
may report the entry's fill before it makes the children live.
"""

from __future__ import annotations

from fsm_risk.core.effects import Alert, Effect, Level, ResizeOrder
from fsm_risk.core.events import EnforcementRejected
from fsm_risk.core.models import AccountModel, ContractModel, Order, Position
from fsm_risk.core.reasons import Reason
from fsm_risk.core.settlement import open_size


def label(o: Order) -> str:
    """What the order is, in words: ``sell stop``, ``buy limit``, ``sell trailing stop``."""
    return f"{o.side.name.lower()} {o.type.name.lower().replace('_', ' ')}"


def resized(acct: AccountModel, cm: ContractModel, pos: Position) -> list[ResizeOrder]:
    """The resizes to send with a reduce of ``pos`` to ``cm.target_size`` (none with a full
    close: its sweep cancels the orders). An order whose resize is on its way counts at the
    size asked, so the next reduce resizes only what is still over its own target."""
    target, before = cm.target_size, open_size(pos)
    if target <= 0:
        return []
    out = []
    for o in sorted(acct.orders.values(), key=lambda o: o.order_id):
        size = o.size if o.resize_to is None else o.resize_to
        if (
            o.contract_id != cm.contract_id
            or o.side is not pos.closing_side
            or o.order_id in acct.own_orders
            or o.cancel_sent_at is not None
            or not target < size <= before
        ):
            continue
        o.resize_to = target
        out.append(
            ResizeOrder(
                acct.account_id,
                o.order_id,
                o.contract_id,
                target,
                size,
                label(o),
                cm.rule_id,
                Reason.ORDER_RESIZED,
            )
        )
    return out


def refused(acct: AccountModel, ev: EnforcementRejected, out: list[Effect]) -> bool:
    """The gateway refused a resize of ours (True; False: the refusal is of something else).
    It is not re-sent: the trader is told which order to resize or cancel. Refused because
    the order is done or already small enough, it is a race lost, said as such."""
    if ev.resize is None or ev.order_id is None:
        return False
    o = acct.orders.get(ev.order_id)
    if o is not None:
        o.resize_to = None  # not on its way any more
    where = ev.contract_id or (o.contract_id if o is not None else "?")
    if ev.overtaken or o is None or o.size <= ev.resize:
        out.append(
            Alert(
                Level.INFO,
                Reason.OVERTAKEN,
                f"resize of order {ev.order_id} in {where} to {ev.resize} not needed: the "
                f"order is done or no larger at the gateway ({ev.message})",
                acct.account_id,
                ev.contract_id,
            )
        )
        return True
    pos = acct.positions.get(o.contract_id)
    held = pos.size if pos is not None else 0
    out.append(
        Alert(
            Level.CRITICAL,
            Reason.CLOSE_REJECTED,
            f"{label(o)} order {o.order_id} in {where} ({o.size} contracts) could not be "
            f"resized to {ev.resize} ({ev.message}): {held} held; resize it to {ev.resize} or "
            f"cancel it at the platform, or filled whole it reverses the position",
            acct.account_id,
            ev.contract_id,
        )
    )
    return True
