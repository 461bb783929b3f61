"""RULE-004 trailing_drawdown: equity may not touch the floor, ``peak - drawdown``.

Equity is the gateway's balance, plus realized P&L not yet in a balance update, plus the open
positions' unrealized P&L (``view.equity``). The peak it trails is kept per account in this
rule's memory (``rule_state["RULE-004"]``: ``start`` and ``peak`` as decimal strings):

- it is seeded the first time the gateway reports a balance: ``max(starting balance, balance)``
  (the starting balance is the configured one, or else that first balance), and never below
  the equity at the day's and at the week's start the books imply (equity less the period's
  net P&L): with no stored peak (a first start, a lost database) the day's and week's trades
  are rebuilt from the gateway, and a peak seeded from a live balance before them is lifted
  so at the first read's balance (``lift``). Taken from the week's trades with no starting
  balance configured, it is noted (``rebuilt``) and status says the firm's may be higher;
- ``intraday``: it then rises with equity on every mark and balance change, but only from a
  settled view: every open position valued at a fresh quote and no realized P&L awaiting a
  balance update (between a closing fill and the next balance update the fill's P&L may still
  be in the position's unrealized P&L too, and a peak must never rise on a double count);
- ``end_of_day``: it rises to the equity at each daily reset, and only then: to
  ``max(peak before, equity at the reset)``, both kept (``before``, ``equity``, with the reset's
  instant, ``reset``) so that a fill stamped before the reset whose record comes after it
  corrects the peak to what it would have been had the fill been known at the reset
  (``late``: the change such fills made to the equity then, see `Book.take_fill`);
- with ``freeze_at_start`` it never rises above ``starting balance + drawdown``: once the floor
  reaches the starting balance it stays there.

A trade the gateway voids (its P&L out of the books, see `core.voids`) may give back, in
``intraday`` mode, what it raised the peak by. Whether the void left the trade's contracts
where they were (every equity since was then lower by its net P&L ``n``) or gave them back
(their marks carry what it made: equity without it reached the peak all the same) is the
gateway's to say: the void asks for a read of the account (`Rule.on_void`), and the peak
waits (`waiting`, not stored) for it. Only a trade list asked for after the void, read with
the contract as the account's fills make it with the voided trade still counted (as it was
at the void), no new fill in it and no record of it saying otherwise in between, within
`GIVE_BACK_WAIT`, lowers the peak: to ``max(b, peak - n)``, ``b`` being the peak just before
the trade was applied, and never below the settled equity seen since the void (each quote is
observed while it waits). Exact when the peak last rose after the trade and before the void,
never below what equity without the trade reached. Anything else leaves the peak where it is:
the contracts back, a record of them or a fill meanwhile, a peak risen since the void, the
account's trades being read again, a reset or a restart. A winning trade's void heard while
another waits is queued behind it, taken up once that one is given back.
``raised`` keeps ``b`` by trade id for the day's winning trades (a void of a loss lowers no
peak), the latest `RAISED_KEPT`, in the order they came (a given-back void also takes its
``n`` off the later ones' ``b``, never below what equity reached since the void for those
made after it): a void of one not kept, of an earlier day's, or of the service's own close
(no rule sees those) leaves the peak as it is, as does one once the peak is frozen at its
cap (how far equity rose beyond the cap is not kept).

The breach is checked on every event, in both modes, on what is certain: the balance and the
positions valued at fresh quotes. A stale quote's value, realized P&L no balance update
confirms yet and value kept for a position dropped before its fill count only where they keep
the rule from firing. A balance move no fill explains (a record stale or replayed, a trade
record late or lost) is in no equity until a read of the balance confirms it: it neither
fires the rule nor hides a breach (`Ledger.account`). Once flat the account is locked
(``LockedWeekly`` by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import (
    AccountUpdate,
    Event,
    Fill,
    PositionUpdate,
    Quote,
    Tick,
    TradesSnapshot,
)
from fsm_risk.core.models import ZERO, Position
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import ESTIMATED, estimating, listed
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import (
    UNBOUNDED,
    AccountView,
    Action,
    Band,
    Outcome,
    Rule,
    RuleContext,
    Usage,
    Verdict,
    Void,
    used,
)
from fsm_risk.schema import Field

_LOCKS = {"lockedweekly": State.LockedWeekly, "lockeddaily": State.LockedDaily}
#: how many of the day's winning trades ``raised`` keeps (its size is in every commit)
RAISED_KEPT = 32
#: how long a void's give-back waits for the read that settles it (then: left, the peak kept)
GIVE_BACK_WAIT = timedelta(minutes=5)
_amount = schema.amount()
#: what status says of a peak rebuilt from the week's trades (see `TrailingDrawdown._rebuilt`)
REBUILT = (
    "peak rebuilt from this week's trades (no stored peak, starting_balance empty): "
    "the firm's own peak may be higher"
)


def optional_amount(text: str) -> Decimal | None:
    """An amount in dollars, or nothing (empty text)."""
    return _amount(text) if text else None


@dataclass(frozen=True)
class Config:
    drawdown: Decimal
    mode: str  # intraday | end_of_day
    starting_balance: Decimal | None  # None: the first balance the gateway reports
    freeze_at_start: bool
    lock: State

    @property
    def intraday(self) -> bool:
        return self.mode == "intraday"


@dataclass(slots=True)
class _Peak:
    """One account's peak as decimals, decoded once from its memo (``text`` is the memo's
    own string object: the entry is valid while the memo still holds that very object)."""

    text: str
    peak: Decimal
    floor: Decimal
    cap: Decimal | None  # the highest the peak may go (freeze at start), None: no cap


@dataclass(slots=True)
class _Waiting:
    """A winning trade's void whose give-back waits for the gateway's word on its contract:
    the peak then (``peak``), what it would give back to (``floor``: ``max(b, peak - n)``),
    ``b`` (``before``), the trades kept before and after it (``earlier``, ``later``), the
    highest settled equity seen since (``top``), and when (``at``)."""

    void: Void
    peak: Decimal
    floor: Decimal
    before: Decimal
    earlier: frozenset[str]
    later: frozenset[str]
    at: datetime
    top: Decimal = Decimal("-Infinity")
    #: winning trades' voids heard while this one waits, in order: each is taken up (and
    #: its ``b`` read from ``raised``, where it stays) once the ones before it are given back
    queued: list[_Queued] = field(default_factory=list)


@dataclass(slots=True)
class _Queued:
    """A void heard while another waits: when (``at``), and what settled equity reached since
    (``top``)."""

    void: Void
    at: datetime
    top: Decimal = Decimal("-Infinity")


class TrailingDrawdown(Rule):
    id = "RULE-004"
    name = "trailing_drawdown"
    fires_when = "equity <= peak - drawdown (peak trails intraday or at end of day)"
    default_action = "flatten + cancel, LockedWeekly until the next weekly reset (configurable)"
    tighter = {
        "drawdown": strict.lower,
        "mode": strict.ranked("end_of_day", "intraday"),
        "freeze_at_start": strict.false_is_stricter,
        "lock": strict.ranked("lockeddaily", "lockedweekly"),
    }
    fields = (
        Field(
            "drawdown",
            schema.amount(),
            "2000",
            "how far equity may fall below its peak before the account is flattened ($)",
        ),
        Field(
            "mode",
            schema.choice("intraday", "end_of_day"),
            "end_of_day",
            "end_of_day: the peak is the equity at each daily reset; "
            "intraday: it follows every mark",
        ),
        Field(
            "starting_balance",
            optional_amount,
            "",
            "the account's starting balance ($); empty: the first balance the broker reports",
        ),
        Field(
            "freeze_at_start",
            schema.boolean,
            "true",
            "true: the floor stops rising once it reaches the starting balance",
        ),
        Field(
            "lock",
            schema.choice(*_LOCKS),
            "LockedWeekly",
            "the lock once flat: LockedWeekly (to the weekly reset) or LockedDaily",
        ),
    )
    reacts_to = frozenset({Quote, Fill, PositionUpdate, AccountUpdate, Tick})
    waits_for_trades = True
    judges_unread = True  # (past a grace, equity with the listed balance's move: `core.unjudged`)
    stateful = True
    trails = True  # above the band the equity is above the peak: the floor is far below

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        start: Decimal | None = values["starting_balance"]
        drawdown: Decimal = values["drawdown"]
        if start is not None and start <= drawdown:
            raise ValueError(
                f"starting_balance: must be above the drawdown of {drawdown}, got {start}"
            )
        return Config(
            drawdown, values["mode"], start, values["freeze_at_start"], _LOCKS[values["lock"]]
        )

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        return Outcome(Action.FLATTEN, config.lock)

    config: Config

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self._drawdown = config.drawdown
        self._intraday = config.intraday
        self._rid = self.id
        self._peaks: dict[int, _Peak] = {}  # account id -> decoded peak (a cache of the memo)
        self._marks, self._stale_after = ctx.marks, ctx.stale_after
        #: the instant a quote's marks must be newer than, for the quote being handled (every
        #: holder of the contract is trailed at the same ``now``: subtracted once per quote)
        self._oldest: tuple[datetime | None, datetime] = (None, datetime.min.replace(tzinfo=UTC))

    # -- memory ------------------------------------------------------------------------------

    def _decode(self, account_id: int, memo: dict[str, Any], text: str) -> _Peak:
        cfg = self.config
        start = cfg.starting_balance
        if start is None:
            start = Decimal(memo.get("start", text))
        cap = start + cfg.drawdown if cfg.freeze_at_start else None
        peak = Decimal(text)
        if cap is not None and peak > cap:
            peak = cap  # the settings changed since the peak was stored
        entry = self._peaks[account_id] = _Peak(text, peak, peak - cfg.drawdown, cap)
        return entry

    def _entry(self, account_id: int, memo: dict[str, Any]) -> _Peak | None:
        text = memo.get("peak")
        if text is None:
            return None
        entry = self._peaks.get(account_id)
        if entry is None or entry.text is not text:
            entry = self._decode(account_id, memo, text)
        return entry

    def _store(
        self, account_id: int, memo: dict[str, Any], peak: Decimal, cap: Decimal | None
    ) -> None:
        if cap is not None and peak > cap:
            peak = cap
        text = memo["peak"] = str(peak)
        self._peaks[account_id] = _Peak(text, peak, peak - self._drawdown, cap)

    def _seed(self, memo: dict[str, Any], view: AccountView, live: bool = False) -> _Peak | None:
        """The first balance seen: record the starting balance and the first peak, never below
        what the period's books imply (`_booked`): with no stored peak (a first start, a lost
        database) the day's and week's trades are rebuilt from the gateway. A ``live`` balance
        (the feed's, not a read's) may come before them: the first read's lifts it (`_lift`)."""
        balance = view.balance
        if balance is None:
            return None
        start = self.config.starting_balance
        if start is None:
            start = balance
        memo["start"] = str(start)
        cap = start + self._drawdown if self.config.freeze_at_start else None
        if live:
            memo["lift"] = "1"  # (to the first read's balance)
        self._store(view.account_id, memo, max(start, balance, self._booked(view)), cap)
        self._rebuilt(memo, view)
        return self._peaks[view.account_id]

    @staticmethod
    def _booked(view: AccountView) -> Decimal:
        """The lowest peak the books imply: the equity at the day's and at the week's start
        (equity less the period's net P&L, open P&L included: the value a reset carried of
        the positions it held counts as equity then). Both modes' peak is at least these: a
        reset's equity (``end_of_day``), an equity seen (``intraday``). A period a position
        began before (held now, or closed today) is left out: its value at the period's start
        is not known with no stored state (the carry 0), and its P&L since entry, taken off
        as the period's, would put the peak above any equity seen (a false lock)."""
        now = view.balance
        assert now is not None
        now += view.pending_realized
        began = [p.opened_at for p in view.positions.values()]
        began += [t.opened_at for t in view.day.trips]
        return max(
            (
                now + book.carry - book.realized
                for book in (view.day, view.week)
                if all(at >= book.start for at in began)
            ),
            default=now - view.pending_realized,
        )

    def _rebuilt(self, memo: dict[str, Any], view: AccountView) -> None:
        """Note a peak taken from the week's trades (no stored peak, no starting balance): the
        firm's own peak may be higher (a higher equity earlier, or before this week)."""
        if self.config.starting_balance is None and (view.week.realized or view.week.fees):
            memo["rebuilt"] = memo["peak"]

    def _lift(self, memo: dict[str, Any], view: AccountView) -> None:
        """A peak seeded from a live balance (``lift``) rises to what the books imply at the
        first read's balance (read after its trades: the day's and week's are in), once."""
        del memo["lift"]
        entry = self._entry(view.account_id, memo)
        if entry is None or view.balance is None or not (view.week.realized or view.week.fees):
            return  # (no trade this week: the books imply no more than the balance)
        booked = self._capped(self._booked(view), entry.cap)
        if booked > entry.peak:
            self._store(view.account_id, memo, booked, entry.cap)
            self._rebuilt(memo, view)

    def observe(self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime) -> bool:
        if estimating(view):  # judged while its trades are unread: the peak does not move
            if isinstance(event, Fill):
                self.unjudged(memo, view, event)  # (as while it waits)
            return False
        text = memo.get("peak")
        seeded = False
        if (
            text is not None
            and "lift" in memo
            and isinstance(event, AccountUpdate)
            and event.applied is not None
        ):
            self._lift(memo, view)
            seeded = True  # (the memo changed: ``lift`` is gone, the peak may have risen)
            text = memo["peak"]
        if text is not None and self._intraday and isinstance(event, Fill):
            self._before(memo, view, event)  # (a fill raises no peak on its own event)
        if text is None:
            read = isinstance(event, AccountUpdate) and event.applied is not None
            if self._seed(memo, view, live=not read) is None:
                return False  # no balance reported yet
            if not self._intraday:
                return True
            text, seeded = memo["peak"], True
        elif not self._intraday:
            # end of day: the peak moves only at a reset
            return self._late(memo, view) or seeded
        # the quote hot path: the cached peak, one addition chain and one comparison
        entry = self._peaks.get(view.account_id)
        if entry is None or entry.text is not text:
            entry = self._decode(view.account_id, memo, text)
        equity = view.equity
        waiting = self.waiting.get(view.account_id) if self.waiting else None
        if waiting is not None and now - waiting.at > GIVE_BACK_WAIT:
            del self.waiting[view.account_id]  # (over: quotes alone never reach `heard`)
            waiting = None
        if (
            waiting is not None
            and equity is not None
            and equity > waiting.top
            and self._settled(view, equity, now)
        ):
            waiting.top = equity  # (what equity reached since the void: kept in any case)
            for q in waiting.queued:
                q.top = max(q.top, equity)
        if equity is None or equity <= entry.peak:
            return seeded
        cap = entry.cap
        if cap is not None and entry.peak >= cap:
            return seeded  # frozen: the floor has reached the starting balance
        if not self._settled(view, equity, now):
            return seeded  # unsettled or stale: never raise a peak on it
        self._store(view.account_id, memo, equity, cap)
        return True

    def _settled(self, view: AccountView, equity: Decimal, now: datetime) -> bool:
        """Whether ``equity`` is settled and fresh: one a peak may rise to."""
        balance = view.balance
        assert balance is not None  # equity is known
        return not (
            equity != balance + view.open_upnl
            or view.unsettled
            or (view.unexplained and view.positions)  # a move a position may hold too
            or not self.ctx.all_fresh(view, now)
        )

    def _before(self, memo: dict[str, Any], view: AccountView, fill: Fill) -> None:
        """Remember the peak before a winning trade, for its void."""
        fills = view.day.fills
        record = fills[-1] if fills and fills[-1].trade_id == fill.trade_id else None
        net = record.net if record is not None else (fill.pnl or ZERO) - fill.fees
        entry = self._entry(view.account_id, memo)
        if net <= 0 or entry is None or (entry.cap is not None and entry.peak >= entry.cap):
            return  # (frozen: no void moves it)
        raised: dict[str, str] = memo.setdefault("raised", {})
        raised[str(fill.trade_id)] = str(entry.peak)
        while len(raised) > RAISED_KEPT:
            del raised[next(iter(raised))]

    def unjudged(self, memo: dict[str, Any], view: AccountView, fill: Fill) -> None:
        if self._intraday and memo.get("peak") is not None:
            self._before(memo, view, fill)  # (the peak does not move while behind)

    def on_void(
        self, memo: dict[str, Any], view: AccountView, void: Void, now: datetime
    ) -> str | None:
        raised: dict[str, str] | None = memo.get("raised")
        key = str(void.trade_id)
        if not raised or key not in raised:
            return None  # not one of the day's winning trades kept (see the module's docstring)
        ahead: _Waiting | None = self.waiting.get(view.account_id)
        held = view.positions.get(void.contract_id)
        if ahead is not None:
            # another waits: this one is taken up once it is given back (in the order heard,
            # as if each had had its read), its ``b`` left in ``raised`` until then
            if void.net <= 0 or (held.signed if held else 0) != void.size:
                raised.pop(key)
                return None  # the gateway's position is not the fills': left
            ahead.queued.append(_Queued(void, now))
            return void.contract_id  # (a read begun after this void, too)
        return self._wait(memo, view, void, now, Decimal("-Infinity"))

    def _wait(
        self, memo: dict[str, Any], view: AccountView, void: Void, at: datetime, top: Decimal
    ) -> str | None:
        """Take up a void's give-back (``at`` when heard, ``top``: settled equity since)."""
        raised: dict[str, str] = memo.get("raised", {})
        key = str(void.trade_id)
        if key not in raised:
            return None  # (no longer kept)
        keys = list(raised)
        pos = keys.index(key)
        earlier, later = frozenset(keys[:pos]), frozenset(keys[pos + 1 :])
        before = Decimal(raised.pop(key))
        entry = self._entry(view.account_id, memo)
        if not self._intraday or entry is None or void.net <= 0:
            return None
        if entry.cap is not None and entry.peak >= entry.cap:
            return None  # frozen: how far equity rose beyond the cap is not known
        floor = max(before, entry.peak - void.net)
        held = view.positions.get(void.contract_id)
        if floor >= entry.peak or (held.signed if held else 0) != void.size:
            return None  # nothing to give back; or the gateway's position is not the fills'
        waiting = _Waiting(void, entry.peak, floor, before, earlier, later, at, top)
        self.waiting[view.account_id] = waiting
        return void.contract_id  # (the read that says whether the contracts came back)

    def heard(self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime) -> None:
        w: _Waiting = self.waiting[view.account_id]
        cid = w.void.contract_id
        if (
            now - w.at > GIVE_BACK_WAIT
            or view.behind
            or view.missed
            or any(
                view.net.get(v.contract_id, 0) != v.size  # a fill in it (not a read's repeats)
                or (
                    isinstance(event, PositionUpdate)
                    and event.contract_id == v.contract_id
                    and event.signed != v.size
                )
                for v in (w.void, *(q.void for q in w.queued))
            )
        ):
            del self.waiting[view.account_id]  # the contracts (may) have moved: all left
            return
        if not isinstance(event, TradesSnapshot) or event.until is not None:
            return
        if event.voided is None or w.void.trade_id not in event.voided:
            return  # a read asked for before the void: older news
        del self.waiting[view.account_id]
        held = view.positions.get(cid)
        entry = self._entry(view.account_id, memo)
        if (held.signed if held else 0) != w.void.size or entry is None or entry.peak != w.peak:
            return  # the contracts came back (or the peak moved since): the peak is left
        raised: dict[str, str] = memo.get("raised", {})
        for k, b in raised.items():  # the later trades' peaks before them held its P&L too
            if k in w.later:  # (made before the void)
                raised[k] = str(max(w.before, Decimal(b) - w.void.net))
            elif k not in w.earlier:  # made since: what equity reached since counts too
                raised[k] = str(max(w.before, Decimal(b) - w.void.net, w.top))
        floor = max(w.floor, w.top)
        if floor < entry.peak:
            self._store(view.account_id, memo, floor, entry.cap)
        while w.queued:  # the next void heard meanwhile, as if its own wait began now
            q = w.queued.pop(0)
            if self._wait(memo, view, q.void, q.at, q.top) is not None:
                self.waiting[view.account_id].queued = w.queued
                self.heard(memo, view, event, now)  # this read may be its word too
                return

    def on_reset(self, memo: dict[str, Any], view: AccountView, weekly: bool, at: datetime) -> None:
        memo.pop("raised", None)  # (the day's trades: a void of an older one moves no peak)
        self.waiting.pop(view.account_id, None)
        if weekly or self._intraday:
            return
        entry = self._entry(view.account_id, memo) or self._seed(memo, view)
        equity = view.equity
        if entry is None or equity is None:
            return
        memo.update(reset=at.isoformat(), before=str(entry.peak), equity=str(equity), late="0")
        if equity > entry.peak:
            self._store(view.account_id, memo, equity, entry.cap)

    def _late(self, memo: dict[str, Any], view: AccountView) -> bool:
        """End of day: the fills stamped before the day's reset whose records came after it
        change the equity at that reset by ``view.day.late`` (their net P&L less the value the
        reset carried of the contracts they closed): the peak is taken again, as if they had
        been known then, from the peak before the reset (never below it) and that equity."""
        late, applied = view.day.late, memo.get("late")
        if late is None or applied is None or str(late) == applied:
            return False  # (None: a reset applied at a restore, redone from the trades)
        entry = self._entry(view.account_id, memo)
        if entry is None or memo.get("reset") != view.day.start.isoformat():
            return False  # the record is of an older reset (the mode was intraday since)
        memo["late"] = str(late)
        before, equity = Decimal(memo["before"]), Decimal(memo["equity"])
        if entry.peak != self._capped(max(before, equity + Decimal(applied)), entry.cap):
            return True  # moved since by other means (intraday for a while): left as it is
        self._store(view.account_id, memo, max(before, equity + late), entry.cap)
        return True

    @staticmethod
    def _capped(peak: Decimal, cap: Decimal | None) -> Decimal:
        return peak if cap is None or peak <= cap else cap

    # -- the rule ----------------------------------------------------------------------------

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        # the quote hot path: the cached floor (valid while the memo holds the same peak
        # string), equity, one comparison
        memo = view.rule_state.get(self._rid)
        if memo is None:
            return ()
        text = memo.get("peak")
        entry = self._peaks.get(view.account_id)
        if entry is None or entry.text is not text:
            if text is None:
                return ()
            entry = self._decode(view.account_id, memo, text)
        equity = view.equity
        if equity is None:
            return ()
        shift = ZERO
        if view.unjudged is not None:  # its trades unread past a grace: `unjudged.listed`
            found = listed(view)
            if found is None:
                return ()
            equity += found
            shift = found
        if equity > entry.floor:
            return ()
        doubt = self._doubt(view, now)
        if doubt and equity - doubt > entry.floor:
            return ()
        equity -= doubt
        unsure = f"; {-doubt:.2f} of losses not yet certain not counted" if doubt else ""
        if estimating(view):  # (a lock made on it ends when the trades are read: `released`)
            unsure += f"; {ESTIMATED} {shift:+.2f}, counted whole"
        cfg = self.config
        until = self.ctx.next_reset(view, now, weekly=cfg.lock is State.LockedWeekly)
        return (
            Verdict(
                self.id,
                Reason.TRAILING_DRAWDOWN,
                Action.FLATTEN,
                lock=cfg.lock,
                until=until,
                detail=(
                    f"equity {equity:.2f} <= floor {entry.floor:.2f} "
                    f"(peak {entry.peak:.2f} - {cfg.drawdown:.2f}, {cfg.mode}{unsure})"
                ),
            ),
        )

    def _doubt(self, view: AccountView, now: datetime) -> Decimal:
        """The losses in equity that are not certain (zero or less): the rule fires on what is
        certain, the balance and positions valued at fresh quotes. What is not (a stale
        quote's value; realized P&L no balance update confirms yet; value kept for a position
        the gateway dropped before its fill, which may be counted in a position's value too)
        counts only where it keeps the rule from firing: a loss is never counted twice. A
        balance move no fill explains is in no equity (either way) until a read confirms it
        (see `Ledger.account`)."""
        stale = ZERO if self.ctx.all_fresh(view, now) else self.ctx.stale_value(view, now)[0]
        return min(view.pending_realized, ZERO) + sum(
            (min(a, ZERO) for a, _ in view.unsettled.values()), stale
        )

    def quote_band(self, view: AccountView) -> Band | None:
        memo = view.rule_state.get(self._rid)
        entry = self._entry(view.account_id, memo) if memo is not None else None
        equity = view.equity
        if entry is None or equity is None or view.account_id in self.waiting:
            return None  # not seeded yet, or a void waits: evaluate (and observe) every quote
        if view.unjudged is not None:  # judged with the listed balance's move (`evaluate`)
            found = listed(view)
            if found is None:
                return None
            equity += found
        return self._band(entry, equity - view.open_upnl)

    def _band(self, entry: _Peak, base: Decimal) -> Band:
        """The band around a peak, ``base`` being equity without the open P&L."""
        low = entry.floor - base  # fires when equity <= floor
        cap = entry.cap
        if not self._intraday or (cap is not None and entry.peak >= cap):
            return (low, UNBOUNDED[1])  # the peak no longer moves on quotes
        # only strictly above the peak does the peak move (observe): the band's exclusive
        # upper bound is the next representable value above it, so equity at the peak is in
        return (low, (entry.peak - base).next_plus())

    def trail(
        self, memo: dict[str, Any], view: AccountView, event: Event, now: datetime
    ) -> tuple[Band | None, bool]:
        # a steady rise makes every quote a new peak: ``observe`` then ``quote_band`` in one
        # pass, on the same values and in the same order (so with the same results)
        entry = self._peaks.get(view.account_id)
        balance = view.balance
        if (
            entry is None
            or entry.text is not memo.get("peak")  # (never None: a memo without a peak)
            or balance is None
            or not self._intraday
            or (self.waiting and view.account_id in self.waiting)
        ):
            return super().trail(memo, view, event, now)  # seeding, decoding: the long way
        upnl = view.open_upnl
        base = balance + view.pending_realized  # equity without the open P&L
        equity = base + upnl  # view.equity, inlined: the same sums in the same order
        peak = entry.peak
        cap = entry.cap
        below_cap = cap is None or equity <= cap  # (then peak < cap: peak < equity)
        if (
            equity > peak
            and (below_cap or peak < cap)  # type: ignore[operator]
            and base == balance  # no realized P&L awaiting a balance update (note below)
            and not view.unsettled
            and not (view.unexplained and view.positions)
        ):
            # settled (``observe`` asks equity == balance + upnl: equal operands give equal
            # sums, so base == balance implies it, and it implies base == balance wherever
            # the sums are exact, as money sums are here: cents, far inside the context's 28
            # digits; so never a peak observe would not raise, and without one more sum);
            # and fresh (ctx.all_fresh, inlined: this runs on every quote of a rise)
            at, oldest = self._oldest
            if at is not now:
                oldest = now - self._stale_after
                self._oldest = (now, oldest)
            marks = self._marks
            for c, p in view.positions.items():
                mark = marks.get(c)
                if not p.priced or mark is None or mark.at < oldest:
                    break
            else:
                if below_cap:  # the new peak is this equity (as _store)
                    entry.text = memo["peak"] = str(equity)
                    entry.peak = equity
                    floor = entry.floor = equity - self._drawdown
                    # the band's high: peak - base is the open P&L itself (equity is base +
                    # upnl); the next value above it, so equity at the peak is inside
                    return (floor - base, upnl.next_plus()), True
                assert cap is not None  # (not below a cap: there is one)
                entry.text = memo["peak"] = str(cap)  # frozen from now on
                entry.peak = cap
                entry.floor = cap - self._drawdown
                return (entry.floor - base, UNBOUNDED[1]), True
        if cap is not None and peak >= cap:
            return (entry.floor - base, UNBOUNDED[1]), False
        return (entry.floor - base, (peak - base).next_plus()), False

    def position_band(self, view: AccountView, position: Position) -> Band | None:
        return UNBOUNDED

    def cap_room(self, view: AccountView) -> tuple[Decimal, ...] | None:
        if not self._intraday or not self.config.freeze_at_start:
            return ()  # the peak moves only at a reset, or has no cap
        memo = view.rule_state.get(self._rid)
        entry = self._entry(view.account_id, memo) if memo is not None else None
        equity = view.equity
        if entry is None or entry.cap is None or equity is None:
            return None  # not seeded yet (a quote may seed it)
        return () if entry.peak >= entry.cap else (entry.cap - equity,)

    def rearm_depth(self) -> Decimal | None:
        return self._drawdown

    def usage(self, view: AccountView, now: datetime) -> Usage | None:
        """The equity the rule judges (`evaluate`): the usage shown, and the level an admin's
        waiver re-arms at, never count a loss the rule itself leaves out (`_doubt`: a stale
        quote's loss counts once the contract is quoted again), and count the listed balance's
        move while the account is judged on it (`unjudged.listed`; with none to judge by, the
        rule waits: the plain equity is shown)."""
        equity = view.equity
        memo = view.rule_state.get(self.id)
        entry = self._entry(view.account_id, memo) if memo is not None else None
        if equity is None or memo is None or entry is None:
            return None
        frozen = entry.cap is not None and entry.peak >= entry.cap
        detail = f"peak {entry.peak:.2f}, {self.config.mode}" + (
            ", floor frozen at the starting balance" if frozen else ""
        )
        doubt = self._doubt(view, now)
        if doubt:
            equity -= doubt
            detail += f"; {-doubt:.2f} of losses not yet certain not counted"
        found = listed(view) if view.unjudged is not None else None
        if found is not None and estimating(view):  # judged with the listed balance's move
            equity += found
            detail += f"; {ESTIMATED} {found:+.2f}, counted whole"
        if "rebuilt" in memo and self.config.starting_balance is None:
            detail += f", {REBUILT}"
        return Usage(equity, entry.floor, "$", used(entry.peak - equity, self._drawdown), detail)
