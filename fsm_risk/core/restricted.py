"""The restriction an account is still held under, if any: what keeps it monitored after the
settings stop naming it (``[general] accounts``). A lock holds until its deadline or its
scheduled reset whatever the trader edits: an account left out of the file while locked, in
a cooldown or flattening would otherwise have nothing enforcing it.

Pure: read from an account's models (`scopes`) or, before an account is restored, from its
stored rows (the store gives the same `Scope`s), at an instant ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from fsm_risk.core.records import Lock, strongest
from fsm_risk.core.states import LOCK_RANK, State

if TYPE_CHECKING:
    from fsm_risk.core.models import AccountModel

#: one machine of an account: (its contract, None for the account itself; its state; its holds)
Scope = tuple[str | None, State, Mapping[str, Lock]]


@dataclass(frozen=True, slots=True)
class Restriction:
    """An account's restriction not ended yet: the state (a lock kind, or ``Flattening``),
    its deadline (None: none, e.g. a flatten under way or a hold until a condition ends),
    the contract it is on (None: the whole account), and the lock a flatten leads to."""

    state: State
    until: datetime | None
    contract: str | None = None
    then: Lock | None = None

    def describe(self, when: Callable[[datetime], str]) -> str:
        """'LockedDaily until Fri 2026-12-04 17:00 CST', 'Cooldown on CON.F.US.MNQ.Z26 until
        ...', 'Flattening (then LockedDaily until ...)'; ``when`` shows an instant."""
        what = str(self.state) + (f" on {self.contract}" if self.contract else "")
        if self.state is State.Flattening:
            lock = self.then
            return what if lock is None else f"{what} (then {_until(lock.kind, lock.until, when)})"
        return _until(what, self.until, when)


def _until(what: object, until: datetime | None, when: Callable[[datetime], str]) -> str:
    return f"{what} with no end time" if until is None else f"{what} until {when(until)}"


def scopes(acct: AccountModel) -> list[Scope]:
    """The account's machines: itself, then each contract it holds a model of."""
    found: list[Scope] = [(None, acct.state, acct.holds)]
    found += [(cid, cm.state, cm.holds) for cid, cm in sorted(acct.contracts.items())]
    return found


def restriction(machines: Iterable[Scope], now: datetime) -> Restriction | None:
    """The restriction an account is under at ``now`` (None: free to trade): the account's own
    when it has one, else its contracts' strongest. A machine ``Flattening`` is restricted (a
    close is under way); a lock is while one of its holds has not expired (a lock whose
    every deadline has passed ends as the account is restored)."""
    found: list[Restriction] = []
    for contract, state, holds in machines:
        if state is State.Trading:
            continue
        live = strongest({k: h for k, h in holds.items() if h.until is None or h.until > now})
        if state is State.Flattening:
            found.append(Restriction(state, None, contract, live))
        elif live is not None:
            found.append(Restriction(live.kind, live.until, contract))
    if not found:
        return None
    own = [r for r in found if r.contract is None]
    return own[0] if own else max(found, key=_strength)


def _strength(r: Restriction) -> tuple[int, float]:
    rank = LOCK_RANK.get(r.state, len(LOCK_RANK))  # a close under way first
    return rank, r.until.timestamp() if r.until is not None else float("inf")
