"""The trader's own market exits, as the position limits (RULE-001, RULE-002) count them.

A market order fills within milliseconds where the market trades: one the trader sent to leave
a position (his roll: the old month sold, the new bought, the buy filled first) takes that
position off at once, and counting it as still held would cut what he keeps at his cost (the
root below its limit). One still working after `YOUNG` is not filling (a halted market, an
order the gateway parks): from then on the position counts whole and the excess is cut largest
first, where it can be cut, rather than left over the limit behind his order. One reported
filled takes off what its fills still to come take (they follow the order's event).

How long an exit has worked is measured on the service's clock from when an order update first
showed it (the gateway's stamp may be minutes off): the rule remembers it (``observe``) and is
woken when it ages (``deadline``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fsm_risk.core.events import Event, OrderType, Side
from fsm_risk.core.models import Position
from fsm_risk.rules.base import AccountView, held

#: how long a working market exit of the trader's counts as taking its contracts off: far more
#: than a market order takes to fill and be reported, far less than a close timeout
YOUNG = timedelta(seconds=3)


def observe(memo: dict[str, Any], view: AccountView, event: Event, now: datetime) -> bool:
    """Remember when each working market order of the trader's was first seen, and its side;
    forget it once neither working nor waiting for its fills. Returns whether memory changed."""
    seen: dict[str, list[Any]] = memo.setdefault("exits", {})
    working = {
        str(i): o
        for i, o in view.orders.items()
        if o.type is OrderType.MARKET and i not in view.own_orders
    }
    changed = False
    for oid, o in sorted(working.items()):
        if oid not in seen:
            # a new exit replacing one still known on the same contract and side (sent
            # before the old one is cancelled) is as old as it: re-sending is not filling
            ages = [
                datetime.fromisoformat(at)
                for k, (at, side) in seen.items()
                if side == int(o.side) and _contract(view, k) == o.contract_id
            ]
            seen[oid] = [min([now, *ages]).isoformat(), int(o.side)]
            changed = True
    for oid in [k for k in seen if k not in working and int(k) not in view.filling]:
        del seen[oid]
        changed = True
    return changed


def _contract(view: AccountView, oid: str) -> str | None:
    o = view.orders.get(int(oid))
    if o is not None:
        return o.contract_id
    filling = view.filling.get(int(oid))
    return None if filling is None else filling[0]


def _working(view: AccountView, p: Position, memo: dict[str, Any] | None) -> list[datetime]:
    """When each market exit of his working on ``p``'s closing side was first seen."""
    return [
        datetime.fromisoformat(at)
        for oid, (at, side) in (memo or {}).get("exits", {}).items()
        if (o := view.orders.get(int(oid))) is not None
        and o.contract_id == p.contract_id
        and Side(side) is p.closing_side
    ]


def waiting(view: AccountView, p: Position, now: datetime, memo: dict[str, Any] | None) -> bool:
    """Whether a market exit of his on ``p``'s closing side works past `YOUNG`: not filling
    (a halted market), and our close of ``p`` waits behind it: the position cannot be cut."""
    return any(now >= at + YOUNG for at in _working(view, p, memo))


def exiting(view: AccountView, p: Position, memo: dict[str, Any] | None) -> bool:
    """Whether a market exit of his works on ``p``'s closing side, whatever its age."""
    return bool(_working(view, p, memo))


def left(view: AccountView, p: Position, now: datetime, memo: dict[str, Any] | None) -> int:
    """What ``p`` holds once the reduce of ours on its way is done (`held`) or, with none on
    its way, once the trader's market exits on its closing side fill: those working while
    young, and the fills still to come of those reported filled (a reversal counts for what
    the position holds)."""
    if view.reducing_to(p.contract_id) is not None:
        return held(view, p)  # (our target is the final size: his exit holds our close back)
    size = p.size - p.settling  # (what fills closed already is no longer open)
    leaving = 0
    for oid, (at, side) in (memo or {}).get("exits", {}).items():
        if Side(side) is not p.closing_side:
            continue
        o = view.orders.get(int(oid))
        filling = view.filling.get(int(oid))
        if o is not None and o.contract_id == p.contract_id:
            leaving += o.open if now < datetime.fromisoformat(at) + YOUNG else 0
        elif o is None and filling is not None and filling[0] == p.contract_id:
            # (not once the gateway's position is heard ahead of them: it holds them)
            leaving += 0 if p.contract_id in view.expected else filling[1]
    return max(0, size - leaving)


def deadline(memo: dict[str, Any] | None, now: datetime) -> datetime | None:
    """When the next young exit ages (the rule judges the account again then)."""
    seen = (memo or {}).get("exits", {})
    times = [t for t in (datetime.fromisoformat(v[0]) + YOUNG for v in seen.values()) if t > now]
    return min(times, default=None)
