"""A close in doubt whose read failed: the whole close goes again unread.

A close answered with no word of its outcome (a 503, a timeout) is judged by a read of the
gateway before another goes: it may have been taken, and one sized from the position last heard
could then close what the trader holds. When that read fails too (the gateway's reads failing:
the shell says so, `CloseInDoubt`), waiting for a read left the position open, and the trader's
adds under the lock with it, for as long as the reads failed (a minute of 503s: 2 MNQ at -$600
on a 500 limit, and the trader's add, kept open 45 s). A close of the whole position goes again
at its close timeout then, read or not: it closes whatever is open, and with nothing open the
gateway refuses it; no order of ours is seen working (`pursue` checks that first). Unless one of
ours works unseen: taken before the 503, its market order still working (a slow fill, a halted
market) while its records do not reach us (a hub connected but silent), a second close beside it
fills too and reverses the position (short 2 for 58 s on a locked account). So it goes again
only once an order record of the account not ours was heard since the close went (`heard_from`:
the trader's add, say): the gateway pushes an order's record as it takes it, in order, so ours,
had it been taken, would have come first and been known. Only a record of an order the gateway
took after it answered ours shows that: one taken while ours was in flight (his add taken at
+0.1 s, ours at +0.3 s, answered 503 at +0.4 s) came before ours, and ours may be working unseen
all the same (the re-send filled beside it: long 2, short 2). So the order must be created, by
its gateway stamp, past the ``Date`` of the gateway's own answer to ours
(`CloseInDoubt.answered`; ours was taken before it was written) by `ANSWER_MARGIN` (the
``Date``'s second, and its cache's); heard after the answer is not enough (the hub may lag the
REST answer), and no estimate of the clocks is needed (this machine's clock 30 s ahead held a
busy account's close back 31 s). None heard, it waits for a read, and the alert says why. Only
the gateway application's own answer (a 5xx carrying its envelope) says it was done with ours: a
timeout, a lost connection, a bare or a proxy's 5xx (``answered`` None) says nothing of when the
gateway takes it (a close queued at a busy gateway, taken 8 s after we gave up on it, filled
beside the one sent again: long 2 MNQ, short 2), and it waits for its read, said. A reduce (a
partial close) does not go again unread: sized from the position last heard, it could take the
position past its target into the other side; it keeps waiting for a read, and the alert says
why. A close never answered at all (no `CloseInDoubt` for it) waits for the read as before.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fsm_risk.core.events import (
    CloseInDoubt,
    CloseWaiting,
    CloseWord,
    EnforcementAccepted,
    OrderUpdate,
)
from fsm_risk.core.models import AccountModel, ContractModel

#: how far past the ``Date`` of the gateway's answer to ours an order must be created to have
#: been taken after it: the ``Date`` is the gateway's clock cut to the second, and a web server
#: may write one it refreshes once a second (ASP.NET Core's Kestrel caches it), up to ~2 s old
ANSWER_MARGIN = timedelta(seconds=2)


class Blind:
    """The closes in doubt whose read failed, by (account, contract): the close's number."""

    def __init__(self) -> None:
        self.doubted: dict[tuple[int, str], int] = {}
        #: per close in flight: the latest creation (gateway stamp) of the orders of the
        #: account not ours whose records came live since it went
        self.heard: dict[tuple[int, str], datetime] = {}
        #: per close in doubt: the gateway's time an order must be created after to prove it
        #: (None: no answer of the gateway's own, a timeout: nothing can, it waits for a read)
        self.after: dict[tuple[int, str], datetime | None] = {}

    def heard_from(self, acct: AccountModel, ev: OrderUpdate) -> None:
        """An order record heard live: one not ours shows the account's order records reach
        us since each close in flight went, if the order was taken after the gateway answered
        ours (`whole`; a read's record, or ours, shows nothing of that)."""
        if ev.read or ev.held or ev.unlisted or ev.order_id in acct.own_orders:
            return
        for cm in acct.contracts.values():
            if cm.close_in_flight and not cm.close_unsent:
                key = (cm.account_id, cm.contract_id)
                self.heard[key] = max(self.heard.get(key, ev.created_at), ev.created_at)

    def drop(self, key: tuple[int, str]) -> None:
        """The contract's close is over, or another goes, or a read answered it."""
        self.doubted.pop(key, None)
        self.heard.pop(key, None)
        self.after.pop(key, None)

    def told(self, cm: ContractModel, word: CloseWord) -> EnforcementAccepted | CloseWaiting | None:
        """The shell's word on a close, None when it is that the close is in doubt with its
        read failed (noted for the close in flight: one waiting for the budget never went)."""
        if not isinstance(word, CloseInDoubt):
            return word
        if word.seq == cm.close_seq and cm.close_in_flight and not cm.close_unsent:
            key = (cm.account_id, cm.contract_id)
            self.doubted[key] = word.seq
            answered = word.answered
            self.after[key] = None if answered is None else answered + ANSWER_MARGIN
        return None

    def _marked(self, cm: ContractModel) -> bool:
        key = (cm.account_id, cm.contract_id)
        return cm.close_in_flight and self.doubted.get(key) == cm.close_seq

    def whole(self, cm: ContractModel) -> bool:
        """Whether the contract's close, in doubt with its read failed, goes again unread at
        its close timeout: a close of the whole position, a record heard live since it went
        of an order of the account's the gateway took after it answered ours."""
        key = (cm.account_id, cm.contract_id)
        heard, after = self.heard.get(key), self.after.get(key)
        return (
            self._marked(cm)
            and not cm.target_size
            and heard is not None
            and after is not None
            and heard > after
        )

    def why(self, cm: ContractModel) -> str:
        """What the alert of a close waiting for its read adds: a reduce in doubt is not re-sent
        unread (nothing, for any other close)."""
        if not self._marked(cm):
            return ""
        if not cm.target_size and self.after.get((cm.account_id, cm.contract_id)) is None:
            return (
                "; no answer from the gateway itself (a timeout, a lost connection or a "
                "proxy's error) and its read failed: not re-sent unread (the gateway may "
                "still take ours)"
            )
        if not cm.target_size:
            return (
                "; its answer in doubt and its read failed: not re-sent unread until an order "
                "record is heard of an order the gateway took after it answered (one of ours "
                "may be working unseen)"
            )
        return (
            "; its answer in doubt and its read failed: a reduce is not re-sent unread "
            "(it could reverse the position)"
        )

    def said(self, cm: ContractModel) -> str:
        """Why a close goes again, for its alert (before it is sent: then it is another close)."""
        if self.whole(cm):
            return "answered in doubt and its read failed: closed again"
        return "not done per the gateway: re-sent"
