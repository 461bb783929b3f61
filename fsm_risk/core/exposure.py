"""Exposure, defined once: what a scope holds that flattening it would have to remove."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from fsm_risk.core.after_all import came_listed
from fsm_risk.core.events import Event, Fill, OrderType, Side, TradesSnapshot
from fsm_risk.core.instruments import covers
from fsm_risk.core.states import State

if TYPE_CHECKING:
    from fsm_risk.core.models import AccountModel, ContractModel, Order
    from fsm_risk.core.records import Trip


@dataclass
class Behind:
    """An account whose positions and working orders were read after a restart (it
    enforces) before its trades. The rules judging realized P&L wait. A position the gateway
    reports ahead of fills not read yet is taken as it is, and ``owed`` keeps, per contract,
    the fills' running size then (moved by those fills as they are booked) and the gateway's
    size; ``reflect``: the trade ids to book so (see `catch_up`), so that they move
    nothing twice; ``trips``: the round trips open when the account fell behind, from which
    those trades make theirs (a loss made while the service was down is a round trip too);
    ``rest``: per contract, what those of them still to book move it by (the positions read
    hold them: `Settlement.reflected` takes each off as it is booked); ``settled``: its
    balance says what they realized, the rules judge meanwhile (`unread`). Runtime only: a
    restart reads the account again."""

    owed: dict[str, tuple[int, int]] = field(default_factory=dict)
    reflect: set[int] = field(default_factory=set)
    trips: dict[str, Trip] = field(default_factory=dict)
    rest: dict[str, int] = field(default_factory=dict)
    settled: bool = False
    #: the balance listed after the subscription less the stored one and the fills booked
    #: since (None: none listed): what the trades not read yet realized (`core.unjudged`)
    move: Decimal | None = None
    #: per contract, a close of ours in flight when the read confirmed its scope flat: when
    #: it was sent, the side it closes and the contracts it has still to fill (`closed_behind`)
    closing: dict[str, tuple[datetime, Side, int]] = field(default_factory=dict)


@dataclass
class Unjudged:
    """An account whose rules on realized P&L wait for its trades (`core.unjudged`): since
        when, whether they judge meanwhile on its balance's move (``estimating``), and what of that
    move a balance taken since holds (``taken``). Runtime only: a restart waits again."""

    since: datetime
    estimating: bool = False
    #: when a read of its trades first failed (None: none failed yet: a read queued behind
    #: the request budget is no reason to estimate; the grace runs from a failure)
    failed: datetime | None = None
    #: the moves of balances a read confirmed since (taken: in the balance, not the books)
    taken: Decimal = Decimal(0)
    #: restored and not read yet: its stored books wait for the gateway's word (`unread`)
    restored: bool = False
    #: restored flat (no position, no order): exposed since, its positions are read early
    #: (`unread.read_early`: one opened while the service was down is in no books)
    flat: bool = False
    #: its trades read, the list lacked trades already applied (kept from): it waits for a
    #: complete one, and the next periodic read lists them again (`unjudged.kept`), until the
    #: end of that day (None: not kept); an admin's unlock does not end it
    kept: datetime | None = None
    #: the fall of its move already in the week's book (`Book.hidden`, `unjudged.kept`)
    carried: Decimal = Decimal(0)


def note_closing(acct: AccountModel, cm: ContractModel) -> None:
    """A flattening scope confirmed flat by a read that comes before the account's trades:
    the close of ours in flight then is remembered until those trades are booked."""
    if acct.behind is not None and cm.close_sent_at is not None and cm.close_side is not None:
        size = (cm.close_size or cm.close_basis) - cm.close_filled  # (a reduce: its size)
        acct.behind.closing[cm.contract_id] = (cm.close_sent_at, cm.close_side, size)


def closed_behind(acct: AccountModel, ev: Fill, reflected: bool, skew: timedelta) -> bool:
    """A trade read back after the positions (``reflected``: made while the service was down)
    on the side of the close of ours in flight when the read confirmed its scope flat, and
    made since that close was sent: it filled that close (the scope was flattening then), so
    it is ours and no rule sees it, as though it had been heard live; only as many contracts
    as that close was for: a trade after them (the trader's sale of what a reduce left, or of
    what he bought again) is his."""
    closing = None if acct.behind is None or not reflected else acct.behind.closing
    since, side, left = (closing or {}).get(ev.contract_id, (None, None, 0))
    if closing is None or since is None or ev.side is not side or ev.at < since - skew:
        return False
    if left - ev.size > 0:
        closing[ev.contract_id] = (since, side, left - ev.size)
    else:
        del closing[ev.contract_id]  # (that close is filled)
    return True


def exposed(
    acct: AccountModel,
    contract_id: str | None = None,
    target: int = 0,
    *,
    cancel_orders: bool = True,
) -> bool:
    """Whether the account (``contract_id`` None) or one of its contracts (or, named by a
    symbol root, any contract of that root: `instruments.covers`) holds more than ``target``
    contracts, per the gateway's position or per the fills it has not caught up with yet; or
    an order filled whose fills are still on their way; or, when orders are cancelled too, a
    working order of the trader's. Flat means none of these."""

    def here(cid: str) -> bool:
        return contract_id is None or covers(contract_id, cid)

    return (
        any(p.size > target for c, p in acct.positions.items() if here(c))
        or any(acct.open_size(c) > target for c in (*acct.net, *acct.expected) if here(c))
        or any(here(c) for c, _, _ in acct.filling.values())
        or (
            cancel_orders
            and any(
                here(o.contract_id) and o.order_id not in acct.own_orders
                for o in acct.orders.values()
            )
        )
    )


