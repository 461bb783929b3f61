"""A market exit not ours holds our close back, trusted no longer than our own close.

While a flattening contract is over its target and no close of ours is in flight, a working
market order on the closing side (the trader's exit or his own reversal, the platform's
liquidation: `exposure.closes_working`) is left to work, and no close of ours goes beside
it: both filled, they would reverse the position. It is given what our own close is given,
the close timeout (from when it began holding ours back): the question at that timeout is
the same as for our close (done at the gateway with its records lost, still working, or
gone?) and so is the way it is answered, a read of the gateway, asked again at each timeout
while none comes (``CLOSE_NOT_CONFIRMED``, WARNING, CRITICAL from `alert_after_attempts`
asks). A read begun after the timeout that still lists it working has it cancelled
(``EXIT_NOT_FILLED``, a CRITICAL alert naming it): our close goes once it is final (its
event, or a later read not listing it; the cancel itself is re-sent at the cancel timeout),
never beside it. A read that no longer lists it (filled or cancelled unheard of) has our
close sized from the gateway's position. Without this, an exit that never filled (a halted
market, a parked order, its final record lost) left the scope over its target for good,
Flattening and silent.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from fsm_risk.core.effects import Alert, Effect, Level
from fsm_risk.core.exposure import closes_working
from fsm_risk.core.reasons import Reason

if TYPE_CHECKING:
    from fsm_risk.core.models import AccountModel, ContractModel
    from fsm_risk.core.pursuit import Pursuit


def held_back(
    p: Pursuit, acct: AccountModel, cm: ContractModel, over: bool, now: datetime, out: list[Effect]
) -> bool:
    """Whether a working market exit holds back the close the flattening ``cm`` (no close of
    ours in flight) needs: judged at each timeout by a read, cancelled if the read lists it."""
    key = (acct.account_id, cm.contract_id)
    working = closes_working(acct, cm.contract_id) if over else []
    if not working:  # (a read that answered it found it gone: our close goes from the read)
        p.held_since.pop(key, None)
        p.read.discard(key)
        return False
    names = ", ".join(map(str, working))
    if key in p.read:  # a read begun after the timeout lists it working: cancel, then close
        p.read.discard(key)
        for oid in working:
            p.cancel(acct, acct.orders[oid], Reason.EXIT_NOT_FILLED, now, out)
        p.held_since[key] = now  # read again a timeout on: its cancel may end unheard of
        p.work.dirty.add(acct.account_id)
        out.append(
            Alert(
                Level.CRITICAL,
                Reason.CLOSE_NOT_CONFIRMED,
                f"market order(s) {names} closing {cm.contract_id} still working at the gateway "
                f"after the close timeout: cancelled; our close goes once the cancel is confirmed",
                acct.account_id,
                cm.contract_id,
            )
        )
        return True
    since = p.held_since.setdefault(key, now)
    if now < held_until(p, key):
        return True
    asks = p.ask_read(key, now, out)
    out.append(
        Alert(
            Level.CRITICAL if asks >= p.settings.alert_after_attempts else Level.WARNING,
            Reason.CLOSE_NOT_CONFIRMED,
            f"market order(s) {names} closing {cm.contract_id} still working after "
            f"{int((now - since).total_seconds())} s: our close held back; reading the gateway"
            + (f" (asked {asks} times, no read yet)" if asks > 1 else ""),
            acct.account_id,
            cm.contract_id,
        )
    )
    return True


def held_until(p: Pursuit, key: tuple[int, str]) -> datetime:
    """When the exit holding back the contract's close (``key`` in ``held_since``) is next
    judged: a close timeout after it began holding ours back, or after the last read asked."""
    asked = p.read_asked.get(key)
    return (asked[0] if asked is not None else p.held_since[key]) + p.settings.close_timeout
