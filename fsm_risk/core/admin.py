"""Admin: an authenticated override (force, with typed waivers) and the trader's self-lock."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fsm_risk.core.effects import AuditEntry, Effect, RecordTransition
from fsm_risk.core.events import AdminCommand, SelfLock
from fsm_risk.core.flatten import Entry, Flatten
from fsm_risk.core.instruments import choices, covers, gateway_id, root_named
from fsm_risk.core.models import (
    AccountModel,
    ContractModel,
    InstrumentBook,
    Lock,
    Lockable,
    Mark,
    root_of,
)
from fsm_risk.core.reasons import Reason
from fsm_risk.core.sessions import lock_end
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.sources import ADMIN, ENGINE, self_source
from fsm_risk.core.states import LOCK_KINDS, LOCK_RANK, State, Trigger
from fsm_risk.core.tolerance import forget
from fsm_risk.core.unlock import causes, own_closes
from fsm_risk.core.verdicts import Verdicts
from fsm_risk.core.waivers import Waivers
from fsm_risk.core.work import Work
from fsm_risk.errors import FsmRiskError
from fsm_risk.rules.base import Action, Verdict

if TYPE_CHECKING:
    from fsm_risk.core.engine import RiskEngine

NO_WAIVER = "no waiver"
_FULL_ID = re.compile(r"CON\.F\.[A-Z]+\.[A-Z0-9]+\.[FGHJKMNQUVXZ]\d{2}")
#: a contract as a trading platform names it: root, month code, year (``NQZ6``, ``MNQZ26``)
_NAMED = re.compile(r"([A-Z0-9]+?)([FGHJKMNQUVXZ])(\d{1,2})")


class Admin:
    """Applies an admin's override and a trader's self-lock to an account."""

    def __init__(
        self,
        settings: EngineSettings,
        work: Work,
        verdicts: Verdicts,
        flatten: Flatten,
        waivers: Waivers,
        instruments: InstrumentBook,
        marks: dict[str, Mark],
    ) -> None:
        self.settings = settings
        self.work = work
        self.verdicts = verdicts
        self.flatten = flatten
        self.waivers = waivers
        self.instruments = instruments
        self.marks = marks

    def force(
        self, acct: AccountModel, cmd: AdminCommand, now: datetime, out: list[Effect]
    ) -> None:
        s = self.settings
        to = cmd.to
        if cmd.minutes is not None and to is not State.Cooldown:
            raise FsmRiskError(
                f"--minutes sets the length of a forced Cooldown, not of {to}: "
                + (
                    "LockedDaily lasts until the next daily reset, LockedWeekly until the next "
                    "weekly one"
                    if to in LOCK_KINDS
                    else "drop it, or force Cooldown"
                )
            )
        if to is State.Cooldown:
            minutes = cmd.minutes
            length = timedelta(minutes=minutes) if minutes else s.admin_cooldown
            until: datetime | None = now + length
        elif to is State.LockedDaily:
            until = lock_end(s.calendar, acct.day.end, now)
        elif to is State.LockedWeekly:
            until = lock_end(s.calendar, acct.week.end, now, weekly=True)
        else:
            until = None
        lock = (
            Lock(to, until, ADMIN, Reason.ADMIN_OVERRIDE, cmd.reason) if to in LOCK_KINDS else None
        )
        model: Lockable = acct
        key: str | None = None
        if cmd.contract_id is not None:
            key = self.contract_key(acct, cmd.contract_id, now)
            if to is State.LockedWeekly:
                raise FsmRiskError("a contract has no LockedWeekly state")
            self._refuse_under_root(acct, key, to)
            model = self.work.contract(acct, key)
        unlock = key is None and to is State.Trading
        started = self._started_by(acct) if unlock else []
        own = own_closes(acct, causes(acct)) if unlock else []  # (read before the force)
        self._force(acct, model, key, cmd, lock, now, out, [c.note() for c in own])
        for cid in started:  # an unlocked account's own closes end with its lock
            self._force(acct, acct.contracts[cid], cid, cmd, None, now, out)
        for c in own:  # a contract's own close goes back to its target
            c.resume()
        if key is not None and "." not in key:
            # a root means every contract of it: those whose own model would keep them from
            # what was asked (a contract's lock under a root forced to Trading) go there too,
            # each through its own machine (audited), their cleared holds waived on the root,
            # so a contract of it opened later is not locked again by the rule that was waived
            for cm in self._held_apart(acct, key, to):
                self._force(acct, cm, key, cmd, lock, now, out)

    def _started_by(self, acct: AccountModel) -> list[str]:
        """The contracts closing only for the account's flatten or lock (no hold of their own,
        closed whole or cut back to what its lock let stay, for a cause the account holds): ends
        with its unlock, or their closes would be re-sent into a position the admin let stay. Not
        one with a close of its own (`ContractModel.own_target`: what a close of ours opened,
        a reduce), nor a position that cannot be valued (fail closed: nothing would close it
        again), nor one under its root's lock (which closes it)."""
        held = causes(acct)
        to = State.Trading
        roots = [r for r, m in acct.contracts.items() if "." not in r and m.state is not to]
        return [
            cid
            for cid, cm in sorted(acct.contracts.items())
            if "." in cid
            and cm.state is State.Flattening
            and not cm.holds
            and (cm.target_size == 0 or cm.reason is Reason.POSITION_WHILE_LOCKED)
            and cm.own_target is None
            and set((cm.rule_id or ENGINE).split(",")) <= held
            and cm.reason is not Reason.UNKNOWN_INSTRUMENT
            and self.instruments.get(cid) is not None
            and not any(covers(r, cid) for r in roots)
        ]

    @staticmethod
    def _held_apart(acct: AccountModel, root: str, to: State) -> list[ContractModel]:
        """The root's contracts whose own state differs from what the root was forced to in a
        way the root's state does not cover: any but Trading when the root is forced to
        Trading, and a lock stronger than the root's when it is forced to a lock."""
        return [
            cm
            for cid, cm in sorted(acct.contracts.items())
            if "." in cid
            and covers(root, cid)
            and cm.state is not to
            and (
                (to is State.Trading and cm.state is not State.Trading)
                or (
                    to in LOCK_KINDS
                    and cm.state in LOCK_KINDS
                    and LOCK_RANK[cm.state] > LOCK_RANK[to]
                )
            )
        ]

    @staticmethod
    def _refuse_under_root(acct: AccountModel, key: str, to: State) -> None:
        """A contract cannot be freed on its own from its root's lock: forcing it to a weaker
        state than that lock would change nothing the trader sees, so it is refused."""
        if "." not in key or to not in (State.Trading, State.Cooldown):
            return
        for root, cm in sorted(acct.contracts.items()):
            if "." in root or cm.state not in LOCK_KINDS or not covers(root, key):
                continue
            if LOCK_RANK[cm.state] > LOCK_RANK[to]:
                raise FsmRiskError(
                    f"{key} is under the {cm.state} on {root} (every {root} contract): one "
                    f"contract cannot be forced to {to} on its own; to end that lock, name the "
                    f"root (--contract {root} --to {to})"
                )

    def _force(
        self,
        acct: AccountModel,
        model: Lockable,
        key: str | None,
        cmd: AdminCommand,
        lock: Lock | None,
        now: datetime,
        out: list[Effect],
        kept: Sequence[str] = (),
    ) -> None:
        """Force one model (the account, a contract or root) to ``cmd.to``; the waivers it
        grants or ends are those of the scope ``key`` (None: the account's; a root's covers
        each of its contracts, those opened later too). ``kept``: what the audit also says."""
        to = cmd.to
        cleared = dict(model.holds)
        # an override must stick: level-triggered rules whose holds it cleared are waived
        # until their lock would have ended, so they cannot re-lock on the next quote; a
        # waived loss rule re-arms deeper, so a runaway loss after an unlock still flattens
        new = self.waivers.grant(acct, cleared, to, key, now) if cmd.waive else {}
        notes = [self.waivers.describe(k, w) for k, w in new.items()]
        # no waiver means none: those an earlier override granted in this scope end too
        dropped = [] if cmd.waive else self.waivers.drop(acct, key)
        if dropped:
            self.work.dirty.add(acct.account_id)
        stronger = any(LOCK_RANK[h.kind] > LOCK_RANK.get(to, 0) for h in cleared.values())
        if dropped or (not cmd.waive and stronger):
            notes.append(f"{NO_WAIVER}: every rule fires again as soon as its condition holds")
            notes.extend(f"ended the waiver of {self.waivers.named(k)}" for k in dropped)
        waived = {k.split("@", 1)[0] for k in new}
        notes.extend(  # what else the override ends, a trader's self-lock included
            f"cleared {h.kind} ({source}"
            + (f", until {self.waivers.when(h.until)}" if h.until is not None else "")
            + ")"
            for source, h in cleared.items()
            if source != ADMIN and source not in waived
        )
        notes.extend(kept)  # (the contracts going on with a close of their own)
        self.flatten.transition(
            acct,
            model,
            Trigger.force,
            now,
            out,
            Entry(ADMIN, Reason.ADMIN_OVERRIDE),
            strict=True,
            to=to,
            lock=lock,
            rule_id=ADMIN,
            reason="; ".join([f"{Reason.ADMIN_OVERRIDE.name}: {cmd.reason}", *notes]),
            actor=f"admin:{cmd.admin}",
        )
        if to is not State.Flattening:  # (entering it set all this up: see `Flatten`)
            if isinstance(model, ContractModel):
                # out of any flatten: a later one starts afresh
                model.target_size, model.cancel_orders, model.own_target = 0, True, None
                model.attempts, model.alerted = 0, False
                # a close of ours not yet seen at the gateway stays ours till its timeout
                # (`Flatten.confirm`): its fill is never taken for the trader's own exit
                sent, model.retry_at = model.close_sent_at, None
                if sent is not None and model.close_order is None:
                    model.retry_at = sent + self.settings.close_timeout
            else:
                acct.tolerated.clear()
                forget(acct)
        self.waivers.keep(acct, new)

    def contract_key(self, acct: AccountModel, text: str, now: datetime | None = None) -> str:
        """What an admin's contract argument means: a symbol root (``MNQ``: every contract of
        that root, held now or opened later; the gateway's product code ``ENQ`` is the root
        ``NQ``), a full contract id (``CON.F.US.MNQ.Z26``: that contract) or a known contract
        as a platform names it (``MNQZ6``) or as ``status`` shows it (``MNQ.Z26``). A full id
        of no contract seen yet is taken if its year is near ``now`` (a typo'd ``Z62`` is not),
        as the gateway writes it (``CON.F.US.ES.H27`` is ``CON.F.US.EP.H27``).
        Anything else is refused, naming the choices."""
        typed = text.strip().upper()
        given = typed if "." in typed else root_named(typed)  # ENQ, the gateway's code: NQ
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
        year = 2000 + int(given[-2:]) if _FULL_ID.fullmatch(given) else 0
        near = year > 0 and (now is None or now.year - 1 <= year <= now.year + 5)
        if near and root_of(given) in roots:
            # the root typed where the gateway writes its product code (ES for EP): the
            # contract meant, as the gateway names it (a lock on an id no contract has
            # would hold nothing)
            return gateway_id(given)
        shown = [c for c in known_ids if c.endswith(f".{given}")] if "." in given else []
        if len(shown) == 1:  # MNQ.Z26, as status shows it
            return shown[0]
        named = _NAMED.fullmatch(typed)
        if named is not None:  # NQZ6: the one known contract of that root, month and year
            root, month, yy = root_named(named[1]), named[2], named[3]
            found = [
                c
                for c in known_ids
                if root_of(c) == root
                and c.rsplit(".", 1)[1][:1] == month
                and c.rsplit(".", 1)[1][1:].endswith(yy)
            ]
            if len(found) == 1:
                return found[0]
        mine = {c.upper() for c in (*acct.positions, *acct.net, *acct.contracts)}
        mine |= {o.contract_id.upper() for o in acct.orders.values()}
        ids = ", ".join(choices(known_ids, mine, typed)) or "e.g. CON.F.US.MNQ.Z26"
        far = f" (no contract of {year} is traded now)" if year and not near else ""
        raise FsmRiskError(
            f"unknown contract '{text}'{far}: give a symbol root ({', '.join(sorted(roots))}) "
            f"for every contract of that root, or a full contract id ({ids})"
        )

    def self_lock(self, acct: AccountModel, ev: SelfLock, now: datetime, out: list[Effect]) -> None:
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
        self.verdicts.account(acct, [v], now, out, actor=f"trader:{ev.who}")