def left_by_lock(acct: AccountModel) -> bool:
    """Exposure an account's lock leaves in place (its sweep closes everything else): the
    positions a lock without flatten tolerates. A flatten verdict must remove them."""
    return any(exposed(acct, cid, cancel_orders=False) for cid in acct.tolerated)


def reduces(acct: AccountModel, o: Order) -> bool:
    """An order that can only reduce an existing position (the trader may always exit): on
    the closing side, and within what is left of the position once the closes ahead of it
    fill (`room`): the market orders first, which fill now, then those of its own kind;
    among them ours first, then the trader's in the order they were placed. Three sells of 3
    against a long 3 are one exit and two orders that would reverse it. A stop and a limit on
    the closing side are not filled by one price (the stop beyond the market on the losing
    side, the limit on the winning one: a bracket's legs, one cancelling the other), so each
    is judged beside its own kind, as `brackets.resized` judges them: a long 3 with a sell
    stop of 3 and a sell target of 3 holds one exit of each (once one fills, the other is
    judged against what is left, and cancelled on sight if it would open). A stop-limit is
    judged beside both kinds: triggered without a fill (the price gapped through its limit)
    it rests as a limit, and one price fills it and a target beside it. A market exit of
    the trader's is judged before his resting stop, which it may leave too large (`shrink`).
    Judged by what each has left to fill against what is still open: an exit partly filled
    still only reduces, and a position its fills already closed (the gateway's record of it
    late) holds nothing to exit. A record ahead of the fills that dropped contracts is
    believed: the drop may be another order's close, beside which the rest of this one would
    reverse the position (an exit partly filled whose own record is late is judged against
    it too: a limit cancelled, a stop cut, the trader placing the rest again)."""
    pos = acct.positions.get(o.contract_id)
    if pos is None or o.side is not pos.closing_side:
        return False
    return unfilled(acct, o) <= room(acct, o)


