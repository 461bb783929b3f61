"""Verdicts to triggers: the rules' verdicts of one event become transitions of the machines."""

from __future__ import annotations

from datetime import datetime

from fsm_risk.core.effects import Alert, AuditEntry, Effect, Level
from fsm_risk.core.exposure import left_by_lock
from fsm_risk.core.flatten import Entry, Flatten, contract_orders, lock_target
from fsm_risk.core.models import AccountModel, Lock, Lockable
from fsm_risk.core.overdue import kept
from fsm_risk.core.reasons import Reason
from fsm_risk.core.sessions import lock_end
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.sources import ENGINE
from fsm_risk.core.states import LOCK_KINDS, LOCK_RANK, State, Trigger
from fsm_risk.core.tolerance import forget
from fsm_risk.core.waivers import Waivers
from fsm_risk.core.work import Work
from fsm_risk.rules.base import Action, Scope, Verdict

#: the audit trigger of rules that fired on a scope already flattening and changed no state
#: (no hold added): recorded once per flatten, so every rule that fired is in the audit log
FIRED = "fired"


def hold_of(v: Verdict) -> Lock | None:
    if v.lock is State.Trading:
        return None
    return Lock(v.lock, v.until, v.rule_id, v.reason, v.detail)


def _ids(ids: str | None) -> list[str]:
    return [i for i in (ids or "").split(",") if i]


def adds(model: Lockable, hold: Lock) -> bool:
    cur = model.holds.get(hold.source)
    return cur is None or hold.strength() > cur.strength()


def describe(vs: list[Verdict]) -> tuple[str, str, Reason]:
    """The firing rules (strongest first), the audit text, and the deciding reason."""
    ordered = sorted(
        vs,
        key=lambda v: (LOCK_RANK[v.lock], v.action is Action.FLATTEN, v.action is Action.CLOSE),
        reverse=True,
    )
    ids = ",".join(dict.fromkeys(v.rule_id for v in ordered))
    text = "; ".join(f"{v.reason.name}: {v.detail or v.reason.description}" for v in ordered)
    return ids, text, ordered[0].reason


