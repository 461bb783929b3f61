"""RULE-016 stop_loss_required: every contract held needs a protective stop within a grace.

Protective means a working stop (type 4), stop-limit (3) or trailing stop (5) in the same
contract, on the closing side (a sell for a long, a buy for a short), with its stop price beyond
the entry on the losing side: below the average price for a long, above it for a short; a stop-
limit only if its limit fills through its stop (at or below it for a long's sell, at or above it
for a short's buy: one the other way rests, triggered, as a limit beyond the market and never
fills). A trailing stop always counts. A stop on the position's own side is a stop *entry* (it
would add to the position), never protection; a stop the service is cancelling does not count
either. Stops placed outside this service count like any other: they arrive as order events, and
the open orders are loaded at start-up into the same view. The stops must cover the position: a
sell stop of 1 beside a long 3 leaves 2 contracts without one.

The grace runs from the position's ``opened_at``, or from when the service first saw the
position if that is later: a position found at start-up gets the full grace for its stop
order to be loaded too (the gateway's snapshot lists positions before orders). That first
sighting is this rule's memory, so the deadline is stored and survives a restart; the engine
wakes the account at it with no event. A restored position is judged once the start-up read
has listed it: one opened later than the position first seen in its contract (closed and
opened again while the service was down) is a new position, first seen then. Past the
deadline an unprotected position is closed, that contract only, with no lock; so is a
position its stops cover in part. Scaling in a position its stops covered starts a new
grace, for the stops to be sized up (a bracket's stop may be reported after the fill it
protects); scaling in one already without a full stop does not (adding cannot put a
deadline off).

A protective stop of the position that ends (filled, cancelled, expired) gives the position
`REPLACE_GRACE` before it is judged without it, once (not again while it runs: a stop placed
and cancelled over and over keeps no position naked; a stop rejected or on the wrong side
protected nothing and gives none): the gateway tells a stop filled before the
fill and the position it closed (fired at once, the trader's own stop-out was judged a
position without a stop, and his exit fill was booked as our close, out of the cooldown and
loss-streak rules), a trader cancels a stop and closes the position in two requests, or
replaces a stop by cancelling it and placing another. The position still held without a stop
when it has passed is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, OrderStatus, OrderType, OrderUpdate, PositionUpdate, Tick
from fsm_risk.core.models import Order, Position
from fsm_risk.core.reasons import Reason
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import (
    AccountView,
    Action,
    Outcome,
    Rule,
    RuleContext,
    Scope,
    Usage,
    Verdict,
    held,
    used,
)
from fsm_risk.schema import Field

STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP})
#: how long a position whose stop ended is given before it is judged without it: its fills,
#: its close or the stop replacing it are on their way (see the module's doc)
REPLACE_GRACE = timedelta(seconds=5)
#: the ends of a stop that was working (a rejected one never protected anything)
ENDED = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED})


@dataclass(frozen=True)
class Config:
    grace: timedelta
    count_profit_stops: bool


class StopLossRequired(Rule):
    id = "RULE-016"
    name = "stop_loss_required"
    fires_when = (
        "a position has no protective stop (stop, stop-limit whose limit fills through its "
        "stop, or trailing stop on the closing side, beyond the entry) covering every contract "
        "once the grace seconds have passed"
    )
    default_action = "close that position only; no lock"
    tighter = {
        "grace_seconds": strict.lower,
        "count_profit_stops": strict.false_is_stricter,
    }
    fields = (
        Field(
            "grace_seconds",
            schema.seconds(minimum=1, maximum=3600),
            "30",
            "seconds a new position may go without a protective stop order before it is closed",
        ),
        Field(
            "count_profit_stops",
            schema.boolean,
            "false",
            "true: a stop at or past the entry (break-even, or locking in profit) also counts",
        ),
    )
    reacts_to = frozenset({PositionUpdate, OrderUpdate, Tick})
    #: an order moves no grace deadline, but a stop that ends starts its `REPLACE_GRACE`
    deadline_kinds = frozenset({PositionUpdate, OrderUpdate, Tick})
    stateful = True

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(timedelta(seconds=values["grace_seconds"]), values["count_profit_stops"])

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        return Outcome(Action.CLOSE, scope=Scope.CONTRACT)

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self._parsed: dict[float | str, datetime] = {}

    config: Config

    # -- memory: when each position was first seen ----------------------------------------

    def observe(self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime) -> bool:
        if isinstance(event, OrderUpdate):
            # first sightings change only with positions; a stop that protected one and ended
            # starts its `REPLACE_GRACE`, once: not again while it runs (a stop placed and
            # cancelled every 4 s, or one on the wrong side, keeps no position naked for long)
            p = view.positions.get(event.contract_id)
            if p is None or event.status not in ENDED or not self._protected_by(event, p):
                return False
            stops: dict[str, float] = memo.setdefault("ended", {})
            since = stops.get(event.contract_id)
            if since is not None and now.timestamp() < since + REPLACE_GRACE.total_seconds():
                return False
            stops[event.contract_id] = now.timestamp()
            return True
        seen: dict[str, float | str] = memo.setdefault("seen", {})
        opened: dict[str, float] = memo.setdefault("opened", {})  # the open time then
        sizes: dict[str, int] = memo.setdefault("size", {})
        #: contracts its stops covered when a position was scaled in: they stay covered (the
        #: new grace is for the added ones; taking their stop away is not put off by adding)
        kept: dict[str, int] = memo.setdefault("kept", {})
        changed = False
        ended: dict[str, float] = memo.get("ended", {})
        for cid in [c for c in ended if c not in view.positions]:
            del ended[cid]
            changed = True
        for cid in [c for c in seen if c not in view.positions]:
            del seen[cid]  # closed: a new position gets a new grace
            opened.pop(cid, None)
            sizes.pop(cid, None)
            kept.pop(cid, None)
            changed = True
        covered: dict[str, int] | None = None
        for cid, p in view.positions.items():
            at = p.opened_at.timestamp()
            if cid in seen and at > opened.get(cid, at):
                # opened after the one first seen here (a read's open time): that one went
                # flat unseen, while the service was down say, and this one is new
                del seen[cid]
                sizes.pop(cid, None)
                kept.pop(cid, None)
            before = sizes.get(cid, p.size)
            if cid not in seen:
                seen[cid] = now.timestamp()  # epoch seconds: cheap to store and read
                opened[cid] = at
                changed = True
            elif cid not in opened:
                opened[cid] = at  # first seen by an earlier version
                changed = True
            elif p.size > before:  # scaled in: a new grace only if its stops covered it before
                covered = self._covered(view) if covered is None else covered
                if covered.get(cid, 0) >= before:
                    seen[cid] = now.timestamp()
                    kept[cid] = max(kept.get(cid, 0), before)
                    changed = True
            if before != p.size or cid not in sizes:
                sizes[cid] = p.size
                changed = True
        return changed

    def _deadline(self, view: AccountView, cid: str, p: Position) -> datetime:
        start = p.opened_at
        seen = view.rule_state.get(self.id, {}).get("seen", {}).get(cid)
        if seen is not None:
            first = self._parsed.get(seen)
            if first is None:
                first = (
                    datetime.fromisoformat(seen)  # stored by an earlier version
                    if isinstance(seen, str)
                    else datetime.fromtimestamp(seen, UTC)
                )
                if len(self._parsed) > 4096:  # a cache of parsed stamps, not memory
                    self._parsed.clear()
                self._parsed[seen] = first
            if first > start:
                start = first
        return start + self.config.grace

    # -- protection -----------------------------------------------------------------------

    def protects(self, o: Order, p: Position) -> bool:
        """Whether a working order is a protective stop for the position."""
        if o.status is OrderStatus.PENDING_CANCEL or o.cancel_sent_at is not None:
            return False  # on its way out
        return self._protected_by(o, p)

    def _protected_by(self, o: Order | OrderUpdate, p: Position) -> bool:
        """Whether the order (the engine's, or as its last record tells it) is a protective
        stop of ``p`` by its kind, side and stop price."""
        if o.type not in STOP_TYPES or o.side is not p.closing_side:
            return False
        if o.type is OrderType.STOP_LIMIT and not _sells_through(o, p):
            return False  # triggered, it rests as a limit beyond the market: it never fills
        if o.type is OrderType.TRAILING_STOP or self.config.count_profit_stops:
            return True
        if o.stop_price is None:
            return False
        return o.stop_price < p.average_price if p.long else o.stop_price > p.average_price

    def _covered(self, view: AccountView) -> dict[str, int]:
        """Per contract held, how many of its contracts protective stops cover."""
        positions = view.positions
        out: dict[str, int] = {}
        for o in view.orders.values():
            p = positions.get(o.contract_id)
            if p is not None and self.protects(o, p):
                out[o.contract_id] = min(out.get(o.contract_id, 0) + o.size, p.size)
        return out

    def _protected(self, view: AccountView) -> set[str]:
        """The contracts whose stops cover the whole position (`held`: what it holds once our
        reduce on its way is done, which resizes the stops with it)."""
        covered = self._covered(view)
        return {c for c, p in view.positions.items() if covered.get(c, 0) >= held(view, p)}

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        if not view.positions:
            return ()
        memo = view.rule_state.get(self.id, {})
        kept: dict[str, int] = memo.get("kept", {})
        ended: dict[str, float] = memo.get("ended", {})
        covered: dict[str, int] | None = None
        grace = int(self.config.grace.total_seconds())
        out = []
        for cid, p in view.positions.items():
            if p.stored:  # a restored position waits for the start-up read: it may be new
                continue
            if cid in ended and now.timestamp() < ended[cid] + REPLACE_GRACE.total_seconds():
                continue  # its stop just ended: its fills, its close or a new stop are coming
            t = self._deadline(view, cid, p)
            # past the grace: every contract it holds once our reduce on its way is done (that
            # resized the stops with it); within a new grace from scaling in: those covered then
            need = held(view, p) if t <= now else min(kept.get(cid, 0), held(view, p))
            if need <= 0:
                continue
            covered = self._covered(view) if covered is None else covered
            n = covered.get(cid, 0)
            if n >= need:
                continue
            what_held = f"{p.size} {cid} {'long' if p.long else 'short'} at {p.average_price}"
            what = "no protective stop" if n == 0 else f"protective stops for {n} of {p.size}"
            when = (
                f"{grace} s after {t - self.config.grace:%H:%M:%S} UTC"
                if t <= now
                else f"although {need} were covered when it was scaled in"
            )
            why = Reason.STOP_LOSS_REQUIRED
            out.append(
                Verdict(
                    self.id,
                    why,
                    Action.CLOSE,
                    Scope.CONTRACT,
                    contract_id=cid,
                    detail=f"{what_held} has {what} {when}",
                )
            )
        return out

    def next_deadline(self, view: AccountView, now: datetime) -> datetime | None:
        # O(positions): a position that gets its stop in time costs one idle wake-up
        future = [
            t for cid, p in view.positions.items() if (t := self._deadline(view, cid, p)) > now
        ]
        memo = view.rule_state.get(self.id, {})
        for cid, at in memo.get("ended", {}).items():
            # a stop's replace grace running out wakes the account where it is judged then:
            # past its grace, or within a scale-in's with contracts its stops covered
            t = datetime.fromtimestamp(at, UTC) + REPLACE_GRACE
            p = view.positions.get(cid)
            if p is None or t <= now:
                continue
            if self._deadline(view, cid, p) <= t or memo.get("kept", {}).get(cid, 0) > 0:
                future.append(t)
        return min(future, default=None)

    def usage(self, view: AccountView, now: datetime) -> Usage:
        grace = int(self.config.grace.total_seconds())
        covered = self._covered(view)
        naked = [
            (cid, self._deadline(view, cid, p), covered.get(cid, 0), p.size)
            for cid, p in view.positions.items()
            if covered.get(cid, 0) < held(view, p)
        ]
        if not naked:
            detail = "every position has a stop" if view.positions else ""
            return Usage(Decimal(0), Decimal(grace), "s", Decimal(0), detail)
        cid, deadline, n, size = min(naked, key=lambda x: x[1])
        waited = max(grace - int((deadline - now).total_seconds()), 0)
        detail = f"{cid} has no stop" if n == 0 else f"{cid}: stops cover {n} of {size}"
        return Usage(Decimal(waited), Decimal(grace), "s", used(waited, grace), detail)


def _sells_through(o: Order | OrderUpdate, p: Position) -> bool:
    """Whether a stop-limit on the closing side fills once its stop is reached: its limit at
    or past its stop the way the price goes (a long's sell limit at or below its stop). One
    whose limit is on the other side rests, triggered, as a limit beyond the market. A record
    without both prices is judged by its stop, as any stop."""
    if o.limit_price is None or o.stop_price is None:
        return True
    return o.limit_price <= o.stop_price if p.long else o.limit_price >= o.stop_price
