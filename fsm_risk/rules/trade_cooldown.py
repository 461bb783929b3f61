"""RULE-008 trade_cooldown: a losing trade puts the account in a Cooldown.

``tiers`` maps a loss to minutes, e.g. ``100: 15, 250: 30, 500: 60``: a trade that loses at
least $100 (net of fees) cools the account down for 15 minutes, at least $250 for 30, and so
on; the most severe tier reached wins. With ``basis = round_trip`` (default) the trade is a
position from open to flat (every fill's P&L and fees), judged when the trader's fill closes
it; with ``basis = trade`` each closing fill is judged on its own P&L net of its fees.

Only the trader's own trading is judged: a position closed by the service (a flatten, a
stop-loss close) never starts a cooldown, because the engine never evaluates rules on the
service's fills. A round trip the service took part in (a reduce of ours, say) is judged on
the trader's own exits from it (their P&L and fees, never a fill of ours), when he made any:
also when a fill of ours closes it (the engine shows the rules that fill for this only). The
rule fires on the event, not on a level.

This module also holds the small journal readers that the other trade-pattern rules share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, Fill
from fsm_risk.core.models import FillRecord, Trip
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import AccountView, Action, Outcome, Rule, Usage, Verdict, used
from fsm_risk.schema import Field

#: the longest cooldown a tier may ask for (longer locks are the daily rules' business)
MAX_MINUTES = 24 * 60


def journaled(view: AccountView, event: Event) -> FillRecord | None:
    """The journal's record of this fill (None for a fill from before the trading day)."""
    if not isinstance(event, Fill):
        return None
    fills = view.day.fills
    if fills and fills[-1].trade_id == event.trade_id:
        return fills[-1]
    return None


def closed_round_trip(view: AccountView, rec: FillRecord) -> Trip | None:
    """The round trip (flat to flat) that this just-journaled fill completed, if any. A
    reversal completes one round trip and opens the next."""
    if rec.exit <= 0 or (rec.entry == 0 and rec.contract_id in view.trips_open):
        return None  # an entry, or a partial exit
    trips = view.day.trips
    if not trips:
        return None
    trip = trips[-1]
    if trip.contract_id != rec.contract_id or trip.closed_at != rec.at:
        return None
    return trip


def judged_net(trip: Trip) -> Decimal | None:
    """What a closed round trip is judged at: its net; for one the service took part in, the
    net of the trader's own exits from it (None: he exited none of it: the service closed it)."""
    return trip.his if trip.enforced else trip.net


def ordered_tiers(tiers: dict[Decimal, int]) -> tuple[tuple[Decimal, int], ...]:
    """Validate loss -> minutes tiers as written: at least one, smallest loss first, a larger
    loss never cooling down for less time."""
    if not tiers:
        raise ValueError("tiers: list at least one 'loss: minutes' tier, e.g. '100: 15'")
    pairs = tuple(tiers.items())
    for (loss_a, min_a), (loss_b, min_b) in pairwise(pairs):
        if loss_b <= loss_a:
            raise ValueError(f"tiers: list the smallest loss first ({loss_b} comes after {loss_a})")
        if min_b <= min_a:
            raise ValueError(
                f"tiers: a larger loss must cool down for longer ({loss_b}: {min_b} minutes "
                f"is not more than {loss_a}: {min_a})"
            )
    return pairs


@dataclass(frozen=True)
class Config:
    tiers: tuple[tuple[Decimal, int], ...]  # (loss, minutes), smallest loss first
    basis: str  # round_trip | trade

    def tier(self, net: Decimal) -> tuple[Decimal, int] | None:
        """The most severe tier that a trade's net P&L reaches (a loss <= -threshold)."""
        for loss, minutes in reversed(self.tiers):
            if net <= -loss:
                return loss, minutes
        return None


class TradeCooldown(Rule):
    id = "RULE-008"
    name = "trade_cooldown"
    fires_when = "a closing trade loses <= a tier threshold (the most severe tier reached wins)"
    default_action = "flatten + cancel, Cooldown for the tier's minutes"
    tighter = {"tiers": strict.tiers_stricter}
    fields = (
        Field(
            "tiers",
            schema.mapping(schema.amount(), schema.integer(minimum=1, maximum=MAX_MINUTES)),
            "100: 15, 250: 30, 500: 60",
            "loss ($): cooldown minutes, smallest loss first; the largest loss reached decides",
        ),
        Field(
            "basis",
            schema.choice("round_trip", "trade"),
            "round_trip",
            "round_trip: a position's loss from open to flat, all fees included; "
            "trade: each closing fill on its own",
        ),
    )
    reacts_to = frozenset({Fill})
    level_triggered = False

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(ordered_tiers(values["tiers"]), values["basis"])

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        return Outcome(Action.FLATTEN, State.Cooldown, ends="timer (the tier's minutes)")

    config: Config

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        rec = journaled(view, event)
        if rec is None or rec.exit <= 0:
            return ()
        if self.config.basis == "trade":
            if rec.enforcement:
                return ()
            net, what = rec.net, f"closing fill {rec.trade_id} in {rec.contract_id}"
        else:
            trip = closed_round_trip(view, rec)
            judged = None if trip is None else judged_net(trip)
            if trip is None or judged is None:
                return ()  # (a fill of ours closing one he exited none of is not shown)
            part = " (the trader's exits from it)" if trip.enforced else ""
            net, what = judged, f"round trip in {trip.contract_id}{part}"
        tier = self.config.tier(net)
        if tier is None:
            return ()
        loss, minutes = tier
        return (
            Verdict(
                self.id,
                Reason.TRADE_COOLDOWN,
                Action.FLATTEN,
                lock=State.Cooldown,
                until=now + timedelta(minutes=minutes),
                detail=f"{what} net {net:.2f} <= -{loss:.2f}: cooldown {minutes} min",
            ),
        )

    def usage(self, view: AccountView, now: datetime) -> Usage:
        """The last round trip's loss (as judged: `judged_net`) against the smallest tier."""
        trips = view.day.trips
        net = (judged_net(trips[-1]) if trips else None) or Decimal(0)
        first = self.config.tiers[0][0]
        return Usage(net, -first, "$", used(-net, first), "last round trip")
