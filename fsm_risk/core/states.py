"""The transition tables of the account and contract machines: the one source of truth.

Theory of operation
-------------------
Every monitored account, and every (account, contract) pair it touches, is a state machine.
The machines, `diagrams/`, the README's state table and the CLI's list of states are all
derived from the tables below; a test fails when any of them drifts.

Locks are *holds*. A hold is a `Lock` (kind, until, source rule, reason). A model keeps every
active hold, and its lock state is always the strongest of them (`LockedWeekly` > `LockedDaily`
> `Cooldown` > `Trading`; between two holds of one kind the later expiry wins). Adding a
weaker hold therefore never shortens a stronger lock, and when the strongest hold ends the
next one takes over instead of the model falling back to `Trading`.

- ``breach``: a rule fired whose action flattens. From ``Trading`` the model always enters
  ``Flattening``; from a lock it does so only when the new hold is stronger or there is
  exposure to remove; otherwise the hold is added and recorded (internal). While
  ``Flattening`` a breach never starts a second flatten: it only adds its hold (internal).
  A breach or lock that adds no hold, and may not enter ``Flattening``, is refused by every
  guard: the engine fires it only if the table lets it (`machines.fire_if`), else does nothing.
- ``lock``: a rule fired that locks without flattening (e.g. max trades with
  ``flatten_existing = false``): the model moves to the strongest hold.
- ``flat_confirmed``: the broker reports the scope flat (no position, no working order).
  ``Flattening`` then enters the strongest hold, or ``Trading`` when there is none.
- ``release``: a hold ended, by its deadline or by its condition (``canTrade`` true again, a
  symbol unblocked). The model moves to the strongest remaining hold.
- ``force``: an authenticated admin moves the model to any state, with a reason. The target
  replaces every hold.

Guards are pure predicates over the model and the trigger's arguments (see `machines.py`);
callbacks only record effects. A trigger that is not declared for the current state, or
whose guards all refuse, raises `IllegalTransition` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class State(Enum):
    """The states, spelled the same everywhere (CLI, database, diagrams, logs)."""

    Trading = "Trading"
    Flattening = "Flattening"
    Cooldown = "Cooldown"
    LockedDaily = "LockedDaily"
    LockedWeekly = "LockedWeekly"

    def __str__(self) -> str:
        return self.value


#: The strength of each lock kind. Flattening is not a lock: it is the way into one.
LOCK_RANK: dict[State, int] = {
    State.Trading: 0,
    State.Cooldown: 1,
    State.LockedDaily: 2,
    State.LockedWeekly: 3,
}

LOCK_KINDS: tuple[State, ...] = (State.Cooldown, State.LockedDaily, State.LockedWeekly)

STATE_MEANING: dict[State, tuple[str, str | None]] = {
    State.Trading: ("free to trade", "free to trade"),
    State.Flattening: (
        "close orders are working for every open position, working orders are being cancelled",
        "close order working for this contract only",
    ),
    State.Cooldown: ("locked until a timer ends (minutes)", "locked until a timer ends"),
    State.LockedDaily: (
        "locked until the next daily reset (or next session open)",
        "contract blocked until the next daily reset",
    ),
    State.LockedWeekly: ("locked until the next weekly reset", None),
}


class Trigger(Enum):
    breach = "breach"
    lock = "lock"
    flat_confirmed = "flat_confirmed"
    release = "release"
    force = "force"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Edge:
    """One declared transition. ``dest`` None is an internal transition (state kept)."""

    trigger: Trigger
    source: tuple[State, ...]
    dest: State | None
    guard: str | None = None
    doc: str = ""


T, F, C, D, W = (
    State.Trading,
    State.Flattening,
    State.Cooldown,
    State.LockedDaily,
    State.LockedWeekly,
)

# Guards (pure, see machines.GUARDS):
#   to_trading / to_cooldown / to_daily / to_weekly  the strongest hold, once the trigger's
#                                                    holds are added or released, is that kind
#   escalates_or_exposed                             the new hold is stronger than the current
#                                                    lock, or there is exposure to remove
#   adds_hold                                        the trigger adds a hold (new, or stronger
#                                                    than its source's): else nothing happens
#   admin_to_<State>                                 the admin asked for that state


def _targets(trigger: Trigger, source: tuple[State, ...], dests: tuple[State, ...]) -> list[Edge]:
    guard = {T: "to_trading", C: "to_cooldown", D: "to_daily", W: "to_weekly"}
    return [Edge(trigger, source, d, guard[d], f"the strongest hold is {d.value}") for d in dests]


ACCOUNT_STATES: tuple[State, ...] = (T, F, C, D, W)

ACCOUNT_EDGES: tuple[Edge, ...] = (
    Edge(Trigger.breach, (T,), F, None, "a flattening rule fired"),
    Edge(Trigger.breach, (C, D, W), F, "escalates_or_exposed", "stronger lock, or exposure"),
    Edge(Trigger.breach, (C, D, W), None, "adds_hold", "weaker or equal hold: kept and recorded"),
    Edge(Trigger.breach, (F,), None, "adds_hold", "no second flatten: the hold is added"),
    *_targets(Trigger.lock, (T,), (C, D, W)),
    *_targets(Trigger.lock, (C,), (D, W)),
    *_targets(Trigger.lock, (D,), (W,)),
    Edge(Trigger.lock, (F, C, D, W), None, "adds_hold", "hold added, lock kept"),
    *_targets(Trigger.flat_confirmed, (F,), (T, C, D, W)),
    *_targets(Trigger.release, (C,), (T,)),
    *_targets(Trigger.release, (D,), (T, C)),
    *_targets(Trigger.release, (W,), (T, C, D)),
    Edge(Trigger.release, (F, C, D, W), None, None, "another hold of this kind remains"),
    *(
        Edge(Trigger.force, ACCOUNT_STATES, s, f"admin_to_{s.value}", "authenticated admin")
        for s in ACCOUNT_STATES
    ),
)

CONTRACT_STATES: tuple[State, ...] = (T, F, C, D)

CONTRACT_EDGES: tuple[Edge, ...] = (
    Edge(Trigger.breach, (T,), F, None, "close or reduce this contract"),
    Edge(Trigger.breach, (C, D), F, "escalates_or_exposed", "stronger lock, or exposure"),
    Edge(Trigger.breach, (C, D), None, "adds_hold", "weaker or equal hold: kept and recorded"),
    Edge(Trigger.breach, (F,), None, "adds_hold", "no second close: the hold is added"),
    *_targets(Trigger.lock, (T,), (C, D)),
    *_targets(Trigger.lock, (C,), (D,)),
    Edge(Trigger.lock, (F, C, D), None, "adds_hold", "hold added, lock kept"),
    *_targets(Trigger.flat_confirmed, (F,), (T, C, D)),
    *_targets(Trigger.release, (C,), (T,)),
    *_targets(Trigger.release, (D,), (T, C)),
    Edge(Trigger.release, (F, C, D), None, None, "another hold of this kind remains"),
    *(
        Edge(Trigger.force, CONTRACT_STATES, s, f"admin_to_{s.value}", "authenticated admin")
        for s in CONTRACT_STATES
    ),
)


# -- words for the diagrams (labels only: the tables above decide) ---------------------------

#: what makes each trigger fire, in a reviewer's words
TRIGGER_WORDS: dict[Trigger, str] = {
    Trigger.breach: "a rule fires (flatten)",
    Trigger.lock: "a rule fires (lock, no flatten)",
    Trigger.flat_confirmed: "broker confirms flat",
    Trigger.release: "lock ends",
    Trigger.force: "admin force (authenticated, audited)",
}

#: what each guard asks, in words
GUARD_WORDS: dict[str, str] = {
    "to_trading": "no hold remains",
    "to_cooldown": "the strongest hold is a Cooldown",
    "to_daily": "the strongest hold is LockedDaily",
    "to_weekly": "the strongest hold is LockedWeekly",
    "escalates_or_exposed": "the new lock is stronger, or a position or order is still open",
    "adds_hold": "the rule's hold is new (or stronger than its last)",
    **{f"admin_to_{s.value}": f"the admin asked for {s.value}" for s in State},
}

#: what ends each lock kind
LOCK_ENDS: dict[State, str] = {
    State.Cooldown: "timer",
    State.LockedDaily: "daily reset, or its condition ends",
    State.LockedWeekly: "weekly reset",
}


def state_named(name: str, *, kind: str = "account") -> State:
    """Parse a state name as spelled in `State` (case-insensitive), for the given machine."""
    allowed = ACCOUNT_STATES if kind == "account" else CONTRACT_STATES
    for s in allowed:
        if s.value.lower() == name.strip().lower():
            return s
    names = ", ".join(s.value for s in allowed)
    raise ValueError(f"unknown {kind} state '{name}' (one of: {names})")
