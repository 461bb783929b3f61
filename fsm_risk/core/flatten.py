"""Flattening: put a close in flight per scope, sweep locked scopes, confirm flat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fsm_risk.core.awaiting import Awaiting
from fsm_risk.core.cancels import lifted
from fsm_risk.core.effects import Alert, Effect, Level, ReadAccount
from fsm_risk.core.exposure import closes_working, closing, exposed, note_closing, reduces
from fsm_risk.core.instruments import covers
from fsm_risk.core.models import AccountModel, ContractModel, Lock, Lockable, strongest
from fsm_risk.core.pursuit import Pursuit
from fsm_risk.core.reasons import Reason
from fsm_risk.core.rulebook import RuleBook
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.settlement import open_size
from fsm_risk.core.shrink import shrink
from fsm_risk.core.sources import ENGINE
from fsm_risk.core.states import LOCK_KINDS, State, Trigger
from fsm_risk.core.tolerance import forget
from fsm_risk.core.work import Work


def lock_source(model: Lockable) -> str | None:
    best = strongest(model.holds)
    return best.source if best is not None else None


def contract_orders(acct: AccountModel, cid: str) -> bool:
    """Working orders of the trader's in this contract."""
    return any(
        o.contract_id == cid and o.order_id not in acct.own_orders for o in acct.orders.values()
    )


def lock_target(acct: AccountModel, cm: ContractModel) -> int | None:
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


def unseen_close(cm: ContractModel) -> bool:
    """A close of ours is in flight and no order of the gateway's is known as it yet."""
    return cm.close_in_flight and cm.close_order is None


def _root(acct: AccountModel, cm: ContractModel) -> bool:
    """A symbol root an admin named (not a contract the gateway names without a dot)."""
    return "." not in cm.contract_id and cm.contract_id not in acct.positions


def keep(cm: ContractModel, target: int) -> None:
    """An account's flatten or lock closes more of a flattening contract than its own close
    (a reduce): down to ``target``, its own target kept for an admin's unlock of the account."""
    if cm.own_target is None and cm.reason is not Reason.POSITION_WHILE_LOCKED:
        cm.own_target = cm.target_size  # (a lock's cut back to what it let stay is its own)
    cm.target_size = target


def _flattening(model: Lockable) -> bool:
    return model.state is State.Flattening  # (a call: the state may have changed since read)


@dataclass(frozen=True)
class Entry:
    """How a scope that enters ``Flattening`` flattens: why (the cause, a rule id or
    ``ADMIN``/``ENGINE``, and its reason), to what size, and whether orders are cancelled."""

    cause: str | None
    reason: Reason | None
    target: int = 0
    cancel_orders: bool = True


