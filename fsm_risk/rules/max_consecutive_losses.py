"""RULE-011 max_consecutive_losses: too many losing round trips in a row within a trading day.

A round trip is a position from open to flat; its result is its net P&L (every fill's P&L
minus every fee). ``losses = 3`` stops trading on the third losing round trip in a row. A
winner ends the streak, and so does the daily reset. A round trip within ``breakeven_within``
dollars of zero is break-even and counts as ``breakeven`` says: ignored (the streak neither
grows nor ends), a loss, or a win.

Only round trips the trader closes count: one closed by the service (a flatten, a stop-loss
close) neither grows nor ends the streak. That is why the rule keeps memory: the journal says
that the service took part in a round trip, not whose fill ended it; the engine calls
``observe`` only for the trader's fills. The memory (``rule_state``) is persisted with the
account, so the streak survives a restart.

The rule fires on the loss that completes the streak (not on a level), then counts again from
zero: after an admin override, or after a ``lock = cooldown``, it takes another full streak to
fire again. A streak already as long as the limit when the rules judge the account (``losses``
lowered to it by a reload or a start) fires then, on that Tick, without waiting for a loss.

``lock`` has no known direction (a daily lock may end before a cooldown would, or after), so a
change of it waits for the daily reset; until then a lock ends at the later of what the
settings in force and the held ones give (cooldown -> daily set at 08:00: a streak at 09:00
is locked until the reset, not only for the cooldown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, Fill, Tick
from fsm_risk.core.models import Trip
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import AccountView, Action, Outcome, Rule, Usage, Verdict, used
from fsm_risk.rules.trade_cooldown import MAX_MINUTES, closed_round_trip, journaled, judged_net
from fsm_risk.schema import Field


@dataclass(frozen=True)
class Config:
    losses: int
    lock: str  # daily | cooldown
    cooldown_minutes: int
    breakeven: str  # ignore | loss | win
    breakeven_within: Decimal

    def outcome(self, net: Decimal) -> str:
        """'loss', 'win' or 'ignore' for a round trip's net P&L."""
        if abs(net) <= self.breakeven_within:
            return self.breakeven
        return "loss" if net < 0 else "win"

    def judged(self, trip: Trip) -> str:
        """A closed round trip's outcome, on `judged_net`; one the service took part in is
        never his win when it did not win as a whole (his small profit on a part beside our
        stop's close of the rest at a loss counts nothing, as the service's trip did)."""
        net = judged_net(trip)
        outcome = "ignore" if net is None else self.outcome(net)
        if outcome == "win" and trip.enforced and self.outcome(trip.net) != "win":
            return "ignore"
        return outcome


