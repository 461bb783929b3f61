"""The service frozen and resumed (a machine's sleep, a paused VM, a stopped process).

While the process is frozen the world goes on: prices move, the trader trades, resets and
deadlines pass. At the wake the feeds hand over what they buffered (or, closed meanwhile, are
opened again and read), but the clock has already passed every deadline. Judged at once, a
deadline fired before the news that met it was applied: a stop placed a second after the entry,
within RULE-016's grace, was not heard yet, and the compliant position was closed at market. A
daily reset passed while frozen was applied at the wake as of the last prices heard before the
freeze: the new day carried the open P&L of then, not of the reset (a new day at -$600 read
nothing, or a day at nothing was read at -$600 and locked).

So the shell, seeing its clock jump far past its beats, hands the wake to the engine (`resumed`)
before anything else heard after it, as a short downtime:

- the resets passed while frozen are applied as missed resets are at a restart
  (`Timers.catch_up`): each at the gateway's price at it, read by the shell first, held as
  `MissedResets` until the account's trades are read (a trade made while frozen before a reset
  redoes it); the rules judging realized P&L wait for that read, as after a restart;
- the rules whose verdicts come of a deadline (`RuleBook.deadline_rules` that `holds_at_thaw`:
  a stop's grace, a hold time, a flat-by; not a size limit, whose deadline only ages a
  trader's exit) judge nothing on the account until it is read again (`thawed`: the shell's
  read of its positions, orders and trades, applied), then judge at once.

Every other rule judges as it always does: a loss made while frozen is closed at the wake.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from fsm_risk.core.effects import Effect
from fsm_risk.core.events import Tick
from fsm_risk.core.models import AccountModel
from fsm_risk.core.timers import ResetPrices, missed_boundaries

if TYPE_CHECKING:
    from fsm_risk.core.engine import RiskEngine


def passed(engine: RiskEngine, now: datetime) -> list[tuple[datetime, str]]:
    """(reset instant, contract) for each contract held at a reset the accounts' clocks have
    passed unapplied (a freeze across it): the prices the shell reads before `resumed`."""
    cal = engine.calendar
    wanted: set[tuple[datetime, str]] = set()
    for acct in engine.accounts.values():
        if not acct.positions or not _behind(acct, now):
            continue
        for at, _ in missed_boundaries(cal, acct.week.end, acct.day.end, now):
            wanted.update((at, cid) for cid in acct.positions)
    return sorted(wanted)


def _behind(acct: AccountModel, now: datetime) -> bool:
    return now >= acct.day.end or now >= acct.week.end


def resumed(
    engine: RiskEngine, since: datetime, prices: ResetPrices, now: datetime
) -> list[Effect]:
    """The service was frozen from ``since`` to ``now``: the resets passed meanwhile applied at
    ``prices`` (the gateway's price at each of them, `passed`), and the deadline rules of every
    account held until it is read again (`thawed`). Returns the accounts' effects."""
    out: list[Effect] = []
    for acct in engine.accounts.values():
        engine.book.thawing[acct.account_id] = since
        if _behind(acct, now):
            engine.timers.catch_up(acct, now, engine.valuation, prices)
            engine.work.dirty.add(acct.account_id)
    return out


def thawed(
    engine: RiskEngine, account_ids: Iterable[int], now: datetime, since: datetime | None = None
) -> list[Effect]:
    """The accounts are read again since the freeze that began at ``since`` (or their read
    gave up): the deadline rules judge them now, on what was heard and read. An account woken
    since from a later freeze waits for that one's read (None: whichever freeze it woke from)."""
    out: list[Effect] = []
    thawing = engine.book.thawing
    for account_id in sorted(set(account_ids)):
        if account_id not in thawing or since not in (None, thawing[account_id]):
            continue
        del thawing[account_id]
        if account_id in engine.accounts:
            out.extend(engine.handle(Tick(account_id), now))
    return out
