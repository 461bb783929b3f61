"""Settlement: the race between the gateway's position updates and the fills that explain them.

The gateway sends a position update and the trades (fills) that made it on separate streams,
in either order. Either way the engine keeps valuing exactly what is open::

    update first   gateway: pos +2 -> 0  . . . . . . . . . . . . . . . . . . . . .
                   fills:                  . . sell 1 . . . . sell 1 . . . . . . .
                   engine:  expected 0,    net +1,            net 0 = expected:
                            unsettled 2    unsettled 1        agreed
                            (value kept)   (half realized)    (nothing kept)

    fills first    fills:   sell 1 . . . . sell 1 . . . . . . . . . . . . . . . .
                   gateway: . . . . . . . . . . . . . . . . pos +2 -> 0  . . . . .
                   engine:  net +1,        net 0,             agreed
                            settling 1     settling 2         (settling cleared)

The running size is the fills' (``acct.net``); the gateway's word is taken as it comes, and
the difference between the two is one of:

- **expected**: the gateway reported a size the fills have not reached yet (``acct.expected``:
  that size and, when it dropped contracts, a deadline). Fills moving towards it are its fills;
  any other fill, or the deadline, makes the gateway's size final ("settled, forced").
- **unsettled**: what an update dropped before its fills came (``acct.unsettled``: value kept
  and contracts): its open P&L is kept until those fills realize it, so a loss never vanishes
  between the two streams.
- **settling**: the other way round, contracts a fill already closed while the gateway's
  position still shows them (``Position.settling``): no longer valued, no longer open.
- **tolerated**: not part of the race but of a lock without flatten (``acct.tolerated``): the
  signed size an account may keep (and only shrink) while so locked (see `tolerance`).

Settled without a fill: see `settled` (a position the gateway removes with no trade).

The open time: a position a read of the gateway lists (``snapshot``, from
``/Position/searchOpen``) takes the gateway's ``creationTimestamp``, later than the one held
if the position went flat and opened again unseen (while the service was down, say). A live
update may lack it (the SDK fills in one), so it never moves a known open time later. A
position restored from the database is ``stored`` until a read lists it (or the account
resumes after its start-up read): the rules keyed on its open time wait for that read.
"""

from __future__ import annotations

from datetime import datetime

from fsm_risk.core.doubted import doubt, released, unexplained
from fsm_risk.core.effects import Alert, Effect, Level
from fsm_risk.core.events import Fill, PositionUpdate, Side
from fsm_risk.core.models import ZERO, AccountModel, Position, Trip
from fsm_risk.core.own_price import reopened
from fsm_risk.core.reasons import Reason
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.settled import came, paid, stands, take_back, vanished
from fsm_risk.core.tolerance import over, shrink
from fsm_risk.core.uncarried import Uncarried
from fsm_risk.core.valuation import Valuation
from fsm_risk.core.voids import undid
from fsm_risk.core.work import Work


def open_size(pos: Position) -> int:
    """What is open in a position as far as the fills tell: contracts already closed by fills
    the gateway's position does not reflect yet (settling) are not open any more."""
    return pos.size - pos.settling


