"""The ledger: balance, working orders, fills, round trips, and realized P&L rebuilt."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from fsm_risk.core.doubted import not_listed, undone
from fsm_risk.core.effects import Alert, Effect, Level, ReadBalance
from fsm_risk.core.events import (
    AccountUpdate,
    Event,
    Fill,
    Listing,
    OrderStatus,
    PositionType,
    PositionUpdate,
    Side,
    TradesSnapshot,
)
from fsm_risk.core.events import OrderUpdate as OrderEvent
from fsm_risk.core.exits import CENT, Computed
from fsm_risk.core.explained import explain, short
from fsm_risk.core.exposure import closed_behind
from fsm_risk.core.final import FINAL, FinalOrders
from fsm_risk.core.firm_reset import again, checked
from fsm_risk.core.hidden import forget, unheld
from fsm_risk.core.models import ZERO, AccountModel, FillRecord, Order
from fsm_risk.core.pnl import realized_net
from fsm_risk.core.pursuit import Pursuit
from fsm_risk.core.reasons import Reason
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.settled import confirmed, judge
from fsm_risk.core.settlement import Settlement
from fsm_risk.core.states import State
from fsm_risk.core.theirs import TraderOrders
from fsm_risk.core.trips import booked
from fsm_risk.core.unjudged import kept, released
from fsm_risk.core.unread import behind_from, contradicted, first_listed, trades_read, waiting
from fsm_risk.core.voids import listed as listed_voided
from fsm_risk.core.voids import older, void
from fsm_risk.core.wiped import held, told, wiped
from fsm_risk.core.work import Work

#: how far the gateway's clock may be behind ours: a fill of our close is stamped after the
#: decision to close, give or take this
CLOCK_SKEW = timedelta(seconds=5)


def unlisted(acct: AccountModel, listing: Listing, now: datetime) -> list[Event]:
    """The reconciliation's difference, as the gateway events it stands for: a position the
    account held when the read began, and holds still, that the read did not list is closed;
    an order working then and still that it did not list has ended (cancelled). What arrived
    live meanwhile is newer than the read and is left alone. A ``behind`` listing (positions
    and orders read before the trades) leaves the account behind until its trades come."""
    not_listed(acct, listing.positions, listing.began)  # (its positions settled the rest)
    if not listing.balance:
        acct.unbooked = None  # an older read's move (see `Listing.balance`): none of this read's
    if listing.behind and acct.behind is None:
        acct.behind = behind_from(acct, listing)  # (settled by its balance? `unread`)
        first_listed(acct, now)  # (a restored account's wait handed over to it)
    out: list[Event] = []
    still = set(acct.positions) | {c for c, n in acct.net.items() if n}
    for cid in sorted((listing.positions_before & still) - listing.positions):
        held = acct.positions.get(cid)
        price = held.average_price if held is not None else ZERO
        out.append(
            PositionUpdate(
                acct.account_id,
                cid,
                PositionType.LONG,
                0,
                price,
                now,
                snapshot=True,
                applied=listing.applied,
            )
        )
    for oid in sorted((listing.orders_before & set(acct.orders)) - listing.orders):
        o = acct.orders[oid]
        if listing.periodic and o.status is OrderStatus.SUSPENDED:
            continue  # open-order searches leave suspended bracket children out
        out.append(
            OrderEvent(
                acct.account_id,
                oid,
                o.contract_id,
                OrderStatus.CANCELLED,
                o.type,
                o.side,
                o.size,
                o.created_at,
                unlisted=True,
            )
        )
    return out


class Ledger:
    """The broker's view of an account, from its events: each fill classified as the
    trader's, the service's own (enforcement) or the platform's, and booked once."""

    def __init__(
        self, settings: EngineSettings, settlement: Settlement, pursuit: Pursuit, work: Work
    ) -> None:
        self.settings = settings
        self.settlement = settlement
        self.pursuit = pursuit
        self.work = work
        self.final, self.theirs = FinalOrders(), TraderOrders(pursuit.sent)  # (runtime)
        self.computed = Computed(settlement.valuation.instruments)  # see `exits`

    def account(
        self, acct: AccountModel, ev: AccountUpdate, now: datetime, out: list[Effect]
    ) -> None:
        """Take the gateway's balance. One read back (``applied``) and not older than the
        fills applied is the truth. A live one is taken when the fills since the balance last
        taken explain its move (to the cent); a move they do not explain (a record replayed or
        stale, a trade record late or lost) is doubtful both ways: the balance taken stays
        (equity is that balance plus the fills' P&L since), the move is ``unexplained``, and
        a read of the balance is asked for at once to confirm it."""
        acct.unbooked = None  # (a read's confirmed move is the read's: see `Settlement.vanished`)
        if ev.applied is not None and any(i not in ev.applied for i in acct.seen_trades):
            return  # read before a fill applied since: older than what we have
        if older(acct, ev):
            return  # read before a void applied since: the same (see `voids`)
        if ev.name:
            acct.name = ev.name
        acct.can_trade = ev.can_trade
        move = ZERO
        if acct.balance is not None:
            move = ev.balance - acct.balance - acct.pending_realized
        if ev.applied is not None:  # confirmed: taken whatever moved it (see `confirmed`)
            contradicted(acct, move)  # (a settled account's books wait for its trades again)
            unheld(acct)  # (what of a fall kept for the week the balance taken now holds)
            confirmed(acct, move, now, out)
            held(acct, move, now, out)  # (a start-up read's wiped list)
            move = ZERO
        if abs(move) > CENT:
            # asked once per move (not on every repeat), and not while the account's trades
            # are still to be read after a restart: that read brings the balance after them
            if move != acct.unexplained and acct.behind is None:
                out.append(ReadBalance(acct.account_id))
                out.append(
                    Alert(
                        Level.WARNING,
                        Reason.BALANCE_UNCONFIRMED,
                        f"balance {ev.balance:.2f} moved {move:+.2f} beyond what the fills "
                        f"since explain (balance {acct.balance:.2f}, fills "
                        f"{acct.pending_realized:+.2f}): not counted until a read confirms it",
                        acct.account_id,
                    )
                )
            acct.unexplained = move
            return
        self._take(acct, ev.balance)

    def _take(self, acct: AccountModel, balance: Decimal) -> None:
        acct.balance = balance
        acct.pending_realized = ZERO
        acct.unexplained = ZERO
        self.computed.taken(acct)

    def order(self, acct: AccountModel, ev: OrderEvent, now: datetime) -> bool:
        """Book an order event. Returns True when it is older news, and ignored: a read listed
        the order working, but it ended live after the read began (see `OrderUpdate.held`);
        or any record saying it works of an order already seen final, whatever the order the
        records arrived in (see `final`)."""
        if ev.held and ev.order_id not in acct.orders:
            return True
        if ev.status.working and self.final.has(acct.account_id, ev.order_id):
            return True
        cm = acct.contracts.get(ev.contract_id)
        if cm is not None and cm.close_in_flight:
            self.pursuit.order_event(acct, cm, ev, now)
        self.pursuit.blind.heard_from(acct, ev)  # (the records reach us: `blind`)
        if not ev.status.working:
            self.theirs.ended(acct, ev, acct.orders.pop(ev.order_id, None), now)
            if ev.status in FINAL and not ev.unlisted:
                self.final.add(acct.account_id, ev.order_id)
            volume = ev.fill_volume or (ev.size if ev.status is OrderStatus.FILLED else 0)
            if volume:
                # the order event comes before its trades: until they arrive, what it filled
                # is open at the gateway though no fill or position says so yet
                seen = acct.day.filled(ev.order_id)
                if volume > seen:
                    deadline = now + self.settings.settle_timeout
                    acct.filling[ev.order_id] = (ev.contract_id, volume - seen, deadline)
            return False
        record = Order(
            ev.order_id,
            ev.contract_id,
            ev.status,
            ev.type,
            ev.side,
            ev.size,
            ev.created_at,
            ev.limit_price,
            ev.stop_price,
            ev.custom_tag,
            fill_volume=ev.fill_volume,
        ).follows(acct.orders.get(ev.order_id))
        acct.orders[ev.order_id] = self.theirs.seen(acct, record, now)  # (`theirs`)
        return False

    def fill(self, acct: AccountModel, ev: Fill, now: datetime, out: list[Effect]) -> bool:
        """Book a fill. Returns True when no rule may see it: the service's own (a close of
        ours, or any fill reducing a flattening scope not shown to be the trader's: `theirs`;
        but one that closes a round trip he exited some of: `trips`), a duplicate, or a
        voided trade."""
        if ev.voided:
            if ev.trade_id in acct.seen_trades:  # its position comes back: `doubted.undone`
                undone(acct, ev)
            void(acct, ev, self.computed, self.work)  # (see `voids`)
            return True  # a voided trade fires nothing
        if ev.trade_id in acct.seen_trades:
            self.computed.correct(acct, ev, out)  # (the gateway's P&L for one computed)
            return True  # duplicates change nothing else and fire nothing
        acct.seen_trades[ev.trade_id] = ev.at
        cid = ev.contract_id
        filling = acct.filling.get(ev.order_id)
        if filling is not None:
            if filling[1] > ev.size:
                acct.filling[ev.order_id] = (filling[0], filling[1] - ev.size, filling[2])
            else:
                del acct.filling[ev.order_id]
        delta = ev.size if ev.side is Side.BUY else -ev.size
        # a trade read after the account's positions (see `exposure.catch_up`) is in them already:
        # it is booked against the running size the fills had then, which it does not move
        behind = acct.behind
        reflected = behind is not None and ev.trade_id in behind.reflect
        if behind is not None and reflected:
            behind.reflect.discard(ev.trade_id)
            size = acct.net.get(cid, 0)
            before, reported = behind.owed.get(cid, (size, size))
            before = self.settlement.reflected(acct, ev, before, out)
        else:
            before = self.settlement.before_fill(acct, cid, delta, ev.at)
        if before == 0 or (before > 0) == (delta > 0):
            entry, exit_ = ev.size, 0
        else:
            exit_ = min(abs(before), ev.size)
            entry = ev.size - exit_
        after = before + delta
        self.settlement.shrink(acct, ev, after, reflected)  # (a lock's tolerance: `tolerance`)
        if behind is not None and reflected:
            behind.owed[cid] = (after, reported)
        else:
            acct.net[cid] = after
            self.settlement.realize(acct, ev, before, after, exit_, out)
            self.pursuit.overshot.fill(acct, ev, before, after)  # (ours past zero: `overshot`)
        self.pursuit.superseded.fill(acct, ev, before, after, now, out)  # (`superseded`)
        cm = acct.contracts.get(cid)
        # read back: not ours if stamped before our flatten (past the skew), ours if its close was
        flattening = (
            acct.state is State.Flattening
            and (acct.flatten_started is None or ev.at >= acct.flatten_started - CLOCK_SKEW)
        ) or (cm is not None and cm.state is State.Flattening)
        flattening |= closed_behind(acct, ev, reflected, CLOCK_SKEW)  # confirmed before it came
        # the platform's liquidation (it blocks the account, then closes; even while we flatten):
        # the rules see it, but it is neither the trader's nor ours (one shown his is his)
        own, platform = self.theirs.whose(acct, cm, ev, entry, flattening)
        pnl = ev.pnl
        if pnl is None and exit_ and not reflected:  # (a trade read back is the gateway's)
            pnl = self.computed.compute(acct, ev, before, exit_, out)
        net = realized_net(pnl, ev.fees)
        record = FillRecord(
            ev.trade_id,
            ev.at,
            cid,
            ev.order_id,
            ev.side,
            ev.size,
            ev.price,
            pnl,
            ev.fees,
            entry,
            exit_,
            own or platform,
        )
        explain(acct, ev.at, net, reflected)  # (made before a wait: in its move already)
        acct.pending_realized += net
        if acct.unexplained and acct.balance is not None:  # a balance ahead of its fills:
            acct.unexplained -= net  # (the move of the last one reported, these fills since)
            if abs(acct.unexplained) <= CENT:  # explained now: that balance is taken
                self._take(acct, acct.balance + acct.pending_realized + acct.unexplained)
        self.work.new_fills.append((acct.account_id, record))
        acct.day.take_fill(record, net, keep=True)  # (by its time: see `Book.take_fill`)
        acct.week.take_fill(record, net, keep=False)
        his = booked(acct, cid, before, after, ev, net, own or platform, self.work)
        if cm is not None and cm.close_in_flight and ev.order_id == cm.close_order:
            cm.close_filled += ev.size
            self.pursuit.progress(acct, cm, now)
        return own and not his  # (ours closing a trip he exited some of: judged on his part)

    def rebuild_realized(
        self, acct: AccountModel, ev: TradesSnapshot, now: datetime, out: list[Effect]
    ) -> bool:
        """The gateway's trades are the truth for realized P&L: rebuild the books if they
        disagree (a lost fill, a lost database), and say so. First, the list judges the
        positions its read found gone without a fill (`settled.judge`). Returns True when a
        settlement was booked (the rules are to judge it).

        Fills keep arriving while the list is read: a trade applied after the list was asked
        for may be missing from it without the list being incomplete. The books then hold
        more than the list and cannot be compared (nor rebuilt from it, which would drop the
        newest trades): they are kept, quietly, until the next reconciliation. A list lacking
        applied trades is kept from too, and ends no wait nor lock made on the estimate
        (`unjudged.kept`); one that looks like a firm's reset is told (`wiped`)."""
        if ev.until is not None:  # the confirming read of a reset told (`firm_reset`)
            return checked(acct, ev, out)
        relisted = again(acct, ev, out)  # (a reset's confirming read unanswered: asked again)
        incomplete = short(acct, ev)  # (a fall no trade explains: one left out? `explained`)
        behind = acct.behind is not None  # (then its balance comes after this list)
        if acct.behind is not None:  # its trades are booked (`exposure.catch_up`): no longer behind
            for cid, (made, reported) in sorted(acct.behind.owed.items()):
                if made != reported:  # the gateway's position stands
                    out.append(
                        Alert(
                            Level.WARNING,
                            Reason.POSITION_WITHOUT_FILLS,
                            f"{cid}: the gateway reported {reported:+d}, its trades make "
                            f"{made:+d}; taking the gateway's position",
                            acct.account_id,
                            cid,
                        )
                    )
            made_trips, acct.trips_open = acct.trips_open, acct.behind.trips
            for cid, trip in made_trips.items():  # the trades' trip, where they agree
                held, owed = acct.trips_open.get(cid), acct.behind.owed.get(cid)
                if held is not None and held.long == trip.long and owed and owed[0] == owed[1]:
                    acct.trips_open[cid] = trip
            acct.behind = None
        move, acct.unbooked = acct.unbooked, None  # the read's positions are applied
        self.computed.listed(acct, ev.trades, out)  # the gateway's word on those computed
        listed = {t.trade_id for t in ev.trades}
        later = (
            set()
            if ev.applied is None
            else {i for i in acct.seen_trades if i not in listed and i not in ev.applied}
        )
        voided = listed_voided(acct, ev)  # (and those voided since the list was asked for)
        booked = False
        if acct.vanished:  # found gone by this read (or waiting): a settlement, or a reset?
            booked = judge(acct, ev, later, None if behind else move, now, out)
            acct.unbooked = None
        if not booked and wiped(acct, ev, later, move, now, behind=behind):
            if not kept(acct, now):  # (it lacks applied trades: a lock on the estimate holds)
                self._read(acct, now)  # (as ever: a person looks at the reset, see `wiped`)
            return told(acct, ev, move, out)  # (a firm's reset, it seems: a person looks)
        for book, name in ((acct.day, "day"), (acct.week, "week")):
            if ev.since > book.start:
                continue  # the snapshot does not cover this period
            known = acct.seen_trades.since(book.start)
            missing = known - listed - later
            incomplete |= bool(missing) and not relisted  # (its silence says nothing: `kept`)
            trades = [t for t in ev.trades if t.trade_id not in voided and t.at >= book.start]
            # (and the positions settled without a trade, see `Settlement.vanished`)
            realized = sum((realized_net(t.pnl, t.fees) for t in trades), book.settled)
            fees = sum((t.fees for t in trades), ZERO)
            if (realized, fees) == (book.realized, book.fees):
                continue
            if relisted or (not missing and known & later):
                continue  # applied after the list was read, or what a reset wiped relisted
            if missing:
                # a list without trades we have applied is incomplete (a capped search, say):
                # rebuilding from it could hide losses, so keep the books and say so
                out.append(
                    Alert(
                        Level.WARNING,
                        Reason.REALIZED_REBUILT,
                        f"{name} realized P&L {book.realized:.2f} kept: the gateway's trade "
                        f"list lacks {len(missing)} trade(s) already applied",
                        acct.account_id,
                    )
                )
                continue
            out.append(
                Alert(
                    Level.WARNING,
                    Reason.REALIZED_REBUILT,
                    f"{name} realized P&L {book.realized:.2f} (fees {book.fees:.2f}) rebuilt "
                    f"from {len(trades)} gateway trades: {realized:.2f} (fees {fees:.2f})",
                    acct.account_id,
                )
            )
            book.realized, book.fees, book.wiped = realized, fees, ZERO
        if not (incomplete or relisted) and ev.since <= acct.week.start:
            forget(acct)  # the week's whole list: no fall the trades never explained (`hidden`)
        if not (incomplete and kept(acct, now)):  # (a lock made on the estimate holds)
            self._read(acct, now)
        return booked

    def _read(self, acct: AccountModel, now: datetime) -> None:
        """The account's books confirmed or rebuilt by its trades (`unread`): its wait ends, and
        so does a lock made on the estimate (by an earlier run, say), when no other wait is left."""
        trades_read(acct)
        if not waiting(acct):
            released(acct, now)
