"""RULE-018 trading_permission: while the gateway says the account cannot trade, it is locked.

An account update with ``canTrade`` false flattens the account (or, with ``flatten = false``,
only blocks new exposure) into a hold with no deadline: it lasts until an account update says
``canTrade`` is true again, which releases this rule's hold and nothing else (a lock placed by
another rule still holds). The hold is stored with the account, so a restart does not end it.
An admin's forced ``Trading`` waives the rule only as long as that hold would have lasted: the
release ends the waiver too, so a second ``canTrade`` false flattens and locks again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import AccountUpdate, Event
from fsm_risk.core.reasons import Reason
from fsm_risk.core.sources import waived
from fsm_risk.core.states import State
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import AccountView, Action, Outcome, Rule, RuleContext, Usage, Verdict
from fsm_risk.schema import Field

_LOCKS = {"lockeddaily": State.LockedDaily, "lockedweekly": State.LockedWeekly}


@dataclass(frozen=True)
class Config:
    lock: State
    flatten: bool


class TradingPermission(Rule):
    id = "RULE-018"
    name = "trading_permission"
    fires_when = "the gateway reports the account cannot trade (canTrade false)"
    default_action = "flatten + cancel, LockedDaily until the gateway reports it can trade again"
    tighter = {
        "lock": strict.ranked("lockeddaily", "lockedweekly"),
        "flatten": strict.true_is_stricter,
    }
    fields = (
        Field(
            "lock",
            schema.choice(*_LOCKS),
            "LockedDaily",
            "the lock held while the broker disables trading (LockedDaily or LockedWeekly)",
        ),
        Field(
            "flatten",
            schema.boolean,
            "true",
            "true: close positions and cancel orders; false: only block new exposure",
        ),
    )
    reacts_to = frozenset({AccountUpdate})

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(_LOCKS[values["lock"]], values["flatten"])

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        action = Action.FLATTEN if config.flatten else Action.LOCK
        return Outcome(action, config.lock, ends="the gateway reports it can trade")

    config: Config

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self._action = Action.FLATTEN if config.flatten else Action.LOCK

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        allowed = view.can_trade
        if allowed is None:
            return ()  # not reported yet
        if allowed:
            if view.state is State.Trading and not waived(view.rule_state, self.id):
                return ()  # no hold of any rule, no waiver of this one: nothing to release
            # the engine ends this rule's hold if it has one (other holds are untouched), and
            # an admin's waiver of it: the lock it stands in for would have ended here
            return (
                Verdict(
                    self.id,
                    Reason.TRADING_PERMISSION_RESTORED,
                    Action.RELEASE,
                    detail="the gateway reports canTrade true",
                ),
            )
        return (
            Verdict(
                self.id,
                Reason.TRADING_PERMISSION,
                self._action,
                lock=self.config.lock,
                until=None,  # until the gateway says otherwise
                detail="the gateway reports canTrade false",
            ),
        )

    def usage(self, view: AccountView, now: datetime) -> Usage:
        allowed = view.can_trade
        blocked = Decimal(1 if allowed is False else 0)
        state = {None: "not reported yet", True: "true", False: "false"}[allowed]
        return Usage(blocked, Decimal(1), "blocked", blocked, f"canTrade {state}")
