"""The gateway refused a close or cancel of ours: a lost race (the order already done, the
position already closed) is said as such; a real refusal alerts, and the close goes again
after `EngineSettings.after_refusal`, the cancel after a close timeout; one the gateway's
request limit turned away (``limited``: HTTP 429, nothing done) goes again after a second.
A close never sent (``sent`` False: no longer wanted once its turn in the request budget
came) ends as a lost race does, and is said as not sent."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from fsm_risk.core.brackets import refused
from fsm_risk.core.effects import Alert, Effect, Level
from fsm_risk.core.events import EnforcementRejected
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State

if TYPE_CHECKING:
    from fsm_risk.core.models import AccountModel
    from fsm_risk.core.pursuit import Pursuit


def rejected(
    p: Pursuit, acct: AccountModel, ev: EnforcementRejected, now: datetime, out: list[Effect]
) -> None:
    """The gateway refused a close or cancel of ours: say why, and when it goes again."""
    if refused(acct, ev, out):  # a resize of the trader's order: said, not re-sent
        return
    cm = acct.contracts.get(ev.contract_id) if ev.contract_id is not None else None
    s, again = p.settings, ""
    reopen = s.reopen(now)
    if ev.order_id is not None:  # a cancel
        o = acct.orders.get(ev.order_id)
        if o is None:
            # the order is no longer working: the cancel lost the race to a fill (or to
            # another cancel), which is normal; the order event already settled it
            out.append(
                Alert(
                    Level.INFO,
                    Reason.OVERTAKEN,
                    f"cancel of order {ev.order_id} came after it was done: {ev.message}",
                    acct.account_id,
                    ev.contract_id,
                )
            )
            return
        if o.cancel_sent_at is None and o.order_id not in acct.own_orders:
            # sent while a lock covered the order, answered once none does (`cancels.lifted`):
            # the order is the trader's again, nothing of ours failed
            out.append(
                Alert(
                    Level.INFO,
                    Reason.OVERTAKEN,
                    f"cancel of order {ev.order_id} refused after the lock that asked it ended: "
                    f"left to the trader ({ev.message})",
                    acct.account_id,
                    ev.contract_id,
                )
            )
            return
        o.cancel_refused = not ev.limited  # (429: turned away, nothing refused it)
        if o.cancel_sent_at is not None:
            # turned away by the request limit (``limited``): nothing done, again after a second
            wait = s.after_refusal(1) if ev.limited else s.backoff(1)
            o.cancel_sent_at = now - s.cancel_timeout + wait
            if reopen is not None:  # the market is closed: due at the reopen
                o.cancel_sent_at, again = reopen - s.cancel_timeout, "the cancel"
    else:
        pos = acct.positions.get(ev.contract_id) if ev.contract_id is not None else None
        if cm is not None and ev.seq in (None, cm.close_seq):  # (not one late from before)
            p.ended(acct, cm, now, progressed=False)
            if ev.limited and reopen is None and cm.retry_at is not None:
                # turned away by the request limit, nothing done: again after a second, not
                # after the back-off for a gateway that refuses the request itself
                cm.retry_at = min(cm.retry_at, now + s.after_refusal(1))
            if not ev.sent:  # nothing refused it: not a try, and the next goes at once
                cm.attempts = max(cm.attempts - 1, 0)
                if reopen is None:
                    cm.retry_at = now
        target = cm.target_size if cm is not None and cm.state is State.Flattening else 0
        if not ev.sent or ev.overtaken or pos is None or pos.size <= target:
            # nothing (more) to close: the trader or a fill got there first (or, never sent,
            # a newer close of ours took its place); nothing refused what was never sent
            said = (
                f"refused: the position was already closed or reduced at the gateway ({ev.message})"
                if ev.sent
                else "not sent: no longer wanted when its turn in the request budget came "
                "(the position moved meanwhile, or a newer close replaced it)"
            )
            out.append(
                Alert(
                    Level.INFO,
                    Reason.OVERTAKEN,
                    f"close of {ev.contract_id} {said}",
                    acct.account_id,
                    ev.contract_id,
                )
            )
            return
        if cm is not None and reopen is not None and cm.retry_at == reopen:
            again = "the close"
    out.append(
        Alert(
            Level.CRITICAL,
            Reason.CLOSE_REJECTED,
            f"enforcement request refused: {ev.message}"
            + (
                f" (the market is closed: {again} goes again when it opens, {s.when(reopen)})"
                if again and reopen is not None
                else ""
            ),
            acct.account_id,
            ev.contract_id,
        )
    )
