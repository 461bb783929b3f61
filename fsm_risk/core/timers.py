"""Timers: each account's next wake-up, and rolling its clock forward when one comes."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk.core.early import carry_over
from fsm_risk.core.effects import Effect
from fsm_risk.core.events import (
    AccountUpdate,
    Event,
    Fill,
    OrderUpdate,
    PositionUpdate,
    PricesAtReset,
    Tick,
    TradesSnapshot,
)
from fsm_risk.core.holdback import held_until
from fsm_risk.core.missed import MissedResets, unpriced
from fsm_risk.core.missed_carry import Split, held_split
from fsm_risk.core.models import ZERO, AccountModel, Book
from fsm_risk.core.orders import RESIZE_WAIT
from fsm_risk.core.overdue import held_for_read, kept, overdue
from fsm_risk.core.pursuit import Pursuit
from fsm_risk.core.rulebook import RuleBook
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.settlement import Settlement
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import deadline
from fsm_risk.core.valuation import Prices, Valuation, gateway_now
from fsm_risk.core.verdicts import Verdicts
from fsm_risk.core.waivers import Waivers, stored_waivers, waiver_until
from fsm_risk.core.work import Work

#: the prices at the resets a restore applies: reset instant -> contract id -> price
ResetPrices = Mapping[datetime, Prices]


def missed_resets(
    calendar: SessionCalendar, snapshot: Mapping[str, Any], now: datetime
) -> list[tuple[datetime, str]]:
    """The prices a restore at ``now`` of a stored account (its snapshot) values its missed
    resets at: (reset instant, contract id) for each contract it holds, at every reset passed
    while the service was stopped (`missed_boundaries`: each end of day is a peak of its own,
    a week's and a day's may be one instant); and those a change made through the database
    while stopped applied at the prices of the stop, reading none (`unpriced`: the stored day
    is the new one, yet its carry still wants the gateway's price at its reset). None for an
    account holding nothing or still in its day, its resets all priced."""
    late = unpriced(snapshot)
    held = sorted({str(p["contract_id"]) for p in snapshot.get("positions", ())})
    if not held:
        return late
    week_end = datetime.fromisoformat(snapshot["week"]["end"])
    day_end = datetime.fromisoformat(snapshot["day"]["end"])
    instants = dict.fromkeys(at for at, _ in missed_boundaries(calendar, week_end, day_end, now))
    return list(dict.fromkeys([*late, *((at, c) for at in instants for c in held)]))


def missed_boundaries(
    cal: SessionCalendar, week_end: datetime, day_end: datetime, now: datetime
) -> list[tuple[datetime, bool]]:
    """Every reset passed while stopped, in time order (a week's before a day's at one
    instant): from the one that ends the stored period to the last at or before ``now``.
    Each end of day is a reset of its own (an end-of-day peak is taken at each), not only
    the last one."""
    found: list[tuple[datetime, bool]] = []
    for weekly, end in ((True, week_end), (False, day_end)):
        last = cal.last_weekly_reset if weekly else cal.last_daily_reset
        step = cal.next_weekly_reset if weekly else cal.next_daily_reset
        at = last(end) if now >= end else now + timedelta(days=1)
        while at <= now:
            found.append((at, weekly))
            at = step(at)
    return sorted(found, key=lambda b: (b[0], not b[1]))


def open_by_contract(acct: AccountModel) -> dict[str, tuple[Decimal, int]]:
    """The open P&L of each contract and the contracts it values (a position's open part and
    the value kept for contracts dropped before their fills): what a live reset carries of
    each. Their values add up to the account's open P&L."""
    out: dict[str, tuple[Decimal, int]] = {}
    for cid, pos in acct.positions.items():
        if pos.size > pos.settling:
            out[cid] = (pos.upnl, pos.size - pos.settling)
    for cid, (amount, n) in acct.unsettled.items():
        value, held = out.get(cid, (ZERO, 0))
        out[cid] = (value + amount, held + n)
    return out


def stamp(event: Event | None) -> datetime | None:
    """The gateway's own time on a record of an account, if the record has one."""
    if isinstance(event, Fill):
        return event.at
    if isinstance(event, PositionUpdate):
        return event.opened_at
    if isinstance(event, OrderUpdate):
        return event.created_at
    return None


class Timers:
    """Stores every deadline as an account's wake-up (one heap for all accounts) and, per
    event, applies what came due: resets, lock expiries, retries, settle and waiver ends."""

    def __init__(
        self,
        settings: EngineSettings,
        book: RuleBook,
        accounts: dict[int, AccountModel],
        work: Work,
        pursuit: Pursuit,
        settlement: Settlement,
        verdicts: Verdicts,
    ) -> None:
        self.settings = settings
        self.calendar = settings.calendar
        self._day: tuple[tuple[object, datetime], tuple[date, datetime, datetime]] | None = None
        self.book = book
        self.accounts = accounts
        self.work = work
        self.pursuit = pursuit
        self.settlement = settlement
        self.verdicts = verdicts
        #: (wake-up, account id); an entry is live while it is still the account's wake-up
        self._heap: list[tuple[datetime, int]] = []

    def _live(self, at: datetime, account_id: int) -> bool:
        acct = self.accounts.get(account_id)
        return acct is not None and acct.wakeup == at

    def next_wakeup(self) -> datetime | None:
        """The earliest wake-up of any account (stale heap entries are dropped)."""
        heap = self._heap
        while heap:
            at, account_id = heap[0]
            if self._live(at, account_id):
                return at
            heapq.heappop(heap)
        return None

    def due(self, now: datetime) -> list[int]:
        """The accounts with a wake-up at or before ``now``, from the heap: only the entries
        due are looked at (the live ones go back, they stay due until handled)."""
        heap = self._heap
        found: set[int] = set()
        live: list[tuple[datetime, int]] = []
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._live(*entry) and entry[1] not in found:
                found.add(entry[1])
                live.append(entry)
        for entry in live:
            heapq.heappush(heap, entry)
        return sorted(found)

    def schedule(self, acct: AccountModel, now: datetime, kind: type | None = None) -> None:
        """Store the account's next wake-up. ``kind`` is the type of the event just handled: a
        rule's deadline is asked again only after events of the kinds it reacts to (the only
        ones that can move it), or always when ``kind`` is None."""
        times: list[datetime] = [acct.day.end, acct.week.end]
        held = held_for_read(self.book, acct)  # (past, they wake nothing until then: `overdue`)
        for h in acct.holds.values():
            if h.until is not None and not kept(h, held, now):
                times.append(h.until)
        for cm in acct.contracts.values():
            for h in cm.holds.values():
                if h.until is not None and not kept(h, held, now):
                    times.append(h.until)
            if cm.retry_at is not None and (
                cm.close_in_flight or (cm.state is State.Flattening and cm.retry_at > now)
            ):  # (a close unseen at the flat: `Flatten.confirm`)
                times.append(cm.retry_at)
            if cm.state is State.Flattening and self.pursuit.held_since:
                key = (acct.account_id, cm.contract_id)
                if key in self.pursuit.held_since:  # a market exit holding our close back
                    times.append(held_until(self.pursuit, key))
        for o in acct.orders.values():
            if o.cancel_sent_at is not None:
                times.append(o.cancel_sent_at + self.settings.cancel_timeout)
            if o.asked_at is not None:  # resizes of ours still on their way (`Order.expire`)
                times.append(o.asked_at + RESIZE_WAIT)
        times.extend(deadline for _, deadline in acct.expected.values() if deadline is not None)
        times.extend(until for _, _, until in acct.filling.values())
        times.extend(until for _, until, _ in acct.doubted.values())
        times.extend(acct.unpriced.values())
        times.extend(waiver_until(w) for w in stored_waivers(acct).values())
        if (grace := deadline(acct, now)) is not None:
            times.append(grace)  # the period rules judge on the balance's move then
        if (left := self.verdicts.flatten.awaiting.wakeup(acct, now)) is not None:
            times.append(left)  # positions left to the trades read: closed without it then
        cached = acct.deadlines
        thawing = acct.account_id in self.book.thawing  # (judged once read: `core.thaw`)
        for rule, kinds in self.book.deadline_rules:
            if kind is None or kind in kinds or rule.id not in cached:
                cached[rule.id] = rule.next_deadline(acct, now)
            t = cached[rule.id]
            if t is not None and not (thawing and rule.id in self.book.deadline_ids):
                times.append(t)
        wake = min(times)
        if wake != acct.wakeup:
            acct.wakeup = wake
            heapq.heappush(self._heap, (wake, acct.account_id))
            if len(self._heap) > 2 * len(self.accounts) + 64:
                self._compact()

    def _compact(self) -> None:
        """Drop the stale entries: a wake-up that moved later leaves its old entry behind
        until that time comes, so an account rescheduled on every trade would otherwise fill
        the heap with them. Rebuilt from the live wake-ups: one entry per account."""
        self._heap = [(a.wakeup, i) for i, a in self.accounts.items() if a.wakeup is not None]
        heapq.heapify(self._heap)

    def freed(self, acct: AccountModel, now: datetime) -> bool:
        """The account's trades are read, and a lock kept for them is past its deadline: the
        account is to be judged now (its lock ends, and locks again where its cause holds)."""
        return not held_for_read(self.book, acct) and overdue(acct, now)

    def day_book(self, now: datetime) -> Book:
        cal = self.calendar
        # a start-up resets every account at the same instant: its day is worked out once
        if self._day is None or self._day[0] != (cal, now):
            day = (cal.trading_day(now), cal.last_daily_reset(now), cal.next_daily_reset(now))
            self._day = (cal, now), day
        return Book(*self._day[1])

    def week_book(self, now: datetime) -> Book:
        cal = self.calendar
        return Book(cal.trading_week(now), cal.last_weekly_reset(now), cal.next_weekly_reset(now))

    def roll(
        self, acct: AccountModel, now: datetime, out: list[Effect], event: Event | None = None
    ) -> None:
        """Bring the account to ``now``: a due reset (once per boundary), holds whose deadline
        passed (but a lock its trades read will judge, kept until then: `overdue`), closes and
        cancels to re-send, settle waits and waivers that ran out; and,
        before the ``event`` is applied, the missed resets it tells more of (`redo`).

        A fill (``event``) stamped ahead of ``now``, by no more than a gateway time may be
        (`MARK_SKEW`, the payload boundary's 60 s), brings the resets and the holds to its
        stamp: the gateway's clock has passed it, and a fill belongs to the day its gateway
        time falls in (an entry at the open with our clock half a second behind is the new
        day's). A lock thus ends no earlier than the gateway's own clock says it has; the
        service's own waits (re-sends, settle waits, waivers) keep to ``now``. Any stamp of
        the gateway's so ahead (a fill's, a position's opening, an order's placing) is kept as
        ``acct.gateway_at``: RULE-006 judges the trading hours at it."""
        if isinstance(event, TradesSnapshot) and event.until is None:
            # a behind read's balance comes after its trades: a kept lock is judged at it (the
            # stored balance, older, could lock a week on a cause gone), or at the Tick after
            acct.balance_due = acct.behind is not None
        elif isinstance(event, AccountUpdate | Tick):
            acct.balance_due = False
        if acct.missed is not None and event is not None:
            self.redo(acct, event)
        elif isinstance(event, PricesAtReset) and self.settlement.uncarried.priced(acct, event):
            self.work.dirty.add(acct.account_id)  # (a live reset's carry: `uncarried`)
        told = gateway_now(stamp(event), now)
        if told > now and (acct.gateway_at is None or told > acct.gateway_at):
            acct.gateway_at = told
        at = told if isinstance(event, Fill) else now
        if at >= acct.week.end:
            self._reset(acct, at, weekly=True, carried=open_by_contract(acct))
        if at >= acct.day.end:
            self._reset(acct, at, weekly=False, carried=open_by_contract(acct))
        held = held_for_read(self.book, acct)  # (locks its trades read will judge: `overdue`)
        self.verdicts.expire(acct, acct, at, held)
        for cm in list(acct.contracts.values()):
            self.verdicts.expire(acct, cm, at, held)
        self.pursuit.retry(acct, now, out)
        self.settlement.expire(acct, now, out)
        if Waivers.expire(acct, now):
            self.work.dirty.add(acct.account_id)

    def catch_up(
        self, acct: AccountModel, now: datetime, valuation: Valuation, prices: ResetPrices | None
    ) -> None:
        """Apply the resets missed while the service was stopped (at a restore, before any
        position is valued at a fresh quote), each as of the open P&L at its own instant: the
        week's at the week's start, the day's at the day's, valued at ``prices`` (the price of
        each contract held at that reset, see `missed_resets`) where given and at the prices
        last known before the stop where not. The new day (and week) carries it, and a rule
        reading equity at the reset sees it. Without it the new day would count the open
        profit or loss made before the reset as its own (a day starting $600 up on a position
        held across the reset would lose $1,600 before a $1,000 limit fired); at the prices
        of the stop, a trader could stop the service when up and have the gain made before
        the reset count as the new day's room.

        What it applied (`MissedResets`) is kept, and stored with the account, until the
        start-up read lists the trades made while stopped (see `redo`): a restore of an account
        still waiting for them (stopped again before its read) takes up the stored record, and
        adds to it a reset missed since, its positions valued at the prices at those resets
        as the first restore valued them (not at the older prices of the stop). One that read
        no price at all (``prices`` None: a change made through the database while stopped)
        leaves its resets `unpriced`: the service's start reads the prices at them and redoes
        them here, as though it had missed them itself."""
        missed = acct.missed
        if missed is not None and prices and missed.price_unpriced(prices):
            # resets a change through the database applied at the prices of the stop
            missed.redo(acct, self.book.rules, valuation)
            self.work.dirty.add(acct.account_id)
        for at, known in () if missed is None else missed.prices.items():
            valuation.learn(at, known, now)
        if now < acct.day.end and now < acct.week.end:
            return
        held = acct.open_upnl
        if missed is None:
            missed = acct.missed = MissedResets.record(acct, self.book.rules, valuation)
        try:
            for at, weekly in missed_boundaries(self.calendar, acct.week.end, acct.day.end, now):
                given = None if prices is None else prices.get(at)
                if given:
                    valuation.learn(at, given, now)  # the restore values positions at it
                acct.open_upnl = valuation.last_known(acct, at, given)
                split = held_split(valuation.known_by_contract(acct, at, given))
                self._reset(acct, at, weekly=weekly, prices=given, split=split)
                missed.applied(acct, at, weekly, given, read=prices is not None)
        finally:
            acct.open_upnl = held  # valued again, at fresh quotes, by the restore

    def redo(self, acct: AccountModel, event: Event) -> None:
        """An account a restore caught up with resets (`catch_up`), until its trades are read
        (its `TradesSnapshot`): a trade made while stopped and stamped before one of them, and
        a price at one of them read since, redo those resets before the event is applied
        (see `missed`); a trade made since is kept for a reset missed at a later restore."""
        missed = acct.missed
        if missed is None:
            return
        valuation = self.settlement.valuation
        if isinstance(event, TradesSnapshot) and event.until is None:
            acct.missed = None  # all its trades are read: nothing more to redo
        elif isinstance(event, Fill) and missed.unread(acct, event):
            if all(t.trade_id != event.trade_id for t in missed.trades):
                missed.trades.append(event)
                if missed.made_while_stopped(acct, event):
                    missed.redo(acct, self.book.rules, valuation)
        elif isinstance(event, PricesAtReset):
            for p in event.prices:
                missed.learn(p.at, p.contract_id, p.price)
                pos = acct.positions.get(p.contract_id)
                if pos is not None:  # held now: valued at it until a fresh quote, as a restore
                    valuation.learn(p.at, {p.contract_id: p.price})
                    if valuation.owns(acct, pos, valuation.last_mark(p.contract_id)):
                        valuation.revalue(acct, pos)  # (not where added to since: `owns`)
            if missed.trades:
                missed.redo(acct, self.book.rules, valuation)
        else:
            return
        self.work.dirty.add(acct.account_id)  # (the record is stored with the account)

    def _reset(
        self,
        acct: AccountModel,
        now: datetime,
        *,
        weekly: bool,
        carried: dict[str, tuple[Decimal, int]] | None = None,
        prices: Prices | None = None,
        split: Split | None = None,
    ) -> None:
        """Open the new trading day (or week). Idempotent: keyed by the boundary instant, so a
        reset missed while the service was down is applied once, at start-up (`catch_up`).
        ``carried``: the carry's part of each contract (see `Book.carried`): known at a live
        reset; a missed one (`catch_up`) values the account as a whole, at ``prices`` (its
        part of each contract, ``split``, kept apart: `missed_carry`)."""
        book = self.week_book(now) if weekly else self.day_book(now)
        current = acct.week if weekly else acct.day
        if book.start <= current.start:
            return
        book.carry = acct.open_upnl
        book.carried = dict(carried or {})
        book.late = None if carried is None else ZERO  # (see `Book.take_fill`)
        book.missed_carried = dict(split or {})
        # the new period's fills booked before our clock reached it (`early`)
        carry_over(acct, current, book, self.settlement.valuation, weekly=weekly, prices=prices)
        # forget trades older than last week: reconciliations read this week only
        horizon = min(book.start, acct.week.start) - timedelta(days=7)
        acct.seen_trades.keep_since(horizon)
        acct.voided = {i: c for i, c in acct.voided.items() if i in acct.seen_trades}
        if weekly:
            # our enforcement orders of past weeks that no longer work: nothing of theirs can
            # still come (a reconciliation re-reads the new week's trades only)
            acct.own_orders &= (
                set(acct.orders)
                | set(acct.filling)
                | {cm.close_order for cm in acct.contracts.values() if cm.close_order is not None}
            )
            acct.week = book
            # a fill of a position settled without one last week is not coming any more
            acct.settled = {c: v for c, v in acct.settled.items() if v[2] >= book.start}
        else:
            acct.day = book
        for rule in self.book.rules:
            memo = acct.rule_state.setdefault(rule.id, {}) if rule.stateful else {}
            rule.on_reset(memo, acct, weekly, book.start)
        self.work.dirty.add(acct.account_id)
