"""Close pursuit: one close in flight per flattening contract, cancels, and their retries."""

from __future__ import annotations

from datetime import datetime, timedelta

from fsm_risk.core.blind import Blind
from fsm_risk.core.brackets import late, resized, restore
from fsm_risk.core.cancels import lifted
from fsm_risk.core.closes import close_effect, is_our_close
from fsm_risk.core.effects import Alert, CancelOrder, Effect, Level, ReadAccount, ReducePosition
from fsm_risk.core.events import CloseWaiting, CloseWord, EnforcementRejected, Listing, OrderStatus
from fsm_risk.core.events import OrderUpdate as OrderEvent
from fsm_risk.core.exposure import closes_working, fills_owed, overshoots
from fsm_risk.core.holdback import held_back
from fsm_risk.core.models import AccountModel, ContractModel, Order, Position
from fsm_risk.core.overshot import Overshot
from fsm_risk.core.reasons import Reason
from fsm_risk.core.refusals import rejected
from fsm_risk.core.sent import SentCloses
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.settlement import open_size
from fsm_risk.core.states import State
from fsm_risk.core.superseded import Superseded
from fsm_risk.core.work import Work

#: the longest a close waiting for the request budget (`CloseWaiting`) is let be before its
#: close timeouts run as for one sent (first in line, its turn comes within a minute's window)
UNSENT_BOUND = timedelta(seconds=90)


