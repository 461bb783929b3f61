"""A close in doubt whose read failed: the whole close goes again unread.

A close answered with no word of its outcome (a 503, a timeout) is judged by a read of the
gateway before another goes: it may have been taken, and one sized from the position last heard
could then close what the trader holds. When that read fails too (the gateway's reads failing:
the shell says so, `CloseInDoubt`), waiting for a read left the position open, and the trader's
adds under the lock with it, for as long as the reads failed (a minute of 503s: 2 MNQ at -$600
on a 500 limit, and the trader's add, kept open 45 s). A close of the whole position goes again
at its close timeout then, read or not: it closes whatever is open, and with nothing open the
gateway refuses it; no order of ours is seen working (`pursue` checks that first). A reduce (a
partial close) does not: sized from the position last heard, it could take the position past
its target into the other side; it keeps waiting for a read, and the alert says why. A close
never answered at all (no `CloseInDoubt` for it) waits for the read as before.
"""

from __future__ import annotations

from fsm_risk.core.events import CloseInDoubt, CloseWaiting, CloseWord, EnforcementAccepted
from fsm_risk.core.models import ContractModel


class Blind:
    """The closes in doubt whose read failed, by (account, contract): the close's number."""

    def __init__(self) -> None:
        self.doubted: dict[tuple[int, str], int] = {}

    def told(self, cm: ContractModel, word: CloseWord) -> EnforcementAccepted | CloseWaiting | None:
        """The shell's word on a close, None when it is that the close is in doubt with its
        read failed (noted for the close in flight: one waiting for the budget never went)."""
        if not isinstance(word, CloseInDoubt):
            return word
        if word.seq == cm.close_seq and cm.close_in_flight and not cm.close_unsent:
            self.doubted[(cm.account_id, cm.contract_id)] = word.seq
        return None

    def _marked(self, cm: ContractModel) -> bool:
        key = (cm.account_id, cm.contract_id)
        return cm.close_in_flight and self.doubted.get(key) == cm.close_seq

    def whole(self, cm: ContractModel) -> bool:
        """Whether the contract's close, in doubt with its read failed, goes again unread at
        its close timeout: a close of the whole position only."""
        return self._marked(cm) and not cm.target_size

    def why(self, cm: ContractModel) -> str:
        """What the alert of a close waiting for its read adds: a reduce in doubt is not re-sent
        unread (nothing, for any other close)."""
        if not self._marked(cm):
            return ""
        return (
            "; its answer in doubt and its read failed: a reduce is not re-sent unread "
            "(it could reverse the position)"
        )

    def said(self, cm: ContractModel) -> str:
        """Why a close goes again, for its alert (before it is sent: then it is another close)."""
        if self.whole(cm):
            return "answered in doubt and unread (the gateway's reads failing): closed again"
        return "not done per the gateway: re-sent"