def room(acct: AccountModel, o: Order, *, markets: bool = True) -> int:
    """What of the position is left for ``o`` on its closing side once the closes ahead of
    it fill (`reduces`): what it may have left to fill and still only reduce (0 or less:
    nothing; 0 too with no position it closes). ``markets`` False: as if the market orders
    working beside it were not there (none of them filled yet)."""
    pos = acct.positions.get(o.contract_id)
    if pos is None or o.side is not pos.closing_side:
        return 0
    held = pos.size - pos.settling  # (fills closed the rest)
    mine = o.order_id in acct.own_orders
    ahead = sum(
        unfilled(acct, p)
        for p in acct.orders.values()
        if p.contract_id == o.contract_id
        and p.side is o.side
        and p.order_id != o.order_id
        and (markets or p.type is not OrderType.MARKET)
        and (
            (p.type is OrderType.MARKET and o.type is not OrderType.MARKET)
            or (
                together(o, p)
                and (
                    (p.order_id in acct.own_orders) > mine
                    or ((p.order_id in acct.own_orders) == mine and _before(p, o))
                )
            )
        )
    )
    return held - ahead


def unfilled(acct: AccountModel, p: Order) -> int:
    """What ``p`` has left to fill (its fills may come ahead of its record)."""
    return max(0, min(p.open, p.size - acct.day.filled(p.order_id)))


def together(o: Order, p: Order) -> bool:
    """Whether ``o`` and ``p`` (one side, one contract) wait for the same prices and so fill
    one after the other (`_before`): two market orders, two stops, two limits, a stop-limit
    and either (triggered, it rests as a limit). A market order fills now, ahead of any
    resting one, whenever either was placed."""
    if o.type is OrderType.MARKET or p.type is OrderType.MARKET:
        return o.type is p.type
    if OrderType.STOP_LIMIT in (o.type, p.type):
        return True  # triggered, a stop-limit rests as a limit: one price fills it and a limit
    return o.type.is_stop is p.type.is_stop


def _before(p: Order, o: Order) -> bool:
    """Whether ``p`` counts ahead of ``o`` (one owner, `together`): a stop-limit ahead of a
    limit beside it (the protection kept, the target cancelled), else the earlier placed."""
    if p.type.is_stop is not o.type.is_stop:
        return p.type.is_stop
    return p.order_id < o.order_id


def closing(acct: AccountModel, o: Order) -> bool:
    """A market order that only reduces a position: it helps a flatten, leave it working."""
    return o.type is OrderType.MARKET and reduces(acct, o)


def fills_coming(acct: AccountModel, contract_id: str) -> bool:
    """Whether an order in this contract was told filled while its fills are still on their
    way (the gateway sends the order's final record ahead of its trades and the position)."""
    return any(c == contract_id for c, _, _ in acct.filling.values())


def fills_owed(acct: AccountModel, contract_id: str) -> bool:
    """Fills on their way (`fills_coming`) and no position heard since ahead of them: until
    they arrive, the position last heard is not what the account holds. (A position ahead of
    its fills is the gateway's newer word, the filled order in it.)"""
    return contract_id not in acct.expected and fills_coming(acct, contract_id)


def closes_working(acct: AccountModel, contract_id: str) -> list[int]:
    """Orders working at the gateway that close this position: ours, and any market order
    that only reduces it (the platform's liquidation, the trader's exit) or goes through it
    (the trader's own reversal, long 5 and sell 7). Another close sent beside them could
    reverse the position once all fill (or take his reversal further)."""
    pos = acct.positions.get(contract_id)
    side = pos.closing_side if pos is not None else None
    return sorted(
        o.order_id
        for o in acct.orders.values()
        if o.contract_id == contract_id
        and (
            o.order_id in acct.own_orders
            or closing(acct, o)
            or (o.type is OrderType.MARKET and o.side is side)
        )
    )


def close_wanted(acct: AccountModel | None, contract_id: str, seq: int) -> bool:
    """Whether the close numbered ``seq`` is still to be sent now that its turn has come (it
    may have waited for the request budget): the one in flight for its contract, which is
    still flattening and over its target by at least what a reduce asks, on the side the
    close was decided for, with no market order closing it working and, for a reduce, no
    fills owed (the trader's own exit working or filled, its trade on its way: both filled,
    they would take it past its target; a new close waits for them too, `pursue`). One judged
    done since (his exit got there first, took part of the excess, or reversed it) or
    replaced by a newer one would close what the trader may hold now: the next is decided
    from what is open then."""
    cm = acct.contracts.get(contract_id) if acct is not None else None
    if cm is None or cm.close_seq != seq or not cm.close_in_flight:
        return False
    assert acct is not None
    pos = acct.positions.get(contract_id)
    if pos is None or pos.closing_side is not cm.close_side or cm.state is not State.Flattening:
        return False
    if closes_working(acct, contract_id) or (cm.target_size and fills_owed(acct, contract_id)):
        return False
    return pos.size - pos.settling - cm.target_size >= max(cm.close_size, 1)


