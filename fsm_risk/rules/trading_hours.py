"""RULE-006 trading_hours: no position and no working order outside the allowed windows, on an
exchange holiday, or past the flat-by time (early closes honoured).

The schedule (windows in a time zone, the flat-by time, holidays and early closes from the
exchange calendar plus the settings' own) is computed once per session date and cached, see
`exchange_hours`. The flat-by instant is a deadline: while the account holds anything, the
engine wakes it at the end of the current session even if no event arrives. A breach
flattens and locks the account (`LockedDaily`) until the next window opens, which is after
the weekend or the holiday when there is one.

The hours are judged by the gateway's clock when a stamp of its own (a fill's, a position's, an
order's: ``view.gateway_at``) shows it ahead of ours by no more than a gateway time may be, and
never before ours: an entry filled at the open with our clock a fraction behind stays, one
filled after the flat-by time by the gateway's clock is closed at once, and no stamp (behind
ours, or too far ahead) reopens a window our clock has closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk import schema
from fsm_risk.core.events import Event, OrderUpdate, PositionUpdate, Tick
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.core.valuation import gateway_now
from fsm_risk.rules import exchange_hours as hours
from fsm_risk.rules import tighter as strict
from fsm_risk.rules.base import AccountView, Action, Outcome, Rule, RuleContext, Usage, Verdict
from fsm_risk.schema import Field


@dataclass(frozen=True)
class Config:
    timezone: str
    windows: tuple[hours.Window, ...]
    flat_by: time | None
    early_close_lead: timedelta
    exchange_calendar: str | None
    extra_holidays: tuple[date, ...]
    early_closes: tuple[hours.EarlyClose, ...]


class TradingHours(Rule):
    id = "RULE-006"
    name = "trading_hours"
    fires_when = (
        "a position or working order outside the allowed windows, on an exchange holiday, "
        "or past the flat-by time (early closes honoured)"
    )
    default_action = "flatten + cancel, LockedDaily until the next window opens"
    tighter = {
        "windows": strict.windows_within,
        "flat_by": strict.FlatBy(),
        "extra_holidays": strict.superset,
        "early_closes": strict.EarlyCloses(),
        "early_close_lead_minutes": strict.higher,
    }
    fields = (
        Field(
            "timezone",
            schema.timezone,
            "America/Chicago",
            "time zone of the windows, the flat-by time and the dates below",
        ),
        Field(
            "windows",
            hours.parse_windows,
            "Sun-Thu 17:00-16:00",
            "when you may trade: 'DAYS HH:MM-HH:MM', comma-separated; an end before the start "
            "is the next day (Sun-Thu 17:00-16:00 = the CME equity sessions, 16:00-17:00 break); "
            "24:00 ends the day (Mon-Fri 00:00-24:00 = all day)",
        ),
        Field(
            "flat_by",
            hours.optional_clock_time,
            "15:08",
            "be flat by this time before each session ends (none: only at the window's end)",
        ),
        Field(
            "exchange_calendar",
            hours.calendar_name,
            "CME Globex Equity",
            "exchange holidays and early closes from pandas_market_calendars; none to turn off",
        ),
        Field(
            "extra_holidays",
            schema.str_list(hours.iso_date),
            "",
            "more days without trading, e.g. '2026-11-26' (the session that closes that day)",
        ),
        Field(
            "early_closes",
            schema.str_list(hours.early_close),
            "",
            "more (or corrected) early closes, e.g. '2026-12-31 12:15' (time zone above)",
        ),
        Field(
            "early_close_lead_minutes",
            schema.integer(minimum=0, maximum=240),
            "7",
            "be flat this many minutes before an early close, and before the exchange's close "
            "ahead of a holiday or the weekend",
        ),
    )
    reacts_to = frozenset({PositionUpdate, OrderUpdate, Tick})

    @classmethod
    def configure(cls, values: dict[str, Any]) -> Config:
        cfg = Config(
            values["timezone"],
            values["windows"],
            values["flat_by"],
            timedelta(minutes=values["early_close_lead_minutes"]),
            values["exchange_calendar"],
            tuple(values["extra_holidays"]),
            tuple(values["early_closes"]),
        )
        hours.check_flat_by(cfg.windows, cfg.flat_by)
        holidays = set(cfg.extra_holidays)
        seen: set[date] = set()
        for d in (e.day for e in cfg.early_closes):
            if d in holidays:
                raise ValueError(f"early_closes: {d} is also listed in extra_holidays")
            if d in seen:
                raise ValueError(f"early_closes: {d} is listed twice")
            seen.add(d)
        if cfg.exchange_calendar is not None:
            try:
                hours.exchange_days(cfg.exchange_calendar)
            except ValueError as exc:
                raise ValueError(f"exchange_calendar: {exc}") from None
        return cfg

    @classmethod
    def outcome(cls, config: Config) -> Outcome:
        return Outcome(Action.FLATTEN, State.LockedDaily, ends="the next window opens")

    config: Config

    def __init__(self, config: Config, ctx: RuleContext) -> None:
        super().__init__(config, ctx)
        self.schedule = hours.build_schedule(
            config.windows,
            config.timezone,
            config.flat_by,
            config.early_close_lead,
            config.exchange_calendar,
            config.extra_holidays,
            config.early_closes,
        )

    @staticmethod
    def _exposed(view: AccountView) -> bool:
        if view.positions:
            return True
        own = view.own_orders
        return any(o not in own for o in view.orders)

    @staticmethod
    def _at(view: AccountView, now: datetime) -> datetime:
        """When the hours are judged: by the gateway's clock when a stamp of its own shows it
        ahead of ours by no more than a gateway time may be (the fill of an entry at the open,
        with our clock a fraction behind), else by ours; never before ours, so a stamp behind
        (or too far ahead) never opens a window our clock has closed."""
        return gateway_now(view.gateway_at, now)

    def evaluate(self, view: AccountView, event: Event, now: datetime) -> Sequence[Verdict]:
        if not self._exposed(view):
            return ()
        at = self._at(view, now)
        status = self.schedule.status(at)
        if status.allowed:
            return ()
        until = self.schedule.next_open(at)
        reason = status.reason or Reason.OUTSIDE_TRADING_HOURS
        return (
            Verdict(
                self.id,
                reason,
                Action.FLATTEN,
                lock=State.LockedDaily,
                until=until,
                detail=self._detail(status, at, until),
            ),
        )

    def _detail(self, status: hours.Status, now: datetime, until: datetime | None) -> str:
        local = self.ctx.shown
        s = status.session
        if s is None:
            what = f"{local(now)} is outside the trading windows"
        elif s.holiday:
            what = f"{s.day} is an exchange holiday"
        elif s.cut == "early_close" and s.early_close is not None:
            what = f"early close {local(s.early_close)}: flat by {local(s.stop)}"
        elif s.cut in ("holiday_close", "weekend_close") and s.close is not None:
            closure = "a holiday" if s.cut == "holiday_close" else "the weekend"
            what = f"the exchange closes {local(s.close)} before {closure}: flat by {local(s.stop)}"
        elif s.cut == "daily_close" and s.close is not None:
            what = (
                f"the exchange closes {local(s.close)}, before the flat-by time: "
                f"flat by {local(s.stop)}"
            )
        else:
            what = f"past the flat-by time {local(s.stop)}"
        return what + (f"; next window opens {local(until)}" if until else "")

    def next_deadline(self, view: AccountView, now: datetime) -> datetime | None:
        if not self._exposed(view):
            return None
        return self.schedule.status(self._at(view, now)).stop

    def hours(self, now: datetime) -> tuple[bool, datetime | None]:
        """What governs trading now: (True, the flat-by instant) inside a window, else
        (False, when the next window opens; None if none is known)."""
        status = self.schedule.status(now)
        if status.allowed and status.session is not None:
            return True, status.session.stop
        return False, self.schedule.next_open(now)

    def usage(self, view: AccountView, now: datetime) -> Usage:
        status = self.schedule.status(now)
        s = status.session
        if status.allowed and s is not None:
            length = Decimal(int((s.stop - s.open).total_seconds()))
            elapsed = Decimal(int((now - s.open).total_seconds()))
            fraction = elapsed / length if length > 0 else Decimal(1)
            detail = f"open; flat by {self.ctx.shown(s.stop)}"
            return Usage(elapsed, length, "s", fraction, detail)
        until = self.schedule.next_open(now)
        detail = "closed" + (f" until {self.ctx.shown(until)}" if until else "")
        return Usage(Decimal(0), Decimal(0), "s", Decimal(1), detail)
