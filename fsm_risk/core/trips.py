"""Round trips (flat to flat), booked fill by fill."""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.core.events import Fill
from fsm_risk.core.models import ZERO, AccountModel, Trip
from fsm_risk.core.pnl import closing_fees
from fsm_risk.core.work import Work


def booked(
    acct: AccountModel,
    cid: str,
    before: int,
    after: int,
    ev: Fill,
    net: Decimal,
    own: bool,
    work: Work,
) -> None:
    """Book the fill (``net``: its P&L less its fees; ``own``: not the trader's) in the round
    trip of ``cid`` (``before`` and ``after``: the signed size around it)."""
    trip = acct.trips_open.get(cid)
    if trip is None and before != 0:
        # a position held from before monitoring began: track it from here
        trip = Trip(cid, before > 0, ev.at, size=abs(before))
        acct.trips_open[cid] = trip
    if trip is None:
        trip = Trip(cid, after > 0, ev.at)
        acct.trips_open[cid] = trip
    crosses = after != 0 and before != 0 and (after > 0) != (before > 0)
    if after == 0 or crosses:
        # the closing part of a reversal carries the fill's P&L and the fees of the contracts
        # that close; the new trip starts at the fees of those that open it (`closing_fees`)
        opening = ev.fees - closing_fees(ev.fees, abs(before), ev.size) if crosses else ZERO
        trip.net += net + opening
        trip.enforced = trip.enforced or own
        trip.closed_at = ev.at
        if ev.at >= acct.day.start:
            acct.day.trips.append(trip)
            work.new_trips.append((acct.account_id, trip))
        del acct.trips_open[cid]
        if crosses:
            acct.trips_open[cid] = Trip(cid, after > 0, ev.at, net=-opening, size=abs(after))
    else:
        trip.net += net
        trip.size = max(trip.size, abs(after))
        trip.enforced = trip.enforced or own