class Verdicts:
    """Turns verdicts into triggers: the strongest outcome wins, every firing rule is recorded."""

    def __init__(
        self, settings: EngineSettings, work: Work, flatten: Flatten, waivers: Waivers
    ) -> None:
        self.settings = settings
        self.work = work
        self.flatten = flatten
        self.waivers = waivers

    def enforce(
        self, acct: AccountModel, verdicts: list[Verdict], now: datetime, out: list[Effect]
    ) -> None:
        """Apply the verdicts of one event: the strongest outcome wins, all are recorded. A
        release is never waived: it ends the rule's hold and its waiver in that scope."""
        for v in verdicts:
            if v.action is Action.RELEASE:
                self.waivers.lapse(acct, v)
                self._release(acct, v, now)
        verdicts = [
            u
            for v in verdicts
            if v.action is not Action.RELEASE
            and (u := self.waivers.unwaived(acct, v, now)) is not None
        ]
        account_vs = [v for v in verdicts if v.scope is Scope.ACCOUNT]
        if account_vs:
            self.account(acct, account_vs, now, out)
        by_contract: dict[str, list[Verdict]] = {}
        for v in verdicts:
            if v.scope is Scope.CONTRACT:
                assert v.contract_id is not None
                by_contract.setdefault(v.contract_id, []).append(v)
        for cid, vs in by_contract.items():
            self._contract(acct, cid, vs, now, out)

    def _release(self, acct: AccountModel, v: Verdict, now: datetime) -> None:
        model: Lockable = acct
        if v.scope is Scope.CONTRACT:
            assert v.contract_id is not None
            found = acct.contracts.get(v.contract_id)
            if found is None:
                return
            model = found
        if v.rule_id in model.holds:
            self.end_holds(acct, model, [v.rule_id], now, v.reason, v.detail)

    def end_holds(
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
            self.work.fire(
                acct,
                model,
                Trigger.release,
                now,
                ended=ended,
                rule_id=",".join(sorted(ended)),
                reason=f"{reason.name}: {detail or reason.description}",
            )

    def expire(
        self, acct: AccountModel, model: Lockable, now: datetime, held: frozenset[str] = frozenset()
    ) -> None:
        """End the holds whose deadline passed, but those of the ``held`` sources: kept until
        the account's trades are read (`overdue`)."""
        ended = [
            s
            for s, h in model.holds.items()
            if h.until is not None and h.until <= now and not kept(h, held, now)
        ]
        self.end_holds(acct, model, ended, now, Reason.LOCK_EXPIRED)

    def account(
        self,
        acct: AccountModel,
        vs: list[Verdict],
        now: datetime,
        out: list[Effect],
        actor: str = "system",
    ) -> None:
        """The account's verdicts: a breach when one flattens, else a lock. The table's guards
        say whether it fires (a lock already closes whatever appears: only the exposure it
        leaves in place makes a flatten of equal strength enter ``Flattening``)."""
        holds = [h for h in (hold_of(v) for v in vs) if h is not None]
        flatten = any(v.action is Action.FLATTEN for v in vs)
        trigger = Trigger.breach if flatten else Trigger.lock
        ids, text, primary = describe(vs)
        before, causes = acct.state, acct.flatten_cause
        extra = {"exposed": left_by_lock(acct)} if flatten else {}
        fired = self.flatten.transition(
            acct,
            acct,
            trigger,
            now,
            out,
            Entry(ids, primary),
            holds=holds,
            rule_id=ids,
            reason=text,
            actor=actor,
            **extra,
        )
        if before is State.Flattening:
            acct.flatten_cause = self.joined(
                acct, acct, causes, causes, ids, text, now, fired, actor
            )
        if fired and trigger is Trigger.lock and before is State.Trading:
            # a lock without flatten: what is open now may stay, and only shrink
            acct.tolerated = tolerated(acct, vs)
            forget(acct)

    def _contract(
        self, acct: AccountModel, cid: str, vs: list[Verdict], now: datetime, out: list[Effect]
    ) -> None:
        cm = self.work.contract(acct, cid)
        holds = [h for h in (hold_of(v) for v in vs) if h is not None]
        closing = [v for v in vs if v.action in (Action.CLOSE, Action.FLATTEN)]
        reducing = [v for v in vs if v.action is Action.REDUCE]
        ids, text, primary = describe(vs)
        fire = self.work.fire_if  # the table decides: a lock or breach adding no hold is nothing
        if closing or reducing:
            target = 0 if closing else min(v.target_size for v in reducing)
            if cm.state is State.Flattening and cm.own_target is not None:
                # its own rules want this much of it, whatever an account's flatten closes:
                # a close of its own is not the account's (an unlock of it leaves it closing)
                cm.own_target = None if closing else min(cm.own_target, target)
            locked = lock_target(acct, cm)
            if cm.state not in LOCK_KINDS and self.flatten.awaiting.unjudged(acct, acct, now):
                locked = None  # the account locked only for the trades read (`awaiting`)
            if locked is not None and locked < target:
                target = locked  # the lock closes what a reduce would leave: one close
            pos = acct.positions.get(cid)
            size = pos.size if pos is not None else 0
            if cm.state is State.Flattening:
                causes = cm.rule_id
                if target < cm.target_size:
                    cm.target_size = target  # tightened: the retry timer sends the rest
                    cm.rule_id, cm.reason = ids, primary  # (named for what tightened it)
                    if closing and not cm.cancel_orders:  # a reduce become a close: its
                        cm.cancel_orders = True  # orders go too (flat is not flat with them)
                        self.flatten.cancel_orders(acct, cm, primary, now, out)
                fired = fire(acct, cm, Trigger.breach, now, holds=holds, rule_id=ids, reason=text)
                cm.rule_id = self.joined(acct, cm, cm.rule_id, causes, ids, text, now, fired)
                return
            if size <= target and not (closing and contract_orders(acct, cid)):
                # nothing to remove: lock directly
                fire(acct, cm, Trigger.lock, now, holds=holds, rule_id=ids, reason=text)
                return
            self.flatten.breach(
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
        else:
            fire(acct, cm, Trigger.lock, now, holds=holds, rule_id=ids, reason=text)

    @staticmethod
    def joined(
        acct: AccountModel,
        model: Lockable,
        named: str | None,
        causes: str | None,
        ids: str,
        text: str,
        now: datetime,
        recorded: bool,
        actor: str = "system",
    ) -> str:
        """A flattening scope's causes once these rules (``ids``) fired on it: ``named`` (what
        names its close now: its ``causes`` before, or the rules that just tightened it), then
        the rules new to it. When the machine recorded nothing (no hold added), a firing with
        a rule not among the ``causes`` is recorded as an audit row of its own (``fired``, the
        state kept), so a rule that fires again on every event while the flatten works is
        recorded once. The causes name the scope's ``flat_confirmed``; what is enforced does
        not change."""
        before = _ids(causes)
        if not recorded and any(i not in before for i in _ids(ids)):
            state = model.state
            acct.audit.append(
                AuditEntry(
                    now,
                    acct.account_id,
                    model.scope_contract,
                    state,
                    state,
                    FIRED,
                    ids,
                    text,
                    actor,
                )
            )
        return ",".join(dict.fromkeys([*_ids(named), *_ids(ids)]))

    def fail_closed(
        self, acct: AccountModel, exc: BaseException, now: datetime, out: list[Effect]
    ) -> None:
        """Fail closed: alert, and leave the account flattening into a lock (the caller
        sweeps, schedules and drains)."""
        out.append(
            Alert(
                Level.CRITICAL,
                Reason.FAILSAFE,
                f"error while handling account {acct.account_id}: {exc!r}; failing closed",
                acct.account_id,
            )
        )
        until = lock_end(self.settings.calendar, acct.day.end, now)
        hold = Lock(self.settings.failsafe_lock, until, ENGINE, Reason.FAILSAFE, repr(exc))
        # the table decides: Flattening from Trading or a weaker lock, else the hold is kept
        # (a lock already sweeps whatever appears: nothing else is exposure here)
        self.flatten.transition(
            acct,
            acct,
            Trigger.breach,
            now,
            out,
            Entry(ENGINE, Reason.FAILSAFE),
            holds=[hold],
            rule_id=ENGINE,
            reason=f"{Reason.FAILSAFE.name}: {exc!r}",
            exposed=False,
        )


def tolerated(acct: AccountModel, vs: list[Verdict]) -> dict[str, int]:
    """What a lock without flatten lets stay: each position as held. A lock by an entry that
    broke a limit (a verdict's ``breaking``, whose trade is the event that locks) lets no
    more stay than the fills held before that entry: the gateway's position record and a
    trade come in either order, and a record ahead of its trade (that entry's, or another's
    sent beside it, counted after it) shows contracts that entered past the limit. At a
    restart the positions read hold the trades read back after the one that locks: they are
    taken off (`Behind.rest`), while a position from before the day's trades stays."""
    added = {v.breaking[0]: v.breaking[1] for v in vs if v.breaking is not None}
    out = {c: p.signed for c, p in acct.positions.items()}
    if not added:
        return out
    for cid, held in list(out.items()):
        rest = acct.behind.rest.get(cid, 0) if acct.behind is not None else 0  # (`catch_up`)
        before = acct.net.get(cid, 0) - rest - added.get(cid, 0)
        if before == 0 or (held > 0) != (before > 0):
            del out[cid]  # all of it entered past the limit
        else:
            out[cid] = (1 if held > 0 else -1) * min(abs(held), abs(before))
    return out