class Settlement:
    """Applies the gateway's positions against the fills, keeping value across the race."""

    def __init__(self, settings: EngineSettings, valuation: Valuation, work: Work) -> None:
        self.settings = settings
        self.valuation = valuation
        self.work = work
        self.uncarried = Uncarried(valuation)  # (see `uncarried`)

    def position(
        self, acct: AccountModel, ev: PositionUpdate, now: datetime, out: list[Effect]
    ) -> bool:
        """The gateway's position replaces ours. The running size stays fill-driven: a live
        update the fills do not match yet (its fills are still on their way) is remembered as
        expected, and what it dropped keeps its value until those fills realize it. One
        holding more than the fills make with none on its way is held instead (see
        `doubted`). Returns True when a position is open in a contract whose tick size and
        value are unknown."""
        cid = ev.contract_id
        if ev.snapshot and ev.applied is not None:
            applied = ev.applied
            if any(f.contract_id == cid and f.trade_id not in applied for f in acct.day.fills):
                return False  # read before a fill applied since: the live position is newer
            if undid(acct, ev):
                return False  # read before a void applied since: the same (see `voids`)
        reported = ev.signed
        closed = reported == 0
        if not ev.snapshot and unexplained(acct, ev, reported, now):
            doubt(acct, ev, reported, now + self.settings.settle_timeout, out, now)
            return False  # (see `doubted`): the position held stays as it is
        acct.doubted.pop(cid, None)  # a newer record, or a read: the gateway's word
        acct.undone.pop(cid, None)
        net = acct.net.get(cid, 0)
        old = acct.positions.get(cid)
        old_value = old.upnl if old is not None else ZERO
        if old is not None:
            acct.open_upnl -= old.upnl
        new_value = ZERO
        if closed:
            acct.positions.pop(cid, None)
            over(acct, cid)
            self.valuation.unhold(acct, cid, out)
        else:
            pos = Position(cid, reported > 0, ev.size, ev.average_price, ev.opened_at)
            if old is not None and old.long == pos.long and not ev.snapshot:
                pos.opened_at = min(old.opened_at, ev.opened_at)  # see "open time" above
                pos.stored = old.stored
            acct.positions[cid] = pos
            tol = acct.tolerated.get(cid)
            if tol is not None:
                if (tol > 0) != pos.long:
                    over(acct, cid)
                else:
                    acct.tolerated[cid] = (1 if pos.long else -1) * min(abs(tol), pos.size)
            grown = old is not None and (
                old.long != pos.long
                or pos.size > old.size
                or reopened(old, pos, self.valuation.last_mark(cid))
            )
            # (one kept off a saved price stays so, and one grown since it: `own_price`)
            pos.waiting = (old is not None and old.waiting) or (
                grown and cid in self.valuation.saved
            )
            # (an old one unpriced was not valued at a saved mark: nor is what is left of it)
            grown = grown or (old is not None and not old.priced)
            known = self.valuation.unwatched(acct, cid, grown)
            self.valuation.hold(acct, cid, out)
            if known:
                self.valuation.revalue(acct, pos)
            new_value = pos.upnl
        if reported == net or ev.snapshot:
            self.settle(acct, cid, reported, now, out, forced=reported != net)
            if ev.snapshot and ev.applied is not None and reported != net:
                vanished(acct, cid, net - reported, now, out)
        else:
            deadline = None
            dropped = abs(net) - abs(reported) if (reported >= 0) == (net > 0) else abs(net)
            if dropped > 0 and old is not None:
                # closed at the gateway before its fills reached us: keep their value until
                # the fills realize it, or until the timeout says they are not coming
                amount, n = acct.unsettled.get(cid, (ZERO, 0))
                acct.unsettled[cid] = (amount + old_value - new_value, n + dropped)
                acct.open_upnl += old_value - new_value
                deadline = now + self.settings.settle_timeout
            acct.expected[cid] = (reported, deadline)
        return not closed and self.valuation.instruments.get(cid) is None

    def settle(
        self,
        acct: AccountModel,
        cid: str,
        reported: int,
        now: datetime,
        out: list[Effect],
        *,
        forced: bool,
    ) -> None:
        """The fills and the gateway agree on ``cid`` (or the gateway's word is final)."""
        self.agreed(acct, cid)
        net = acct.net.get(cid, 0)
        if forced and net != reported and acct.behind is not None:
            # the trades are not read yet: those missing are in this position already (they
            # will be booked without moving the running size, see `Ledger.fill`)
            owed = acct.behind.owed
            owed[cid] = (owed.get(cid, (net, reported))[0], reported)
        elif forced and net != reported:
            out.append(
                Alert(
                    Level.WARNING,
                    Reason.POSITION_WITHOUT_FILLS,
                    f"{cid}: the gateway reports {reported:+d}, the fills seen make {net:+d}; "
                    "taking the gateway's position",
                    acct.account_id,
                    cid,
                )
            )
        if forced and net != reported:
            trip = acct.trips_open.get(cid)
            if trip is not None and (reported == 0 or (reported > 0) != trip.long):
                del acct.trips_open[cid]  # its close was never seen: it cannot be judged
            if reported != 0 and cid not in acct.trips_open:
                acct.trips_open[cid] = Trip(cid, reported > 0, now, size=abs(reported))
        acct.net[cid] = reported

    def before_fill(self, acct: AccountModel, cid: str, delta: int, at: datetime) -> int:
        """The running size a fill of ``delta`` is booked against: the fills' (after
        `expected_fill`), or, for a fill closing a position settled without one (flat since),
        that position: the fill came after all (`realize` replaces the settlement's part)."""
        self.expected_fill(acct, cid, delta, at)
        net = acct.net.get(cid, 0)
        settled = acct.settled.get(cid)
        if settled is not None:
            if net == 0 and (settled[0] > 0) != (delta > 0):
                return settled[0]
            stands(acct, cid)  # anything else is a new position: the settlement stands
        return (came(acct, cid, delta) if net == 0 else 0) or net

    def reflected(self, acct: AccountModel, ev: Fill, before: int, out: list[Effect]) -> int:
        """The running size a trade a restart reads after the positions (which reflect it,
        see `exposure.catch_up`) is booked against: ``before``, or for one closing a position
        settled without a fill, that position (it came after all: `take_back`)."""
        cid, delta = ev.contract_id, ev.size if ev.side is Side.BUY else -ev.size
        if acct.behind is not None:  # (booked: the positions read no longer hold it ahead)
            acct.behind.rest[cid] = acct.behind.rest.get(cid, 0) - delta
        done = acct.settled.get(cid)
        if done is not None and (done[0] > 0) != (delta > 0):
            take_back(acct, cid, ev.size, paid(ev), out)
            return before or done[0]
        came(acct, cid, delta)
        return before

    def expected_fill(self, acct: AccountModel, cid: str, delta: int, at: datetime) -> None:
        """A fill of ``delta`` arrives while a gateway size is expected: if it is not one of
        the fills that size was waiting for, that size came without fills (or they were
        missed), so take it before the fill is classified."""
        expected = acct.expected.get(cid)
        if expected is not None:
            gap = expected[0] - acct.net.get(cid, 0)
            if not (gap and (gap > 0) == (delta > 0) and abs(delta) <= abs(gap)):
                self.settle(acct, cid, expected[0], at, [], forced=False)

    def realize(
        self, acct: AccountModel, ev: Fill, before: int, after: int, exit_: int, out: list[Effect]
    ) -> None:
        """A fill closed ``exit_`` contracts: their P&L is realized now, so stop valuing them
        (the gateway's position update may come later) or release the value kept for them
        (it came earlier). A late fill of a settled position replaces its settlement."""
        cid = ev.contract_id
        if cid in acct.settled:  # (kept by `before_fill` for such a fill only): came after all
            take_back(acct, cid, exit_, paid(ev), out)
            acct.net[cid] = after if (after > 0) != (before > 0) else 0  # (what it opened)
            return
        if exit_:
            pos = acct.positions.get(cid)
            if pos is not None and pos.long == (before > 0):
                remaining = max(abs(before) - exit_, 0) if (after > 0) == (before > 0) else 0
                self._set_settling(acct, pos, min(max(pos.size - remaining, 0), pos.size))
            kept = acct.unsettled.get(cid)
            if kept is not None:
                amount, n = kept
                k = min(exit_, n)
                part = amount if k >= n else amount * k / n
                acct.open_upnl -= part
                if n - k > 0:
                    acct.unsettled[cid] = (amount - part, n - k)
                else:
                    del acct.unsettled[cid]
        expected = acct.expected.get(cid)
        if expected is not None and expected[0] == after:
            self.agreed(acct, cid)

    @staticmethod
    def shrink(acct: AccountModel, ev: Fill, after: int, reflected: bool) -> None:
        """A lock without flatten's tolerance of the fill's contract, once it is booked: it
        only shrinks, and ends flat or past flat, the fills taken as made (`tolerance`)."""
        shrink(acct, ev, after, reflected)

    @staticmethod
    def released(acct: AccountModel, now: datetime, out: list[Effect]) -> list[PositionUpdate]:
        """Records held as doubted that a fill has explained since, or that no read confirmed
        in time: the engine handles each as the position update it is (see `doubted`)."""
        return released(acct, now, out)

    @staticmethod
    def read_back(acct: AccountModel) -> None:
        """The account's start-up read is applied (see `RiskEngine.resume`): what it did not
        list is closed and what live events made since is newer, so no position waits for it."""
        for pos in acct.positions.values():
            pos.stored = False

    def agreed(self, acct: AccountModel, cid: str) -> None:
        """Fills and the gateway's position agree: nothing is expected or kept any more, and
        the gateway's position is valued whole."""
        acct.expected.pop(cid, None)
        kept = acct.unsettled.pop(cid, None)
        if kept is not None:
            acct.open_upnl -= kept[0]
        pos = acct.positions.get(cid)
        if pos is not None:
            self._set_settling(acct, pos, 0)

    def _set_settling(self, acct: AccountModel, pos: Position, settling: int) -> None:
        if settling != pos.settling:
            pos.settling = settling
            pos.point_value = None
            if pos.priced:  # (one waiting for a quote waits: a mark saved before it is no price)
                self.valuation.revalue(acct, pos)

    def expire(self, acct: AccountModel, now: datetime, out: list[Effect]) -> None:
        """Waits that timed out: fills announced by a final order event that never came (the
        positions will tell), and expected sizes whose fills never came (taken as final). What
        such a size dropped went without a fill: settled (or reset) at the gateway, it is found
        gone as a read finds it (`vanished`), and the read asked for books it, however late."""
        for oid, (_, _, wait_until) in list(acct.filling.items()):
            if now >= wait_until:
                del acct.filling[oid]  # its fills are not coming: positions will tell
                self.work.dirty.add(acct.account_id)
        for cid, (reported, deadline) in list(acct.expected.items()):
            if deadline is not None and now >= deadline:
                net = acct.net.get(cid, 0)
                self.settle(acct, cid, reported, now, out, forced=True)
                if acct.behind is None:  # (behind: its trades are read next, see `settle`)
                    vanished(acct, cid, net - reported, now, out, live=True)
                self.work.dirty.add(acct.account_id)