class Pursuit:
    """Sends closes and cancels, recognises their orders among the gateway's, and re-sends
    what did not work: the only place a close or cancel effect is made."""

    def __init__(self, settings: EngineSettings, work: Work) -> None:
        self.settings, self.work = settings, work
        #: closes that timed out unheard of, by (account, contract): when a read was last asked
        #: and how many times in a row with none coming, and those a read begun since answered
        #: (runtime only: a restart reads the gateway anyway, `resume` taking it as the answer)
        self.read_asked: dict[tuple[int, str], tuple[datetime, int]] = {}
        self.read: set[tuple[int, str]] = set()
        #: when the gateway accepted each close in flight (runtime; see `read_back`)
        self.accepted_at: dict[tuple[int, str], datetime] = {}
        #: since when a market exit not ours holds back a contract's close (`holdback`)
        self.held_since: dict[tuple[int, str], datetime] = {}
        #: what our closes opened on the other side, to close (`overshot`); the closes sent (`sent`)
        self.overshot, self.sent = Overshot(), SentCloses()
        #: the closes sent again in place of one given up on (`superseded`); those in doubt
        #: whose read failed (`blind`)
        self.superseded, self.blind = Superseded(), Blind()
        #: the size each of the trader's exits was last judged at, per reduce in flight (`late`)
        self.judged: dict[tuple[int, str], dict[int, int]] = {}
        #: closes kept in flight unseen past a flat (`Flatten.confirm`), till their close timeout
        self.ghosts: set[tuple[int, str]] = set()

    def pursue(self, acct: AccountModel, now: datetime, out: list[Effect]) -> None:
        """Keep one close in flight for every flattening contract still over its target.

        The next close goes out as soon as the previous one is done at the gateway (filled,
        cancelled or rejected), not when a timer fires: a trader adding faster than one close at a
        time is reduced close after close. A close that ended without a fill is re-sent after a
        second, doubling (at once if the position moved since it was sized); one not seen to end is
        judged at each timeout by a read of the gateway, and re-sent only if no order of ours works
        there (a second close could reverse the position). A reduce that ended short gives back what
        its resizes took (`brackets.restore`)."""
        s = self.settings
        for cm in acct.contracts.values():
            if cm.close_in_flight and (extra := overshoots(acct, cm)) is not None:
                self._withdraw(acct, extra, now, out)
            elif cm.close_in_flight and not self._withdrawn(acct, cm):
                key = (acct.account_id, cm.contract_id)
                late(acct, cm, self.judged.setdefault(key, {}), now, out)
            if cm.state is not State.Flattening:
                cm.wanted_since = None
                continue
            pos = acct.positions.get(cm.contract_id)
            over = pos is not None and open_size(pos) > cm.target_size
            if not over:
                cm.wanted_since = None
            due = cm.retry_at is None or now >= cm.retry_at
            if not cm.close_in_flight:
                if held_back(self, acct, cm, over, now, out) or not over or not due:
                    continue
                if cm.target_size and fills_owed(acct, cm.contract_id):
                    # a reduce sized from the last position could close what a fill on its way
                    # (the trader's exit) already closed: its trade and position tell (a close
                    # of everything cannot overshoot, and goes at once)
                    continue
                assert pos is not None
                cm.attempts += 1
                if cm.attempts > 1:  # the last close ended (refused, short, restart): say so
                    out.append(
                        Alert(
                            Level.WARNING,
                            Reason.CLOSE_NOT_CONFIRMED,
                            f"close of {cm.contract_id} re-sent (attempt {cm.attempts}): the "
                            f"last ended with {open_size(pos)} open, target {cm.target_size}",
                            acct.account_id,
                            cm.contract_id,
                        )
                    )
                self.send_close(acct, cm, pos, now, out)
                self._alert_failing(acct, cm, pos, out)
                cm.retry_at = now + s.backoff(cm.attempts)
                self.work.dirty.add(acct.account_id)
                continue
            key = (acct.account_id, cm.contract_id)
            if not due or (cm.close_unsent and now < (cm.close_sent_at or now) + UNSENT_BOUND):
                continue  # (one waiting for the request budget has not gone: nothing to judge)
            working = closes_working(acct, cm.contract_id)
            if working and over:
                # our close is still working at the gateway: a second one would reverse the
                # position once both fill: wait (and say so), reading again unless a read
                # has just said so (it may have ended unheard of since)
                cm.attempts, ask = cm.attempts + 1, key not in self.read
                if ask:
                    self.ask_read(key, now, out)
                out.append(
                    Alert(
                        Level.CRITICAL if cm.attempts >= s.alert_after_attempts else Level.WARNING,
                        Reason.CLOSE_NOT_CONFIRMED,
                        f"close order(s) {', '.join(map(str, working))} for {cm.contract_id} "
                        f"still working after {cm.attempts} checks: not re-sent"
                        + ("; reading the gateway" if ask else ""),
                        acct.account_id,
                        cm.contract_id,
                    )
                )
            elif over and (key in self.read or key in self.ghosts or self.blind.whole(cm)):
                # the gateway, read since the close timed out, still holds too much and works
                # no close of ours (or one kept past a flat timed out, or a whole close in
                # doubt whose read failed: `blind`): send the next one
                assert pos is not None
                cm.attempts, why = cm.attempts + 1, self.blind.said(cm)
                self.superseded.give_up(acct, cm, now)  # (it may yet arrive: alerted if so)
                self.send_close(acct, cm, pos, now, out)
                if not self._alert_failing(acct, cm, pos, out):
                    out.append(
                        Alert(
                            Level.WARNING,
                            Reason.CLOSE_NOT_CONFIRMED,
                            f"close of {cm.contract_id} {why} (attempt {cm.attempts})",
                            acct.account_id,
                            cm.contract_id,
                        )
                    )
            elif over:
                # unheard of since it was sent: it may be done at the gateway with its records
                # late or lost. A close sized from the position last heard could then close
                # what the trader may hold: read the gateway first (again, if no read came)
                asks = self.ask_read(key, now, out)
                out.append(
                    Alert(
                        Level.CRITICAL if asks >= s.alert_after_attempts else Level.WARNING,
                        Reason.CLOSE_NOT_CONFIRMED,
                        f"close of {cm.contract_id} not confirmed: reading the gateway "
                        f"before re-sending"
                        + (f" (asked {asks} times, no read yet)" if asks > 1 else "")
                        + self.blind.why(cm),
                        acct.account_id,
                        cm.contract_id,
                    )
                )
            elif not working:  # nothing of ours works and nothing is over: it ended
                cm.close_sent_at, cm.close_unsent = None, False
                self.forget(cm)
            self.read.discard(key)  # it answers one timeout
            cm.retry_at = now + s.backoff(cm.attempts)
            self.work.dirty.add(acct.account_id)
        restore(acct, now, out)

    def _withdraw(self, acct: AccountModel, o: Order, now: datetime, out: list[Effect]) -> None:
        """Cancel our close before it takes the position past its target (`overshoots`);
        once it ends, what is still over target goes again, sized from what is open then."""
        out.append(o.cancel(acct.account_id, Reason.CLOSE_WITHDRAWN, now))
        self.work.dirty.add(acct.account_id)

    @staticmethod
    def _withdrawn(acct: AccountModel, cm: ContractModel) -> bool:
        """Our close is being cancelled (`_withdraw`): nothing more is resized for it."""
        o = acct.orders.get(cm.close_order) if cm.close_order is not None else None
        return o is not None and o.cancel_sent_at is not None

    def ask_read(self, key: tuple[int, str], now: datetime, out: list[Effect]) -> int:
        """Ask the shell to read the account; returns the asks in a row with no read since."""
        asks = self.read_asked.get(key, (now, 0))[1] + 1
        self.read_asked[key] = (now, asks)
        out.append(ReadAccount(*key))
        return asks

    def _alert_failing(
        self, acct: AccountModel, cm: ContractModel, pos: Position, out: list[Effect]
    ) -> bool:
        if cm.attempts >= self.settings.alert_after_attempts and not cm.alerted:
            cm.alerted = True
            out.append(
                Alert(
                    Level.CRITICAL,
                    Reason.CLOSE_FAILING,
                    f"{cm.attempts} close orders for {cm.contract_id} have not "
                    f"flattened the position ({pos.size} open)",
                    acct.account_id,
                    cm.contract_id,
                )
            )
            return True
        return False

    def retry(self, acct: AccountModel, now: datetime, out: list[Effect]) -> None:
        """Re-send what timed out: closes (see `pursue`) and cancels not confirmed in time
        that still stand (a lock or flatten covers the order: `cancels.lifted`)."""
        s = self.settings
        self.pursue(acct, now, out)
        if lifted(acct):
            self.work.dirty.add(acct.account_id)
        for o in acct.orders.values():
            if o.cancel_sent_at is not None and now >= o.cancel_sent_at + s.cancel_timeout:
                o.cancel_sent_at, o.cancel_attempts = now, o.cancel_attempts + 1
                out.append(
                    CancelOrder(
                        acct.account_id,
                        o.order_id,
                        o.contract_id,
                        Reason.CANCEL_NOT_CONFIRMED,
                        o.cancel_attempts,
                    )
                )
                self.work.dirty.add(acct.account_id)

    def resume(self, acct: AccountModel, held_back: set[str], now: datetime) -> None:
        """The gateway's working orders are known again (after a restart): every pending close,
        cancel and resize is due now, a close in flight judged by that read. ``held_back``: the
        contracts whose close the shell held back while they were unknown, and a close that
        waited for the budget when last saved (decided afresh: `holdback` if it went), not tries."""
        for cm in acct.contracts.values():
            if unsent := cm.close_unsent:  # (it never went: one kept past a flat is over too)
                self._clear(cm)
            if cm.state is State.Flattening:
                if cm.contract_id in held_back or unsent:
                    cm.attempts = max(cm.attempts - 1, 0)
                cm.retry_at = now
                self.forget(cm)
                if cm.close_in_flight:
                    self.read.add((acct.account_id, cm.contract_id))
        for o in acct.orders.values():
            o.unask()  # none went while held back: a reduce or `restore` sends it again
            if o.cancel_sent_at is not None:
                if o.contract_id in held_back:
                    o.cancel_attempts = max(o.cancel_attempts - 1, 0)
                o.cancel_sent_at = now - self.settings.cancel_timeout

    def read_back(self, acct: AccountModel, listing: Listing, now: datetime) -> bool:
        """A reconciliation's read was applied: the closes that timed out unheard of before it
        began are due now, to be judged by what it found (done, still working, or lost).
        True when one was waiting for it."""
        if listing.behind or listing.began is None:
            return False  # (a behind read's positions follow it; `resume` judges after it)
        waiting = False
        for cm in acct.contracts.values():
            key = (acct.account_id, cm.contract_id)
            asked, took = self.read_asked.get(key), self.accepted_at.get(key)
            # a read begun after the close timed out, or after the gateway accepted it listing no
            # close of ours working: that close is done (its records may be lost), judge now
            # (or a market exit not ours that timed out holding our close back: `holdback`)
            timed_out = asked is not None and listing.began >= asked[0]
            done = took is not None and listing.began >= took
            if (timed_out and (cm.close_in_flight or key in self.held_since)) or (
                cm.close_in_flight and done and not closes_working(acct, cm.contract_id)
            ):
                self.forget(cm)
                self.read.add(key)
                cm.retry_at = now
                waiting = True
        if waiting:
            self.work.dirty.add(acct.account_id)
        return waiting

    def accepted(self, acct: AccountModel, word: CloseWord, now: datetime) -> None:
        """Our close waits for the request budget, or goes now (`CloseWaiting`: no order is
        taken for it meanwhile); or it is in doubt with its read failed (`blind`); or the
        gateway accepted it (noted, for `read_back`): when it named the order it placed, that
        order is ours (its fills are enforcement fills) and is the close in flight, so it need
        not be recognised among the order events."""
        cm, key = acct.contracts.get(word.contract_id), (acct.account_id, word.contract_id)
        if cm is None or not cm.close_in_flight or word.seq not in (None, cm.close_seq):
            return  # (late, from the close before)
        if (ev := self.blind.told(cm, word)) is None:
            return
        if isinstance(ev, CloseWaiting) and ev.waiting:
            cm.close_unsent = True
            self.work.dirty.add(acct.account_id)  # (stored: a restart does not count it a try)
            return
        if isinstance(ev, CloseWaiting):  # it goes now: its timeout counts from now, and
            if cm.close_unsent:  # what was read or seen while it waited judges it no more
                cm.close_sent_at, cm.retry_at = now, now + self.settings.backoff(cm.attempts)
                self.forget(cm)
                self.ghosts.discard(key)
                self.work.dirty.add(acct.account_id)
            cm.close_unsent = False
            return
        cm.close_unsent = False
        self.accepted_at[key] = now
        if ev.order_id is None:
            return
        if cm.close_order is None and ev.order_id not in acct.own_orders:
            cm.close_order = ev.order_id
            acct.own_orders.add(ev.order_id)
            cm.close_filled = acct.day.filled(ev.order_id)
            self.work.dirty.add(acct.account_id)

    def order_event(
        self, acct: AccountModel, cm: ContractModel, ev: OrderEvent, now: datetime
    ) -> None:
        """Recognise our close's order among the order events (`closes.is_our_close`), and
        notice when it is final."""
        if cm.close_order is None:
            if not is_our_close(acct, cm, ev, cm.close_unsent):
                return
            cm.close_order = ev.order_id
            acct.own_orders.add(ev.order_id)
            cm.close_filled = acct.day.filled(ev.order_id)  # (its fills may come first)
        if ev.order_id != cm.close_order or ev.status.working:
            return
        cm.close_volume = ev.fill_volume or (ev.size if ev.status is OrderStatus.FILLED else 0)
        self.progress(acct, cm, now)

    def progress(self, acct: AccountModel, cm: ContractModel, now: datetime) -> None:
        """Our close is done once its order is final and every fill it reported was seen
        (so the position we size the next close from already counts them)."""
        if cm.close_volume is None or cm.close_filled < cm.close_volume:
            return
        self.ended(acct, cm, now, progressed=cm.close_volume > 0 or cm.close_filled > 0)

    def ended(
        self, acct: AccountModel, cm: ContractModel, now: datetime, *, progressed: bool
    ) -> None:
        """The close in flight is done: the next one (if still over target) may go at once
        after a fill; after a refusal, at once only if the position moved since it was sized
        (the refusal may be about that size), else after a second, doubling (`after_refusal`),
        or, while the market is closed (its daily break, the weekend), at the reopen: no close
        can fill before it, and one re-sent at each step of the backoff would spend the request
        budget for nothing and still go up to a whole step after the reopen. The tries before
        it do not count then: one refused at the reopen goes again after a second."""
        if not cm.close_in_flight:
            return
        self._clear(cm)
        self.work.dirty.add(acct.account_id)
        if progressed:
            cm.attempts, cm.alerted = 0, False
            cm.retry_at = now  # due: the next close (if any) goes with this event
            return
        pos = acct.positions.get(cm.contract_id)
        if pos is None or open_size(pos) != cm.close_basis:
            cm.retry_at = now  # moved
        elif (reopen := self.settings.reopen(now)) is not None:
            cm.retry_at, cm.attempts, cm.alerted = reopen, 0, False
        else:
            cm.retry_at = now + self.settings.after_refusal(max(cm.attempts, 1))

    def send_close(
        self, acct: AccountModel, cm: ContractModel, pos: Position, now: datetime, out: list[Effect]
    ) -> None:
        """Put one close (or reduce) in flight, sized from what is open now; with a reduce,
        the trader's orders it leaves larger than the position are resized (`brackets`)."""
        if (effect := close_effect(acct, cm, pos, acct.close_seq + 1)) is None:
            return
        self._clear(cm)
        acct.close_seq = cm.close_seq = acct.close_seq + 1
        cm.close_sent_at, cm.wanted_since = now, cm.wanted_since or now
        cm.close_size = effect.size if isinstance(effect, ReducePosition) else 0
        cm.close_side, cm.close_basis = pos.closing_side, open_size(pos)
        self.sent.sent(cm, now)  # (whose an order not known as ours may be: `theirs`)
        judged = self.judged[(acct.account_id, cm.contract_id)] = {}
        out.extend((effect, *resized(acct, cm, pos, now, judged)))

    def _clear(self, cm: ContractModel) -> None:
        """No close of ours in flight any more (what the next one asks is set when it goes)."""
        cm.close_sent_at, cm.close_order, cm.close_filled, cm.close_volume = None, None, 0, None
        self.judged.pop((cm.account_id, cm.contract_id), None)
        self.ghosts.discard((cm.account_id, cm.contract_id))
        cm.close_unsent = False
        self.forget(cm)

    def forget(self, cm: ContractModel) -> None:
        """Drop the read marks of the contract's close (it is over, or a read answered it)."""
        key = (cm.account_id, cm.contract_id)
        self.read_asked.pop(key, None)
        self.accepted_at.pop(key, None)
        self.read.discard(key)
        self.held_since.pop(key, None)
        self.blind.drop(key)

    @staticmethod
    def cancel(
        acct: AccountModel, o: Order, reason: Reason, now: datetime, out: list[Effect]
    ) -> None:
        """One cancel for an order not ours, asked by a lock or flatten of its scope (re-sent
        only by `retry`, and only while one covers the order: `cancels.lifted`)."""
        if o.order_id in acct.own_orders or o.cancel_sent_at is not None:
            return
        out.append(o.cancel(acct.account_id, reason, now))
        o.lock_cancel = True

    def rejected(
        self, acct: AccountModel, ev: EnforcementRejected, now: datetime, out: list[Effect]
    ) -> None:
        """The gateway refused a close or cancel of ours: say why, and when it goes again."""
        rejected(self, acct, ev, now, out)
