"""The risk engine: events in, effects out. Synchronous, deterministic, no I/O, no clock.

``RiskEngine.handle(event, now)`` applies one event to the accounts it concerns and returns
the effects to execute. The shell commits the engine's changed state (and the audit records
among the effects) before it executes anything, so a crash never loses a lock.

This module is the registry of accounts and the dispatch of events; each step's work is done
by one collaborator (built here, each handed only what it needs):

1. **roll** the clock forward (`timers`): apply a due daily/weekly reset (once per boundary),
   release holds whose deadline passed, re-send closes (once the gateway is read) and cancels
   not confirmed in time;
2. **apply** the event to the broker view (`ledger`, `settlement`, `admin`), classifying
   each fill as the trader's or the service's own; a position in a contract whose ticks are
   unknown waits a moment for the gateway's word before it is closed (`unpriced`);
3. **evaluate** the rules that react to this kind of event (`rulebook`; never on the
   service's own fills) and **enforce** their verdicts (`verdicts`): the strongest outcome
   wins, every firing rule is recorded;
4. **sweep** (`flatten`): while an account or contract is flattening or locked, every position
   that should not be there gets one close in flight (`pursuit`) and every order that would
   open or increase exposure is cancelled; reducing orders are left alone;
5. **confirm** (`flatten`): a scope that is flattening and is now flat leaves ``Flattening``
   for its strongest hold;
6. **schedule** the account's next wake-up (`timers`).

Quotes take a shorter path (`_quote`): the mark moves, each holder's position is revalued,
and the quote rules run only outside their guard bands (`bands`); steps 3 to 6 follow only
when a rule gave a verdict, through the same post-verdict step as every other event.

No feedback loop: a contract has at most one close in flight (see `pursuit`), and fills that
reduce a flattening scope, or are of an order of ours, count in P&L but never trigger a rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fsm_risk.core.admin import Admin
from fsm_risk.core.bands import EVALUATE, Bands
from fsm_risk.core.effects import Alert, Effect, Level
from fsm_risk.core.events import (
    AccountUpdate,
    AdminCommand,
    CloseWord,
    EnforcementRejected,
    Event,
    Fill,
    InstrumentWord,
    Listing,
    PositionUpdate,
    Quote,
    SelfLock,
    Tick,
    TradesSnapshot,
)
from fsm_risk.core.events import OrderUpdate as OrderEvent
from fsm_risk.core.exposure import Unjudged, catch_up
from fsm_risk.core.flatten import Flatten
from fsm_risk.core.ledger import Ledger, unlisted
from fsm_risk.core.missed import MissedResets
from fsm_risk.core.models import AccountModel, History, InstrumentBook, Mark
from fsm_risk.core.pursuit import Pursuit
from fsm_risk.core.quotes import QuotePath
from fsm_risk.core.reads import diverged
from fsm_risk.core.reasons import Reason
from fsm_risk.core.rulebook import RuleBook
from fsm_risk.core.ruleswap import RuleSwap
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.settlement import Settlement
from fsm_risk.core.sources import ADMIN, ENGINE, self_source
from fsm_risk.core.states import State
from fsm_risk.core.timers import ResetPrices, Timers
from fsm_risk.core.unlock import judged_after
from fsm_risk.core.unpriced import Unpriced
from fsm_risk.core.valuation import Valuation
from fsm_risk.core.verdicts import Verdicts
from fsm_risk.core.waivers import Waivers, stored_waivers, waiver_until
from fsm_risk.core.work import Changes, Work
from fsm_risk.errors import FsmRiskError
from fsm_risk.rules.base import Rule, RuleContext, Verdict

__all__ = [
    "ADMIN",
    "ENGINE",
    "EVALUATE",
    "Changes",
    "EngineSettings",
    "RiskEngine",
    "self_source",
    "waiver_until",
]


class RiskEngine:
    def __init__(
        self,
        settings: EngineSettings,
        rules: Sequence[Rule] = (),
        instruments: InstrumentBook | None = None,
        marks: dict[str, Mark] | None = None,
    ) -> None:
        self.settings = settings
        self.calendar = settings.calendar
        self.instruments = instruments if instruments is not None else InstrumentBook()
        self.marks: dict[str, Mark] = marks if marks is not None else {}
        self.accounts: dict[int, AccountModel] = {}
        self.book = RuleBook(rules)
        self.work = work = Work()
        self.valuation = Valuation(settings, self.instruments, self.marks)
        self.bands = Bands(self.book)
        self.settlement = Settlement(settings, self.valuation, work)
        self.pursuit = Pursuit(settings, work)
        self.ledger = Ledger(settings, self.settlement, self.pursuit, work)
        self.flatten = Flatten(settings, work, self.pursuit, self.book)
        self.unpriced = Unpriced(settings, self.valuation, self.flatten)
        self.waiver_book = Waivers(settings, self.book, work)
        self.verdicts = Verdicts(settings, work, self.flatten, self.waiver_book)
        self.admin = Admin(
            settings,
            work,
            self.verdicts,
            self.flatten,
            self.waiver_book,
            self.instruments,
            self.marks,
        )
        self.timers = Timers(
            settings, self.book, self.accounts, work, self.pursuit, self.settlement, self.verdicts
        )
        self.swap = RuleSwap(self.book, self.accounts, work, self.timers, self.verdicts)
        self.quotes = QuotePath(
            self.valuation,
            self.bands,
            self.book,
            work,
            self._wake,
            self._resolve,
            self._fail_closed,
        )
        self._quote = self.quotes.handle

    @property
    def rules(self) -> list[Rule]:
        return self.book.rules

    @property
    def holders(self) -> dict[str, set[AccountModel]]:
        """The accounts holding each contract (the quotes the service must watch)."""
        return self.valuation.holders

    @staticmethod
    def context(
        settings: EngineSettings, instruments: InstrumentBook, marks: dict[str, Mark]
    ) -> RuleContext:
        """The context rules are built with; share its ``instruments`` and ``marks``."""
        return RuleContext.of(settings, instruments, marks)

    # -- settings (see `RuleSwap`) ------------------------------------------------------------

    @property
    def staged(self) -> tuple[list[Rule], datetime, str] | None:
        """The rules to enforce from an instant on (a loosened settings file waits)."""
        return self.swap.staged

    def replace_rules(
        self, rules: Sequence[Rule], now: datetime, *, actor: str, detail: str
    ) -> list[Effect]:
        return self.swap.replace(rules, now, actor=actor, detail=detail)

    def note_settings(self, now: datetime, *, actor: str, detail: str) -> list[Effect]:
        return self.swap.note(now, actor=actor, detail=detail)

    def stage_rules(self, rules: Sequence[Rule] | None, at: datetime, detail: str = "") -> None:
        self.swap.stage(rules, at, detail)

    def apply_staged(self, now: datetime) -> list[Effect]:
        return self.swap.apply_staged(now)

    # -- accounts ----------------------------------------------------------------------------

    def add_account(self, account_id: int, name: str, now: datetime) -> AccountModel:
        """Start monitoring an account (in ``Trading``, its books opened at ``now``)."""
        if account_id in self.accounts:
            return self.accounts[account_id]
        t = self.timers
        acct = AccountModel(account_id, name, t.day_book(now), t.week_book(now))
        self.work.machines.attach(acct, State.Trading)
        self.accounts[account_id] = acct
        self.work.dirty.add(account_id)
        t.schedule(acct, now)
        return acct

    def restore_account(
        self,
        snapshot: dict[str, Any],
        contracts: Sequence[dict[str, Any]],
        now: datetime,
        history: History | None = None,
        at_reset: ResetPrices | None = None,
    ) -> list[Effect]:
        """Bring back a stored account as it was, then let time catch up: a reset missed while
        stopped is applied once (valued `at_reset`), expired locks end, closes are re-sent."""
        machines = self.work.machines
        acct = AccountModel.from_dict(snapshot, history)
        acct.missed = MissedResets.from_dict(snapshot["missed"]) if "missed" in snapshot else None
        acct.unjudged = Unjudged(now, restored=True, flat=not acct.exposed())  # (`unread`)
        acct.unjudged.carried = acct.week.unheld  # (a fall kept, shown again: `hidden.begun`)
        machines.attach(acct, State(snapshot["state"]))
        self.work.restore_contracts(acct, contracts)
        old = self.accounts.pop(acct.account_id, None)
        if old is not None:
            self._forget(old)
        self.accounts[acct.account_id] = acct
        out: list[Effect] = []
        self.timers.catch_up(acct, now, self.valuation, at_reset)
        for pos in acct.positions.values():
            self.valuation.restored(acct, pos, now, out)  # at the last price known, if its own
        self.swap.orphans(acct, now)
        self._guarded(acct, Tick(acct.account_id), now, out)
        return out

    def _forget(self, acct: AccountModel) -> None:
        self.valuation.forget(acct)
        for cm in acct.contracts.values():
            self.work.machines.detach(cm, contract=True)
        self.work.machines.detach(acct)

    def take_changes(self) -> Changes:
        """What changed since the last call: the shell commits it before executing effects."""
        return self.work.take(self.accounts, self.valuation.take_learned())

    def resume(self, account_id: int, held_back: set[str], now: datetime) -> list[Effect]:
        """The gateway's working orders for the account are known again (after a restart):
        every pending close and cancel is decided now, from them. ``held_back``: the contracts
        whose close the shell did not send while they were unknown (not counted as tries)."""
        acct = self.accounts.get(account_id)
        if acct is None:
            return []
        self.pursuit.resume(acct, held_back, now)
        self.settlement.read_back(acct)
        out: list[Effect] = []
        self._guarded(acct, Tick(account_id), now, out)
        return out

    def diverged(self, account_id: int, read: Sequence[Event]) -> list[Effect]:
        """A periodic re-read of the account: the alert of what it found that the live feed did
        not say; none when it agrees (the read is then not applied). See `reads`."""
        acct = self.accounts.get(account_id)
        return [] if acct is None else diverged(acct, read, self.ledger.computed)

    # -- admin views -------------------------------------------------------------------------

    def describe_waiver(self, key: str, waiver: Any) -> str:
        """One line for a stored waiver: the rule, until when, and where it re-arms."""
        return self.waiver_book.describe(key, waiver)

    def waivers(self, acct: AccountModel) -> dict[str, Any]:
        """The account's active admin waivers (read-only view)."""
        return stored_waivers(acct)

    def contract_key(self, acct: AccountModel, text: str) -> str:
        """What an admin's contract argument means (see `Admin.contract_key`)."""
        return self.admin.contract_key(acct, text)

    # -- time --------------------------------------------------------------------------------

    def next_deadline(self) -> datetime | None:
        """The earliest stored deadline of any account or of the staged rules (its wake-up)."""
        at = self.timers.next_wakeup()
        staged = self.staged[1] if self.staged is not None else None
        if at is None or staged is None:
            return at or staged
        return min(at, staged)

    def due(self, now: datetime) -> list[int]:
        """The accounts with a deadline at or before ``now``."""
        return self.timers.due(now)

    # -- handling ----------------------------------------------------------------------------

    def handle(self, event: Event, now: datetime) -> list[Effect]:
        """Apply one event at ``now`` (an aware datetime) and return the effects."""
        out: list[Effect] = []
        if self.swap.staged is not None:
            out.extend(self.apply_staged(now))
        if isinstance(event, Quote):  # the hot path first; a contract nobody holds costs a lookup
            self._quote(event, now, out)
        elif isinstance(event, Tick):
            due = self.due(now) if event.account_id is None else [event.account_id]
            for target in [self.accounts[i] for i in due if i in self.accounts]:
                self._guarded(target, event, now, out)
        elif isinstance(event, Listing):  # a reconciliation: its difference, event by event
            acct = self.accounts.get(event.account_id)
            if acct is not None:
                for derived in unlisted(acct, event, now):
                    self._guarded(acct, derived, now, out)
                if self.pursuit.read_back(acct, event, now):  # closes waiting for this read
                    self._guarded(acct, Tick(acct.account_id), now, out)
        elif isinstance(event, InstrumentWord):  # its ticks, or no such contract (`unpriced`)
            for held in self.unpriced.told(event, now):  # valued, or to close: judged again
                self._guarded(held, Tick(held.account_id), now, out)
        else:
            acct = self.accounts.get(event.account_id)
            if acct is None:
                acct = self.add_account(event.account_id, "", now)
            for each in (*catch_up(acct, event), event, *judged_after(event)):  # (trades first)
                self._guarded(acct, each, now, out)
        return out

    def _guarded(self, acct: AccountModel, event: Event, now: datetime, out: list[Effect]) -> None:
        try:
            self._process(acct, event, now, out)
            for record in self.settlement.released(acct, now, out):  # (see `core.doubted`)
                self._process(acct, record, now, out)
        except FsmRiskError as exc:
            if isinstance(event, AdminCommand | SelfLock):
                raise  # an illegal request is refused, not failed-safe
            self._fail_closed(acct, exc, now, out)
        except Exception as exc:  # fail closed on any bug, then alert
            self._fail_closed(acct, exc, now, out)

    def _process(self, acct: AccountModel, event: Event, now: datetime, out: list[Effect]) -> None:
        wake = acct.wakeup
        if wake is not None and now >= wake and not isinstance(event, Tick):
            # a deadline passed before the scheduler's wake-up: wake first (the rules judged on
            # Tick), or the reschedule below would drop a rule deadline no longer in the future
            self._process(acct, Tick(acct.account_id), now, out)
        self.timers.roll(acct, now, out, event)
        verdicts: list[Verdict] = []
        if not self._apply(acct, event, now, out):
            self.book.observe(acct, event, now)
            verdicts = self.book.evaluate(acct, event, now)
        out.extend(self.book.voided(acct, event, now, self.work.given_back))  # (voids)
        kind = None if isinstance(event, AdminCommand) else type(event)
        self._resolve(acct, verdicts, now, out, kind)
        self.work.dirty.add(acct.account_id)
        acct.band = None  # anything but a quote may move the bands: ask the rules again

    def _wake(self, acct: AccountModel, now: datetime, out: list[Effect]) -> None:
        """The rules judge the account now: its wake-up came due first, or a read settled."""
        self._process(acct, Tick(acct.account_id), now, out)

    def _resolve(
        self,
        acct: AccountModel,
        verdicts: list[Verdict],
        now: datetime,
        out: list[Effect],
        kind: type | None = None,
    ) -> None:
        """The step after the rules, for every event: enforce their verdicts, sweep what a
        flattening or locked scope should not hold, keep closes in flight, confirm what is
        flat, schedule the next wake-up and hand the audit records over."""
        if verdicts:
            self.verdicts.enforce(acct, verdicts, now, out)
        self.unpriced.due(acct, now, out)
        self.settlement.uncarried.check(acct, out)  # (a position a reset did not carry)
        self.flatten.sweep(acct, now, out)
        self.pursuit.pursue(acct, now, out)
        self.flatten.confirm(acct, now)
        self.timers.schedule(acct, now, kind)
        if acct.audit:
            self.work.drain(acct, out)
            self.work.dirty.add(acct.account_id)

    def _apply(self, acct: AccountModel, event: Event, now: datetime, out: list[Effect]) -> bool:
        """Update the account from the event. Returns True when no rule may see it (the
        service's own fills, duplicates, voided trades)."""
        if isinstance(event, AccountUpdate):
            self.ledger.account(acct, event, now, out)
        elif isinstance(event, PositionUpdate):
            if self.settlement.position(acct, event, now, out):
                self.unpriced.hold(acct, event.contract_id, now, out)
        elif isinstance(event, OrderEvent):
            if self.ledger.order(acct, event, now):
                return True  # older news: an order that ended before it came
        elif isinstance(event, Fill):
            return self.ledger.fill(acct, event, now, out)
        elif isinstance(event, TradesSnapshot):
            if self.ledger.rebuild_realized(acct, event, now, out) or self.timers.freed(acct, now):
                self._wake(acct, now, out)  # a settlement booked, a lock kept for it: judged now
        elif isinstance(event, AdminCommand):
            self.admin.force(acct, event, now, out)
        elif isinstance(event, SelfLock):
            self.admin.self_lock(acct, event, now, out)
        elif isinstance(event, EnforcementRejected):
            self.pursuit.rejected(acct, event, now, out)
        elif isinstance(event, CloseWord):
            self.pursuit.accepted(acct, event, now)
        acct.last_event_at = now
        return False

    def _fail_closed(
        self, acct: AccountModel, exc: BaseException, now: datetime, out: list[Effect]
    ) -> None:
        """Fail closed: alert, and leave the account flattening into a lock."""
        try:
            self.verdicts.fail_closed(acct, exc, now, out)
            self.flatten.sweep(acct, now, out)
            self.timers.schedule(acct, now)
        except Exception as again:  # nothing more can be done but say so
            text = f"account {acct.account_id} could not be failed closed: {again!r}"
            out.append(Alert(Level.CRITICAL, Reason.FAILSAFE, text, acct.account_id))
        self.work.drain(acct, out)
        self.work.dirty.add(acct.account_id)
