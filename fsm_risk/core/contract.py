"""The contract model (`ContractModel`: one account's contract) and what it shares with the
account model (`Lockable`); both are re-exported by `models`, where the core imports them from.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from fsm_risk.core.effects import AuditEntry
from fsm_risk.core.events import Side
from fsm_risk.core.exposure import exposed
from fsm_risk.core.instruments import root_of
from fsm_risk.core.reasons import Reason
from fsm_risk.core.records import Lock, _dt, _pdt
from fsm_risk.core.states import State

if TYPE_CHECKING:
    from fsm_risk.core.models import AccountModel


class Lockable:
    """What both models share: a state, holds, audit records (for the engine), a machine."""

    state: State
    holds: dict[str, Lock]
    audit: list[AuditEntry]
    account_id: int
    machine: Any

    @property
    def scope_contract(self) -> str | None:
        return None

    def exposed(self) -> bool:
        raise NotImplementedError


class ContractModel(Lockable):
    """One (account, contract) pair. ``Flattening`` here means a close (or reduce) order is
    working for this contract: never more than one at a time.

    All of it is state (`to_dict`, one small row per contract) but ``account`` and ``audit``,
    links to the account it belongs to, set again by `join` at a restore (if not `work.idle`)."""

    def __init__(self, account_id: int, contract_id: str) -> None:
        self.account_id = account_id
        self.contract_id = contract_id
        self.root = root_of(contract_id)
        self.holds = {}
        self.audit = []
        # while Flattening: reduce the position to this size (0 = close it all)
        self.target_size = 0
        self.cancel_orders = True
        #: while Flattening: the contract's own target (a reduce of its own, or the close of
        #: what a close of ours opened) when an account's flatten or lock closes more; an
        #: admin's unlock of the account returns the close to it (None: the account's alone)
        self.own_target: int | None = None
        self.rule_id: str | None = None
        self.reason: Reason | None = None
        self.attempts = 0
        self.retry_at: datetime | None = None
        self.alerted = False
        self.account: AccountModel | None = None
        #: the service's close (or reduce) in flight for this contract, from the request until
        #: the gateway says it is done (its order filled, cancelled or rejected): when it was
        #: sent (None: none in flight), the size asked (0: the whole position), the side it
        #: sells or buys, the open size it was sized from, and the gateway's order once
        #: recognised among the order events (the close's answer carries no order id); and
        #: its number (the account's next at each close, `AccountModel.close_seq`: its answer
        #: gives it back)
        self.close_seq = 0
        self.close_sent_at: datetime | None = None
        self.close_size = 0
        self.close_side: Side | None = None
        self.close_basis = 0
        self.close_order: int | None = None
        #: contracts of that order filled per the fills seen, and the volume its final order
        #: event reported (None until the order is final)
        self.close_filled = 0
        self.close_volume: int | None = None
        #: it waits for its turn in the request budget, not yet written to the gateway
        #: (`CloseWaiting`). Stored: a start after a stop while it waited knows it had not
        #: gone when last saved, and does not count it as a try (`Pursuit.resume`)
        self.close_unsent = False
        #: since when a close of this contract has been sent and the position is still over
        #: its target (refused, short or lost, one attempt after another): `status` says the
        #: account is NOT ENFORCING once that is longer than a close timeout. Stored: a
        #: restart mid-incident goes on counting from the first close, not from its own.
        self.wanted_since: datetime | None = None

    def join(self, account: AccountModel) -> None:
        """Belong to an account: its positions and orders, and its (ordered) audit list."""
        self.account = account
        self.audit = account.audit

    @property
    def scope_contract(self) -> str | None:
        return self.contract_id

    def exposed(self) -> bool:
        """Not yet flattened to its target (see `exposure.exposed`; a symbol root an admin
        named: any contract of that root)."""
        if self.account is None:
            return False
        return exposed(
            self.account, self.contract_id, self.target_size, cancel_orders=self.cancel_orders
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract_id": self.contract_id,
            "state": self.state.value,
            "holds": {k: v.to_dict() for k, v in self.holds.items()},
            "target_size": self.target_size,
            "cancel_orders": self.cancel_orders,
            "own_target": self.own_target,
            "rule_id": self.rule_id,
            "reason": self.reason.name if self.reason else None,
            "attempts": self.attempts,
            "retry_at": _dt(self.retry_at),
            "alerted": self.alerted,
            "close": {
                "sent_at": _dt(self.close_sent_at),
                "seq": self.close_seq,
                "size": self.close_size,
                "side": None if self.close_side is None else int(self.close_side),
                "basis": self.close_basis,
                "order": self.close_order,
                "filled": self.close_filled,
                "volume": self.close_volume,
                "unsent": self.close_unsent,
                "wanted_since": _dt(self.wanted_since),
            },
        }

    def load(self, d: dict[str, Any]) -> None:
        """Restore everything but the state (the machine sets that when adding the model)."""
        self.holds = {k: Lock.from_dict(v) for k, v in d["holds"].items()}
        self.target_size = d["target_size"]
        self.cancel_orders = d["cancel_orders"]
        self.own_target = d.get("own_target")  # (absent from a row stored before it was kept)
        self.rule_id = d["rule_id"]
        self.reason = Reason[d["reason"]] if d["reason"] else None
        self.attempts = d["attempts"]
        self.retry_at = _pdt(d["retry_at"])
        self.alerted = d["alerted"]
        close = d.get("close") or {}
        self.close_sent_at = _pdt(close.get("sent_at"))
        self.close_seq = close.get("seq", 0)
        self.close_size = close.get("size", 0)
        self.close_side = None if (side := close.get("side")) is None else Side(side)
        self.close_basis = close.get("basis", 0)
        self.close_order = close.get("order")
        self.close_filled = close.get("filled", 0)
        self.close_volume = close.get("volume")
        self.close_unsent = close.get("unsent", False)
        self.wanted_since = _pdt(close.get("wanted_since"))

    @property
    def close_in_flight(self) -> bool:
        return self.close_sent_at is not None

    def closing_to(self) -> int | None:
        """The size a close of ours in progress takes the contract to (None: none is): its
        target while it flattens; out of it (an admin's unlock freed it), a close the gateway
        took (its order known, not yet final) still works: the position less what it has
        still to fill (what the trader adds meanwhile stays). Once its order is final it
        counts no more, its fills' records late or lost (nothing out of a flatten ends it)."""
        if self.state is State.Flattening:
            return self.target_size
        if self.close_sent_at is None or self.close_order is None or self.close_volume is not None:
            return None
        pos = None if self.account is None else self.account.positions.get(self.contract_id)
        if pos is None:
            return None
        return max(0, pos.size - max(0, (self.close_size or self.close_basis) - self.close_filled))
