"""The engine's unit of work: the accounts changed, the fills to journal, audited transitions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from fsm_risk.core import machines
from fsm_risk.core.cancels import lifted
from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.models import AccountModel, ContractModel, FillRecord, Lockable, Mark, Trip
from fsm_risk.core.states import State, Trigger


def idle(cm: ContractModel, state: State | None = None) -> bool:
    """A contract model with nothing to keep: in ``Trading`` (or ``state``, a stored one), no
    hold, no close of ours in flight or still to recognise. It is let go (its row deleted) and
    made afresh, in ``Trading``, when the contract next needs one: what it carries of its last
    flatten (target, cause, tries) is set anew by whatever flattens it next. So what is stored
    and restored is what is locked or flattening now, not every contract ever traded."""
    return (
        (state or cm.state) is State.Trading
        and not cm.holds
        and cm.close_sent_at is None
        and cm.close_order is None
    )


@dataclass(frozen=True)
class Changes:
    """A unit of work: the accounts whose state moved, the history to append (fills, closed
    round trips and voided trades: account, trade id, time) and the contract models let go
    (account, contract: their rows are deleted, see `idle`)."""

    accounts: list[AccountModel]
    fills: list[tuple[int, FillRecord]]
    trips: list[tuple[int, Trip]] = field(default_factory=list)
    voids: list[tuple[int, int, datetime]] = field(default_factory=list)
    dropped: list[tuple[int, str]] = field(default_factory=list)
    #: meta rows (key, value) written in the same transaction as the rest: a note that must be
    #: stored with the rows it concerns or not at all (`fsm_risk.core.lost.PENDING_PREFIX`)
    meta: dict[str, str] = field(default_factory=dict)
    #: prices read at a reset that the state written values positions at (`Valuation.learned`):
    #: saved as marks with it, a newer mark given beside them winning
    marks: dict[str, Mark] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.accounts
            or self.fills
            or self.trips
            or self.voids
            or self.dropped
            or self.meta
            or self.marks
        )


class Work:
    """What one engine changed since the shell last committed, and the one way its models
    change state: through their machine (guarded, audited), marking the account changed."""

    def __init__(self) -> None:
        self.machines = machines.Machines()
        self.dirty: set[int] = set()
        self.new_fills: list[tuple[int, FillRecord]] = []
        self.new_trips: list[tuple[int, Trip]] = []
        self.new_voids: list[tuple[int, int, datetime]] = []
        #: the voids whose P&L left the books in the event being handled (account, trade,
        #: net P&L), for the rules (`RuleBook.voided`); emptied there
        self.given_back: list[tuple[int, int, Decimal]] = []
        self.dropped: list[tuple[int, str]] = []

    def fire(
        self, acct: AccountModel, model: Lockable, trigger: Trigger, now: datetime, **kw: Any
    ) -> None:
        kw.setdefault("at", now)
        machines.fire(model, trigger, **kw)
        self.dirty.add(acct.account_id)
        self._freed(acct, model)

    def fire_if(
        self, acct: AccountModel, model: Lockable, trigger: Trigger, now: datetime, **kw: Any
    ) -> bool:
        """Fire the trigger if the table lets it (an edge from the model's state whose guards
        all pass); else nothing changes and nothing is recorded. Returns whether it fired."""
        kw.setdefault("at", now)
        if not machines.fire_if(model, trigger, **kw):
            return False
        self.dirty.add(acct.account_id)
        self._freed(acct, model)
        return True

    @staticmethod
    def _freed(acct: AccountModel, model: Lockable) -> None:
        """A scope trading again hands the orders no lock covers any more back to the trader
        at this transition (`cancels.lifted`), before anything later in the same event locks
        them again: that lock then cancels them afresh, on sight."""
        if model.state is State.Trading:
            lifted(acct)

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

    def restore_contracts(self, acct: AccountModel, rows: Sequence[dict[str, Any]]) -> None:
        """Bring back the account's stored contract models (see `ContractModel.to_dict`); a
        row with nothing to keep (written by an older version) is not restored, and goes."""
        for row in rows:
            cm = ContractModel(acct.account_id, row["contract_id"])
            cm.load(row)
            state = State(row["state"])
            if idle(cm, state):
                self.dropped.append((acct.account_id, cm.contract_id))
                continue
            cm.join(acct)
            self.machines.attach(cm, state, contract=True)
            acct.contracts[cm.contract_id] = cm

    def let_go(self, acct: AccountModel) -> None:
        """Drop the account's contract models that have nothing to keep (see `idle`): not a
        transition (each is in ``Trading``, where a new one starts), so nothing is audited;
        their rows are deleted with the next commit."""
        for cm in [cm for cm in acct.contracts.values() if idle(cm)]:
            del acct.contracts[cm.contract_id]
            self.machines.detach(cm, contract=True)
            self.dropped.append((acct.account_id, cm.contract_id))

    def take(
        self, accounts: dict[int, AccountModel], marks: dict[str, Mark] | None = None
    ) -> Changes:
        """What changed since the last call: the shell commits it before executing effects.
        The changed accounts' idle contract models are let go first (see `let_go`); ``marks``:
        the prices read at a reset to save with it (`Changes.marks`)."""
        moved = [accounts[i] for i in sorted(self.dirty) if i in accounts]
        for acct in moved:
            if acct.contracts:
                self.let_go(acct)
        lists = moved, self.new_fills, self.new_trips, self.new_voids, self.dropped
        changes = Changes(*lists, marks=marks) if marks else Changes(*lists)
        self.dirty = set()
        self.new_fills = []
        self.new_trips = []
        self.new_voids = []
        self.dropped = []
        return changes
