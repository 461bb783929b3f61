"""The risk engine: events in, effects out. Synchronous, deterministic, no I/O, no clock.

``RiskEngine.handle(event, now)`` applies one event to the accounts it concerns and returns
the effects to execute. The shell commits the engine's changed state (and the audit records
among the effects) before it executes anything, so a crash never loses a lock.

Per account, one event goes through the same steps:

1. **roll** the clock forward: apply a due daily/weekly reset (once per boundary), release
   holds whose deadline passed, re-send closes and cancels that were not confirmed in time;
2. **apply** the event to the broker view (balance, positions, working orders, fills and the
   day/week books), classifying each fill as the trader's or the service's own;
3. **evaluate** the rules that react to this kind of event (never on the service's own fills)
   and **enforce** their verdicts: the strongest outcome wins, every firing rule is recorded;
4. **sweep**: while an account or contract is flattening or locked, every position that
   should not be there gets one close in flight and every order that would open or increase
   exposure is cancelled; reducing orders are left alone;
5. **confirm**: a scope that is flattening and is now flat (no position at the gateway nor
   per the fills since, no working order) leaves ``Flattening`` for its strongest hold;
6. **schedule** the account's next wake-up (reset, lock expiry, retry, rule deadline).

Feedback loops are impossible by construction: a contract has at most one close in flight
(its machine is ``Flattening`` until flat; the next close goes only once the gateway says the
previous one is done, or its timeout passed with no order of ours working); fills that reduce a
position in a flattening scope, or belong to an order the service placed, are enforcement fills
that count in P&L but never as the trader's trades and never trigger a rule.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fsm_risk.core import machines
from fsm_risk.core.effects import (
    Alert,
    AuditEntry,
    CancelOrder,
    ClosePosition,
    Effect,
    Level,
    RecordTransition,
    ReducePosition,
    SettingsApplied,
    WatchContract,
)
from fsm_risk.core.events import (
    AccountUpdate,
    AdminCommand,
    EnforcementRejected,
    Event,
    Fill,
    InstrumentInfo,
    OrderStatus,
    OrderType,
    PositionType,
    PositionUpdate,
    Quote,
    SelfLock,
    Side,
    Tick,
    TradesSnapshot,
)
from fsm_risk.core.events import OrderUpdate as OrderEvent
from fsm_risk.core.models import (
    ZERO,
    AccountModel,
    Book,
    ContractModel,
    FillRecord,
    History,
    InstrumentBook,
    Lock,
    Lockable,
    Mark,
    Order,
    Position,
    Trip,
    lock_state,
    root_of,
    strongest,
)
from fsm_risk.core.pnl import MarkMode, realized_net
from fsm_risk.core.reasons import Reason
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.states import LOCK_KINDS, LOCK_RANK, State, Trigger
from fsm_risk.errors import FsmRiskError
from fsm_risk.rules.base import UNBOUNDED, Action, Rule, RuleContext, Scope, Verdict

ADMIN = "ADMIN"
NO_WAIVER = "no waiver"
_FULL_ID = re.compile(r"CON\.F\.[A-Z]+\.[A-Z0-9]+\.[FGHJKMNQUVXZ]\d{2}")
ENGINE = "ENGINE"
SELF = "SELF"  # the source of a lock the trader placed on their own account (per kind)
SETTINGS = "settings"  # the audit trigger of a settings change (no state changes)
#: an empty band: nothing is promised, every quote rule is evaluated
EVALUATE: tuple[Decimal, Decimal] = (Decimal("Infinity"), Decimal("-Infinity"))
_LOWEST, _HIGHEST = Decimal("-Infinity"), Decimal("Infinity")
#: a mark stamped further ahead of the engine's clock than this is wrong, never "newer"
MARK_SKEW = timedelta(seconds=60)


def _intersect(bands: Sequence[tuple[Decimal, Decimal] | None]) -> tuple[Decimal, Decimal]:
    """The intersection of bands; `EVALUATE` when one of them promises nothing (None)."""
    low, high = _LOWEST, _HIGHEST
    for band in bands:
        if band is None:
            return EVALUATE
        if band is UNBOUNDED:
            continue
        if band[0] > low:
            low = band[0]
        if band[1] < high:
            high = band[1]
    return low, high


def self_source(kind: State) -> str:
    """The hold source of a self-lock of this kind: one per kind, so a shorter lock of a
    stronger kind never replaces a longer weaker one (both are held; the strongest wins)."""
    return f"{SELF}:{kind.value}"


@dataclass(frozen=True)
class EngineSettings:
    calendar: SessionCalendar
    mark_mode: MarkMode = MarkMode.LAST
    stale_after: timedelta = timedelta(seconds=30)
    close_timeout: timedelta = timedelta(seconds=10)  # re-send a close not confirmed by then
    close_backoff_max: timedelta = timedelta(seconds=60)
    alert_after_attempts: int = 3  # alert when this many closes have not flattened
    cancel_timeout: timedelta = timedelta(seconds=10)
    admin_cooldown: timedelta = timedelta(minutes=30)  # a forced Cooldown's default length
    #: how long a position update may wait for the fills that explain it
    settle_timeout: timedelta = timedelta(seconds=10)
    failsafe_lock: State = State.LockedDaily
    #: how much deeper a waived loss rule re-arms, past its value at the waiver: this share of
    #: the rule's own limit, or ``rearm_amount`` dollars when that is set
    rearm_share: Decimal = Decimal(1)
    rearm_amount: Decimal | None = None
    #: symbol roots an admin may name besides the built-in instruments (from the settings)
    known_roots: frozenset[str] = frozenset()
    #: the time zone messages show times in (None: the session's)
    display_tz: str | None = None


@dataclass(frozen=True)
class Changes:
    """A unit of work: the accounts to persist and the fills to append to the journal, with
    the round trips closed today and the trades voided (account id, trade id, time)."""

    accounts: list[AccountModel]
    fills: list[tuple[int, FillRecord]]
    trips: list[tuple[int, Trip]] = field(default_factory=list)
    voids: list[tuple[int, int, datetime]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.fills or self.trips or self.voids)


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
        self.holders: dict[str, set[AccountModel]] = {}
        self._holder_list: dict[str, tuple[AccountModel, ...]] = {}  # cached view of holders
        self.dirty: set[int] = set()
        self.new_fills: list[tuple[int, FillRecord]] = []
        self.new_trips: list[tuple[int, Trip]] = []
        self.new_voids: list[tuple[int, int, datetime]] = []
        self._heap: list[tuple[datetime, int]] = []
        self._liquidation = settings.mark_mode is MarkMode.LIQUIDATION
        #: rules to enforce from an instant on (a loosened settings file waits for the reset)
        self.staged: tuple[list[Rule], datetime, str] | None = None
        self._index(rules)

    def _index(self, rules: Sequence[Rule]) -> None:
        self.rules: list[Rule] = list(rules)
        self._by_event: dict[type, list[Rule]] = {}
        self._observers: dict[type, list[Rule]] = {}
        self._rule_ids = {r.id for r in self.rules}
        self._rule_by_id = {r.id: r for r in self.rules}
        # only the rules that define deadlines are asked for them (after every event)
        self._deadline_rules = [
            (r, r.deadline_kinds if r.deadline_kinds is not None else r.reacts_to)
            for r in self.rules
            if type(r).next_deadline is not Rule.next_deadline
        ]
        for rule in self.rules:
            for kind in rule.reacts_to:
                self._by_event.setdefault(kind, []).append(rule)
                if rule.stateful:
                    self._observers.setdefault(kind, []).append(rule)
        #: the position among the quote rules of the one that trails a peak (see Rule.trail)
        self._trailing: int | None = next(
            (i for i, r in enumerate(self._by_event.get(Quote, ())) if r.trails), None
        )

    @staticmethod
    def context(
        settings: EngineSettings, instruments: InstrumentBook, marks: dict[str, Mark]
    ) -> RuleContext:
        """The context rules are built with; share its ``instruments`` and ``marks``."""
        return RuleContext(
            calendar=settings.calendar,
            instruments=instruments,
            marks=marks,
            mark_mode=settings.mark_mode,
            stale_after=settings.stale_after,
        )

    # ======================================================================================
    # settings
    # ======================================================================================

    def replace_rules(
        self, rules: Sequence[Rule], now: datetime, *, actor: str, detail: str
    ) -> list[Effect]:
        """Enforce ``rules`` from ``now`` on (settings reloaded without a restart). A rule keeps
        its memory (it is keyed by rule id); a hold without deadline whose rule is gone ends;
        every account records the change in its audit log and is asked for its deadlines
        again. Deciding which changes may apply now is the caller's business."""
        self._index(rules)
        for acct in self.accounts.values():
            self._orphans(acct, now)
            acct.band = None
            for pos in acct.positions.values():
                pos.band = None
            acct.deadlines.clear()
            self._schedule(acct, now)
        return self.note_settings(now, actor=actor, detail=detail)

    def note_settings(self, now: datetime, *, actor: str, detail: str) -> list[Effect]:
        """Record a settings change in every account's audit log (its state is unchanged)."""
        out: list[Effect] = []
        for acct in self.accounts.values():
            acct.audit.append(
                AuditEntry(
                    now,
                    acct.account_id,
                    None,
                    acct.state,
                    acct.state,
                    SETTINGS,
                    None,
                    detail,
                    actor,
                )
            )
            self._drain(acct, out)
            self.dirty.add(acct.account_id)
        return out

    def stage_rules(self, rules: Sequence[Rule] | None, at: datetime, detail: str = "") -> None:
        """Enforce ``rules`` from ``at`` on (None: nothing staged). Applied by the first event
        handled at or after ``at``; `next_deadline` includes ``at``."""
        self.staged = None if rules is None else (list(rules), at, detail)

    def apply_staged(self, now: datetime) -> list[Effect]:
        """The staged rules, once their instant has come (also done by `handle`)."""
        if self.staged is None or now < self.staged[1]:
            return []
        rules, _, detail = self.staged
        self.staged = None
        out = self.replace_rules(rules, now, actor="system", detail=detail)
        out.append(SettingsApplied(now, detail))
        return out

    # ======================================================================================
    # accounts
    # ======================================================================================

    def add_account(self, account_id: int, name: str, now: datetime) -> AccountModel:
        """Start monitoring an account (in ``Trading``, its books opened at ``now``)."""
        if account_id in self.accounts:
            return self.accounts[account_id]
        acct = AccountModel(account_id, name, self._day_book(now), self._week_book(now))
        machines.attach(acct, State.Trading)
        self.accounts[account_id] = acct
        self.dirty.add(account_id)
        self._schedule(acct, now)
        return acct

    def restore_account(
        self,
        snapshot: dict[str, Any],
        contracts: Sequence[dict[str, Any]],
        now: datetime,
        history: History | None = None,
    ) -> list[Effect]:
        """Bring back a stored account exactly as it was, then let time catch up: a reset
        missed while stopped is applied once, expired locks end, pending closes are re-sent."""
        acct = AccountModel.from_dict(snapshot, history)
        machines.attach(acct, State(snapshot["state"]))
        for c in contracts:
            cm = ContractModel(acct.account_id, c["contract_id"])
            cm.load(c)
            cm.join(acct)
            machines.attach(cm, State(c["state"]), contract=True)
            acct.contracts[cm.contract_id] = cm
        old = self.accounts.pop(acct.account_id, None)
        if old is not None:
            self._forget(old)
        self.accounts[acct.account_id] = acct
        out: list[Effect] = []
        for contract_id, pos in acct.positions.items():
            mark = self.marks.get(contract_id)
            if (
                mark is not None
                and not now - self.settings.stale_after <= mark.at <= now + MARK_SKEW
            ):
                # stored while the service ran: too old (or wrongly stamped) to value it now;
                # the position waits for a fresh quote
                del self.marks[contract_id]
            self._hold(acct, contract_id, out)
            self._revalue(acct, pos)
        self._orphans(acct, now)
        self._guarded(acct, Tick(acct.account_id), now, out)
        return out

    def _orphans(self, acct: AccountModel, now: datetime) -> None:
        """A hold without a deadline ends only when its rule says so; if that rule is no
        longer configured, nothing ever would: release it (holds with deadlines run on)."""
        keep = self._rule_ids | {ADMIN, ENGINE}
        for model in (acct, *acct.contracts.values()):
            ended = [s for s, h in model.holds.items() if h.until is None and s not in keep]
            self._end_holds(acct, model, ended, now, Reason.RULE_DISABLED)

    def _forget(self, acct: AccountModel) -> None:
        for holders in self.holders.values():
            holders.discard(acct)
        self._holder_list.clear()
        for cm in acct.contracts.values():
            machines.detach(cm, contract=True)
        machines.detach(acct)

    def _account(self, account_id: int, now: datetime) -> AccountModel:
        acct = self.accounts.get(account_id)
        if acct is None:
            acct = self.add_account(account_id, "", now)
        return acct

    def contract(self, acct: AccountModel, contract_id: str) -> ContractModel:
        cm = acct.contracts.get(contract_id)
        if cm is None:
            cm = ContractModel(acct.account_id, contract_id)
            cm.join(acct)
            machines.attach(cm, State.Trading, contract=True)
            acct.contracts[contract_id] = cm
        return cm

    def take_changes(self) -> Changes:
        """What changed since the last call: the shell commits it before executing effects."""
        changes = Changes(
            [self.accounts[i] for i in sorted(self.dirty) if i in self.accounts],
            self.new_fills,
            self.new_trips,
            self.new_voids,
        )
        self.dirty = set()
        self.new_fills = []
        self.new_trips = []
        self.new_voids = []
        return changes

    # ======================================================================================
    # time
    # ======================================================================================

    def next_deadline(self) -> datetime | None:
        """The earliest stored deadline of any account, or of the staged rules (the scheduler
        sleeps until then)."""
        staged = self.staged[1] if self.staged is not None else None
        while self._heap:
            at, account_id = self._heap[0]
            acct = self.accounts.get(account_id)
            if acct is not None and acct.wakeup == at:
                return at if staged is None else min(at, staged)
            heapq.heappop(self._heap)
        return staged

    def due(self, now: datetime) -> list[int]:
        """The accounts with a deadline at or before ``now``."""
        return sorted(a.account_id for a in self.accounts.values() if a.wakeup and a.wakeup <= now)

    def _schedule(self, acct: AccountModel, now: datetime, kind: type | None = None) -> None:
        """Store the account's next wake-up. ``kind`` is the type of the event just handled: a
        rule's deadline is asked again only after events of the kinds it reacts to (the only
        ones that can move it), or always when ``kind`` is None."""
        times: list[datetime] = [acct.day.end, acct.week.end]
        for h in acct.holds.values():
            if h.until is not None:
                times.append(h.until)
        for cm in acct.contracts.values():
            for h in cm.holds.values():
                if h.until is not None:
                    times.append(h.until)
            if (
                cm.state is State.Flattening
                and cm.retry_at is not None
                and (cm.close_in_flight or cm.retry_at > now)
            ):
                times.append(cm.retry_at)
        for o in acct.orders.values():
            if o.cancel_sent_at is not None:
                times.append(o.cancel_sent_at + self.settings.cancel_timeout)
        times.extend(deadline for _, deadline in acct.expected.values() if deadline is not None)
        times.extend(until for _, _, until in acct.filling.values())
        waivers = acct.rule_state.get(ADMIN, {}).get("waivers", {})
        times.extend(waiver_until(w) for w in waivers.values())
        cached = acct.deadlines
        for rule, kinds in self._deadline_rules:
            if kind is None or kind in kinds or rule.id not in cached:
                cached[rule.id] = rule.next_deadline(acct, now)
            t = cached[rule.id]
            if t is not None:
                times.append(t)
        wake = min(times)
        if wake != acct.wakeup:
            acct.wakeup = wake
            heapq.heappush(self._heap, (wake, acct.account_id))

    def _day_book(self, now: datetime) -> Book:
        cal = self.calendar
        return Book(cal.trading_day(now), cal.last_daily_reset(now), cal.next_daily_reset(now))

    def _week_book(self, now: datetime) -> Book:
        cal = self.calendar
        return Book(cal.trading_week(now), cal.last_weekly_reset(now), cal.next_weekly_reset(now))

    def _roll(self, acct: AccountModel, now: datetime, out: list[Effect]) -> None:
        if now >= acct.week.end:
            self._reset(acct, now, weekly=True)
        if now >= acct.day.end:
            self._reset(acct, now, weekly=False)
        self._expire(acct, acct, now)
        for cm in list(acct.contracts.values()):
            self._expire(acct, cm, now)
        self._retry(acct, now, out)
        for oid, (_, _, wait_until) in list(acct.filling.items()):
            if now >= wait_until:
                del acct.filling[oid]  # its fills are not coming: positions will tell
                self.dirty.add(acct.account_id)
        for cid, (reported, deadline) in list(acct.expected.items()):
            if deadline is not None and now >= deadline:
                self._settle(acct, cid, reported, now, out, forced=True)
                self.dirty.add(acct.account_id)
        waivers: dict[str, Any] = acct.rule_state.get(ADMIN, {}).get("waivers", {})
        for source, waiver in list(waivers.items()):
            if waiver_until(waiver) <= now:
                del waivers[source]
                self.dirty.add(acct.account_id)

    def _reset(self, acct: AccountModel, now: datetime, *, weekly: bool) -> None:
        """Open the new trading day (or week). Idempotent: keyed by the boundary instant, so a
        reset missed while the service was down is applied once, at start-up."""
        book = self._week_book(now) if weekly else self._day_book(now)
        current = acct.week if weekly else acct.day
        if book.start <= current.start:
            return
        book.carry = acct.open_upnl
        # forget trades older than last week: reconciliations read this week only
        horizon = min(book.start, acct.week.start) - timedelta(days=7)
        acct.seen_trades = {i: t for i, t in acct.seen_trades.items() if t >= horizon}
        if weekly:
            acct.week = book
        else:
            acct.day = book
        for rule in self.rules:
            memo = acct.rule_state.setdefault(rule.id, {}) if rule.stateful else {}
            rule.on_reset(memo, acct, weekly, book.start)
        self.dirty.add(acct.account_id)

    def _expire(self, acct: AccountModel, model: Lockable, now: datetime) -> None:
        ended = [s for s, h in model.holds.items() if h.until is not None and h.until <= now]
        self._end_holds(acct, model, ended, now, Reason.LOCK_EXPIRED)

    def _end_holds(
        self,
        acct: AccountModel,
        model: Lockable,
        ended: list[str],
        now: datetime,
        reason: Reason,
        detail: str | None = None,
    ) -> None:
        """These holds ended: the model moves to the strongest that remains (audited)."""
        if ended:
            self._fire(
                acct,
                model,
                Trigger.release,
                now,
                ended=ended,
                rule_id=",".join(sorted(ended)),
                reason=f"{reason.name}: {detail or reason.description}",
            )

    def _retry(self, acct: AccountModel, now: datetime, out: list[Effect]) -> None:
        s = self.settings
        self._pursue(acct, now, out)
        for o in acct.orders.values():
            if o.cancel_sent_at is not None and now >= o.cancel_sent_at + s.cancel_timeout:
                o.cancel_attempts += 1
                o.cancel_sent_at = now
                out.append(
                    CancelOrder(
                        acct.account_id,
                        o.order_id,
                        o.contract_id,
                        Reason.CANCEL_NOT_CONFIRMED,
                        o.cancel_attempts,
                    )
                )
                self.dirty.add(acct.account_id)

    def resume(self, account_id: int, held_back: set[str], now: datetime) -> list[Effect]:
        """The gateway's working orders for the account are known again (after a restart):
        every pending close and cancel is decided now, from them. ``held_back``: the contracts
        whose close the shell did not send while they were unknown (not counted as tries)."""
        acct = self.accounts.get(account_id)
        if acct is None:
            return []
        for cm in acct.contracts.values():
            if cm.state is State.Flattening:
                if cm.contract_id in held_back:
                    cm.attempts = max(cm.attempts - 1, 0)
                cm.retry_at = now
        for o in acct.orders.values():
            if o.cancel_sent_at is not None:
                if o.contract_id in held_back:
                    o.cancel_attempts = max(o.cancel_attempts - 1, 0)
                o.cancel_sent_at = now - self.settings.cancel_timeout
        out: list[Effect] = []
        self._guarded(acct, Tick(account_id), now, out)
        return out

    def _pursue(self, acct: AccountModel, now: datetime, out: list[Effect]) -> None:
        """Keep one close in flight for every flattening contract still over its target.

        The next close goes out as soon as the previous one is done at the gateway (filled,
        cancelled or rejected), not when a timer fires: a trader adding faster than one
        close at a time is reduced close after close. A close that ended without a fill is
        re-sent after the backoff (at once if the position changed since it was sized); one
        that is not seen to end is re-sent only when its timeout passes and no order of ours
        is still working (a second working close could reverse the position)."""
        s = self.settings
        for cm in acct.contracts.values():
            if cm.state is not State.Flattening:
                continue
            pos = acct.positions.get(cm.contract_id)
            over = pos is not None and _open(pos) > cm.target_size
            due = cm.retry_at is None or now >= cm.retry_at
            if not cm.close_in_flight:
                if not over or not due or self._closes_working(acct, cm.contract_id):
                    continue
                assert pos is not None
                cm.attempts += 1
                if cm.attempts > 1:  # the previous close ended without a fill: say so
                    out.append(
                        Alert(
                            Level.WARNING,
                            Reason.CLOSE_NOT_CONFIRMED,
                            f"close of {cm.contract_id} ended without a fill: re-sent "
                            f"(attempt {cm.attempts})",
                            acct.account_id,
                            cm.contract_id,
                        )
                    )
                self._send_close(acct, cm, pos, now, out)
                self._alert_failing(acct, cm, pos, out)
                cm.retry_at = now + self._backoff(cm.attempts)
                self.dirty.add(acct.account_id)
                continue
            if not due:
                continue
            working = self._closes_working(acct, cm.contract_id)
            if working and over:
                # our close is still working at the gateway: a second one would reverse the
                # position once both fill, so wait for it (and say so) instead of re-sending
                cm.attempts += 1
                out.append(
                    Alert(
                        Level.CRITICAL if cm.attempts >= s.alert_after_attempts else Level.WARNING,
                        Reason.CLOSE_NOT_CONFIRMED,
                        f"close order(s) {', '.join(map(str, working))} for {cm.contract_id} "
                        f"still working after {cm.attempts} checks: not re-sent",
                        acct.account_id,
                        cm.contract_id,
                    )
                )
            elif over:
                assert pos is not None
                cm.attempts += 1
                self._send_close(acct, cm, pos, now, out)
                if not self._alert_failing(acct, cm, pos, out):
                    out.append(
                        Alert(
                            Level.WARNING,
                            Reason.CLOSE_NOT_CONFIRMED,
                            f"close of {cm.contract_id} not confirmed: re-sent "
                            f"(attempt {cm.attempts})",
                            acct.account_id,
                            cm.contract_id,
                        )
                    )
            elif not working:
                cm.close_sent_at = None  # nothing of ours works and nothing is over: it ended
            cm.retry_at = now + self._backoff(cm.attempts)
            self.dirty.add(acct.account_id)

    def _alert_failing(
        self, acct: AccountModel, cm: ContractModel, pos: Position, out: list[Effect]
    ) -> bool:
        if cm.attempts >= self.settings.alert_after_attempts and not cm.alerted:
            cm.alerted = True
            out.append(
                Alert(
                    Level.CRITICAL,
                    Reason.CLOSE_FAILING,
                    f"{cm.attempts} close orders for {cm.contract_id} have not "
                    f"flattened the position ({pos.size} open)",
                    acct.account_id,
                    cm.contract_id,
                )
            )
            return True
        return False

    def _close_order_event(
        self, acct: AccountModel, cm: ContractModel, ev: OrderEvent, now: datetime
    ) -> None:
        """Recognise the gateway's order for our close among the order events (a market order
        on the closing side, new to us, of the size asked), and notice when it is final."""
        if cm.close_order is None:
            if (
                ev.order_id in acct.orders
                or ev.order_id in acct.own_orders
                or ev.type is not OrderType.MARKET
                or ev.side is not cm.close_side
                or (cm.close_size and ev.size != cm.close_size)
            ):
                return
            cm.close_order = ev.order_id
            acct.own_orders.add(ev.order_id)
        if ev.order_id != cm.close_order or ev.status.working:
            return
        if ev.fill_volume:
            cm.close_volume = ev.fill_volume
        else:
            cm.close_volume = ev.size if ev.status is OrderStatus.FILLED else 0
        self._close_progress(acct, cm, now)

    def _close_progress(self, acct: AccountModel, cm: ContractModel, now: datetime) -> None:
        """Our close is done once its order is final and every fill it reported was seen
        (so the position we size the next close from already counts them)."""
        if cm.close_volume is None or cm.close_filled < cm.close_volume:
            return
        self._close_ended(acct, cm, now, progressed=cm.close_volume > 0 or cm.close_filled > 0)

    def _close_ended(
        self, acct: AccountModel, cm: ContractModel, now: datetime, *, progressed: bool
    ) -> None:
        """The close in flight is done: the next one (if still over target) may go at once
        after a fill; after a refusal, at once only if the position moved since it was sized
        (the refusal may be about that size), else after the backoff."""
        if not cm.close_in_flight:
            return
        cm.close_sent_at, cm.close_order, cm.close_filled, cm.close_volume = None, None, 0, None
        self.dirty.add(acct.account_id)
        if progressed:
            cm.attempts, cm.alerted = 0, False
            cm.retry_at = now  # due: the next close (if any) goes with this event
            return
        pos = acct.positions.get(cm.contract_id)
        moved = pos is None or _open(pos) != cm.close_basis
        cm.retry_at = now if moved else now + self._backoff(max(cm.attempts, 1))

    @classmethod
    def _closes_working(cls, acct: AccountModel, contract_id: str) -> list[int]:
        """Orders working at the gateway that close this position: ours, and any market order
        that only reduces it (the platform's liquidation, the trader's exit). Another close
        sent beside them could reverse the position once all fill."""
        return sorted(
            o.order_id
            for o in acct.orders.values()
            if o.contract_id == contract_id
            and (o.order_id in acct.own_orders or cls._closing(acct, o))
        )

    @classmethod
    def _closing(cls, acct: AccountModel, o: Order) -> bool:
        return o.type is OrderType.MARKET and cls._reduces(acct, o)

    def _backoff(self, attempts: int) -> timedelta:
        base = self.settings.close_timeout
        return min(base * (1 << max(attempts - 1, 0)), self.settings.close_backoff_max)

    # ======================================================================================
    # handling
    # ======================================================================================

    def handle(self, event: Event, now: datetime) -> list[Effect]:
        """Apply one event at ``now`` (an aware datetime) and return the effects."""
        out: list[Effect] = []
        if self.staged is not None:
            out.extend(self.apply_staged(now))
        if isinstance(event, Quote):
            self._quote(event, now, out)
        elif isinstance(event, Tick):
            if event.account_id is not None:
                acct = self.accounts.get(event.account_id)
                targets = [acct] if acct is not None else []
            else:
                targets = [self.accounts[i] for i in self.due(now)]
            for acct in targets:
                self._guarded(acct, event, now, out)
        elif isinstance(event, InstrumentInfo):
            self.instruments.learn(event.contract_id, event.tick_size, event.tick_value)
            for acct in list(self.holders.get(event.contract_id, ())):
                pos = acct.positions.get(event.contract_id)
                if pos is not None:
                    pos.point_value = None  # re-read the instrument
                    self._revalue(acct, pos)
        else:
            self._guarded(self._account(event.account_id, now), event, now, out)
        return out

    def _guarded(self, acct: AccountModel, event: Event, now: datetime, out: list[Effect]) -> None:
        try:
            self._process(acct, event, now, out)
        except FsmRiskError as exc:
            if isinstance(event, AdminCommand | SelfLock):
                raise  # an illegal request is refused, not failed-safe
            self._fail_closed(acct, exc, now, out)
        except Exception as exc:  # fail closed on any bug, then alert
            self._fail_closed(acct, exc, now, out)

    def _process(self, acct: AccountModel, event: Event, now: datetime, out: list[Effect]) -> None:
        wake = acct.wakeup
        if wake is not None and now >= wake and not isinstance(event, Tick):
            # a deadline passed and this event came before the scheduler's wake-up: handle the
            # wake-up first (rules evaluated on Tick, e.g. a hold time or a flat-by time), or
            # the reschedule below would drop a rule deadline that is no longer in the future
            self._process(acct, Tick(acct.account_id), now, out)
        self._roll(acct, now, out)
        own = self._apply(acct, event, now, out)
        if not own:
            self._observe(acct, event, now)
            verdicts = self._evaluate(acct, event, now)
            if verdicts:
                self._enforce(acct, verdicts, now, out)
        self._sweep(acct, now, out)
        self._pursue(acct, now, out)
        self._confirm(acct, now)
        self._schedule(acct, now, None if isinstance(event, AdminCommand) else type(event))
        self._drain(acct, out)
        self.dirty.add(acct.account_id)
        acct.band = None  # anything but a quote may move the bands: ask the rules again

    def _quote(self, q: Quote, now: datetime, out: list[Effect]) -> None:
        """The hot path: touches only the accounts holding the quoted contract."""
        if not self.holders.get(q.contract_id):
            return  # nobody holds it: it costs nothing (no mark kept, none stored)
        mark = self.marks.get(q.contract_id)
        if mark is None:
            self.marks[q.contract_id] = Mark(q.last, q.bid, q.ask, q.at)
        else:
            if q.at < mark.at and mark.at <= now + MARK_SKEW:
                # out of order: an older quote never overwrites a newer one (a mark stamped
                # ahead of our clock is not newer, it is wrong: it never freezes the price)
                return
            if q.last is not None:
                mark.last = q.last
            if q.bid is not None:
                mark.bid = q.bid
            if q.ask is not None:
                mark.ask = q.ask
            mark.at = q.at
        cid = q.contract_id
        holders = self._holder_list.get(cid)
        if holders is None:
            holders = self._holder_list[cid] = tuple(
                sorted(self.holders.get(cid, ()), key=lambda a: a.account_id)
            )
        if not holders:
            return
        mark = self.marks[cid]
        if self._liquidation:
            long_price, short_price = mark.bid, mark.ask
        else:
            long_price = short_price = mark.last
        rules = self._by_event.get(Quote, ())
        observers = self._observers.get(Quote, ())
        trailing = self._trailing
        if trailing is not None:
            trail, trail_id = rules[trailing].trail, rules[trailing].id
        for acct in holders:
            try:
                wake = acct.wakeup
                if wake is not None and now >= wake:
                    self._process(acct, Tick(acct.account_id), now, out)  # see _process
                pos = acct.positions.get(cid)
                if pos is not None:
                    # _revalue, inlined: this runs once per holder per quote
                    per_point = pos.point_value
                    price = long_price if pos.long else short_price
                    if per_point is None:
                        self._revalue(acct, pos)
                    elif price is not None:
                        value = (price - pos.average_price) * per_point
                        acct.open_upnl += value - pos.upnl
                        pos.upnl = value
                        pos.priced = True
                # the guard band: inside it no quote rule can fire or change its memory
                band = acct.band
                if band is None:
                    band = self._account_band(acct)
                upnl = acct.open_upnl
                if band[0] < upnl < band[1]:
                    if pos is None:
                        continue
                    pband = pos.band
                    if pband is None:
                        pband = pos.band = self._position_band(acct, pos)
                    if pband[0] < pos.upnl < pband[1]:
                        continue
                acct.band = None  # evaluated: asked again unless re-banded below
                if trailing is not None and band is not EVALUATE:
                    # a new peak (a steady trend): only the trailing rule's band was crossed,
                    # upwards; it cannot fire there, it only raises its memory
                    rest = acct.rest
                    bands = acct.bands
                    if rest[0] < upnl < rest[1] and upnl > bands[trailing][0]:  # type: ignore[index]
                        pband = None
                        if pos is not None:
                            pband = pos.band
                            if pband is None:
                                pband = pos.band = self._position_band(acct, pos)
                        if pband is None or pband[0] < pos.upnl < pband[1]:  # type: ignore[union-attr]
                            memo = acct.rule_state.get(trail_id)
                            if memo is None:
                                memo = acct.rule_state[trail_id] = {}
                            tband, changed = trail(memo, acct, q, now)
                            if changed:
                                self.dirty.add(acct.account_id)
                            bands[trailing] = tband
                            if tband is not None:
                                low, high = tband
                                acct.band = (
                                    rest[0] if rest[0] > low else low,
                                    rest[1] if rest[1] < high else high,
                                )
                            continue
                crossed = rules if band is EVALUATE else self._crossed(acct, pos)
                for rule in observers:
                    if rule in crossed and rule.observe(
                        acct.rule_state.setdefault(rule.id, {}), acct, q, now
                    ):
                        self.dirty.add(acct.account_id)
                verdicts: list[Verdict] | None = None
                for rule in crossed:
                    found = rule.evaluate(acct, q, now)
                    if found:
                        verdicts = [*(verdicts or ()), *found]
                if not verdicts and band is not EVALUATE:
                    # nothing fired, and a quote moves only the open P&L and the memory of
                    # the rules it reached: the other rules' bands still hold
                    self._reband(acct, crossed)
                if verdicts:
                    self._enforce(acct, verdicts, now, out)
                    self._sweep(acct, now, out)
                    self._pursue(acct, now, out)
                    self._confirm(acct, now)
                    self._schedule(acct, now)
                if acct.audit:
                    self._drain(acct, out)
                    self.dirty.add(acct.account_id)
            except Exception as exc:  # fail closed on any bug
                self._fail_closed(acct, exc, now, out)

    def _account_band(self, acct: AccountModel) -> tuple[Decimal, Decimal]:
        """The intersection of the quote rules' bands on the account's open P&L (each rule's
        own band is kept in ``acct.bands``, valid while ``acct.band`` is set)."""
        acct.bands = [rule.quote_band(acct) for rule in self._by_event.get(Quote, ())]
        return self._banded(acct)

    def _banded(self, acct: AccountModel) -> tuple[Decimal, Decimal]:
        """Set ``acct.band`` from ``acct.bands``, and ``acct.rest``, the intersection of every
        band but the trailing rule's."""
        bands = acct.bands
        i = self._trailing
        if i is None:
            band = acct.band = _intersect(bands)
            return band
        rest = acct.rest = _intersect([*bands[:i], *bands[i + 1 :]])
        own = bands[i]
        if own is None or rest is EVALUATE:
            band = acct.band = EVALUATE
        else:
            band = acct.band = (max(rest[0], own[0]), min(rest[1], own[1]))
        return band

    def _reband(self, acct: AccountModel, crossed: Sequence[Rule]) -> None:
        """Ask only the ``crossed`` rules for their band again and intersect with the rest.

        Exact because a rule's band depends on the account's state apart from its open P&L,
        and on the rule's own memory: a quote that changed neither state (no verdict) nor
        the memory of a rule it did not reach (only reached rules observe) leaves every
        other rule's band as it was."""
        bands = acct.bands
        for i, rule in enumerate(self._by_event.get(Quote, ())):
            if rule in crossed:
                bands[i] = rule.quote_band(acct)
        self._banded(acct)

    def _position_band(self, acct: AccountModel, pos: Position) -> tuple[Decimal, Decimal]:
        low, high = _LOWEST, _HIGHEST
        for rule in self._by_event.get(Quote, ()):
            band = rule.position_band(acct, pos)
            if band is None:
                return EVALUATE
            if band is UNBOUNDED:
                continue
            if band[0] > low:
                low = band[0]
            if band[1] < high:
                high = band[1]
        return low, high

    def _crossed(self, acct: AccountModel, pos: Position | None) -> list[Rule]:
        """Outside the intersection: the quote rules whose own band the quote crossed (the
        account bands as asked last, in ``acct.bands``)."""
        out = []
        upnl = acct.open_upnl
        # inside the position's intersection, no rule's position band was crossed
        check_pos = pos is not None and (
            pos.band is None or not pos.band[0] < pos.upnl < pos.band[1]
        )
        for rule, band in zip(self._by_event.get(Quote, ()), acct.bands, strict=True):
            if band is None or not band[0] < upnl < band[1]:
                out.append(rule)
                continue
            if check_pos:
                assert pos is not None
                pband = rule.position_band(acct, pos)
                if pband is None or not pband[0] < pos.upnl < pband[1]:
                    out.append(rule)
        return out

    def _revalue(self, acct: AccountModel, pos: Position) -> None:
        """Value one position at its contract's mark, exactly."""
        mark = self.marks.get(pos.contract_id)
        inst = self.instruments.get(pos.contract_id)
        if mark is None or inst is None:
            return
        price = (mark.bid if pos.long else mark.ask) if self._liquidation else mark.last
        if price is None:
            return
        valued = max(pos.size - pos.settling, 0)
        signed = inst.tick_value * (valued if pos.long else -valued)
        per_point = signed / inst.tick_size
        if per_point * inst.tick_size == signed:
            pos.point_value = per_point  # the hot path multiplies by this
            value = (price - pos.average_price) * per_point
        else:
            value = (price - pos.average_price) * signed / inst.tick_size
        acct.open_upnl += value - pos.upnl
        pos.upnl = value
        pos.priced = True

    # -- apply -----------------------------------------------------------------------------

    def _apply(self, acct: AccountModel, event: Event, now: datetime, out: list[Effect]) -> bool:
        """Update the account from the event. Returns True for the service's own fills."""
        if isinstance(event, AccountUpdate):
            if event.applied is not None and any(i not in event.applied for i in acct.seen_trades):
                return False  # read before a fill applied since: older than what we have
            if event.name:
                acct.name = event.name
            acct.balance = event.balance
            acct.pending_realized = ZERO
            acct.can_trade = event.can_trade
        elif isinstance(event, PositionUpdate):
            self._apply_position(acct, event, now, out)
        elif isinstance(event, OrderEvent):
            self._apply_order(acct, event, now)
        elif isinstance(event, Fill):
            return self._apply_fill(acct, event, now)
        elif isinstance(event, AdminCommand):
            self._admin(acct, event, now)
        elif isinstance(event, SelfLock):
            self._self_lock(acct, event, now)
        elif isinstance(event, EnforcementRejected):
            self._rejected(acct, event, now, out)
        elif isinstance(event, TradesSnapshot):
            self._rebuild_realized(acct, event, out)
        acct.last_event_at = now
        return False

    def _apply_position(
        self, acct: AccountModel, ev: PositionUpdate, now: datetime, out: list[Effect]
    ) -> None:
        """The gateway's position replaces ours. The running size stays fill-driven: a live
        update the fills do not match yet (its fills are still on their way) is remembered as
        expected, and what it dropped keeps its value until those fills realize it."""
        cid = ev.contract_id
        if ev.snapshot and ev.applied is not None:
            applied = ev.applied
            if any(f.contract_id == cid and f.trade_id not in applied for f in acct.day.fills):
                return  # read before a fill applied since: the live position is newer
        closed = ev.size <= 0 or ev.type is PositionType.UNDEFINED
        reported = 0 if closed else (ev.size if ev.type is PositionType.LONG else -ev.size)
        net = acct.net.get(cid, 0)
        old = acct.positions.get(cid)
        old_value = old.upnl if old is not None else ZERO
        if old is not None:
            acct.open_upnl -= old.upnl
        new_value = ZERO
        if closed:
            acct.positions.pop(cid, None)
            acct.tolerated.pop(cid, None)
            self._unhold(acct, cid, out)
        else:
            pos = Position(cid, reported > 0, ev.size, ev.average_price, ev.opened_at)
            if old is not None and old.long == pos.long:
                pos.opened_at = min(old.opened_at, ev.opened_at)
            acct.positions[cid] = pos
            tol = acct.tolerated.get(cid)
            if tol is not None:
                if (tol > 0) != pos.long:
                    acct.tolerated.pop(cid)
                else:
                    acct.tolerated[cid] = (1 if pos.long else -1) * min(abs(tol), pos.size)
            self._hold(acct, cid, out)
            self._revalue(acct, pos)
            new_value = pos.upnl
        if reported == net or ev.snapshot:
            self._settle(acct, cid, reported, now, out, forced=reported != net)
        else:
            deadline = None
            dropped = abs(net) - abs(reported) if (reported >= 0) == (net > 0) else abs(net)
            if dropped > 0 and old is not None:
                # closed at the gateway before its fills reached us: keep their value until
                # the fills realize it, or until the timeout says they are not coming
                amount, n = acct.unsettled.get(cid, (ZERO, 0))
                acct.unsettled[cid] = (amount + old_value - new_value, n + dropped)
                acct.open_upnl += old_value - new_value
                deadline = now + self.settings.settle_timeout
            acct.expected[cid] = (reported, deadline)
        if not closed and self.instruments.get(cid) is None:
            out.append(
                Alert(
                    Level.CRITICAL,
                    Reason.UNKNOWN_INSTRUMENT,
                    f"position in {cid}: tick size and value unknown, closing it (fail closed)",
                    acct.account_id,
                    cid,
                )
            )
            self._contract_breach(
                acct,
                self.contract(acct, cid),
                [],
                out,
                target=0,
                cancel_orders=True,
                now=now,
                rule_id=ENGINE,
                reason=Reason.UNKNOWN_INSTRUMENT,
                detail=f"no tick size/value for {cid}",
            )

    def _settle(
        self,
        acct: AccountModel,
        cid: str,
        reported: int,
        now: datetime,
        out: list[Effect],
        *,
        forced: bool,
    ) -> None:
        """The fills and the gateway agree on ``cid`` (or the gateway's word is final)."""
        self._agreed(acct, cid)
        net = acct.net.get(cid, 0)
        if forced and net != reported:
            out.append(
                Alert(
                    Level.WARNING,
                    Reason.POSITION_WITHOUT_FILLS,
                    f"{cid}: the gateway reports {reported:+d}, the fills seen make {net:+d}; "
                    "taking the gateway's position",
                    acct.account_id,
                    cid,
                )
            )
            trip = acct.trips_open.get(cid)
            if trip is not None and (reported == 0 or (reported > 0) != trip.long):
                del acct.trips_open[cid]  # its close was never seen: it cannot be judged
            if reported != 0 and cid not in acct.trips_open:
                acct.trips_open[cid] = Trip(cid, reported > 0, now, size=abs(reported))
        acct.net[cid] = reported

    def _hold(self, acct: AccountModel, cid: str, out: list[Effect]) -> None:
        holders = self.holders.setdefault(cid, set())
        if not holders:
            out.append(WatchContract(cid, True))
        if acct not in holders:
            holders.add(acct)
            self._holder_list.pop(cid, None)

    def _unhold(self, acct: AccountModel, cid: str, out: list[Effect]) -> None:
        holders = self.holders.get(cid)
        if holders and acct in holders:
            holders.discard(acct)
            self._holder_list.pop(cid, None)
            if not holders:
                out.append(WatchContract(cid, False))
                # unwatched, its price moves unseen: the next position waits for a fresh quote
                self.marks.pop(cid, None)

    def _apply_order(self, acct: AccountModel, ev: OrderEvent, now: datetime) -> None:
        cm = acct.contracts.get(ev.contract_id)
        if cm is not None and cm.close_in_flight:
            self._close_order_event(acct, cm, ev, now)
        if not ev.status.working:
            acct.orders.pop(ev.order_id, None)
            volume = ev.fill_volume or (ev.size if ev.status is OrderStatus.FILLED else 0)
            if volume:
                # the order event comes before its trades: until they arrive, what it filled
                # is open at the gateway though no fill or position says so yet
                seen = sum(f.size for f in acct.day.fills if f.order_id == ev.order_id)
                if volume > seen:
                    deadline = now + self.settings.settle_timeout
                    acct.filling[ev.order_id] = (ev.contract_id, volume - seen, deadline)
            return
        old = acct.orders.get(ev.order_id)
        acct.orders[ev.order_id] = Order(
            ev.order_id,
            ev.contract_id,
            ev.status,
            ev.type,
            ev.side,
            ev.size,
            ev.created_at,
            ev.limit_price,
            ev.stop_price,
            ev.custom_tag,
            old.cancel_sent_at if old else None,
            old.cancel_attempts if old else 0,
        )

    def _apply_fill(self, acct: AccountModel, ev: Fill, now: datetime) -> bool:
        if ev.voided:
            self._void(acct, ev)
            return True  # a voided trade fires nothing
        if ev.trade_id in acct.seen_trades:
            return True  # duplicates change nothing and fire nothing
        acct.seen_trades[ev.trade_id] = ev.at
        cid = ev.contract_id
        filling = acct.filling.get(ev.order_id)
        if filling is not None:
            if filling[1] > ev.size:
                acct.filling[ev.order_id] = (filling[0], filling[1] - ev.size, filling[2])
            else:
                del acct.filling[ev.order_id]
        delta = ev.size if ev.side is Side.BUY else -ev.size
        expected = acct.expected.get(cid)
        if expected is not None:
            gap = expected[0] - acct.net.get(cid, 0)
            if not (gap and (gap > 0) == (delta > 0) and abs(delta) <= abs(gap)):
                # not one of the fills the gateway's position was waiting for: that position
                # came without fills (or they were missed), so take it before classifying
                self._settle(acct, cid, expected[0], ev.at, [], forced=False)
        before = acct.net.get(cid, 0)
        if before == 0 or (before > 0) == (delta > 0):
            entry, exit_ = ev.size, 0
        else:
            exit_ = min(abs(before), ev.size)
            entry = ev.size - exit_
        after = before + delta
        acct.net[cid] = after
        self._realize(acct, cid, before, after, exit_)
        cm = acct.contracts.get(cid)
        flattening = acct.state is State.Flattening or (
            cm is not None and cm.state is State.Flattening
        )
        # the platform's own liquidation (it blocks the account, then closes; even during a
        # flatten of ours): its P&L counts and the rules see it, but it is neither the
        # trader's trade nor the service's own
        platform = not acct.can_trade and entry == 0 and ev.order_id not in acct.own_orders
        own = not platform and (ev.order_id in acct.own_orders or (flattening and entry == 0))
        net = realized_net(ev.pnl, ev.fees)
        record = FillRecord(
            ev.trade_id,
            ev.at,
            cid,
            ev.order_id,
            ev.side,
            ev.size,
            ev.price,
            ev.pnl,
            ev.fees,
            entry,
            exit_,
            own or platform,
        )
        acct.pending_realized += net
        self.new_fills.append((acct.account_id, record))
        if ev.at >= acct.day.start:
            acct.day.realized += net
            acct.day.fees += ev.fees
            acct.day.fills.append(record)
        if ev.at >= acct.week.start:
            acct.week.realized += net
            acct.week.fees += ev.fees
        self._trip(acct, cid, before, after, ev, net, own or platform)
        if cm is not None and cm.close_in_flight and ev.order_id == cm.close_order:
            cm.close_filled += ev.size
            self._close_progress(acct, cm, now)
        return own

    def _void(self, acct: AccountModel, ev: Fill) -> None:
        """A trade the gateway voided: a fill of today already applied gives its P&L back
        (an older one is corrected by the next rebuild from the gateway's trades)."""
        if ev.trade_id not in acct.seen_trades:
            acct.seen_trades[ev.trade_id] = ev.at  # never applied: nothing to take back
            self.new_voids.append((acct.account_id, ev.trade_id, ev.at))
            return
        record = next((f for f in acct.day.fills if f.trade_id == ev.trade_id), None)
        if record is None:
            return
        acct.day.fills.remove(record)
        self.new_voids.append((acct.account_id, ev.trade_id, ev.at))
        net = realized_net(record.pnl, record.fees)
        acct.pending_realized -= net
        acct.day.realized -= net
        acct.day.fees -= record.fees
        if record.at >= acct.week.start:
            acct.week.realized -= net
            acct.week.fees -= record.fees

    def _realize(self, acct: AccountModel, cid: str, before: int, after: int, exit_: int) -> None:
        """A fill closed ``exit_`` contracts: their P&L is realized now, so stop valuing them
        (the gateway's position update may come later) or release the value kept for them
        (it came earlier)."""
        if exit_:
            pos = acct.positions.get(cid)
            if pos is not None and pos.long == (before > 0):
                remaining = max(abs(before) - exit_, 0) if (after > 0) == (before > 0) else 0
                self._set_settling(acct, pos, min(max(pos.size - remaining, 0), pos.size))
            kept = acct.unsettled.get(cid)
            if kept is not None:
                amount, n = kept
                k = min(exit_, n)
                part = amount if k >= n else amount * k / n
                acct.open_upnl -= part
                if n - k > 0:
                    acct.unsettled[cid] = (amount - part, n - k)
                else:
                    del acct.unsettled[cid]
        expected = acct.expected.get(cid)
        if expected is not None and expected[0] == after:
            self._agreed(acct, cid)

    def _agreed(self, acct: AccountModel, cid: str) -> None:
        """Fills and the gateway's position agree: nothing is expected or kept any more, and
        the gateway's position is valued whole."""
        acct.expected.pop(cid, None)
        kept = acct.unsettled.pop(cid, None)
        if kept is not None:
            acct.open_upnl -= kept[0]
        pos = acct.positions.get(cid)
        if pos is not None:
            self._set_settling(acct, pos, 0)

    def _set_settling(self, acct: AccountModel, pos: Position, settling: int) -> None:
        if settling != pos.settling:
            pos.settling = settling
            pos.point_value = None
            self._revalue(acct, pos)

    def _trip(
        self,
        acct: AccountModel,
        cid: str,
        before: int,
        after: int,
        ev: Fill,
        net: Decimal,
        own: bool,
    ) -> None:
        trip = acct.trips_open.get(cid)
        if trip is None and before != 0:
            # a position held from before monitoring began: track it from here
            trip = Trip(cid, before > 0, ev.at, size=abs(before))
            acct.trips_open[cid] = trip
        if trip is None:
            trip = Trip(cid, after > 0, ev.at)
            acct.trips_open[cid] = trip
        crosses = after != 0 and before != 0 and (after > 0) != (before > 0)
        if after == 0 or crosses:
            # the closing part of a reversal carries the fill's P&L; the new trip its remainder
            trip.net += net
            trip.enforced = trip.enforced or own
            trip.closed_at = ev.at
            if ev.at >= acct.day.start:
                acct.day.trips.append(trip)
                self.new_trips.append((acct.account_id, trip))
            del acct.trips_open[cid]
            if crosses:
                acct.trips_open[cid] = Trip(cid, after > 0, ev.at, size=abs(after))
        else:
            trip.net += net
            trip.size = max(trip.size, abs(after))
            trip.enforced = trip.enforced or own

    def _rebuild_realized(self, acct: AccountModel, ev: TradesSnapshot, out: list[Effect]) -> None:
        """The gateway's trades are the truth for realized P&L: rebuild the books if they
        disagree (a lost fill, a lost database), and say so.

        Fills keep arriving while the list is read: a trade applied after the list was asked
        for may be missing from it without the list being incomplete. The books then hold
        more than the list and cannot be compared (nor rebuilt from it, which would drop the
        newest trades): they are kept, quietly, until the next reconciliation."""
        listed = {t.trade_id for t in ev.trades}
        later = (
            set()
            if ev.applied is None
            else {i for i in acct.seen_trades if i not in listed and i not in ev.applied}
        )
        for book, name in ((acct.day, "day"), (acct.week, "week")):
            if ev.since > book.start:
                continue  # the snapshot does not cover this period
            trades = [t for t in ev.trades if not t.voided and t.at >= book.start]
            realized = sum((realized_net(t.pnl, t.fees) for t in trades), ZERO)
            fees = sum((t.fees for t in trades), ZERO)
            if (realized, fees) == (book.realized, book.fees):
                continue
            known = {i for i, t in acct.seen_trades.items() if t >= book.start}
            missing = known - listed - later
            if not missing and known & later:
                continue  # trades applied after the list was read: not comparable now
            if missing:
                # a list without trades we have applied is incomplete (a capped search, say):
                # rebuilding from it could hide losses, so keep the books and say so
                out.append(
                    Alert(
                        Level.WARNING,
                        Reason.REALIZED_REBUILT,
                        f"{name} realized P&L {book.realized:.2f} kept: the gateway's trade "
                        f"list lacks {len(missing)} trade(s) already applied",
                        acct.account_id,
                    )
                )
                continue
            out.append(
                Alert(
                    Level.WARNING,
                    Reason.REALIZED_REBUILT,
                    f"{name} realized P&L {book.realized:.2f} (fees {book.fees:.2f}) rebuilt "
                    f"from {len(trades)} gateway trades: {realized:.2f} (fees {fees:.2f})",
                    acct.account_id,
                )
            )
            book.realized, book.fees = realized, fees

    def _rejected(
        self, acct: AccountModel, ev: EnforcementRejected, now: datetime, out: list[Effect]
    ) -> None:
        cm = acct.contracts.get(ev.contract_id) if ev.contract_id is not None else None
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
            if o.cancel_sent_at is not None:
                o.cancel_sent_at = now - self.settings.cancel_timeout + self._backoff(1)
        else:
            pos = acct.positions.get(ev.contract_id) if ev.contract_id is not None else None
            if cm is not None:
                self._close_ended(acct, cm, now, progressed=False)
            target = cm.target_size if cm is not None and cm.state is State.Flattening else 0
            if ev.overtaken or pos is None or pos.size <= target:
                # nothing (more) to close: the trader or a fill got there first
                out.append(
                    Alert(
                        Level.INFO,
                        Reason.OVERTAKEN,
                        f"close of {ev.contract_id} refused: the position was already closed "
                        f"or reduced at the gateway ({ev.message})",
                        acct.account_id,
                        ev.contract_id,
                    )
                )
                return
        out.append(
            Alert(
                Level.CRITICAL,
                Reason.CLOSE_REJECTED,
                f"enforcement request refused: {ev.message}",
                acct.account_id,
                ev.contract_id,
            )
        )

    # -- admin -----------------------------------------------------------------------------

    def _admin(self, acct: AccountModel, cmd: AdminCommand, now: datetime) -> None:
        s = self.settings
        to = cmd.to
        if to is State.Cooldown:
            minutes = cmd.minutes
            length = timedelta(minutes=minutes) if minutes else s.admin_cooldown
            until: datetime | None = now + length
        elif to is State.LockedDaily:
            until = self.calendar.next_daily_reset(now)
        elif to is State.LockedWeekly:
            until = self.calendar.next_weekly_reset(now)
        else:
            until = None
        lock = (
            Lock(to, until, ADMIN, Reason.ADMIN_OVERRIDE, cmd.reason) if to in LOCK_KINDS else None
        )
        model: Lockable = acct
        key: str | None = None
        if cmd.contract_id is not None:
            key = self.contract_key(acct, cmd.contract_id)
            if to is State.LockedWeekly:
                raise FsmRiskError("a contract has no LockedWeekly state")
            model = self.contract(acct, key)
        cleared = dict(model.holds)
        # an override must stick: level-triggered rules whose holds it cleared are waived
        # until their lock would have ended, so they cannot re-lock on the next quote; a
        # waived loss rule re-arms deeper, so a runaway loss after an unlock still flattens
        new = self._waivers(acct, cleared, to, key, now) if cmd.waive else {}
        notes = [self.describe_waiver(k, w) for k, w in new.items()]
        if not cmd.waive and any(
            LOCK_RANK[h.kind] > LOCK_RANK.get(to, 0) for h in cleared.values()
        ):
            notes.append(f"{NO_WAIVER}: every rule fires again as soon as its condition holds")
        self._fire(
            acct,
            model,
            Trigger.force,
            now,
            to=to,
            lock=lock,
            rule_id=ADMIN,
            reason="; ".join([f"{Reason.ADMIN_OVERRIDE.name}: {cmd.reason}", *notes]),
            actor=f"admin:{cmd.admin}",
        )
        if model is acct and acct.state is State.Flattening:
            acct.flatten_started, acct.flatten_cause = now, ADMIN
            acct.flatten_reason = Reason.ADMIN_OVERRIDE
        if isinstance(model, ContractModel):
            model.target_size, model.cancel_orders = 0, True
            model.attempts, model.retry_at, model.alerted = 0, None, False
        else:
            acct.tolerated.clear()
        if new:
            acct.rule_state.setdefault(ADMIN, {}).setdefault("waivers", {}).update(new)

    def _waivers(
        self,
        acct: AccountModel,
        cleared: dict[str, Lock],
        to: State,
        key: str | None,
        now: datetime,
    ) -> dict[str, dict[str, str]]:
        """The waivers an override that clears these holds grants: per level-triggered rule,
        until its lock would have ended and, for a loss rule, the level it re-arms at."""
        out: dict[str, dict[str, str]] = {}
        for source, hold in cleared.items():
            rule = self._rule_by_id.get(source)
            if rule is None or not rule.level_triggered:
                continue
            if LOCK_RANK[hold.kind] <= LOCK_RANK.get(to, 0):
                continue
            end = hold.until or self.calendar.next_daily_reset(now)
            waiver = {"until": end.isoformat()}
            depth = rule.rearm_depth()
            usage = rule.usage(acct, now) if depth is not None else None
            if depth is not None and usage is not None:
                s = self.settings
                deeper = s.rearm_amount if s.rearm_amount is not None else depth * s.rearm_share
                waiver["at"] = str(usage.value)
                waiver["rearm"] = str(usage.value - deeper)
            out[source if key is None else f"{source}@{key}"] = waiver
        return out

    def describe_waiver(self, key: str, waiver: Any) -> str:
        """One line for a stored waiver: the rule, until when, and where it re-arms."""
        rule_id = key.split("@", 1)[0]
        rule = self._rule_by_id.get(rule_id)
        name = f"{rule_id} {rule.name}" if rule is not None else rule_id
        scope = f" on {key.split('@', 1)[1]}" if "@" in key else ""
        zone = ZoneInfo(self.settings.display_tz or self.calendar.tz)
        until = waiver_until(waiver).astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")
        text = f"waived {name}{scope} until {until}"
        if isinstance(waiver, dict) and waiver.get("rearm") is not None:
            rearm, at = Decimal(waiver["rearm"]), Decimal(waiver["at"])
            text += f", re-arms at {rearm:.2f} (was {at:.2f} when waived)"
        return text

    def waivers(self, acct: AccountModel) -> dict[str, Any]:
        """The account's active admin waivers (read-only view)."""
        found: dict[str, Any] = acct.rule_state.get(ADMIN, {}).get("waivers", {})
        return found

    def contract_key(self, acct: AccountModel, text: str) -> str:
        """What an admin's contract argument means: a symbol root (``MNQ``: every contract of
        that root, held now or opened later) or a full contract id (``CON.F.US.MNQ.Z26``: that
        contract). Anything else is refused, naming the choices."""
        given = text.strip().upper()
        known_ids = {
            c.upper()
            for c in (
                *acct.positions,
                *acct.net,
                *(o.contract_id for o in acct.orders.values()),
                *acct.contracts,
                *self.marks,
                *self.instruments.learned(),
            )
            if "." in c
        }
        roots = {
            *self.instruments.roots(),
            *self.settings.known_roots,
            *(root_of(c) for c in known_ids),
            *(c for c in acct.contracts if "." not in c),
        }
        if "." not in given and given in roots:
            return given
        if given in known_ids:
            return given
        if _FULL_ID.fullmatch(given) and root_of(given) in roots:
            return given
        ids = ", ".join(sorted(known_ids)[:8]) or "e.g. CON.F.US.MNQ.Z26"
        raise FsmRiskError(
            f"unknown contract '{text}': give a symbol root ({', '.join(sorted(roots))}) "
            f"for every contract of that root, or a full contract id ({ids})"
        )

    def _self_lock(self, acct: AccountModel, ev: SelfLock, now: datetime) -> None:
        """The trader locks their own account: flatten, then the lock until ``ev.until``. A
        lock only ever adds: held with the others (one per kind), the strongest wins, so it
        never shortens or weakens one already held (an earlier self-lock included)."""
        if ev.to not in (State.Cooldown, State.LockedDaily, State.LockedWeekly):
            raise FsmRiskError(f"a self-lock is a Cooldown or a lock, not {ev.to}")
        if ev.until <= now:
            raise FsmRiskError("the lock must end in the future")
        detail = f"by {ev.who}" + (f": {ev.reason}" if ev.reason else "")
        v = Verdict(
            self_source(ev.to),
            Reason.SELF_LOCK,
            Action.FLATTEN,
            lock=ev.to,
            until=ev.until,
            detail=detail,
        )
        self._account_verdicts(acct, [v], now, actor=f"trader:{ev.who}")

    # -- rules -----------------------------------------------------------------------------

    def _observe(self, acct: AccountModel, event: Event, now: datetime) -> None:
        for rule in self._observers.get(type(event), ()):
            rule.observe(acct.rule_state.setdefault(rule.id, {}), acct, event, now)

    def _evaluate(self, acct: AccountModel, event: Event, now: datetime) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for rule in self._by_event.get(type(event), ()):
            found = rule.evaluate(acct, event, now)
            if found:
                verdicts.extend(found)
        return verdicts

    def _unwaived(self, acct: AccountModel, v: Verdict, now: datetime) -> Verdict | None:
        """The verdict, or None while an admin waiver covers it. A waived loss rule whose
        value has fallen to the waiver's re-arm level fires again (the waiver ends)."""
        waivers = acct.rule_state.get(ADMIN, {}).get("waivers")
        if not waivers:
            return v
        key = v.rule_id if v.scope is Scope.ACCOUNT else f"{v.rule_id}@{v.contract_id}"
        if key not in waivers:
            key = v.rule_id
            if key not in waivers:
                return v
        waiver = waivers[key]
        text = waiver.get("rearm") if isinstance(waiver, dict) else None
        if text is None:
            return None
        level = Decimal(text)
        rule = self._rule_by_id.get(v.rule_id)
        usage = rule.usage(acct, now) if rule is not None else None
        if usage is None or usage.value > level:
            return None
        del waivers[key]
        self.dirty.add(acct.account_id)
        return replace(
            v,
            detail=f"{v.detail}; re-armed: {usage.value:.2f} <= {level:.2f}, the "
            f"level set when an admin waived it at {Decimal(waiver['at']):.2f}",
        )

    def _enforce(
        self, acct: AccountModel, verdicts: list[Verdict], now: datetime, out: list[Effect]
    ) -> None:
        """Apply the verdicts of one event: the strongest outcome wins, all are recorded."""
        verdicts = [u for v in verdicts if (u := self._unwaived(acct, v, now)) is not None]
        releases = [v for v in verdicts if v.action is Action.RELEASE]
        for v in releases:
            self._release(acct, v, now)
        account_vs = [
            v for v in verdicts if v.scope is Scope.ACCOUNT and v.action is not Action.RELEASE
        ]
        if account_vs:
            self._account_verdicts(acct, account_vs, now)
        by_contract: dict[str, list[Verdict]] = {}
        for v in verdicts:
            if v.scope is Scope.CONTRACT and v.action is not Action.RELEASE:
                assert v.contract_id is not None
                by_contract.setdefault(v.contract_id, []).append(v)
        for cid, vs in by_contract.items():
            self._contract_verdicts(acct, cid, vs, now, out)

    def _release(self, acct: AccountModel, v: Verdict, now: datetime) -> None:
        model: Lockable = acct
        if v.scope is Scope.CONTRACT:
            assert v.contract_id is not None
            found = acct.contracts.get(v.contract_id)
            if found is None:
                return
            model = found
        if v.rule_id in model.holds:
            self._end_holds(acct, model, [v.rule_id], now, v.reason, v.detail)

    @staticmethod
    def _hold_of(v: Verdict) -> Lock | None:
        if v.lock is State.Trading:
            return None
        return Lock(v.lock, v.until, v.rule_id, v.reason, v.detail)

    @staticmethod
    def _adds(model: Lockable, hold: Lock) -> bool:
        cur = model.holds.get(hold.source)
        return cur is None or hold.strength() > cur.strength()

    @staticmethod
    def _describe(vs: list[Verdict]) -> tuple[str, str, Reason]:
        """The firing rules (strongest first), the audit text, and the deciding reason."""
        ordered = sorted(
            vs,
            key=lambda v: (LOCK_RANK[v.lock], v.action is Action.FLATTEN, v.action is Action.CLOSE),
            reverse=True,
        )
        ids = ",".join(dict.fromkeys(v.rule_id for v in ordered))
        text = "; ".join(f"{v.reason.name}: {v.detail or v.reason.description}" for v in ordered)
        return ids, text, ordered[0].reason

    def _account_verdicts(
        self, acct: AccountModel, vs: list[Verdict], now: datetime, actor: str = "system"
    ) -> None:
        holds = [h for h in (self._hold_of(v) for v in vs) if h is not None and self._adds(acct, h)]
        flatten = any(v.action is Action.FLATTEN for v in vs)
        proposed = lock_state({**acct.holds, **{h.source: h for h in holds}})
        # a lock already closes whatever appears: only positions it tolerates (a lock without
        # flatten) are exposure that a new flatten must remove
        exposed = bool(acct.tolerated)
        extra: dict[str, Any] = {}
        if flatten:
            needed = acct.state is State.Trading or (
                acct.state in LOCK_KINDS
                and (LOCK_RANK[proposed] > LOCK_RANK[acct.state] or exposed)
            )
            if not needed and not holds:
                return
            trigger = Trigger.breach
            extra["exposed"] = exposed
        else:
            if not holds:
                return
            trigger = Trigger.lock
        ids, text, primary = self._describe(vs)
        before = acct.state
        self._fire(
            acct, acct, trigger, now, holds=holds, rule_id=ids, reason=text, actor=actor, **extra
        )
        if acct.state is State.Flattening and before is not State.Flattening:
            acct.flatten_started = now
            acct.flatten_cause = ids
            acct.flatten_reason = primary
            acct.tolerated.clear()
        elif trigger is Trigger.lock and before is State.Trading:
            # a lock without flatten: what is open now may stay, and only shrink
            acct.tolerated = {c: p.signed for c, p in acct.positions.items()}

    def _contract_verdicts(
        self, acct: AccountModel, cid: str, vs: list[Verdict], now: datetime, out: list[Effect]
    ) -> None:
        cm = self.contract(acct, cid)
        holds = [h for h in (self._hold_of(v) for v in vs) if h is not None and self._adds(cm, h)]
        closing = [v for v in vs if v.action in (Action.CLOSE, Action.FLATTEN)]
        reducing = [v for v in vs if v.action is Action.REDUCE]
        ids, text, primary = self._describe(vs)
        if closing or reducing:
            target = 0 if closing else min(v.target_size for v in reducing)
            locked = self._lock_target(acct, cm)
            if locked is not None and locked < target:
                target = locked  # the lock closes what a reduce would leave: one close
            pos = acct.positions.get(cid)
            size = pos.size if pos is not None else 0
            if cm.state is State.Flattening:
                if target < cm.target_size:
                    cm.target_size = target  # tightened: the retry timer sends the rest
                    cm.cancel_orders = cm.cancel_orders or bool(closing)
                if holds:
                    self._fire(acct, cm, Trigger.breach, now, holds=holds, rule_id=ids, reason=text)
                return
            if size <= target and not (closing and self._contract_orders(acct, cid)):
                if holds:  # nothing to remove: lock directly
                    self._fire(acct, cm, Trigger.lock, now, holds=holds, rule_id=ids, reason=text)
                return
            self._contract_breach(
                acct,
                cm,
                holds,
                out,
                target=target,
                cancel_orders=bool(closing),
                now=now,
                rule_id=ids,
                reason=primary,
                detail=text,
                audit=text,
            )
        elif holds:
            self._fire(acct, cm, Trigger.lock, now, holds=holds, rule_id=ids, reason=text)

    @staticmethod
    def _lock_target(acct: AccountModel, cm: ContractModel) -> int | None:
        """The size a lock lets this contract keep (None: no lock applies): nothing while the
        account flattens or the contract is locked, what a lock without flatten tolerates."""
        if acct.state is State.Flattening or cm.state in LOCK_KINDS:
            return 0
        if acct.state in LOCK_KINDS:
            pos = acct.positions.get(cm.contract_id)
            tol = acct.tolerated.get(cm.contract_id)
            if tol is not None and pos is not None and (tol > 0) == pos.long:
                return abs(tol)
            return 0
        return None

    def _contract_orders(self, acct: AccountModel, cid: str) -> bool:
        return any(
            o.contract_id == cid and o.order_id not in acct.own_orders for o in acct.orders.values()
        )

    # -- enforcement -------------------------------------------------------------------------

    def _contract_breach(
        self,
        acct: AccountModel,
        cm: ContractModel,
        holds: list[Lock],
        out: list[Effect],
        *,
        target: int,
        cancel_orders: bool,
        now: datetime,
        rule_id: str,
        reason: Reason | None,
        detail: str,
        audit: str | None = None,
    ) -> None:
        """Put one close (or reduce) in flight for this contract, via its machine. The audit
        text is ``audit`` when given, else the reason's code and ``detail``."""
        if cm.state is State.Flattening:
            return
        pos = acct.positions.get(cm.contract_id)
        exposed = (pos is not None and pos.size > target) or (
            cancel_orders and self._contract_orders(acct, cm.contract_id)
        )
        text = audit or (f"{reason.name}: {detail}" if reason is not None else detail)
        self._fire(
            acct,
            cm,
            Trigger.breach,
            now,
            holds=holds,
            rule_id=rule_id,
            reason=text,
            exposed=exposed,
        )
        if not _flattening(cm):
            return
        cm.target_size, cm.cancel_orders = target, cancel_orders
        cm.rule_id = rule_id
        cm.reason = reason
        cm.attempts, cm.alerted = 0, False
        cm.retry_at = now + self._backoff(1)
        if cm.close_in_flight:
            pass  # the next one goes when that one is done
        elif (
            pos is not None
            and _open(pos) > target
            and not self._closes_working(acct, cm.contract_id)
        ):
            cm.attempts = 1
            self._send_close(acct, cm, pos, now, out)
        else:
            # nothing to close yet, or another close works: whatever is (still) over target
            # when that is done is closed at once
            cm.retry_at = None
        if cancel_orders:
            for o in acct.orders.values():
                if o.contract_id == cm.contract_id and not self._closing(acct, o):
                    self._cancel(acct, o, reason or Reason.ORDER_WHILE_LOCKED, now, out)

    def _send_close(
        self, acct: AccountModel, cm: ContractModel, pos: Position, now: datetime, out: list[Effect]
    ) -> None:
        """Put one close (or reduce) in flight, sized from what is open now."""
        effect = self._close_effect(acct, cm, pos)
        if effect is None:
            return
        cm.close_sent_at, cm.close_order, cm.close_filled, cm.close_volume = now, None, 0, None
        cm.close_size = effect.size if isinstance(effect, ReducePosition) else 0
        cm.close_side, cm.close_basis = pos.closing_side, _open(pos)
        out.append(effect)

    def _close_effect(
        self, acct: AccountModel, cm: ContractModel, pos: Position
    ) -> ClosePosition | ReducePosition | None:
        reason = cm.reason or Reason.POSITION_WHILE_LOCKED
        if cm.target_size <= 0:
            return ClosePosition(
                acct.account_id, cm.contract_id, reason, cm.rule_id, max(cm.attempts, 1)
            )
        excess = _open(pos) - cm.target_size
        if excess <= 0:
            return None  # never more than is open: fills already took it to the target
        return ReducePosition(
            acct.account_id, cm.contract_id, excess, reason, cm.rule_id, max(cm.attempts, 1)
        )

    def _cancel(
        self, acct: AccountModel, o: Order, reason: Reason, now: datetime, out: list[Effect]
    ) -> None:
        if o.order_id in acct.own_orders or o.cancel_sent_at is not None:
            return
        o.cancel_sent_at = now
        o.cancel_attempts = 1
        out.append(CancelOrder(acct.account_id, o.order_id, o.contract_id, reason))

    def _sweep(self, acct: AccountModel, now: datetime, out: list[Effect]) -> None:
        """Lock-on-sight: make every scope that is flattening or locked hold nothing it
        should not. Idempotent: each contract gets at most one close in flight, each order one
        cancel (re-sent only by the retry timer)."""
        if acct.state is State.Flattening:
            cause = acct.flatten_cause
            why = acct.flatten_reason or Reason.FAILSAFE
            for cid, held in list(acct.positions.items()):
                cm = self.contract(acct, cid)
                if held.size - held.settling <= 0:
                    continue  # already closed by fills: the gateway's update is on its way
                if cm.state is State.Flattening and cm.target_size > 0:
                    # a reduce in progress: the account's flatten closes the rest after it
                    cm.target_size, cm.cancel_orders = 0, True
                if cm.state is not State.Flattening:
                    self._contract_breach(
                        acct,
                        cm,
                        [],
                        out,
                        target=0,
                        cancel_orders=True,
                        now=now,
                        rule_id=cause or ENGINE,
                        reason=why,
                        detail="account flattening: close every position",
                    )
            for o in list(acct.orders.values()):
                if not self._closing(acct, o):  # a market order that closes helps: let it
                    self._cancel(acct, o, why, now, out)
        elif acct.state in LOCK_KINDS:
            self._sweep_locked(acct, None, now, out)
        if acct.state is not State.Flattening:
            for cm in list(acct.contracts.values()):
                if cm.state in LOCK_KINDS:
                    self._sweep_locked(acct, cm, now, out)

    def _sweep_locked(
        self, acct: AccountModel, only: ContractModel | None, now: datetime, out: list[Effect]
    ) -> None:
        scope: Lockable = only if only is not None else acct
        for cid, pos in list(acct.positions.items()):
            if only is not None and not covers(only.contract_id, cid):
                continue
            if pos.size - pos.settling <= 0:
                continue  # already closed by fills: the gateway's update is on its way
            cm = self.contract(acct, cid)
            tol = acct.tolerated.get(cid) if only is None else None
            target = abs(tol) if tol is not None and (tol > 0) == pos.long else 0
            if cm.state is State.Flattening:
                if target < cm.target_size:
                    cm.target_size = target  # a reduce in progress: the lock closes the rest
                continue
            if tol is not None and (tol > 0) == pos.long and pos.size <= abs(tol):
                continue
            self._contract_breach(
                acct,
                cm,
                [],
                out,
                target=target,
                cancel_orders=False,
                now=now,
                rule_id=self._lock_source(scope) or ENGINE,
                reason=Reason.POSITION_WHILE_LOCKED,
                detail=f"{pos.size} {cid} open while {scope.state}",
            )
        for o in list(acct.orders.values()):
            if only is not None and not covers(only.contract_id, o.contract_id):
                continue
            if not self._reduces(acct, o):
                self._cancel(acct, o, Reason.ORDER_WHILE_LOCKED, now, out)

    @staticmethod
    def _lock_source(model: Lockable) -> str | None:
        best = strongest(model.holds)
        return best.source if best is not None else None

    @staticmethod
    def _reduces(acct: AccountModel, o: Order) -> bool:
        """An order that can only reduce an existing position (the trader may always exit)."""
        pos = acct.positions.get(o.contract_id)
        return pos is not None and o.side is pos.closing_side and o.size <= pos.size

    def _confirm(self, acct: AccountModel, now: datetime) -> None:
        for cm in list(acct.contracts.values()):
            if cm.state is State.Flattening and not cm.exposed():
                self._fire(
                    acct,
                    cm,
                    Trigger.flat_confirmed,
                    now,
                    rule_id=cm.rule_id,
                    reason=f"{Reason.FLAT_CONFIRMED.name}: "
                    + ("flat" if cm.target_size == 0 else f"reduced to {cm.target_size}"),
                )
                cm.retry_at, cm.attempts, cm.alerted = None, 0, False
                if cm.close_order is None or cm.close_order not in acct.orders:
                    # flat and none of ours works: a close whose end we did not see is over
                    cm.close_sent_at, cm.close_order = None, None
        if (
            acct.state is State.Flattening
            and not acct.exposed()
            and not any(cm.state is State.Flattening for cm in acct.contracts.values())
        ):
            self._fire(
                acct,
                acct,
                Trigger.flat_confirmed,
                now,
                rule_id=self._lock_source(acct),
                reason=f"{Reason.FLAT_CONFIRMED.name}: {Reason.FLAT_CONFIRMED.description}",
            )
            acct.flatten_started = None
            acct.flatten_cause = None
            acct.flatten_reason = None

    # -- plumbing ----------------------------------------------------------------------------

    def _fire(
        self, acct: AccountModel, model: Lockable, trigger: Trigger, now: datetime, **kw: Any
    ) -> None:
        kw.setdefault("at", now)
        machines.fire(model, trigger, **kw)
        self.dirty.add(acct.account_id)

    def _drain(self, acct: AccountModel, out: list[Effect]) -> None:
        out.extend(RecordTransition(e) for e in acct.audit)
        acct.audit.clear()

    def _fail_closed(
        self, acct: AccountModel, exc: BaseException, now: datetime, out: list[Effect]
    ) -> None:
        """Fail closed: alert, and leave the account flattening into a lock."""
        out.append(
            Alert(
                Level.CRITICAL,
                Reason.FAILSAFE,
                f"error while handling account {acct.account_id}: {exc!r}; failing closed",
                acct.account_id,
            )
        )
        try:
            until = self.calendar.next_daily_reset(now)
            hold = Lock(self.settings.failsafe_lock, until, ENGINE, Reason.FAILSAFE, repr(exc))
            if acct.state is State.Trading or (
                acct.state in LOCK_KINDS and LOCK_RANK[acct.state] < LOCK_RANK[hold.kind]
            ):
                self._fire(
                    acct,
                    acct,
                    Trigger.breach,
                    now,
                    holds=[hold],
                    rule_id=ENGINE,
                    reason=f"{Reason.FAILSAFE.name}: {exc!r}",
                )
                if acct.state is State.Flattening:
                    acct.flatten_cause, acct.flatten_reason = ENGINE, Reason.FAILSAFE
            self._sweep(acct, now, out)
            self._schedule(acct, now)
        except Exception as again:  # nothing more can be done but say so
            out.append(
                Alert(
                    Level.CRITICAL,
                    Reason.FAILSAFE,
                    f"account {acct.account_id} could not be failed closed: {again!r}",
                    acct.account_id,
                )
            )
        self._drain(acct, out)
        self.dirty.add(acct.account_id)


def covers(key: str, contract_id: str) -> bool:
    """Whether a contract scope ``key`` (a full id, or a symbol root locked by an admin)
    covers this contract id."""
    return contract_id == key or ("." not in key and root_of(contract_id) == key)


def waiver_until(waiver: Any) -> datetime:
    """The end of a stored waiver (an ISO instant, or a dict with ``until``)."""
    return datetime.fromisoformat(waiver["until"] if isinstance(waiver, dict) else waiver)


def _flattening(model: Lockable) -> bool:
    return model.state is State.Flattening


def _open(pos: Position) -> int:
    """What is open in a position as far as the fills tell: contracts already closed by fills
    the gateway's position does not reflect yet are not open any more."""
    return pos.size - pos.settling