def overshoots(acct: AccountModel, cm: ContractModel) -> Order | None:
    """Our close, still working at the gateway, when the position no longer needs it whole:
    filled, it would take the position past the close's target or reverse it (the trader's
    own exit, or the platform's, got there first; or works beside it: a market order of
    theirs on the same side counts as filled, for both would fill). None: no such order, or
    its cancel is already on its way."""
    o = acct.orders.get(cm.close_order) if cm.close_order is not None else None
    if o is None or o.cancel_sent_at is not None:
        return None
    pos = acct.positions.get(cm.contract_id)
    room = 0
    if pos is not None and o.side is pos.closing_side:
        room = pos.size - pos.settling - cm.target_size - exits_beside(acct, o)
    return o if o.size - cm.close_filled > room else None


def exits_beside(acct: AccountModel, ours: Order) -> int:
    """What the market orders not ours working beside our close ``ours`` (same contract, same
    side, no cancel of ours on its way: a locked account's sweep cancels an exit that would
    reverse it, and keeps ours) will take from the position: the trader's exit (the SDK's
    close_position), the platform's liquidation."""
    return sum(
        o.size
        for o in acct.orders.values()
        if o.contract_id == ours.contract_id
        and o.side is ours.side
        and o.type is OrderType.MARKET
        and o.order_id not in acct.own_orders
        and o.cancel_sent_at is None
    )


def unconfirmed_closes(
    acct: AccountModel, now: datetime, timeout: timedelta, held: dict[tuple[int, str], datetime]
) -> dict[str, datetime]:
    """The account's contracts whose close has gone unconfirmed longer than ``timeout``,
    with since when: a close in flight (waiting for the request budget, or sent and neither
    done nor read back), closes sent one after another with the position still over its
    target (each refused, say: counted from the first, `ContractModel.wanted_since`), or one
    held back by the trader's own exit (``held``: the pursuit's `held_since`). While there is
    one, the account is not enforcing as it should: `status` and /readyz say so."""
    out: dict[str, datetime] = {}
    for cid, cm in acct.contracts.items():
        since = cm.close_sent_at or held.get((acct.account_id, cid))
        if cm.wanted_since is not None and cm.state is State.Flattening:
            since = cm.wanted_since  # (the first of the closes sent one after another)
        if since is not None and now - since > timeout:
            out[cid] = since
    return out


def catch_up(acct: AccountModel, event: Event) -> tuple[Fill, ...]:
    """For the `TradesSnapshot` of an account whose positions were read (and enforced) first:
    its trades, to apply before it. Those not applied yet are in those positions already, so
    each is booked (realized P&L, fees, the day's fills, and the rules see it) without moving
    the running size (see `Ledger.fill`). None for any other event. An account not behind:
    those of its trades never applied that close a position settled without a fill
    (`after_all`)."""
    behind = acct.behind
    if not isinstance(event, TradesSnapshot) or event.until is not None:
        return ()  # (a reset's confirming read books nothing: `firm_reset`)
    if behind is None:
        return came_listed(acct, event)
    behind.settled = False  # the rules wait while they are booked one at a time (`unread`)
    for t in event.trades:
        if t.trade_id not in acct.seen_trades and t.trade_id not in behind.reflect:
            behind.reflect.add(t.trade_id)
            move = t.size if t.side is Side.BUY else -t.size
            behind.rest[t.contract_id] = behind.rest.get(t.contract_id, 0) + move
    # they make their round trips from those open when the account fell behind (the
    # positions taken since hold the trips open now): swapped back by `rebuild_realized`
    behind.trips, acct.trips_open = acct.trips_open, behind.trips
    return event.trades
