"""The engine's unit of work: the accounts changed, the fills to journal, audited transitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fsm_risk.core import machines
from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.models import AccountModel, ContractModel, FillRecord, Lockable, Trip
from fsm_risk.core.states import State, Trigger


@dataclass(frozen=True)
class Changes:
    """A unit of work: the accounts whose state moved, and the history to append: fills,
    closed round trips and voided trades (account, trade id, time)."""

    accounts: list[AccountModel]
    fills: list[tuple[int, FillRecord]]
    trips: list[tuple[int, Trip]] = field(default_factory=list)
    voids: list[tuple[int, int, datetime]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.fills or self.trips or self.voids)


class Work:
    """What one engine changed since the shell last committed, and the one way its models
    change state: through their machine (guarded, audited), marking the account changed."""

    def __init__(self) -> None:
        self.machines = machines.Machines()
        self.dirty: set[int] = set()
        self.new_fills: list[tuple[int, FillRecord]] = []
        self.new_trips: list[tuple[int, Trip]] = []
        self.new_voids: list[tuple[int, int, datetime]] = []

    def fire(
        self, acct: AccountModel, model: Lockable, trigger: Trigger, now: datetime, **kw: Any
    ) -> None:
        kw.setdefault("at", now)
        machines.fire(model, trigger, **kw)
        self.dirty.add(acct.account_id)

    def fire_if(
        self, acct: AccountModel, model: Lockable, trigger: Trigger, now: datetime, **kw: Any
    ) -> bool:
        """Fire the trigger if the table's guards let it (see `machines.may`); else nothing
        changes and nothing is recorded. Returns whether it fired."""
        kw.setdefault("at", now)
        if not machines.may(model, trigger, **kw):
            return False
        self.fire(acct, model, trigger, now, **kw)
        return True

    def drain(self, acct: AccountModel, out: list[Effect]) -> None:
        """The account's audit records become effects (the shell commits them first)."""
        out.extend(RecordTransition(e) for e in acct.audit)
        acct.audit.clear()

    def contract(self, acct: AccountModel, contract_id: str) -> ContractModel:
        """The account's model of this contract, made (in ``Trading``) on first use."""
        cm = acct.contracts.get(contract_id)
        if cm is None:
            cm = ContractModel(acct.account_id, contract_id)
            cm.join(acct)
            self.machines.attach(cm, State.Trading, contract=True)
            acct.contracts[contract_id] = cm
        return cm

    def take(self, accounts: dict[int, AccountModel]) -> Changes:
        """What changed since the last call: the shell commits it before executing effects."""
        changes = Changes(
            [accounts[i] for i in sorted(self.dirty) if i in accounts],
            self.new_fills,
            self.new_trips,
            self.new_voids,
        )
        self.dirty = set()
        self.new_fills = []
        self.new_trips = []
        self.new_voids = []
        return changes