class MaxConsecutiveLosses(Rule):
    id = "RULE-011"
    name = "max_consecutive_losses"
    fires_when = "N losing round trips in a row within the trading day (a winner resets the count)"
    default_action = "flatten + cancel, LockedDaily (or a Cooldown if configured)"
    #: ``lock`` has no known direction: a daily lock ends at the reset, which may come
    #: before a cooldown of ``cooldown_minutes`` would end (and the other way round)
    tighter = {
        "losses": strict.lower,
        "cooldown_minutes": strict.higher,
    }
    fields = (
        Field(
            "losses",
            schema.integer(minimum=1),
            "3",
            "losing round trips in a row that stop trading (3: the third loss in a row)",
        ),
        Field(
            "lock",
            schema.choice("daily", "cooldown"),
            "daily",
            "daily: locked until the next daily reset; cooldown: locked for cooldown_minutes",
        ),
        Field(
            "cooldown_minutes",
            schema.integer(minimum=1, maximum=MAX_MINUTES),
            "60",
            "how long the lock lasts when lock = cooldown (minutes)",
        ),
        Field(
            "breakeven",
            schema.choice("ignore", "loss", "win"),
            "ignore",
            "a break-even round trip: ignore (streak unchanged), loss (adds to it), win (ends it)",
        ),
        Field(
            "breakeven_within",
            schema.amount(allow_zero=True),
            "0",
            "a round trip whose net P&L is within this many dollars of zero is break-even",
        ),
    )
    reacts_to = frozenset({Fill, Tick})
    level_triggered = False
    stateful = True

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(
            values["losses"],
            values["lock"],
            values["cooldown_minutes"],
            values["breakeven"],
            values["breakeven_within"],
        )

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        if config.lock == "daily":
            return Outcome(Action.FLATTEN, State.LockedDaily)
        return Outcome(
            Action.FLATTEN, State.Cooldown, ends=f"timer ({config.cooldown_minutes} min)"
        )

    config: Config

    def observe(self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime) -> bool:
        changed = memo.pop("hit", None) is not None
        if isinstance(event, Tick):
            streak = _streak(memo, view)
            if streak < self.config.losses:
                return changed
            # a limit lowered to the streak (the streak is 0 again once the rule fired)
            memo["hit"] = {"trade": None, "detail": f"{streak} losing round trips in a row"}
            memo["streak"] = 0
            return True
        rec = journaled(view, event)
        trip = closed_round_trip(view, rec) if rec is not None else None
        outcome = "ignore" if trip is None else self.config.judged(trip)
        if outcome == "ignore":
            return changed
        streak = _streak(memo, view) + 1
        memo["day"] = view.day.start.isoformat()
        if outcome == "win":
            memo["streak"] = 0
            return True
        if streak >= self.config.losses:
            assert rec is not None
            memo["hit"] = {"trade": rec.trade_id, "detail": f"{streak} losing round trips in a row"}
            streak = 0  # fired: count again from zero
        memo["streak"] = streak
        return True

    def on_reset(self, memo: dict[str, Any], view: AccountView, weekly: bool, at: datetime) -> None:
        """The streak starts again with the new day: from the round trips it already holds
        (closed at or after its start by the gateway's clock, booked before ours reached it:
        see `core.early`), as `observe` counts them: one the service took part in by the
        trader's own exits from it, nothing if he made none (`judged_net`)."""
        streak = 0
        for trip in () if weekly else view.day.trips:
            outcome = self.config.judged(trip)
            if outcome != "ignore":
                streak = 0 if outcome == "win" else streak + 1
        memo["streak"] = streak
        memo["day"] = view.day.start.isoformat()
        memo.pop("hit", None)

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        memo = view.rule_state.get(self.id)
        hit = memo.get("hit") if memo else None
        if hit is None:
            return ()
        if hit["trade"] is None:  # a streak the limit was lowered to: fired on a Tick
            if not isinstance(event, Tick):
                return ()
        elif not isinstance(event, Fill) or hit["trade"] != event.trade_id:
            return ()
        lock, until = self._lock(self.config, view, now)
        if isinstance(self.held_config, Config):  # a change held for the reset: the later end
            other = self._lock(self.held_config, view, now)
            if other[1] > until:
                lock, until = other
        return (
            Verdict(
                self.id,
                Reason.MAX_CONSECUTIVE_LOSSES,
                Action.FLATTEN,
                lock=lock,
                until=until,
                detail=str(hit["detail"]),
            ),
        )

    def _lock(self, cfg: Config, view: AccountView, now: datetime) -> tuple[State, datetime]:
        """The lock ``cfg`` gives a streak completed at ``now``, and its end."""
        if cfg.lock == "daily":
            return State.LockedDaily, self.ctx.next_reset(view, now)
        return State.Cooldown, now + timedelta(minutes=cfg.cooldown_minutes)

    def usage(self, view: AccountView, now: datetime) -> Usage:
        memo = view.rule_state.get(self.id) or {}
        # a reset that is due but not yet applied (no event since) has cleared the streak
        streak = _streak(memo, view) if now < view.day.end else 0
        limit = self.config.losses
        return Usage(Decimal(streak), Decimal(limit), "losses in a row", used(streak, limit))


def _streak(memo: dict[str, Any], view: AccountView) -> int:
    """The stored streak, if it is the current trading day's: one kept while the rule was
    off (no reset reached it) belongs to the day it was counted in (a streak stored before
    the day was kept with it is taken as the current day's)."""
    day = memo.get("day")
    if day is not None and day != view.day.start.isoformat():
        return 0
    return int(memo.get("streak", 0))
