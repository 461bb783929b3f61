"""A breach the balance's move foresees on a restarted account whose trades are not read yet.

While an account's trades are unread its P&L rules wait for them (`unread.waiting`), and judge
on the balance's move only once a read of them failed or the wait grew `unjudged.LATE` old: a
read merely queued behind the request budget is no failure, and judged on the move sooner the
estimate closed healthy accounts (a win while down is not counted). So a breach it does show
waited for the read, and the read waited its turn: at a restart of 500 accounts at the shipped
budget (100 exposed, their balances moved), one -$1,200 by its balance's move on a $500 daily
loss limit was closed 50 s after its positions were read, the reads' share of the window full.

What the estimate says is not judged earlier, but it orders the reads: an account whose
estimate says a rule judging on it (`Rule.judges_unread`) would fire now has its trades read
before any whose estimate says none would (`reconciler.urgency`), in the request budget after
the closes and cancels, before the ordinary reads (the shell's); its exact books then judge
within seconds. A foreseen breach the trades do not confirm (a payout, a win while down
beside it) costs one read out of turn, no close.
"""

from __future__ import annotations

from datetime import datetime

from fsm_risk.core.events import Tick
from fsm_risk.core.exposure import Unjudged
from fsm_risk.core.models import ZERO, AccountModel
from fsm_risk.core.states import State
from fsm_risk.core.unread import waiting
from fsm_risk.rules.base import Rule


def foreseen(acct: AccountModel, rules: list[Rule], now: datetime) -> bool:
    """Whether one of ``rules`` judging on the balance's move would fire on it ``now``, the
    account trading (a lock or a flatten already closes what it holds: its read out of turn
    would only hold another account's enforcing step back), waiting for its trades and not
    judged on that move yet (then its rules judge themselves). Nothing of the account
    changes: the estimate is put in force for the question alone."""
    kept = acct.unjudged
    if acct.state is not State.Trading or not waiting(acct):
        return False
    if kept is not None and kept.estimating:
        return False
    judging = [r for r in rules if r.judges_unread and r.waits_for_trades]
    if not judging:
        return False
    since = now if kept is None else kept.since
    acct.unjudged = Unjudged(since, True, taken=ZERO if kept is None else kept.taken)
    try:
        tick = Tick(acct.account_id)
        return any(rule.evaluate(acct, tick, now) for rule in judging)
    finally:
        acct.unjudged = kept
