"""RULE-009 position_hold_time: no position may stay open longer than a limit.

A position's deadline is its ``opened_at`` plus the limit (adding to a position keeps its
first open time; reversing it starts a new one). The deadline is stored with the position,
so the engine's scheduler wakes the account at that instant with no event, and a restart
re-arms it from the open positions. A restored position is judged once the start-up read has
listed it: closed and opened again while the service was down, it is a new position with the
gateway's open time (see `fsm_risk.core.settlement`). At the deadline that contract alone is
closed; there is no lock, and the contract goes back to ``Trading`` once flat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, PositionUpdate, Tick
from fsm_risk.core.reasons import Reason
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import AccountView, Action, Outcome, Rule, Scope, Usage, Verdict, used
from fsm_risk.schema import Field

#: how the open time is shown in the detail (in the display zone, to the second)
SHOWN = "%Y-%m-%d %H:%M:%S %Z"


@dataclass(frozen=True)
class Config:
    limit: timedelta


class PositionHoldTime(Rule):
    id = "RULE-009"
    name = "position_hold_time"
    fires_when = "a position has been open for the limit (minutes)"
    default_action = "close that contract only; no lock (the contract returns to Trading)"
    tighter = {"limit_minutes": strict.lower}
    fields = (
        Field(
            "limit_minutes",
            schema.integer(minimum=1, maximum=7 * 24 * 60),
            "240",
            "longest a position may stay open, in minutes; then that contract is closed",
        ),
    )
    reacts_to = frozenset({PositionUpdate, Tick})

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(timedelta(minutes=values["limit_minutes"]))

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        return Outcome(Action.CLOSE, scope=Scope.CONTRACT)

    config: Config

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        limit = self.config.limit
        verdicts = []
        for cid, p in view.positions.items():
            if p.stored or now - p.opened_at < limit:
                continue  # (restored: the start-up read may list one opened since)
            verdicts.append(
                Verdict(
                    self.id,
                    Reason.POSITION_HOLD_TIME,
                    Action.CLOSE,
                    Scope.CONTRACT,
                    contract_id=cid,
                    detail=f"{cid} open since {self.ctx.shown(p.opened_at, SHOWN)} "
                    f"({_minutes(now - p.opened_at)}) >= limit {_minutes(limit)}",
                )
            )
        return verdicts

    def next_deadline(self, view: AccountView, now: datetime) -> datetime | None:
        # deadlines already passed are enforced (the close is in flight): never return one,
        # a deadline that does not move would wake the account in a loop
        limit = self.config.limit
        future = [t for p in view.positions.values() if (t := p.opened_at + limit) > now]
        return min(future, default=None)

    def usage(self, view: AccountView, now: datetime) -> Usage:
        limit = int(self.config.limit.total_seconds())
        oldest = min((p.opened_at for p in view.positions.values()), default=None)
        held = max(int((now - oldest).total_seconds()), 0) if oldest is not None else 0
        detail = f"oldest position open {_minutes(timedelta(seconds=held))}" if oldest else ""
        return Usage(Decimal(held), Decimal(limit), "s", used(held, limit), detail)


def _minutes(d: timedelta) -> str:
    total = int(d.total_seconds())
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s"
