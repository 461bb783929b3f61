"""Our close: the effect that sends it, and which of the gateway's order events is its order.

A close of the whole position goes when the target is 0, a reduce of what is over it else
(never more than is open). The gateway's answer to a close names no order
(`/Position/closeContract` and `/Position/partialCloseContract` answer the envelope only),
so its order is recognised among the order events: a market order on the closing side, new
to us, of the size asked (a reduce), or for a close of the whole position of what was open
when it was sized or is open now (the gateway sizes it from what is open as it executes).

Nothing tells such an order from the trader's own market exit of the same side and size
placed at the same moment; what narrows it: an order reported while our close waits for its
turn in the request budget (`CloseWaiting`) is never ours. Seen with a trader exiting while
closes waited for a full request window: his exit was taken for our close, judged done, and
the close went later beside his next trade.
"""

from __future__ import annotations

from fsm_risk.core.contract import ContractModel
from fsm_risk.core.effects import ClosePosition, ReducePosition
from fsm_risk.core.events import OrderType
from fsm_risk.core.events import OrderUpdate as OrderEvent
from fsm_risk.core.models import AccountModel, Position
from fsm_risk.core.reasons import Reason
from fsm_risk.core.settlement import open_size


def close_effect(
    acct: AccountModel, cm: ContractModel, pos: Position, seq: int
) -> ClosePosition | ReducePosition | None:
    """The close (number ``seq``) that takes ``pos`` to the contract's target (None: it is
    there already: fills took it)."""
    reason, attempt = cm.reason or Reason.POSITION_WHILE_LOCKED, max(cm.attempts, 1)
    if cm.target_size <= 0:
        return ClosePosition(acct.account_id, cm.contract_id, reason, cm.rule_id, attempt, seq)
    excess = open_size(pos) - cm.target_size
    if excess <= 0:
        return None
    return ReducePosition(acct.account_id, cm.contract_id, excess, reason, cm.rule_id, attempt, seq)


def is_our_close(acct: AccountModel, cm: ContractModel, ev: OrderEvent, waiting: bool) -> bool:
    """Whether ``ev`` is the order of the close in flight for ``cm`` (not yet recognised);
    ``waiting``: that close has not gone yet (it waits for the request budget)."""
    if (
        waiting
        or ev.order_id in acct.orders
        or ev.order_id in acct.own_orders
        or ev.type is not OrderType.MARKET
        or ev.side is not cm.close_side
    ):
        return False
    want = cm.close_size or cm.close_basis
    if not want or ev.size == want:
        return True
    pos = acct.positions.get(cm.contract_id)  # (on the side ours closes: not his add to it)
    return (
        not cm.close_size
        and pos is not None
        and pos.closing_side is cm.close_side
        and ev.size == open_size(pos)
    )
