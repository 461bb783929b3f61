"""The trader's protective orders around a reduce of ours.

A trader long 5 with a sell stop of 5 (and a take-profit of 5) who is reduced to 3 keeps
orders of 5 at the gateway, which does not resize them when the position shrinks: the stop,
reached, would sell 5 and leave the account short 2, a position our reduce made. So after our
reduce no order of the trader's on the closing side may take the account further past flat
than it could before: each is cut by what the reduce takes, never below what remains (nor
above its own size), in the same batch as the reduce (still protecting the 3: cancelled, they
would be naked). An exit sized for what the trader's working entries will add (a bracket of
7 on an entry of 7 filled 4, reduced to 3: 3 held and 3 to come) goes to what remains plus
them (6); one larger still keeps its excess over the position (a stop of 7 beside a long 5,
reduced to 3, goes to 5); one that fits what remains is left alone, and so are orders on the
opening side. An exit in parts (two stops of 2 and 3 beside a long 5) is cut the same way
together, each part fitting alone (see `resized`). A bracket child
still suspended counts too: the gateway may report the entry's fill before it makes the
children live. An exit the trader places or changes while the reduce works is judged the
same way as soon as it is seen (`late`). The resize holds only while its reduce is on its
way or done: a reduce that ends without reducing as far as it meant gives the orders back
(`restore`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fsm_risk.core.effects import Alert, CancelOrder, Effect, Level, ResizeOrder
from fsm_risk.core.events import EnforcementRejected, OrderType, Side
from fsm_risk.core.exposure import closes_working, fills_coming
from fsm_risk.core.models import AccountModel, ContractModel, Order, Position
from fsm_risk.core.reasons import Reason
from fsm_risk.core.settings import REFUSAL_RETRY
from fsm_risk.core.settlement import open_size
from fsm_risk.core.states import State


def label(o: Order) -> str:
    """What the order is, in words: ``sell stop``, ``buy limit``, ``sell trailing stop``."""
    return f"{o.side.name.lower()} {o.type.name.lower().replace('_', ' ')}"


def resized(
    acct: AccountModel,
    cm: ContractModel,
    pos: Position,
    now: datetime,
    judged: dict[int, int] | None = None,
) -> list[ResizeOrder | CancelOrder]:
    """The resizes to send with a reduce of ``pos`` to ``cm.target_size`` (with a close of
    everything, the cancels of its exits: `_flat`). The trader's exits are judged in two
    groups, the stops and the limits (a bracket's stop and target are one of each, and only
    one of them fills), each judged by what it has left to fill (`_kept`): each order is cut
    by what the reduce takes, never below what remains; and each group together the same way
    (a stop of 2 and a stop of 3 beside a long 5, an exit in two parts, go to 3 together),
    the order that fills last giving first (a part left with nothing is cancelled). An order
    whose resize is on its way counts at the size asked, so the next reduce resizes only what
    is still over its own target. ``judged``: the size each order was last judged at for
    this reduce, left as they are (a refused resize is not sent again), and the exits judged
    now added to it."""
    target, before = cm.target_size, cm.close_basis or open_size(pos)
    taken = max(0, before - target)
    for o in acct.orders.values():
        o.expire(now)
    exits = [
        o
        for o in acct.orders.values()
        if o.contract_id == cm.contract_id
        and o.side is pos.closing_side
        and o.order_id not in acct.own_orders
        and o.cancel_sent_at is None
        and o.type is not OrderType.MARKET
    ]
    if target <= 0:
        return _flat(acct, cm, exits, now)
    out: list[ResizeOrder | CancelOrder] = []
    for stops in (True, False):
        group = sorted((o for o in exits if o.type.is_stop is stops), key=_fills_later)
        asked = {o.order_id: _left(o) for o in group}  # (what each has left to fill)
        # one we cut already for this reduce is judged from its size before (cut by the
        # whole reduce once, not again by each of its parts: long 5 with a stop of 7 cut to
        # 5 for a reduce to 3 that filled 1 of 2, the next reduce of 1 keeps it at 5)
        base = {o.order_id: _before(o, target, asked[o.order_id], taken) for o in group}
        new = {i: min(asked[i], _kept(n, target, t)) for i, (n, t) in base.items()}
        together = max((t for _, t in base.values()), default=taken)
        whole = _kept(sum(n for n, _ in base.values()), target, together)
        excess = sum(new.values()) - min(sum(asked.values()), whole)
        for o in group:  # together too: what fills last gives first
            cut = max(0, min(excess, new[o.order_id]))
            new[o.order_id] -= cut
            excess -= cut
        for o in sorted(group, key=lambda o: o.order_id):
            keep = new[o.order_id]
            if keep == asked[o.order_id] or (
                judged is not None and judged.get(o.order_id) == o.size
            ):
                continue
            if keep == 0:
                out.append(o.cancel(acct.account_id, _WHY, now))
                continue
            # the gateway reads a modify's size as the order's total: what filled, and the
            # part kept (a limit of 4 filled 2, cut to 1 left, is sent 3, never 1)
            size, was = o.fill_volume + keep, o.size if o.resize_to is None else o.resize_to
            o.ask(size, now)
            if o.resized_from is None:  # (its size before the first of our resizes)
                o.resized_from, o.resized_basis = was, before
            out.append(
                ResizeOrder(
                    acct.account_id,
                    o.order_id,
                    o.contract_id,
                    size,
                    was,
                    label(o),
                    cm.rule_id,
                    _WHY,
                    o.fill_volume,
                )
            )
    if judged is not None:
        judged.update((o.order_id, o.size) for o in exits)
    return out


def _flat(
    acct: AccountModel, cm: ContractModel, exits: list[Order], now: datetime
) -> list[ResizeOrder | CancelOrder]:
    """With a close of everything (a reduce to 0, a lock's close), every exit of the trader's
    on the closing side is cancelled, right after the close: once flat, each would open a
    position (short 3 with a bracket's buy stop and buy target of 3, closed: either, filled,
    leaves him long 3). None with a flatten that cancels the orders itself
    (``cancel_orders``), nor with the close of what a close of ours opened (`overshot`): the
    orders on its closing side are the trader's entries, not exits of his."""
    if cm.cancel_orders or cm.reason is Reason.CLOSE_OVERSHOT:
        return []
    return [o.cancel(acct.account_id, _WHY, now) for o in sorted(exits, key=lambda o: o.order_id)]


def late(
    acct: AccountModel,
    cm: ContractModel,
    judged: dict[int, int],
    now: datetime,
    out: list[Effect],
) -> None:
    """The trader's exits placed (or changed) while our reduce is on its way are judged as
    those working when it went (`resized`): long 5 reduced to 3, a sell stop of 5 placed
    while the reduce works is cut to 3 at once, or it would sell 5 once reached and leave
    the account short 2; with a close of everything, an exit placed meanwhile is cancelled
    (`_flat`): once flat it would open a position. An order is judged again once seen at
    another size (``judged``)."""
    pos = acct.positions.get(cm.contract_id)
    if pos is None or cm.close_side is not pos.closing_side or cm.state is not State.Flattening:
        return
    out.extend(resized(acct, cm, pos, now, judged))


_WHY = Reason.ORDER_RESIZED


def restore(acct: AccountModel, now: datetime, out: list[Effect]) -> None:
    """Give back what our resizes took from the trader's orders once the reduce they were
    for is no longer on its way and did not reduce as far as it meant (refused, cancelled or
    rejected unfilled, filled in part): long 5 with the stop resized to 3 and the reduce
    refused, the stop would leave 2 contracts without it. Each order we shrank goes back up
    as `resized` would have cut it for what the reduce did take (`_kept`, from the position
    it was cut against): to what the position holds, and an exit sized beyond it (for the
    trader's entries still working, or larger by his choice) that excess again, never above
    its own size before our resize; an exit in parts the same together, the part that fills
    last getting back last. Judged
    only once no resize of ours in the contract is on its way (a refusal may be heard before
    the resize is in place, and a request sent after it could arrive first), and no close
    works there nor fills are still to come (the position is about to shrink). The memory of
    the sizes goes once nothing is left to give back (the reduce done, or the sizes given back
    in place): a reduce sent again resizes them again (`resized`)."""
    for o in acct.orders.values():
        o.expire(now)
    for cid in sorted({o.contract_id for o in acct.orders.values() if o.resized_from}):
        cm = acct.contracts.get(cid)
        mine = [
            o
            for o in acct.orders.values()
            if o.contract_id == cid and o.order_id not in acct.own_orders
        ]
        if (
            (cm is not None and cm.close_in_flight)
            or closes_working(acct, cid)  # (ours, or a market exit: the position will shrink)
            or fills_coming(acct, cid)
            or any(o.resize_to is not None for o in mine)
        ):
            continue  # in force while its reduce is on its way; judged once the gateway says
        pos = acct.positions.get(cid)
        held = open_size(pos) if pos is not None else 0
        given: list[str] = []
        for stops in (True, False):
            group = sorted(
                (
                    o
                    for o in mine
                    if pos is not None
                    and o.side is pos.closing_side
                    and o.cancel_sent_at is None
                    and o.type is not OrderType.MARKET
                    and o.type.is_stop is stops
                ),
                key=_fills_later,
            )
            asked = {o.order_id: max(0, (o.resized_from or o.size) - o.fill_volume) for o in group}
            # what the reduce took of the position each was cut against (None: not known, a
            # size stored before it was: given back up to what is held, no further)
            basis = max((o.resized_basis or 0 for o in group if o.resized_from), default=0)
            taken = max(0, basis - held) if basis else None
            want = {i: _kept(n, held, taken) for i, n in asked.items()}
            excess = sum(want.values()) - _kept(sum(asked.values()), held, taken)
            for o in group:  # as when they were cut: what fills last gives first
                cut = max(0, min(excess, want[o.order_id]))
                want[o.order_id] -= cut
                excess -= cut
            for o in sorted(group, key=lambda o: o.order_id):
                size = o.fill_volume + want[o.order_id]  # (a total, as in `resized`)
                if o.resized_from is None or size <= o.size:
                    continue
                o.ask(size, now)
                rule = cm.rule_id if cm is not None else None
                out.append(
                    ResizeOrder(
                        acct.account_id,
                        o.order_id,
                        cid,
                        size,
                        o.size,
                        label(o),
                        rule,
                        Reason.ORDER_RESTORED,
                        o.fill_volume,
                    )
                )
                given.append(f"{label(o)} order {o.order_id} {o.size} -> {size}")
        if not given:  # (kept while a size given back is on its way: a restart sends it again)
            for o in mine:
                o.resized_from = None
        else:
            if cm is not None and cm.retry_at is not None:
                # the reduce sent again resizes the orders again: a second after this, not
                # with it (the gateway could take two resizes sent together in either order)
                cm.retry_at = max(cm.retry_at, now + REFUSAL_RETRY)
            out.append(
                Alert(
                    Level.WARNING,
                    Reason.ORDER_RESTORED,
                    f"our reduce of {cid} ended with {held} held: the orders resized for it "
                    f"are given back ({'; '.join(given)})",
                    acct.account_id,
                    cid,
                )
            )


def _kept(n: int, left: int, taken: int | None) -> int:
    """What an exit with ``n`` left to fill keeps once a reduce takes ``taken`` contracts and
    leaves ``left``: cut by what it took, never below what is left, never above ``n``. It can
    then take the account no further past flat than before (long 5 with a stop of 7, reduced
    to 3: 5, 2 past flat either way), and an exit sized for the trader's working entries too
    keeps them (an entry of 7 filled 4 and its bracket of 7, reduced to 3: 6, for the 3 held
    and the 3 to come). ``taken`` None: not known, never above what is left."""
    return min(n, left) if taken is None else min(n, max(left, n - taken))


def _before(o: Order, target: int, left: int, taken: int) -> tuple[int, int]:
    """What ``o`` had left to fill before our cuts for the reduce to ``target`` and what that
    reduce takes of the position it was cut against; ``left`` and ``taken`` for one not cut."""
    if o.resized_from is None or o.resized_basis is None:
        return left, taken
    return max(0, o.resized_from - o.fill_volume), max(0, o.resized_basis - target)


def _left(o: Order) -> int:
    """What the order has left to fill at the size last asked of it (a resize of ours on its
    way, else its own): its size is its total, what filled already included."""
    return max(0, (o.size if o.resize_to is None else o.resize_to) - o.fill_volume)


def _fills_later(o: Order) -> tuple[bool, Decimal, int]:
    """Sorts an exit group from the order that fills last (the farthest from the price: a
    sell stop's lowest price, a sell limit's highest) to the first; unpriced first, then the
    latest placed."""
    price = o.stop_price if o.type.is_stop else o.limit_price
    if price is None:
        return (False, Decimal(0), -o.order_id)
    return (True, price if (o.side is Side.SELL) is o.type.is_stop else -price, -o.order_id)


def refused(acct: AccountModel, ev: EnforcementRejected, out: list[Effect]) -> bool:
    """The gateway refused a resize of ours (True; False: the refusal is of something else).
    It is not re-sent: the trader is told which order to resize or cancel. Refused because
    the order is done or already small enough, it is a race lost, said as such."""
    if ev.resize is None or ev.order_id is None:
        return False
    o = acct.orders.get(ev.order_id)
    if o is not None:
        o.unask(ev.resize)  # not on its way any more
    where = ev.contract_id or (o.contract_id if o is not None else "?")
    back = ev.was is not None and ev.resize > ev.was  # the order given back (`restore`)
    if ev.overtaken or o is None or (o.size >= ev.resize if back else o.size <= ev.resize):
        out.append(
            Alert(
                Level.INFO,
                Reason.OVERTAKEN,
                f"resize of order {ev.order_id} in {where} to {ev.resize} not needed: the "
                f"order is done or no larger at the gateway ({ev.message})",
                acct.account_id,
                ev.contract_id,
            )
        )
        return True
    pos = acct.positions.get(o.contract_id)
    held = pos.size if pos is not None else 0
    if back:
        o.resized_from = None  # not given back again: the trader is told
        out.append(
            Alert(
                Level.CRITICAL,
                Reason.CLOSE_REJECTED,
                f"{label(o)} order {o.order_id} in {where} ({o.size} contracts) could not be "
                f"resized back to {ev.resize} ({ev.message}): {held} held; resize it to "
                f"{ev.resize} at the platform, or filled it leaves {held - o.size} without it",
                acct.account_id,
                ev.contract_id,
            )
        )
        return True
    out.append(
        Alert(
            Level.CRITICAL,
            Reason.CLOSE_REJECTED,
            f"{label(o)} order {o.order_id} in {where} ({o.size} contracts) could not be "
            f"resized to {ev.resize} ({ev.message}): {held} held; resize it to {ev.resize} or "
            f"cancel it at the platform, or filled whole it reverses the position",
            acct.account_id,
            ev.contract_id,
        )
    )
    return True
