"""A working order as the gateway last told it, and what the service has asked of it.

Kept apart from `records` (the other records of the broker's view) so that what the service
changes of a trader's order (its cancel, its resize, see `brackets`) has room to be said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk.core.effects import CancelOrder
from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.records import _dec, _dt, _pdec, _pdt, _req

#: how long resizes of ours may stay unanswered before the order's last word is taken as its
#: size (the gateway takes a modify within a second; its word may be lost)
RESIZE_WAIT = timedelta(seconds=10)


@dataclass(slots=True)
class Order:
    order_id: int
    contract_id: str
    status: OrderStatus
    type: OrderType
    side: Side
    size: int
    created_at: datetime
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    custom_tag: str | None = None
    cancel_sent_at: datetime | None = None
    cancel_attempts: int = 0
    #: the order's size before we shrank it for a reduce of ours, until that reduce is done
    #: (or the order given back, see `brackets.restore`): stored, for a restart cannot read it
    #: from the gateway, which knows the order only at its new size
    resized_from: int | None = None
    #: the position that first resize was judged against (the reduce's basis): what a reduce
    #: ended short gives back is measured from it (see `brackets.restore`); stored with it
    resized_basis: int | None = None
    #: contracts of it filled already (the gateway's ``fillVolume``): ``size`` is the order's
    #: total, what is left to fill is `open`, and a modify's size is read as the total
    fill_volume: int = 0
    #: the size our last resize asked, until the gateway shows the order at it (runtime)
    resize_to: int | None = None
    #: the sizes asked by resizes of ours sent before that one and not seen yet, oldest
    #: first (a size given back, 3 -> 5, then the next reduce's 5 -> 3: runtime)
    earlier: tuple[int, ...] = ()
    #: when the last of those resizes was asked (runtime; see `expire`)
    asked_at: datetime | None = None
    #: when our first cancel of it went (``cancel_sent_at`` moves with every re-send and
    #: refusal): how long the order has stayed working since we asked it gone (stored)
    cancel_since: datetime | None = None
    #: the gateway's last answer to our cancel was a refusal (runtime)
    cancel_refused: bool = False
    #: our cancel was asked by a lock or flatten of its scope (`Pursuit.cancel`, not a leg of
    #: a position we closed): it stands only while one covers the order (`cancels.lifted`)
    lock_cancel: bool = False
    #: a lock resized this stop of the trader's to what the position holds (`shrink`): not
    #: again at this size (runtime; any size seen since, the answer or his own, ends it)
    shrunk: bool = False

    @property
    def open(self) -> int:
        """What is left to fill: the contracts it can still buy or sell."""
        return max(0, self.size - self.fill_volume)

    def ask(self, size: int, now: datetime) -> None:
        """A resize of ours to ``size`` is on its way (after any still on theirs)."""
        if self.resize_to is not None:
            self.earlier = (*self.earlier, self.resize_to)
        self.resize_to, self.asked_at = size, now

    def expire(self, now: datetime) -> None:
        """Resizes unanswered `RESIZE_WAIT` after the last was asked are on their way no
        more: the order is at the size its last word shows. A word can be lost (a hub drop):
        both of two resizes taken with only the last word heard, at the size the word before
        showed, would otherwise stay on their way for good (no size given back, the next
        reduce's resize not sent)."""
        at = self.asked_at
        if self.resize_to is not None and at is not None and now >= at + RESIZE_WAIT:
            self.unask()

    def unask(self, size: int | None = None) -> None:
        """The resize to ``size`` is not on its way any more (refused); None: none is."""
        pending = (*self.earlier, self.resize_to) if self.resize_to is not None else ()
        if size is None:
            pending = ()
        elif size in pending:
            k = len(pending) - 1 - pending[::-1].index(size)
            pending = pending[:k] + pending[k + 1 :]
        self.resize_to = pending[-1] if pending else None
        self.earlier = pending[:-1]
        if not pending:
            self.asked_at = None

    def follows(self, old: Order | None) -> Order:
        """This word on the order, keeping what the service asked of it (``old``): its
        cancel, its size before our resize, and the resizes on their way. A word still showing
        the size the last word showed is not an answer (the gateway sent it before it took the
        resize: the bracket child made live, a price moved); one at a size a resize of ours
        asked answers that resize and those sent before it, not those sent after (the size
        given back, 3 -> 5, seen late while the next reduce's 5 -> 3 is on its way). Another
        size is the trader's own change, which overtakes them all."""
        if old is not None:
            self.cancel_sent_at, self.cancel_attempts = old.cancel_sent_at, old.cancel_attempts
            self.cancel_since, self.cancel_refused = old.cancel_since, old.cancel_refused
            self.lock_cancel = old.lock_cancel
            self.shrunk = old.shrunk and self.size == old.size
            self.resized_from, self.resized_basis = old.resized_from, old.resized_basis
            self.fill_volume = max(self.fill_volume, old.fill_volume)  # (a word may omit it)
            pending = (*old.earlier, old.resize_to) if old.resize_to is not None else ()
            if self.size == old.size:
                pass  # not an answer: all still on their way
            elif self.size in pending:
                pending = pending[len(pending) - pending[::-1].index(self.size) :]
            else:
                pending = ()
            self.resize_to = pending[-1] if pending else None
            self.earlier = pending[:-1]
            self.asked_at = old.asked_at if pending else None
        return self

    def cancel(self, account_id: int, reason: Reason, now: datetime) -> CancelOrder:
        """The first cancel of this order, marked sent (`Pursuit.retry` re-sends it at the
        cancel timeout while the order still works)."""
        self.cancel_sent_at, self.cancel_attempts = now, 1
        self.cancel_since, self.cancel_refused, self.lock_cancel = now, False, False
        return CancelOrder(account_id, self.order_id, self.contract_id, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "contract_id": self.contract_id,
            "status": int(self.status),
            "type": int(self.type),
            "side": int(self.side),
            "size": self.size,
            "created_at": _dt(self.created_at),
            "limit_price": _dec(self.limit_price),
            "stop_price": _dec(self.stop_price),
            "custom_tag": self.custom_tag,
            "cancel_sent_at": _dt(self.cancel_sent_at),
            "cancel_attempts": self.cancel_attempts,
            "resized_from": self.resized_from,
            "resized_basis": self.resized_basis,
            "fill_volume": self.fill_volume,
            "cancel_since": _dt(self.cancel_since),
            "lock_cancel": self.lock_cancel,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Order:
        return Order(
            d["order_id"],
            d["contract_id"],
            OrderStatus(d["status"]),
            OrderType(d["type"]),
            Side(d["side"]),
            d["size"],
            _req(_pdt(d["created_at"])),
            _pdec(d["limit_price"]),
            _pdec(d["stop_price"]),
            d["custom_tag"],
            _pdt(d["cancel_sent_at"]),
            d["cancel_attempts"],
            d.get("resized_from"),  # (absent from a snapshot stored before it was kept)
            d.get("resized_basis"),
            d.get("fill_volume", 0),
            # (one stored before it was kept: from the last cancel sent)
            cancel_since=_pdt(d.get("cancel_since") or d["cancel_sent_at"]),
            lock_cancel=d.get("lock_cancel", False),
        )
