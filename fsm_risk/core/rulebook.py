"""The rules in force, indexed by the event kinds they react to, observe and time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from fsm_risk.core.effects import Effect, ReadTrades
from fsm_risk.core.events import Event, Fill, Quote
from fsm_risk.core.models import AccountModel
from fsm_risk.core.unjudged import estimating, track
from fsm_risk.core.unread import waiting
from fsm_risk.rules.base import Rule, Verdict, Void


class RuleBook:
    """One engine's rules; `index` replaces them in place (settings reloaded), so every part
    of the engine holding the book sees the new ones."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        #: accounts woken from a freeze, not read again since (see `core.thaw`): their deadline
        #: rules judge nothing until then (account id -> the freeze's start)
        self.thawing: dict[int, datetime] = {}
        self.index(rules)

    def index(self, rules: Sequence[Rule]) -> None:
        self.rules: list[Rule] = list(rules)
        self.by_event: dict[type, list[Rule]] = {}
        self.observers: dict[type, list[Rule]] = {}
        self.ids = {r.id for r in self.rules}
        self.by_id = {r.id: r for r in self.rules}
        # only the rules that define deadlines are asked for them (after every event)
        self.deadline_rules = [
            (r, r.deadline_kinds if r.deadline_kinds is not None else r.reacts_to)
            for r in self.rules
            if type(r).next_deadline is not Rule.next_deadline
        ]
        self.deadline_ids = {r.id for r, _ in self.deadline_rules if r.holds_at_thaw}
        #: the rules that remember what a void undoes (see `voided`)
        self.voiders = [r for r in self.rules if type(r).on_void is not Rule.on_void]
        for rule in self.rules:
            for kind in rule.reacts_to:
                self.by_event.setdefault(kind, []).append(rule)
                if rule.stateful:
                    self.observers.setdefault(kind, []).append(rule)
        #: the quote rules, in the order their bands are kept in ``AccountModel.bands``
        self.quote: list[Rule] = self.by_event.get(Quote, [])
        #: the position among the quote rules of the one that trails a peak (see Rule.trail)
        self.trailing: int | None = next((i for i, r in enumerate(self.quote) if r.trails), None)
        #: what the quote path reads on every quote, looked up once here
        self.quote_observers: list[Rule] = self.observers.get(Quote, [])
        self.trailer: Rule | None = None if self.trailing is None else self.quote[self.trailing]
        #: a quote rule judges more than the quoted contract's position (the account's open
        #: P&L): the quotes of contracts held together are judged in their order (`core.waited`)
        self.whole = any(not r.per_position for r in (*self.quote, *self.quote_observers))

    def observe(self, acct: AccountModel, event: Event, now: datetime) -> None:
        for rule in self.observers.get(type(event), ()):
            if waits(acct, rule):
                if isinstance(event, Fill) and rule in self.voiders:  # (see `Rule.unjudged`)
                    rule.unjudged(acct.rule_state.setdefault(rule.id, {}), acct, event)
                continue
            rule.observe(acct.rule_state.setdefault(rule.id, {}), acct, event, now)

    def voided(
        self, acct: AccountModel, event: Event, now: datetime, given: list[tuple[int, int, Decimal]]
    ) -> Sequence[Effect]:
        """After an event: the rules waiting on the account hear it (`Rule.heard`), then are
        told of the voids whose P&L it took out of the books (`Rule.on_void`; ``given``, the
        work's, is emptied): a read of the account each asks for is returned (an ordinary one,
        `ReadTrades`: keeping the peak meanwhile is the strict way, so no enforcement waits).
        Their memory is what moves, even while the account's trades are still being read."""
        for rule in self.voiders:
            if rule.waiting and acct.account_id in rule.waiting:
                rule.heard(acct.rule_state.setdefault(rule.id, {}), acct, event, now)
        if not given:
            return ()
        out: list[Effect] = []
        for account_id, trade_id, net in given:
            if account_id == acct.account_id:
                cid = acct.voided[trade_id]
                void = Void(trade_id, cid, net, acct.net.get(cid, 0))
                for rule in self.voiders:
                    memo = acct.rule_state.setdefault(rule.id, {})
                    read = rule.on_void(memo, acct, void, now)
                    if read is not None:
                        out.append(ReadTrades(acct.account_id))  # (not urgent: no close waits)
        given.clear()
        return out

    def evaluate(self, acct: AccountModel, event: Event, now: datetime) -> list[Verdict]:
        verdicts: list[Verdict] = []
        track(acct, now, event)  # (waiting past `unjudged.GRACE`: the period rules judge on)
        for rule in self.by_event.get(type(event), ()):
            if waits(acct, rule):
                # its realized P&L is not caught up (the start-up read's trades, or those
                # made while stopped that a missed reset waits for): it judges once it is
                continue
            if rule.id in self.deadline_ids and acct.account_id in self.thawing:
                continue  # woken from a freeze: judged once read again (`core.thaw`)
            found = rule.evaluate(acct, event, now)
            if found:
                verdicts.extend(found)
        return verdicts


def waits(acct: AccountModel, rule: Rule) -> bool:
    """Whether the rule waits for the account's trades (those judging on the balance's move
    past `unjudged.GRACE` do not)."""
    if not (rule.waits_for_trades and waiting(acct)):
        return False
    return not (rule.judges_unread and estimating(acct))