class Flatten:
    """Enters and leaves ``Flattening`` for a contract (its close handed to `Pursuit`), and
    keeps every flattening or locked scope free of what it should not hold."""

    def __init__(
        self, settings: EngineSettings, work: Work, pursuit: Pursuit, book: RuleBook
    ) -> None:
        self.settings = settings
        self.work = work
        self.pursuit = pursuit
        self.awaiting = Awaiting(book)  # (positions a lock kept only for the trades read leaves)
        #: when a read was last asked for a locked contract its fills say is open and no
        #: position update has shown (runtime only: a restart reads every account anyway)
        self.unseen: dict[tuple[int, str], datetime] = {}

    def transition(
        self,
        acct: AccountModel,
        model: Lockable,
        trigger: Trigger,
        now: datetime,
        out: list[Effect],
        entry: Entry,
        *,
        strict: bool = False,
        **kw: Any,
    ) -> bool:
        """Fire a trigger that may enter ``Flattening``, if the table lets it (``strict``: it
        must, else `IllegalTransition`); when it entered, do the entry's bookkeeping. Returns
        whether it fired."""
        before = model.state
        if strict:
            self.work.fire(acct, model, trigger, now, **kw)
        elif not self.work.fire_if(acct, model, trigger, now, **kw):
            return False
        if before is not State.Flattening and _flattening(model):
            self._entered(acct, model, now, out, entry)
        return True

    def _entered(
        self, acct: AccountModel, model: Lockable, now: datetime, out: list[Effect], entry: Entry
    ) -> None:
        """The scope has just entered ``Flattening``: the one place that says how it flattens.
        An account records when and why (its sweep closes every position); a contract gets
        its target, one close in flight (unless one already works) and its cancels."""
        if not isinstance(model, ContractModel):
            acct.flatten_started, acct.flatten_cause = now, entry.cause
            acct.flatten_reason = entry.reason
            acct.tolerated.clear()
            forget(acct)
            return
        cm = model
        cm.target_size, cm.cancel_orders = entry.target, entry.cancel_orders
        cm.rule_id, cm.reason, cm.own_target = entry.cause, entry.reason, None
        cm.attempts, cm.alerted = 0, False
        cm.retry_at = now + self.settings.backoff(1)
        # a market exit holding its close back is given the whole close timeout again
        self.pursuit.held_since.pop((acct.account_id, cm.contract_id), None)
        pos = acct.positions.get(cm.contract_id)
        if cm.close_in_flight:  # the next one goes when that one is done: if unseen since
            if unseen_close(cm):  # the last flat (`confirm`), when the gateway's word says so,
                assert cm.close_sent_at is not None  # or at its close timeout, read or not
                cm.retry_at = max(now, cm.close_sent_at + self.settings.close_timeout)
                self.pursuit.ask_read((acct.account_id, cm.contract_id), now, out)
        elif (
            pos is not None
            and open_size(pos) > entry.target
            and not closes_working(acct, cm.contract_id)
        ):
            cm.attempts = 1
            self.pursuit.send_close(acct, cm, pos, now, out)
        else:
            # nothing to close yet, or another close works: whatever is (still) over target
            # when that is done is closed at once
            cm.retry_at = None
        if entry.cancel_orders:
            self.cancel_orders(acct, cm, entry.reason, now, out)

    def cancel_orders(
        self,
        acct: AccountModel,
        cm: ContractModel,
        reason: Reason | None,
        now: datetime,
        out: list[Effect],
    ) -> None:
        """Cancel the trader's working orders in the contract (not our close): it flattens
        with its orders cancelled, and is not flat while one works."""
        why = reason or Reason.ORDER_WHILE_LOCKED
        for o in acct.orders.values():
            if o.contract_id == cm.contract_id and not closing(acct, o):
                self.pursuit.cancel(acct, o, why, now, out)

    def breach(
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
        """Put one close (or reduce) in flight for this contract, via its machine (whose
        table says whether it may: never a second flatten). The audit text is ``audit`` when
        given, else the reason's code and ``detail``."""
        self.transition(
            acct,
            cm,
            Trigger.breach,
            now,
            out,
            Entry(rule_id, reason, target, cancel_orders),
            holds=holds,
            rule_id=rule_id,
            reason=audit or (f"{reason.name}: {detail}" if reason is not None else detail),
            exposed=exposed(acct, cm.contract_id, target, cancel_orders=cancel_orders),
        )

    def unknown_instrument(
        self, acct: AccountModel, cid: str, now: datetime, out: list[Effect], why: str
    ) -> None:
        """A position in a contract that cannot be valued (``why``: what the gateway said, see
        `core.unpriced`): close it (fail closed)."""
        out.append(
            Alert(
                Level.CRITICAL,
                Reason.UNKNOWN_INSTRUMENT,
                f"position in {cid}: tick size and value unknown ({why}), closing it (fail closed)",
                acct.account_id,
                cid,
            )
        )
        self.breach(
            acct,
            self.work.contract(acct, cid),
            [],
            out,
            target=0,
            cancel_orders=True,
            now=now,
            rule_id=ENGINE,
            reason=Reason.UNKNOWN_INSTRUMENT,
            detail=f"no tick size/value for {cid}",
        )

    def sweep(self, acct: AccountModel, now: datetime, out: list[Effect]) -> None:
        """Lock-on-sight: make every scope that is flattening or locked hold nothing it
        should not. Idempotent: each contract gets at most one close in flight, each order one
        cancel (re-sent only by the retry timer). First, what a close of ours opened on the
        other side is closed (`overshot`), and the cancels a lock asked of orders no scope
        locks any more are dropped (`cancels.lifted`: an admin's unlock, a condition ended)."""
        self.pursuit.overshot.close(self, acct, now, out)
        self.awaiting.prune(acct)
        if lifted(acct):
            self.work.dirty.add(acct.account_id)
        if acct.state is State.Flattening:
            cause = acct.flatten_cause
            why = acct.flatten_reason or Reason.FAILSAFE
            for cid, held in list(acct.positions.items()):
                cm = self.work.contract(acct, cid)
                if held.size - held.settling <= 0:
                    continue  # already closed by fills: the gateway's update is on its way
                if cm.state is State.Flattening and cm.target_size > 0:
                    # a reduce in progress: the account's flatten closes the rest after it
                    keep(cm, 0)
                    cm.cancel_orders = True
                if cm.state is not State.Flattening:
                    self.breach(
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
                if not closing(acct, o):  # a market order that closes helps: let it
                    self.pursuit.cancel(acct, o, why, now, out)
        elif acct.state in LOCK_KINDS:
            self._sweep_locked(acct, None, now, out)
        if acct.state is not State.Flattening:
            for cm in list(acct.contracts.values()):
                # a root an admin forced to Flattening holds no position of its own: its
                # contracts are what it flattens (each through its own machine)
                if cm.state in LOCK_KINDS or (_flattening(cm) and _root(acct, cm)):
                    self._sweep_locked(acct, cm, now, out)
        for cm in list(acct.contracts.values()):
            if cm.state is State.Flattening and cm.cancel_orders:  # (those placed since too:
                self.cancel_orders(acct, cm, cm.reason, now, out)  # flat, each would open)

    def _sweep_locked(
        self, acct: AccountModel, only: ContractModel | None, now: datetime, out: list[Effect]
    ) -> None:
        scope: Lockable = only if only is not None else acct
        for cid, pos in list(acct.positions.items()):
            if only is not None and not covers(only.contract_id, cid):
                continue
            if pos.size - pos.settling <= 0:
                continue  # already closed by fills: the gateway's update is on its way
            cm = self.work.contract(acct, cid)
            tol = acct.tolerated.get(cid) if only is None else None
            target = abs(tol) if tol is not None and (tol > 0) == pos.long else 0
            # locked only for the trades read: the read decides (`awaiting`)
            if cm.state is State.Flattening:
                if target < cm.target_size and not self.awaiting.leaves(acct, scope, now):
                    keep(cm, target)  # a reduce in progress: the lock closes the rest
                continue
            if tol is not None and (tol > 0) == pos.long and pos.size <= abs(tol):
                continue
            if self.awaiting.leaves(acct, scope, now, pos.opened_at):
                left = self.awaiting.over(acct, cid, pos.size, pos.long)
                if left is None:
                    continue
                target = left  # an add made during the wait: reduced to what was left
            self.breach(
                acct,
                cm,
                [],
                out,
                target=target,
                cancel_orders=False,
                now=now,
                rule_id=lock_source(scope) or (only.rule_id if only else None) or ENGINE,
                reason=Reason.POSITION_WHILE_LOCKED,
                detail=f"{pos.size} {cid} open while {scope.state}",
            )
        rule = lock_source(scope) or (only.rule_id if only else None) or ENGINE
        for o in list(acct.orders.values()):
            if only is not None and not covers(only.contract_id, o.contract_id):
                continue
            if not reduces(acct, o) and not shrink(acct, o, rule, now, out):
                self.pursuit.cancel(acct, o, Reason.ORDER_WHILE_LOCKED, now, out)
        self._read_unseen(acct, only, now, out)

    def _read_unseen(
        self, acct: AccountModel, only: ContractModel | None, now: datetime, out: list[Effect]
    ) -> None:
        """Fills say a contract of the locked scope is open and no position update has shown
        it (a position feed gone quiet): the position is closed from the gateway's word, so
        ask for that word now, once per close timeout, rather than at the periodic read."""
        for cid in acct.net:
            if cid in acct.positions or cid in acct.tolerated or acct.open_size(cid) == 0:
                self.unseen.pop((acct.account_id, cid), None)
                continue
            if only is not None and not covers(only.contract_id, cid):
                continue
            asked = self.unseen.get((acct.account_id, cid))
            if asked is None or now - asked >= self.settings.close_timeout:
                self.unseen[(acct.account_id, cid)] = now
                out.append(ReadAccount(acct.account_id, cid))

    def confirm(self, acct: AccountModel, now: datetime) -> None:
        """A scope that is flattening and now flat leaves ``Flattening`` for its strongest
        hold (contracts first, then the account once none of its contracts flattens).

        A close of ours not yet seen at the gateway (no order known as it) stays in flight past
        the flat, until seen (withdrawn if it would overshoot), refused, or its timeout: the
        position may have gone flat by the trader's own exit while ours still works there, and
        a close sent beside it for what he opens next would reverse him once both fill."""
        for cm in list(acct.contracts.values()):
            if (
                unseen_close(cm)
                and cm.state is not State.Flattening
                and now >= (cm.retry_at or now)
            ):
                cm.close_sent_at = cm.retry_at = None  # not seen in its time: over
                self.pursuit.forget(cm)
                self.pursuit.ghosts.discard((acct.account_id, cm.contract_id))
            if cm.state is State.Flattening and not cm.exposed():
                note_closing(acct, cm)  # (its fills, read after this, are still ours)
                self.work.fire(
                    acct,
                    cm,
                    Trigger.flat_confirmed,
                    now,
                    rule_id=cm.rule_id,
                    reason=f"{Reason.FLAT_CONFIRMED.name}: "
                    + ("flat" if cm.target_size == 0 else f"reduced to {cm.target_size}"),
                )
                cm.retry_at, cm.attempts, cm.alerted = None, 0, False
                if unseen_close(cm):
                    assert cm.close_sent_at is not None
                    cm.retry_at = cm.close_sent_at + self.settings.close_timeout
                    self.pursuit.ghosts.add((acct.account_id, cm.contract_id))
                elif cm.close_order is None or cm.close_order not in acct.orders:
                    # flat and none of ours works: a close whose end we did not see is over
                    cm.close_sent_at, cm.close_order = None, None
                    self.pursuit.forget(cm)
        if (
            acct.state is State.Flattening
            and not acct.exposed()
            and not any(cm.state is State.Flattening for cm in acct.contracts.values())
        ):
            self.work.fire(
                acct,
                acct,
                Trigger.flat_confirmed,
                now,
                rule_id=lock_source(acct),
                reason=f"{Reason.FLAT_CONFIRMED.name}: {Reason.FLAT_CONFIRMED.description}",
            )
            acct.flatten_started = None
            acct.flatten_cause = None
            acct.flatten_reason = None
