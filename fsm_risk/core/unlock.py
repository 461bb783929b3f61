"""An admin's unlock (a force to Trading): the closes of a contract's own that outlive the
account's, and the rules judging at once what the unlock leaves open."""

from __future__ import annotations

from dataclasses import dataclass

from fsm_risk.core.events import AdminCommand, Event, Tick
from fsm_risk.core.models import AccountModel, ContractModel
from fsm_risk.core.reasons import Reason
from fsm_risk.core.sources import ENGINE
from fsm_risk.core.states import State


def judged_after(event: Event) -> tuple[Tick, ...]:
    """What an event is followed by in its own step: after an unlock (of the account, a
    contract or a root), every rule that judges on a wake-up judges what it leaves open
    (RULE-001's account total: a reduce back at its own target beside a position the unlock
    freed), not at the account's next wake-up."""
    if isinstance(event, AdminCommand) and event.to is State.Trading:
        return (Tick(event.account_id),)
    return ()


def causes(acct: AccountModel) -> set[str]:
    """The causes of the account's own flatten or lock (read before the unlock clears them)."""
    return {*(acct.flatten_cause or "").split(","), *acct.holds, ENGINE}


@dataclass(frozen=True)
class OwnClose:
    """A contract's own close, kept under the account's (`ContractModel.own_target`), that an
    unlock of the account goes back to: a reduce of its own rule, or the close of what a close
    of ours opened (``overshoot``: its close in flight was the account's)."""

    cm: ContractModel
    overshoot: bool

    def note(self) -> str:
        """The unlock's audit says what the contract goes on closing, and why."""
        cm, left = self.cm, self.cm.own_target
        if self.overshoot:
            return (
                f"{cm.contract_id} keeps closing what a close of ours opened: down to {left} "
                f"({Reason.CLOSE_OVERSHOT.name})"
            )
        why = f"{cm.rule_id or ENGINE} {cm.reason.name if cm.reason else ''}".rstrip()
        return f"{cm.contract_id} goes back to its own close: down to {left} ({why})"

    def resume(self) -> None:
        """Back to its own target (the field kept: a second unlock leaves it too). Only a
        close of its own rule's that closes it whole cancels the trader's orders: a reduce
        leaves them, and so does the close of what ours opened (as from Trading, `overshot`),
        which is named for that, not for the account's rule the unlock ended."""
        cm = self.cm
        assert cm.own_target is not None
        cm.target_size = cm.own_target
        cm.cancel_orders &= cm.target_size == 0 and not self.overshoot
        if self.overshoot:
            cm.reason = Reason.CLOSE_OVERSHOT


def own_closes(acct: AccountModel, held: set[str]) -> list[OwnClose]:
    """The account's flattening contracts with a close of their own (``held``: `causes`, read
    before the unlock): one closing whole for the account's cause keeps only the overshoot's
    (`overshot`: a reduce's own target is above 0)."""
    return [
        OwnClose(cm, set((cm.rule_id or ENGINE).split(",")) <= held)
        for _, cm in sorted(acct.contracts.items())
        if cm.state is State.Flattening and cm.own_target is not None
    ]
