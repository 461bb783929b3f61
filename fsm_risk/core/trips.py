"""Round trips (flat to flat) booked fill by fill, and the trader's part of one we closed.

A round trip the service took part in (a reduce, a close: ``enforced``) is judged by the rules
on the trader's own exits from it (``his``: their P&L net of their fees, never a fill of
ours), or not at all when he exited none of it. Our fill closing one that holds exits of his
is shown to the rules for that: his exit sent beside our reduce, sized to leave it the last
contract, would otherwise leave his loss unjudged (the trip judged by its closing fill, ours).
``his`` is kept with the account's state while the trip is open; a closed trip's row does not
hold it: restored, a closed trip the service took part in counts as one he exited none of.
"""

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
) -> bool:
    """Book the fill (``net``: its P&L less its fees; ``own``: not the trader's) in the round
    trip of ``cid`` (``before`` and ``after``: the signed size around it). True when it
    closed one that holds exits of the trader's."""
    trip = acct.trips_open.get(cid)
    if trip is None and before != 0:
        # a position held from before monitoring began: track it from here
        trip = Trip(cid, before > 0, ev.at, size=abs(before))
        acct.trips_open[cid] = trip
    if trip is None:
        trip = Trip(cid, after > 0, ev.at)
        acct.trips_open[cid] = trip
    crosses = after != 0 and before != 0 and (after > 0) != (before > 0)
    # the closing part of a reversal carries the fill's P&L and the fees of the contracts
    # that close; the new trip starts at the fees of those that open it (`closing_fees`)
    opening = ev.fees - closing_fees(ev.fees, abs(before), ev.size) if crosses else ZERO
    if not own and before != 0 and (crosses or abs(after) < abs(before)):  # an exit of his
        trip.his = (trip.his or ZERO) + net + opening
    if after == 0 or crosses:
        trip.net += net + opening
        trip.enforced = trip.enforced or own
        trip.closed_at = ev.at
        if ev.at >= acct.day.start:
            acct.day.trips.append(trip)
            work.new_trips.append((acct.account_id, trip))
        del acct.trips_open[cid]
        if crosses:
            acct.trips_open[cid] = Trip(cid, after > 0, ev.at, net=-opening, size=abs(after))
        return trip.his is not None
    trip.net += net
    trip.size = max(trip.size, abs(after))
    trip.enforced = trip.enforced or own
    return False
