"""The shared shape of the period P&L rules: a limit on the trading day's or week's net P&L.

RULE-003 (daily loss), RULE-005 (daily profit target) and RULE-013 (weekly loss) differ only
in the book they read (``view.day`` or ``view.week``), the direction (a loss floor, touched at
P&L <= -limit, or a profit target, touched at P&L >= target), the reason and the lock. Basis
``equity`` (default) counts realized P&L net of fees plus the open positions' unrealized P&L
since the period began; ``realized`` counts closed trades only. On the equity basis a position
whose quote is stale counts only where it keeps the rule from firing (a loss limit counts its
last gain, not its last loss; a target its last loss, not its gain): a stale quote is never
the reason the rule fires, and a contract gone quiet does not blind it to a loss made
elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from fsm_risk import schema
from fsm_risk.core.events import AccountUpdate, Event, Fill, PositionUpdate, Quote, Tick
from fsm_risk.core.models import Book, Position
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import counted, said, weekly
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
    used,
)
from fsm_risk.schema import Field

BASIS_FIELD = Field(
    "basis",
    schema.choice("equity", "realized"),
    "equity",
    "equity: realized net of fees + open unrealized; realized: closed trades only",
)


@dataclass(frozen=True)
class Config:
    amount: Decimal  # the limit or the target, a positive number of dollars
    basis: str

    @property
    def with_unrealized(self) -> bool:
        return self.basis == "equity"

    @property
    def limit(self) -> Decimal:
        return self.amount

    @property
    def target(self) -> Decimal:
        return self.amount

    @property
    def floor(self) -> Decimal:
        return -self.amount


class PeriodPnlRule(Rule):
    """Subclasses set ``period``, ``loss``, ``reason``, ``lock`` and the amount's key."""

    period: ClassVar[str]  # "day" or "week"
    loss: ClassVar[bool]  # True: fires at P&L <= -amount; False: fires at P&L >= amount
    reason: ClassVar[Reason]
    lock: ClassVar[State]
    amount_key: ClassVar[str]  # "limit" or "target"
    reacts_to = frozenset({Quote, Fill, PositionUpdate, AccountUpdate, Tick})
    waits_for_trades = True
    judges_unread = True  # (past a grace, on the balance's move: `core.unjudged`)

    config: Config

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        return Config(values[cls.amount_key], values["basis"])

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        ends = "weekly reset" if cls.lock is State.LockedWeekly else "daily reset"
        return Outcome(Action.FLATTEN, cls.lock, ends=ends)

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self._edge = -config.amount if self.loss else config.amount
        self._equity = config.with_unrealized
        self._weekly = self.period == "week"

    def _book(self, view: AccountView) -> Book:
        return view.week if self._weekly else view.day

    def _realized(self, book: Book, view: AccountView) -> Decimal:
        """The period's realized P&L; a target still counts what a firm's reset confirmed
        took off it (`Book.wiped`: a reset never loosens a limit mid-period). Its trades
        unread past a grace, the balance's move on the side that can make it fire too; the
        week's loss limit, a fall the trades never explained until the weekly reset too."""
        realized = book.realized if self.loss else book.realized + book.wiped
        if self._weekly and self.loss:
            return realized + weekly(view)
        return realized + counted(view, self.loss)

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        book = self._book(view)
        realized = self._realized(book, view)
        pnl = realized + view.open_upnl - book.carry if self._equity else realized
        if (pnl > self._edge) if self.loss else (pnl < self._edge):
            return ()
        pnl, was_stale = self._judged(view, now, pnl)
        if (pnl > self._edge) if self.loss else (pnl < self._edge):
            return ()
        left_out = "loss" if self.loss else "gain"
        stale = f"; a stale quote's {left_out} not counted" if was_stale else ""
        stale += said(view, self.loss, self._weekly)  # (on the balance's move: `core.unjudged`)
        until = self.ctx.next_reset(view, now, weekly=self.lock is State.LockedWeekly)
        cfg = self.config
        sign = "<=" if self.loss else ">="
        edge = f"-{cfg.amount:.2f}" if self.loss else f"target {cfg.amount:.2f}"
        return (
            Verdict(
                self.id,
                self.reason,
                Action.FLATTEN,
                lock=self.lock,
                until=until,
                detail=f"{self.period} P&L {pnl:.2f} {sign} {edge} ({cfg.basis}{stale})",
            ),
        )

    def quote_band(self, view: AccountView) -> Band | None:
        book = self._book(view)
        realized = self._realized(book, view)
        if self._equity:  # the edge in terms of the open P&L: realized + open - carry
            edge = self._edge - realized + book.carry
            return (edge, UNBOUNDED[1]) if self.loss else (UNBOUNDED[0], edge)
        inside = realized > self._edge if self.loss else realized < self._edge
        return UNBOUNDED if inside else None

    def position_band(self, view: AccountView, position: Position) -> Band | None:
        return UNBOUNDED

    def rearm_depth(self) -> Decimal | None:
        return self.config.amount if self.loss else None

    def _judged(self, view: AccountView, now: datetime, pnl: Decimal) -> tuple[Decimal, bool]:
        """The P&L the rule judges from the period's ``pnl`` (realized, with the open P&L
        on the equity basis), and whether a stale quote was left out of it: a quote gone
        quiet is never the reason it fires, nor a reason not to, so the positions without a
        fresh quote count only where they keep it from firing."""
        if not self._equity or self.ctx.all_fresh(view, now):
            return pnl, False
        losses, gains = self.ctx.stale_value(view, now, self._book(view))
        return pnl - (losses if self.loss else gains), True

    def usage(self, view: AccountView, now: datetime) -> Usage:
        """What the rule judges (`_judged`): the usage shown, and the level an admin's waiver
        re-arms at, never counts a stale quote the rule itself leaves out."""
        book = self._book(view)
        pnl = self._realized(book, view) + (view.open_upnl - book.carry if self._equity else 0)
        pnl, stale = self._judged(view, now, pnl)
        amount = self.config.amount
        detail = self.config.basis
        if stale:  # said, with what it leaves out: counted at the contract's next quote
            losses, gains = self.ctx.stale_value(view, now, book)
            left = losses if self.loss else gains
            if left:
                what = "loss" if self.loss else "gain"
                detail += f"; a stale quote's {what} {left:.2f} not counted till quoted"
        if self.loss:
            return Usage(pnl, -amount, "$", used(-pnl, amount), detail)
        return Usage(pnl, amount, "$", used(pnl, amount), detail)
