"""Contracts our own close opened on the other side, and their close.

Our reduce (or close) and a market exit of the trader's can work side by side at the
gateway: long 5, our sell 2 working, the trader sends sell 5 (the SDK's close_position).
`exposure.overshoots` withdraws ours as soon as the exit is seen, but the race cannot always
be won: both may fill, and the account is short 2, a position the service made. This module
notices it from the fills, whatever the order they come in, and has what ours opened closed
at once (``CLOSE_OVERSHOT``, a CRITICAL alert saying so):

- a fill of ours that takes the position past zero (the trader's exit filled first) opened
  what it took past zero;
- a fill of the trader's that takes the position past zero, of an order that was working (or
  filled, its trades on their way) when a fill of ours came, opened at most what ours had
  reduced: without ours, it would have gone that much less far.

Only what our order opened is closed: a trader who reverses by his own order (long 5, sell 7)
keeps the short 2 he asked for, and an order he places once ours has filled (he saw the
position it left) is his alone. Bounded: each contract opened is closed once, and a close of
ours sent for an overshoot that overshoots in turn (the trader traded against it) is only
alerted, never closed again. Runtime only: a restart reads the gateway's positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from fsm_risk.core.effects import Alert, Effect, Level
from fsm_risk.core.events import Fill, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.sources import ENGINE
from fsm_risk.core.states import State
from fsm_risk.core.unlock import causes

if TYPE_CHECKING:
    from fsm_risk.core.flatten import Flatten
    from fsm_risk.core.models import AccountModel


@dataclass
class Beside:
    """What fills of ours reduced on ``side`` while orders of the trader's (``orders``) were
    working on that side: filled too, they take the position that much further."""

    side: Side
    left: int = 0
    #: by order id, its size then (0: filled, its trades on their way): one the trader made
    #: larger since (he saw the position ours left) is his alone
    orders: dict[int, int] = field(default_factory=dict)
    again: bool = False  # (ours was a close sent for an earlier overshoot)


def _grown(acct: AccountModel, ev: Fill, then: int) -> bool:
    """Whether the trader made his order larger than it was (``then``) when a fill of ours
    came: it fills more than that, or works larger. Its fill past zero is then his own
    reversal (he saw the position ours left), not what ours took it further."""
    if then <= 0:
        return False  # (filled then: its size could not change)
    o = acct.orders.get(ev.order_id)
    return acct.day.filled(ev.order_id) + ev.size > then or (o is not None and o.size > then)


class Overshot:
    """Notices, fill by fill, what our closes opened on the other side (`fill`), and has it
    closed (`close`)."""

    def __init__(self) -> None:
        self.beside: dict[tuple[int, str], Beside] = {}
        #: what our fills opened, by (account, contract), not closed yet; and whether it was
        #: opened by a close of ours sent for an earlier overshoot (alerted, not closed again)
        self.opened: dict[tuple[int, str], tuple[int, bool]] = {}

    def fill(self, acct: AccountModel, ev: Fill, before: int, after: int) -> None:
        """A fill was booked: the running size in its contract went from ``before`` to
        ``after`` (signed). Notes what of it our orders opened on the other side."""
        key = (acct.account_id, ev.contract_id)
        sign = 1 if ev.side is Side.SELL else -1  # the size as long, seen from the fill's side
        past = max(0, -sign * after) - max(0, -sign * before)  # what it took past zero
        b = self.beside.get(key)
        if ev.order_id in acct.own_orders:
            cm = acct.contracts.get(ev.contract_id)
            again = cm is not None and cm.reason is Reason.CLOSE_OVERSHOT
            if past > 0:
                self._add(key, past, again=again)
            working = {oid: 0 for oid, (c, _, _) in acct.filling.items() if c == ev.contract_id}
            working.update(
                (o.order_id, o.size)
                for o in acct.orders.values()
                if o.contract_id == ev.contract_id
                and o.side is ev.side
                and o.order_id not in acct.own_orders
            )
            if working and ev.size > past:
                if b is None or b.side is not ev.side:
                    b = self.beside[key] = Beside(ev.side)
                b.left += ev.size - past
                for oid, size in working.items():
                    b.orders.setdefault(oid, size)
                b.again = b.again or again
        elif (
            b is not None
            and ev.order_id in b.orders
            and ev.side is b.side
            and past > 0
            and not _grown(acct, ev, b.orders[ev.order_id])
        ):
            mine = min(past, b.left)
            b.left -= mine
            if mine:
                self._add(key, mine, again=b.again)
        if b is not None and (
            b.left <= 0 or not any(o in acct.orders or o in acct.filling for o in b.orders)
        ):
            self.beside.pop(key, None)

    def _add(self, key: tuple[int, str], n: int, *, again: bool) -> None:
        had, was_again = self.opened.get(key, (0, False))
        self.opened[key] = (had + n, was_again or again)

    def close(self, flatten: Flatten, acct: AccountModel, now: datetime, out: list[Effect]) -> None:
        """Close what our fills opened (a CRITICAL alert each): the contract flattens to what
        it holds less that (a close of all when the trader holds nothing of his own there)."""
        for key in [k for k in self.opened if k[0] == acct.account_id]:
            n, again = self.opened.pop(key)
            cid = key[1]
            net = acct.net.get(cid, 0)
            held = abs(net)
            where = f"{'long' if net > 0 else 'short'} {held} held" if net else "flat now"
            cm = flatten.work.contract(acct, cid)
            if again:
                out.append(
                    Alert(
                        Level.CRITICAL,
                        Reason.CLOSE_OVERSHOT,
                        f"our close of {cid} sent for an earlier overshoot opened {n} more on "
                        f"the other side ({where}): not closed again; close them at the platform",
                        acct.account_id,
                        cid,
                    )
                )
                if cm.state is State.Flattening and cm.reason is Reason.CLOSE_OVERSHOT:
                    cm.target_size = max(cm.target_size, held)  # (bounded: no third close)
                    if cm.own_target is not None:
                        cm.own_target = max(cm.own_target, held)
                continue
            target = max(0, held - n)
            out.append(
                Alert(
                    Level.CRITICAL,
                    Reason.CLOSE_OVERSHOT,
                    f"our close of {cid} filled beside the trader's own exit and opened {n} "
                    f"contract(s) on the other side ({where}): closing the {min(n, held)} it "
                    f"opened at once",
                    acct.account_id,
                    cid,
                )
            )
            if cm.state is State.Flattening:
                if target < cm.target_size:
                    cm.target_size, cm.reason = target, Reason.CLOSE_OVERSHOT
                # its own close, whatever else it closes: an admin's unlock of the account
                # that asked the rest still closes what ours opened (and only that: closing
                # for the account alone, it has no target of its own below it)
                own = cm.target_size if cm.own_target is None else cm.own_target
                if cm.own_target is None and set((cm.rule_id or ENGINE).split(",")) <= causes(acct):
                    own = target
                cm.own_target = min(own, target)
            elif cm.state is State.Trading and held > target:
                flatten.breach(
                    acct,
                    cm,
                    [],
                    out,
                    target=target,
                    cancel_orders=False,
                    now=now,
                    rule_id=cm.rule_id or ENGINE,
                    reason=Reason.CLOSE_OVERSHOT,
                    detail=f"close the {n} contract(s) our close opened on the other side",
                )
                cm.own_target = target  # its own close: an admin's unlock leaves it closing
            # (a locked contract: its lock closes the position anyway)
