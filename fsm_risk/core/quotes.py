"""The quote path: a new price revalues its holders; quote rules run outside their bands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fsm_risk.core.bands import EVALUATE, Bands
from fsm_risk.core.effects import Effect
from fsm_risk.core.events import Leg, Quote
from fsm_risk.core.models import AccountModel, Mark
from fsm_risk.core.rulebook import RuleBook, waits
from fsm_risk.core.unread import waiting
from fsm_risk.core.valuation import MARK_SKEW, Valuation
from fsm_risk.core.work import Work
from fsm_risk.rules.base import Verdict

Step = Callable[[AccountModel, datetime, list[Effect]], None]


class QuotePath:
    """The hot path: touches only the accounts holding the quoted contract. ``wake`` handles
    an account's wake-up that came due first, ``resolve`` is the post-verdict step every
    event shares, ``fail_closed`` what any error leaves the account in."""

    def __init__(
        self,
        valuation: Valuation,
        bands: Bands,
        book: RuleBook,
        work: Work,
        wake: Step,
        resolve: Callable[[AccountModel, list[Verdict], datetime, list[Effect]], None],
        fail_closed: Callable[[AccountModel, BaseException, datetime, list[Effect]], None],
    ) -> None:
        self.valuation = valuation
        self.marks = valuation.marks
        self.saved = valuation.saved  # marks saved before a restart, not quoted since
        self.holder_list = valuation.holder_list  # who holds each contract, by account id
        self.liquidation = valuation.liquidation
        self.bands = bands
        self.book = book
        self.work = work
        self.wake = wake
        self.resolve = resolve
        self.fail_closed = fail_closed

    def handle(self, q: Quote, now: datetime, out: list[Effect]) -> None:
        """The hot path: touches only the accounts holding the quoted contract. A quote's
        legs (other contracts' latest words, `core.waited`) move first, unjudged."""
        for leg in q.legs:
            self.moved(leg, now, out)
        cid = q.contract_id
        holders = self.holder_list.get(cid)
        if holders is None:
            holders = self.valuation.holding(cid)
        if not holders:
            return  # nobody holds it: it costs nothing (no mark kept, none stored)
        # the quote moves the contract's mark (inline: this runs on every quote; `_move` is
        # the same for a leg)
        mark = self.marks.get(cid)
        if mark is None:
            mark = self.marks[cid] = Mark(q.last, q.bid, q.ask, q.at)
            self.valuation.stored.pop(cid, None)  # a restore's stale price: outdated now
        else:
            at = mark.at
            if q.at < at and at <= now + MARK_SKEW:
                # out of order: an older quote never overwrites a newer one (a mark stamped
                # ahead of our clock is not newer, it is wrong: it never freezes the price)
                return
            if self.saved and cid in self.saved:
                # its first quote of this run: the saved prices are from before the stop (the
                # market unwatched since), none is stamped by it (a bid and an ask made the
                # saved last fresh: 4 ES bought at 6010 read -$2,000 at it)
                mark.last, mark.bid, mark.ask = q.last, q.bid, q.ask
            else:
                if q.last is not None:
                    mark.last = q.last
                if q.bid is not None:
                    mark.bid = q.bid
                if q.ask is not None:
                    mark.ask = q.ask
            mark.at = q.at
        if self.saved:
            self.saved.discard(cid)  # quoted in this run
        valuation = self.valuation
        if self.liquidation:
            long_price, short_price = mark.bid, mark.ask
        else:
            long_price = short_price = mark.last
        book, bands = self.book, self.bands
        rules = book.quote
        observers = book.quote_observers
        trailing, trailer = book.trailing, book.trailer
        if trailer is not None:
            trail, trail_id = trailer.trail, trailer.id
        dirty = self.work.dirty
        for acct in holders:
            try:
                wake = acct.wakeup
                if wake is not None and now >= wake:
                    self.wake(acct, now, out)  # see RiskEngine._process
                pos = acct.positions.get(cid)
                if pos is not None:
                    # Valuation.revalue, inlined: this runs once per holder per quote
                    per_point = pos.point_value
                    if per_point is None:
                        priced = pos.priced
                        valuation.revalue(acct, pos)
                        if pos.priced and not priced:
                            dirty.add(acct.account_id)  # its first value: saved (`restored`)
                    elif (price := long_price if pos.long else short_price) is not None:
                        value = price * per_point - pos.cost
                        acct.open_upnl += value - pos.upnl
                        pos.upnl = value
                        if not pos.priced:
                            pos.priced = True
                            dirty.add(acct.account_id)  # its first value: saved (`restored`)
                    else:  # no price for its side yet: its value is the last known, stale
                        pos.priced = False
                # the guard band: inside it no quote rule can fire or change its memory
                band = acct.band
                if band is None:
                    band = bands.account(acct)
                upnl = acct.open_upnl
                # (EVALUATE's low is +Infinity: nothing is above it)
                if band[0] < upnl:
                    if upnl < band[1]:
                        if pos is None:
                            continue
                        pband = pos.band
                        if pband is None:
                            pband = pos.band = bands.position(acct, pos)
                        if pband[0] < pos.upnl < pband[1]:
                            continue
                    elif trailing is not None and upnl < acct.rest[1] and not waiting(acct):
                        # a new peak (a steady rise): above the band, yet below the high of
                        # every band but the trailing rule's, and above every rule's low (the
                        # band's low is the highest of them, see Bands.banded): only the
                        # trailing rule's band was crossed, upwards. It cannot fire there, it
                        # only raises its memory
                        pband = None
                        if pos is not None:
                            pband = pos.band
                            if pband is None:
                                pband = pos.band = bands.position(acct, pos)
                        if pband is None or pband[0] < pos.upnl < pband[1]:  # type: ignore[union-attr]
                            memo = acct.rule_state.get(trail_id)
                            if memo is None:
                                memo = acct.rule_state[trail_id] = {}
                            tband, changed = trail(memo, acct, q, now)
                            if changed:
                                dirty.add(acct.account_id)
                            acct.bands[trailing] = tband
                            if tband is None:
                                acct.band = None  # asked again on the next quote
                            else:
                                low, high = acct.rest
                                own_low, own_high = tband
                                acct.band = (
                                    low if low > own_low else own_low,
                                    high if high < own_high else own_high,
                                )
                            continue
                acct.band = None  # evaluated: asked again unless re-banded below
                crossed = rules if band is EVALUATE else bands.crossed(acct, pos)
                if waiting(acct):  # realized P&L not caught up (RuleBook.evaluate)
                    crossed = [r for r in crossed if not waits(acct, r)]
                for rule in observers:
                    if rule in crossed and rule.observe(
                        acct.rule_state.setdefault(rule.id, {}), acct, q, now
                    ):
                        dirty.add(acct.account_id)
                verdicts: list[Verdict] | None = None
                for rule in crossed:
                    found = rule.evaluate(acct, q, now)
                    if found:
                        verdicts = [*(verdicts or ()), *found]
                if verdicts:
                    self.resolve(acct, verdicts, now, out)
                else:
                    if band is not EVALUATE:
                        # nothing fired, and a quote moves only the open P&L and the memory of
                        # the rules it reached: the other rules' bands still hold
                        bands.reband(acct, crossed)
                    if acct.audit:
                        self.work.drain(acct, out)
                        dirty.add(acct.account_id)
            except Exception as exc:  # fail closed on any bug
                self.fail_closed(acct, exc, now, out)

    def _move(self, q: Leg, now: datetime) -> Mark | None:
        """The leg's contract's mark moved, as `handle` moves a quote's; None where the leg is
        older than the mark and ignored."""
        cid = q.contract_id
        mark = self.marks.get(cid)
        if mark is None:
            mark = self.marks[cid] = Mark(q.last, q.bid, q.ask, q.at)
            self.valuation.stored.pop(cid, None)
        else:
            if q.at < mark.at and mark.at <= now + MARK_SKEW:
                return None
            if self.saved and cid in self.saved:
                mark.last, mark.bid, mark.ask = q.last, q.bid, q.ask
            else:
                if q.last is not None:
                    mark.last = q.last
                if q.bid is not None:
                    mark.bid = q.bid
                if q.ask is not None:
                    mark.ask = q.ask
            mark.at = q.at
        if self.saved:
            self.saved.discard(cid)
        return mark

    def moved(self, leg: Leg, now: datetime, out: list[Effect]) -> None:
        """A leg's mark moved and its holders' positions revalued, none judged: a quote's
        holders are, once every leg is moved (`Quote.legs`)."""
        holders = self.valuation.holding(leg.contract_id)
        if not holders:
            return
        mark = self._move(leg, now)
        if mark is None:
            return
        for acct in holders:
            try:
                pos = acct.positions.get(leg.contract_id)
                if pos is None:
                    continue
                price = (mark.bid if pos.long else mark.ask) if self.liquidation else mark.last
                priced = pos.priced
                if pos.point_value is None:
                    self.valuation.revalue(acct, pos)
                elif price is None:  # no price for its side yet: the last known, stale
                    pos.priced = False
                else:
                    value = price * pos.point_value - pos.cost
                    acct.open_upnl += value - pos.upnl
                    pos.upnl = value
                    pos.priced = True
                if pos.priced and not priced:
                    self.work.dirty.add(acct.account_id)  # its first value: saved (`restored`)
            except Exception as exc:  # fail closed on any bug
                self.fail_closed(acct, exc, now, out)
