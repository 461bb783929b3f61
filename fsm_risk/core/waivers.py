"""Admin waivers: an override that clears a rule's hold keeps that rule from re-locking."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from fsm_risk.core.instruments import covers
from fsm_risk.core.models import AccountModel, Lock, root_of
from fsm_risk.core.rulebook import RuleBook
from fsm_risk.core.sessions import lock_end
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.sources import ADMIN
from fsm_risk.core.states import LOCK_RANK, State
from fsm_risk.core.work import Work
from fsm_risk.rules.base import Scope, Verdict


@dataclass(frozen=True)
class Waiver:
    """One waiver: until when its rule is waived and, for a loss rule, the value it had when
    waived (``at``) and the deeper level it fires again at (``rearm``). A waiver of a hold
    with no deadline (a condition's: canTrade false, a blocked root) also ``ends`` when that
    condition does (its rule's release), at the latest at ``until``."""

    until: datetime
    at: Decimal | None = None
    rearm: Decimal | None = None
    ends: str | None = None

    @classmethod
    def read(cls, stored: Any) -> Waiver:
        """From its stored form: an ISO instant, or a dict of strings."""
        if not isinstance(stored, dict):
            return cls(datetime.fromisoformat(stored))
        at, rearm = stored.get("at"), stored.get("rearm")
        return cls(
            datetime.fromisoformat(stored["until"]),
            None if at is None else Decimal(at),
            None if rearm is None else Decimal(rearm),
            stored.get("ends"),
        )

    def stored(self) -> dict[str, str]:
        out = {"until": self.until.isoformat()}
        if self.at is not None and self.rearm is not None:
            out["at"], out["rearm"] = str(self.at), str(self.rearm)
        if self.ends is not None:
            out["ends"] = self.ends
        return out


def waiver_until(waiver: Any) -> datetime:
    """The end of a stored waiver (an ISO instant, or a dict with ``until``)."""
    return Waiver.read(waiver).until


def stored_waivers(acct: AccountModel) -> dict[str, Any]:
    """The account's active waivers as stored, by ``rule`` or ``rule@contract``."""
    found: dict[str, Any] = acct.rule_state.get(ADMIN, {}).get("waivers", {})
    return found


def _keys(v: Verdict) -> tuple[str, ...]:
    """The waiver keys that cover a verdict's scope: the account's rule, or on a contract the
    rule on it and on its root (a root forced by an admin: its contracts opened later too)."""
    if v.scope is Scope.ACCOUNT or v.contract_id is None:
        return (v.rule_id,)
    return (f"{v.rule_id}@{v.contract_id}", f"{v.rule_id}@{root_of(v.contract_id)}")


class Waivers:
    """Grants, describes, applies and expires one engine's waivers (rules from its book)."""

    def __init__(self, settings: EngineSettings, book: RuleBook, work: Work) -> None:
        self.settings = settings
        self.book = book
        self.work = work

    def grant(
        self,
        acct: AccountModel,
        cleared: dict[str, Lock],
        to: State,
        key: str | None,
        now: datetime,
    ) -> dict[str, Waiver]:
        """The waivers an override that clears these holds grants: per level-triggered rule,
        until its lock would have ended and, for a loss rule, the level it re-arms at. A hold
        with no deadline ends with its condition: so does its waiver (see `lapse`), and at
        the latest at the day's end, as an override's lock would."""
        out: dict[str, Waiver] = {}
        s = self.settings
        for source, hold in cleared.items():
            rule = self.book.by_id.get(source)
            if rule is None or not rule.level_triggered:
                continue
            if LOCK_RANK[hold.kind] <= LOCK_RANK.get(to, 0):
                continue
            if hold.until is not None and hold.until <= now:  # kept for the read (`overdue`):
                weekly = hold.kind is State.LockedWeekly  # until the lock it gives again ends
                book = acct.week if weekly else acct.day
                waiver = Waiver(lock_end(s.calendar, book.end, now, weekly=weekly))
            elif hold.until is not None:
                waiver = Waiver(hold.until)
            else:
                ends = rule.outcome(rule.config).ends or "its condition ends"
                waiver = Waiver(lock_end(s.calendar, acct.day.end, now), ends=ends)
            depth = rule.rearm_depth()
            usage = rule.usage(acct, now) if depth is not None else None
            if depth is not None and usage is not None:
                deeper = s.rearm_amount if s.rearm_amount is not None else depth * s.rearm_share
                waiver = replace(waiver, at=usage.value, rearm=usage.value - deeper)
            out[source if key is None else f"{source}@{key}"] = waiver
        return out

    @staticmethod
    def keep(acct: AccountModel, new: dict[str, Waiver]) -> None:
        if new:
            waivers = acct.rule_state.setdefault(ADMIN, {}).setdefault("waivers", {})
            waivers.update({k: w.stored() for k, w in new.items()})

    @staticmethod
    def drop(acct: AccountModel, key: str | None) -> list[str]:
        """End the waivers of a scope (``key`` None: the account's, every contract's too; a
        contract key: those on it and on its root, which cover it too; a root: those on it and
        on each of its contracts); returns their keys."""
        waivers = stored_waivers(acct)
        ended = [
            k
            for k in waivers
            if key is None
            or ("@" in k and (covers(key, k.split("@")[1]) or covers(k.split("@")[1], key)))
        ]
        for k in ended:
            del waivers[k]
        return ended

    def named(self, key: str) -> str:
        """A waiver's rule (id and name) and, for a contract's, on which contract."""
        rule_id = key.split("@", 1)[0]
        rule = self.book.by_id.get(rule_id)
        name = f"{rule_id} {rule.name}" if rule is not None else rule_id
        scope = key.split("@", 1)[1] if "@" in key else None
        if scope is not None and "." not in scope:  # a root: its contracts opened later too
            return f"{name} on every {scope} contract"
        return name + (f" on {scope}" if scope is not None else "")

    def when(self, at: datetime) -> str:
        """An instant as the trader reads it (the display time zone, date included)."""
        return self.settings.when(at)

    def describe(self, key: str, stored: Any) -> str:
        """One line for a waiver: the rule, until when, and where it re-arms."""
        waiver = stored if isinstance(stored, Waiver) else Waiver.read(stored)
        when = self.when(waiver.until)
        if waiver.ends is not None:
            text = f"waived {self.named(key)} until {waiver.ends} (at the latest {when})"
        else:
            text = f"waived {self.named(key)} until {when}"
        if waiver.rearm is not None and waiver.at is not None:
            text += f", re-arms at {waiver.rearm:.2f} (was {waiver.at:.2f} when waived)"
        return text

    def lapse(self, acct: AccountModel, v: Verdict) -> None:
        """A rule's release (the condition behind its hold ended: canTrade true again, a root
        unblocked) ends its waiver in that scope too (on a contract: on its root as well): the
        lock the waiver stands in for would have ended here, so the condition coming back is
        enforced again."""
        waivers = acct.rule_state.get(ADMIN, {}).get("waivers")
        for key in _keys(v):
            if waivers and key in waivers:
                del waivers[key]
                self.work.dirty.add(acct.account_id)

    def unwaived(self, acct: AccountModel, v: Verdict, now: datetime) -> Verdict | None:
        """The verdict, or None while an admin waiver covers it. A waived loss rule whose
        value has fallen to the waiver's re-arm level fires again (the waiver ends)."""
        waivers = acct.rule_state.get(ADMIN, {}).get("waivers")
        if not waivers:
            return v
        key = next((k for k in (*_keys(v), v.rule_id) if k in waivers), None)
        if key is None:
            return v
        waiver = Waiver.read(waivers[key])
        if waiver.rearm is None or waiver.at is None:
            return None
        rule = self.book.by_id.get(v.rule_id)
        usage = rule.usage(acct, now) if rule is not None else None
        if usage is None or usage.value > waiver.rearm:
            return None
        del waivers[key]
        self.work.dirty.add(acct.account_id)
        return replace(
            v,
            detail=f"{v.detail}; re-armed: {usage.value:.2f} <= {waiver.rearm:.2f}, the "
            f"level set when an admin waived it at {waiver.at:.2f}",
        )

    @staticmethod
    def expire(acct: AccountModel, now: datetime) -> bool:
        """End the waivers whose time is up; True when one ended."""
        waivers = stored_waivers(acct)
        ended = [k for k, w in waivers.items() if waiver_until(w) <= now]
        for k in ended:
            del waivers[k]
        return bool(ended)