@dataclass(frozen=True)
class Forced:
    """An override applied: its effects (to commit, then execute) and what it did in words."""

    effects: list[Effect]
    text: str


def force(engine: RiskEngine, cmd: AdminCommand, now: datetime) -> Forced:
    """Apply an (authenticated) admin override and say what it did: the one path the
    running service and the offline command both take, so both audit and answer alike."""
    effects = engine.handle(cmd, now)
    return Forced(effects, summary(engine, cmd, effects))


def summary(engine: RiskEngine, cmd: AdminCommand, effects: Sequence[Effect]) -> str:
    """``account 1001 contract MNQ (every MNQ contract): Trading -> LockedDaily (forced by
    admin:ana: why)``, then one line per waiver granted (until when, where it re-arms); for a
    root, one line per contract of it forced with it (and its waivers)."""
    acct = engine.accounts[cmd.account_id]
    key = engine.contract_key(acct, cmd.contract_id) if cmd.contract_id else None
    forced = [
        e.entry for e in effects if isinstance(e, RecordTransition) and e.entry.trigger == "force"
    ]
    first = next(e for e in forced if e.contract_id == key)
    scope = f"account {cmd.account_id}"
    if key is not None:
        scope += f" contract {key}"
        if "." not in key:
            scope += f" (every {key} contract, held now or opened later)"
    text = (
        f"{scope}: {first.from_state} -> {first.to_state} "
        f"(forced by admin:{cmd.admin}: {cmd.reason})"
    )
    model = acct.contracts[key] if key is not None else acct
    if model.state is not first.to_state:
        text += f"; now {model.state}" + _why(model.state, effects, first)
    if key is not None and "." in key:
        for root, cm in sorted(acct.contracts.items()):  # never claim a state it is not in
            if (
                "." not in root
                and cm.state in LOCK_KINDS
                and covers(root, key)
                and LOCK_RANK[cm.state] > LOCK_RANK.get(model.state, 0)
            ):
                text += f"; still {cm.state} under the lock on {root} (every {root} contract)"
    text += _notes(first.reason, cmd.reason, "  ")
    for entry in forced:
        if entry is not first:
            text += f"\n  also contract {entry.contract_id}: {entry.from_state} -> {entry.to_state}"
            text += _notes(entry.reason, cmd.reason, "    ")
    return text


def _why(now: State, effects: Sequence[Effect], first: AuditEntry) -> str:
    """Why the scope went on from where it was forced: its position being closed, nothing held
    to close (a flatten of a flat scope ends at once), or the last transition's own reason."""
    if now is State.Flattening:
        return " (an open position is being closed)"
    if now is State.Trading and first.to_state is State.Flattening:
        return " (nothing was held to close)"
    later = [
        e.entry
        for e in effects
        if isinstance(e, RecordTransition) and e.entry.contract_id == first.contract_id
    ]
    return f" ({later[-1].reason})" if later[-1] is not first else ""


def _notes(audited: str, reason: str, indent: str) -> str:
    """The notes of a force's audit text (waivers granted or ended, holds cleared), a line each."""
    notes = audited[len(f"{Reason.ADMIN_OVERRIDE.name}: {reason}") :].lstrip("; ")
    return "".join(f"\n{indent}{note}" for note in filter(None, notes.split("; ")))
