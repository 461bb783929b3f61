"""Rules replaced while running: at once or staged until an instant, audited per account."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fsm_risk.core.effects import AuditEntry, Effect, SettingsApplied
from fsm_risk.core.models import AccountModel
from fsm_risk.core.reasons import Reason
from fsm_risk.core.rulebook import RuleBook
from fsm_risk.core.sources import ADMIN, ENGINE
from fsm_risk.core.timers import Timers
from fsm_risk.core.verdicts import Verdicts
from fsm_risk.core.work import Work
from fsm_risk.rules.base import Rule

SETTINGS = "settings"  # the audit trigger of a settings change (no state changes)


class RuleSwap:
    """Rules replaced while running (settings reloaded): at once, or staged until an
    instant; every account keeps its rules' memory, ends orphaned holds and is audited."""

    def __init__(
        self,
        book: RuleBook,
        accounts: dict[int, AccountModel],
        work: Work,
        timers: Timers,
        verdicts: Verdicts,
    ) -> None:
        self.book = book
        self.accounts = accounts
        self.work = work
        self.timers = timers
        self.verdicts = verdicts
        #: rules to enforce from an instant on (a loosened settings file waits for the reset)
        self.staged: tuple[list[Rule], datetime, str] | None = None

    def replace(
        self, rules: Sequence[Rule], now: datetime, *, actor: str, detail: str
    ) -> list[Effect]:
        """Enforce ``rules`` from ``now`` on (settings reloaded without a restart). A rule keeps
        its memory (it is keyed by rule id); a hold without deadline whose rule is gone ends;
        every account records the change in its audit log and is asked for its deadlines
        again. Deciding which changes may apply now is the caller's business."""
        self.book.index(rules)
        for acct in self.accounts.values():
            self.orphans(acct, now)
            acct.band = None
            for pos in acct.positions.values():
                pos.band = None
            acct.deadlines.clear()
            self.timers.schedule(acct, now)
        self.beside()
        return self.note(now, actor=actor, detail=detail)

    def note(self, now: datetime, *, actor: str, detail: str) -> list[Effect]:
        """Record a settings change in every account's audit log (its state is unchanged)."""
        out: list[Effect] = []
        for acct in self.accounts.values():
            state = acct.state
            acct.audit.append(
                AuditEntry(now, acct.account_id, None, state, state, SETTINGS, None, detail, actor)
            )
            self.work.drain(acct, out)
            self.work.dirty.add(acct.account_id)
        return out

    def stage(self, rules: Sequence[Rule] | None, at: datetime, detail: str = "") -> None:
        """Enforce ``rules`` from ``at`` on (None: nothing staged). Applied by the first event
        handled at or after ``at``; `next_deadline` includes ``at``."""
        self.staged = None if rules is None else (list(rules), at, detail)
        self.beside()

    def beside(self) -> None:
        """Tell each rule in force what the staged rules (a held loosening) make of it."""
        staged = {} if self.staged is None else {r.id: r for r in self.staged[0]}
        for rule in self.book.rules:
            rule.held_beside(staged.get(rule.id))

    def apply_staged(self, now: datetime) -> list[Effect]:
        """The staged rules, once their instant has come (also done by `handle`)."""
        if self.staged is None or now < self.staged[1]:
            return []
        rules, _, detail = self.staged
        self.staged = None  # (`replace` tells the new rules none is held)
        out = self.replace(rules, now, actor="system", detail=detail)
        out.append(SettingsApplied(now, detail))
        return out

    def orphans(self, acct: AccountModel, now: datetime) -> None:
        """A hold without a deadline ends only when its rule says so; if that rule is no
        longer configured, nothing ever would: release it (holds with deadlines run on)."""
        keep = self.book.ids | {ADMIN, ENGINE}
        for model in (acct, *acct.contracts.values()):
            ended = [s for s, h in model.holds.items() if h.until is None and s not in keep]
            self.verdicts.end_holds(acct, model, ended, now, Reason.RULE_DISABLED)
