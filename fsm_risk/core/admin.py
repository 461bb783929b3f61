"""What an admin's override did, in words: the same text offline and from the running service."""

from __future__ import annotations

from collections.abc import Sequence

from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import AdminCommand
from fsm_risk.core.reasons import Reason


def summary(engine: RiskEngine, cmd: AdminCommand, effects: Sequence[Effect]) -> str:
    """``account 1001 contract MNQ (every MNQ contract): Trading -> LockedDaily (forced by
    admin:ana: why)``, then one line per waiver granted (until when, where it re-arms)."""
    forced = next(
        e.entry for e in effects if isinstance(e, RecordTransition) and e.entry.trigger == "force"
    )
    acct = engine.accounts[cmd.account_id]
    key = engine.contract_key(acct, cmd.contract_id) if cmd.contract_id else None
    scope = f"account {cmd.account_id}"
    if key is not None:
        scope += f" contract {key}"
        if "." not in key:
            scope += f" (every {key} contract, held now or opened later)"
    text = (
        f"{scope}: {forced.from_state} -> {forced.to_state} "
        f"(forced by admin:{cmd.admin}: {cmd.reason})"
    )
    model = acct.contracts[key] if key is not None else acct
    if model.state is not forced.to_state:
        text += f"; now {model.state} (an open position is being closed)"
    prefix = f"{Reason.ADMIN_OVERRIDE.name}: {cmd.reason}"
    notes = forced.reason[len(prefix) :].lstrip("; ")
    for note in filter(None, notes.split("; ")):
        text += f"\n  {note}"
    return text
