"""RULE-012 revenge_trading: an oversized re-entry shortly after a loss.

A round trip (open to flat) that loses at least ``loss`` dollars net of fees starts a watch of
``seconds``. During the watch, with ``mode = size`` (default), the trader's entries are added
up (every contract, every root; a reversal's new side counts) and the rule fires once they
reach ``multiplier`` x the losing round trip's largest size: doubling up in one order, or
scaling back in. With ``mode = same_root`` any entry in the losing root fires it. The action
is flatten + cancel and a Cooldown of ``cooldown_minutes``.

The watch runs in real elapsed seconds (daylight-saving changes do not stretch it) and is
not cut by the daily reset. Only round trips the trader closes start a watch and only the
trader's entries count; the service's closes and fills do neither. The watch is kept in
``rule_state`` (the journal does not say whose fill ended a round trip), persisted with the
account: it survives a restart. The rule fires on the entry, not on a level; once it fires,
the watches end, and the losses they watched are never watched again (``fired``).

When the rules judge the account (a Tick: after a reload or a start), the watches are made
again from the day's round trips as the settings in force read them: a loss still inside the
watch that ``loss`` (or ``seconds``) now reaches is watched from then on, its entries since
counted; one whose entries already reach what fires it (``multiplier`` lowered) fires then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, Fill, Tick
from fsm_risk.core.models import FillRecord, Trip, root_of
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.core.valuation import MARK_SKEW
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import AccountView, Action, Outcome, Rule, Usage, Verdict, used
from fsm_risk.rules.trade_cooldown import MAX_MINUTES, closed_round_trip, journaled
from fsm_risk.schema import Field


@dataclass(frozen=True)
class Config:
    loss: Decimal
    seconds: float
    mode: str  # size | same_root
    multiplier: Decimal
    cooldown_minutes: int

    @property
    def watch(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def needed(self, size: int) -> Decimal:
        """The entries that fire the rule after a loss of this size."""
        return self.multiplier * size if self.mode == "size" else Decimal(1)


class RevengeTrading(Rule):
    id = "RULE-012"
    name = "revenge_trading"
    fires_when = (
        "within T seconds after a loss <= -threshold, entries >= multiplier x the losing "
        "size (or any re-entry in the same root)"
    )
    default_action = "flatten + cancel, Cooldown for cooldown_minutes"
    tighter = {
        "loss": strict.lower,
        "seconds": strict.higher,
        "multiplier": strict.lower,
        "cooldown_minutes": strict.higher,
    }
    fields = (
        Field(
            "loss",
            schema.amount(),
            "100",
            "a round trip losing at least this much ($, net of fees) starts the watch",
        ),
        Field(
            "seconds",
            schema.seconds(minimum=1, maximum=24 * 3600),
            "300",
            "how long after that loss a re-entry counts as revenge (seconds)",
        ),
        Field(
            "mode",
            schema.choice("size", "same_root"),
            "size",
            "size: entries adding up to multiplier x the losing size; "
            "same_root: any re-entry in the losing symbol root",
        ),
        Field(
            "multiplier",
            schema.decimal(minimum=Decimal(1), maximum=Decimal(100)),
            "2",
            "size mode: fire when entries reach this many times the losing round trip's size",
        ),
        Field(
            "cooldown_minutes",
            schema.integer(minimum=1, maximum=MAX_MINUTES),
            "30",
            "how long trading stops when the rule fires (minutes)",
        ),
    )
    reacts_to = frozenset({Fill, Tick})
    level_triggered = False
    stateful = True

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(
            values["loss"],
            values["seconds"],
            values["mode"],
            values["multiplier"],
            values["cooldown_minutes"],
        )

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        return Outcome(
            Action.FLATTEN, State.Cooldown, ends=f"timer ({config.cooldown_minutes} min)"
        )

    config: Config

    def observe(self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime) -> bool:
        changed = memo.pop("hit", None) is not None
        if isinstance(event, Tick):
            return self._read_again(memo, view, now) or changed
        rec = journaled(view, event)
        if rec is None or rec.enforcement:
            return changed
        cfg = self.config
        before: list[dict[str, Any]] | None = memo.get("watches")
        trip = closed_round_trip(view, rec)
        losing = trip is not None and trip.net <= -cfg.loss
        if not before and not losing:
            return changed  # the steady state: no loss being watched, none starting
        at = rec.at
        watches = [w for w in before or () if at - datetime.fromisoformat(w["at"]) <= cfg.watch]
        changed = changed or len(watches) != len(before or ())
        if trip is not None and losing:
            watches.append(
                {
                    "at": at.isoformat(),
                    "root": root_of(trip.contract_id),
                    "size": trip.size,
                    "net": str(trip.net),
                    "entered": 0,
                }
            )
            changed = True
        if rec.entry > 0:
            root = root_of(rec.contract_id)
            for w in watches:
                if datetime.fromisoformat(w["at"]) > at:
                    continue  # an entry from before the loss, reported late
                if cfg.mode == "same_root" and w["root"] != root:
                    continue
                w["entered"] += rec.entry
                changed = True
                if w["entered"] >= cfg.needed(w["size"]):
                    memo["hit"] = {"trade": rec.trade_id, "detail": self._detail(w, at)}
                    _fired(memo, watches, at)
                    watches = []
                    break
        if watches:
            memo["watches"] = watches
        else:
            memo.pop("watches", None)
        return changed

    def _read_again(self, memo: dict[str, Any], view: AccountView, now: datetime) -> bool:
        """The watches the settings in force make of the day's round trips (`observe` on a
        Tick): each losing one still inside the watch that no watch holds and none fired on,
        with the entries since; fires on one whose entries already reach what fires it."""
        cfg = self.config
        watches: list[dict[str, Any]] = list(memo.get("watches", ()))
        held = [(w["at"], w["root"]) for w in watches]
        fired = memo.get("fired")
        fills = view.day.fills
        # the gateway's time, as the live watch runs on its fills' stamps: at least its last
        # fill's (a watch a fill ended stays ended), and our clock less the lead it may have
        # over the gateway's (a watch is not cut short by a clock running ahead)
        ours = now - MARK_SKEW
        latest = max(ours, fills[-1].at) if fills else ours
        added = False
        for trip in view.day.trips:
            closed = trip.closed_at
            if closed is None or trip.net > -cfg.loss or latest - closed > cfg.watch:
                continue
            if fired is not None and closed <= datetime.fromisoformat(fired):
                continue  # its watch fired: never again
            key = (closed.isoformat(), root_of(trip.contract_id))
            if key in held:
                held.remove(key)  # watched already
                continue
            found = _closing(view, trip)
            if found is None:
                continue  # closed by the service (or its fill not kept): no watch
            watches.append(self._watch(view, trip, found))
            added = True

        def fires(w: dict[str, Any]) -> bool:
            inside = latest - datetime.fromisoformat(w["at"]) <= cfg.watch
            return inside and w["entered"] >= cfg.needed(w["size"])

        if not added and not any(fires(w) for w in watches):
            return False
        watches.sort(key=lambda w: datetime.fromisoformat(w["at"]))
        for w in watches:
            if fires(w):
                memo["hit"] = {"trade": None, "detail": self._detail(w, max(now, latest))}
                _fired(memo, watches, None)
                memo.pop("watches", None)
                return True
        memo["watches"] = watches
        return True

    def _watch(self, view: AccountView, trip: Trip, closing: int) -> dict[str, Any]:
        """A watch of ``trip``, whose closing fill is the day's ``closing``-th, with the
        trader's entries from that fill on (a reversal's new side counts)."""
        assert trip.closed_at is not None
        root = root_of(trip.contract_id)
        entered = sum(
            f.entry
            for f in view.day.fills[closing:]
            if not f.enforcement
            and trip.closed_at <= f.at <= trip.closed_at + self.config.watch
            and (self.config.mode == "size" or root_of(f.contract_id) == root)
        )
        return {
            "at": trip.closed_at.isoformat(),
            "root": root,
            "size": trip.size,
            "net": str(trip.net),
            "entered": entered,
        }

    def _detail(self, w: dict[str, Any], at: datetime) -> str:
        after = (at - datetime.fromisoformat(w["at"])).total_seconds()
        what = (
            f"{w['entered']} contracts entered"
            if self.config.mode == "size"
            else f"re-entry in {w['root']}"
        )
        return (
            f"{what} {after:.0f}s after a {Decimal(w['net']):.2f} loss of {w['size']} {w['root']}"
        )

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        memo = view.rule_state.get(self.id)
        hit = memo.get("hit") if memo else None
        if hit is None:
            return ()
        if hit["trade"] is None:  # entries the settings now fire on: fired on a Tick
            if not isinstance(event, Tick):
                return ()
        elif not isinstance(event, Fill) or hit["trade"] != event.trade_id:
            return ()
        return (
            Verdict(
                self.id,
                Reason.REVENGE_TRADING,
                Action.FLATTEN,
                lock=State.Cooldown,
                until=now + timedelta(minutes=self.config.cooldown_minutes),
                detail=str(hit["detail"]),
            ),
        )

    def usage(self, view: AccountView, now: datetime) -> Usage:
        """The running watch closest to firing (the fewest entries left; the latest of
        equals): each fires on its own, so the room shown is the least any of them leaves.
        In ``same_root`` mode a re-entry in any watched root fires: all of them are named."""
        memo = view.rule_state.get(self.id) or {}
        cfg = self.config
        running = [
            w for w in memo.get("watches", []) if now - datetime.fromisoformat(w["at"]) <= cfg.watch
        ]
        if not running:
            return Usage(Decimal(0), Decimal(0), "contracts", Decimal(0), "no recent loss")
        w = min(reversed(running), key=lambda w: cfg.needed(w["size"]) - w["entered"])
        needed, entered = cfg.needed(w["size"]), Decimal(w["entered"])
        detail = f"after a {Decimal(w['net']):.2f} loss in {w['root']}"
        roots = sorted({r["root"] for r in running})
        if cfg.mode == "same_root" and len(roots) > 1:
            detail = f"after losses in {', '.join(roots)}"
        return Usage(entered, needed, "contracts", used(entered, needed), detail)


def _closing(view: AccountView, trip: Trip) -> int | None:
    """Where the trader's fill that closed ``trip`` is among the day's fills (None: the
    service's, or not among them)."""
    fills: list[FillRecord] = view.day.fills
    for i in range(len(fills) - 1, -1, -1):
        f = fills[i]
        if f.contract_id == trip.contract_id and f.at == trip.closed_at and f.exit > 0:
            return None if f.enforcement else i
    return None


def _fired(memo: dict[str, Any], watches: list[dict[str, Any]], at: datetime | None) -> None:
    """The watches end on a fire: the losses they watched (closed at or before the latest of
    them and ``at``) are never watched again."""
    times = [datetime.fromisoformat(w["at"]) for w in watches]
    if at is not None:
        times.append(at)
    if memo.get("fired"):
        times.append(datetime.fromisoformat(memo["fired"]))
    if times:
        memo["fired"] = max(times).isoformat()
