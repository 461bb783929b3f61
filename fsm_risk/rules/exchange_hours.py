"""Trading windows, exchange holidays and early closes: the pure calendar maths of RULE-006.

A *window* is a weekly wall-clock interval in one IANA time zone, written ``Sun-Thu
17:00-16:00``: it opens on each listed weekday at the first time and closes at the second,
on the next day when the second time is not after the first (so that example is the CME
equity-index session, Sunday to Thursday evening until 16:00 the next afternoon). An end of
``24:00`` is midnight at the end of the day, so ``Mon-Fri 00:00-24:00`` is the whole of each
day. Windows are at most a day long and never overlap.

Each occurrence of a window is a `Session`. Like CME, a session is labelled by the date it
closes on (its *session date*). A holiday removes the session of that date; an early close
cuts it short: trading must stop ``lead`` before the early close. A flat-by time cuts every
session short the same way (15:08 Chicago in a session that closes at 16:00); one that falls
in a spring-forward gap stops at the moment of the change. A window that runs
past the exchange's close into its next session stops ``lead`` before that close when the
next session is an exchange holiday (a position cannot be closed while the exchange is shut:
one held past 16:00 Chicago on New Year's Eve is held 73 hours) or after the weekend (unless
another window takes over the instant it ends), and before the next session's early close
when it has one, whatever the window's zone. A flat-by that falls at or after the exchange's
daily close while it is shut (a flat-by written in London falls after CME's 16:00 in the weeks
the US is on summer time and the UK is not) stops ``lead`` before that close. The settings'
holidays and early closes cut like the library's; with the library turned off in the settings
the exchange is CME Globex (closing at 16:00 Chicago, shut for the weekend). The instant a
session's trading must stop is its ``stop``; its ``end`` stays the window's end, so the time
between the two is "past the flat-by time" rather than "outside the windows".

Exchange holidays and early closes come from ``pandas_market_calendars`` (a maintained
library that knows the CME Globex schedules) through `ExchangeDays`, a small typed wrapper
that computes each year once and caches it; settings can add holidays and early closes or
turn the library off. Wall times become instants with `SessionCalendar.at`, so every session
is right across daylight-saving changes (a wall time in a spring-forward gap moves forward,
an ambiguous one takes its first occurrence). Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fsm_risk import schema
from fsm_risk.core.reasons import Reason
from fsm_risk.core.sessions import SessionCalendar

WEEK = 7 * 24 * 3600
DAY = 24 * 3600
#: how far ahead `TradingSchedule.next_open` looks for an open session
HORIZON_DAYS = 400
#: the zone of the CME Globex calendars' session dates (a library calendar says its own)
EXCHANGE_TZ = "America/Chicago"
#: the CME Globex daily close: a session opening at or after it (in the exchange's zone) is
#: the next date's (it reopens at 17:00, for the session that closes the next day); None for
#: a calendar whose sessions close on the date they open (a library calendar says which)
EXCHANGE_ROLL: time | None = time(16, 0)
#: the CME Globex daily reopen after its maintenance break (17:00 Chicago, the next date's
#: session): a flat-by from `EXCHANGE_ROLL` until then falls while the exchange is shut
EXCHANGE_REOPEN = time(17, 0)
#: years computed at once when an exchange calendar is loaded (others: on first use)
PRECOMPUTED_YEARS = range(2020, 2041)

# --- settings parsers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly trading window: opens on ``weekday`` (0 = Monday) at ``start`` and closes at
    ``end`` on the same day, or on the next day when ``end`` is not after ``start``."""

    weekday: int
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def seconds(self) -> tuple[int, int]:
        """(open, close) in seconds from Monday 00:00 (close may pass the end of the week)."""
        start = self.weekday * DAY + _secs(self.start)
        end = self.weekday * DAY + _secs(self.end) + (DAY if self.crosses_midnight else 0)
        return start, end

    def contains(self, t: time) -> bool:
        """Whether the wall time ``t`` falls strictly inside the window."""
        if self.crosses_midnight:
            return t > self.start or t < self.end
        return self.start < t < self.end

    def __str__(self) -> str:
        day = schema.WEEKDAYS[self.weekday].title()
        end = "24:00" if self.end == self.start == MIDNIGHT else _hhmm(self.end)
        return f"{day} {_hhmm(self.start)}-{end}"


MIDNIGHT = time(0)
_TIME_RE = r"\d{1,2}:\d{2}(?::\d{2})?"
#: the end of the day, as a window's end only
_END_OF_DAY = re.compile(r"^24:00(?::00)?$")
_WINDOW = re.compile(
    rf"^([A-Za-z]+)(?:\s*-\s*([A-Za-z]+))?\s+({_TIME_RE})\s*-\s*({_TIME_RE})$",
)


def parse_windows(text: str) -> tuple[Window, ...]:
    """'Sun-Thu 17:00-16:00, Sat 09:00-12:00' -> one `Window` per weekday, in weekly order.
    Refuses empty windows and windows that overlap (naming both)."""
    if not text.strip():
        raise ValueError("must list at least one window such as 'Sun-Thu 17:00-16:00'")
    windows: list[Window] = []
    for part in text.split(","):
        entry = part.strip()
        m = _WINDOW.match(entry)
        if m is None:
            raise ValueError(
                f"'{entry}' must be days and times such as 'Mon-Fri 08:30-15:00' "
                "(an end before the start is the next day)"
            )
        first = schema.weekday(m[1])
        last = schema.weekday(m[2]) if m[2] else first
        start = schema.clock_time(m[3])
        whole_day = start == MIDNIGHT and _END_OF_DAY.match(m[4]) is not None
        # 24:00 ends the day: midnight, the next day's 00:00
        end = MIDNIGHT if _END_OF_DAY.match(m[4]) else schema.clock_time(m[4])
        if start == end and not whole_day:
            raise ValueError(
                f"'{entry}' is empty: it starts and ends at {_hhmm(start)} "
                "(a whole day is 00:00-24:00)"
            )
        for k in range((last - first) % 7 + 1):
            windows.append(Window((first + k) % 7, start, end))
    windows.sort(key=lambda w: w.seconds())
    for i in range(len(windows) if len(windows) > 1 else 0):
        w0, w1 = windows[i], windows[(i + 1) % len(windows)]
        next_start = w1.seconds()[0] + (WEEK if i + 1 == len(windows) else 0)
        if w0.seconds()[1] > next_start:  # the last one is compared with next week's first
            raise ValueError(f"windows '{w0}' and '{w1}' overlap")
    return tuple(windows)


def optional_clock_time(text: str) -> time | None:
    """HH:MM, or empty (or none) for none."""
    return None if text.lower() in ("", "none", "off") else schema.clock_time(text)


def calendar_name(text: str) -> str | None:
    """An exchange calendar name of pandas_market_calendars, or none/off/empty for none."""
    return None if text.lower() in ("", "none", "off", "false") else text


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"must be a date as YYYY-MM-DD, got '{text}'") from None


@dataclass(frozen=True, slots=True)
class EarlyClose:
    """A session date and the local time the exchange closes early that day."""

    day: date
    at: time

    def __str__(self) -> str:
        return f"{self.day} {_hhmm(self.at)}"


def early_close(text: str) -> EarlyClose:
    """'2026-12-31 12:15' -> EarlyClose."""
    parts = text.split()
    if len(parts) != 2:
        raise ValueError(f"must be a date and a time such as '2026-12-31 12:15', got '{text}'")
    return EarlyClose(iso_date(parts[0]), schema.clock_time(parts[1]))


# --- the exchange calendar library, behind a typed wrapper ----------------------------------


@dataclass(frozen=True, slots=True)
class YearDays:
    """One year of an exchange's special days: weekdays with no session, and the early
    closes (session date -> the instant the session closes, UTC)."""

    holidays: frozenset[date]
    early_closes: Mapping[date, datetime]


class ExchangeDays:
    """Holidays and early closes of one pandas_market_calendars calendar. The library is
    only computed with (never fetches); each year is computed once and cached. Given the
    years already computed (``known``, e.g. kept from an earlier run), the library is only
    loaded for a year outside them."""

    def __init__(
        self,
        name: str,
        known: Mapping[int, YearDays] | None = None,
        tz: str = EXCHANGE_TZ,
        roll: time | None = EXCHANGE_ROLL,
    ) -> None:
        self.name = name
        #: the zone the library's session dates are in (a session is dated by its close there)
        self.tz = tz
        #: the time from which a session opening then is the next date's (`EXCHANGE_ROLL`);
        #: with ``tz``, the library's own once it is loaded, and kept with ``known`` years
        self.roll = roll
        #: whether the library computed these years (rather than being given them)
        self.computed = known is None
        self._cal: Any = None
        self._years: dict[int, YearDays] = dict(known or {})
        if known is None:
            self._compute(PRECOMPUTED_YEARS.start, PRECOMPUTED_YEARS.stop - 1)

    def year(self, year: int) -> YearDays:
        found = self._years.get(year)
        if found is None:
            self._compute(year, year)
            found = self._years[year]
        return found

    def years(self) -> dict[int, YearDays]:
        """Every year computed so far."""
        return dict(self._years)

    def _compute(self, first: int, last: int) -> None:
        import pandas as pd

        if self._cal is None:
            self._cal = _library_calendar(self.name)
            self.tz = str(getattr(self._cal, "tz", None) or self.tz)
            self.roll = _roll(self._cal, self.roll)

        start, end = f"{first}-01-01", f"{last}-12-31"
        schedule: Any = self._cal.schedule(start, end)
        sessions = {ts.date() for ts in schedule.index}
        holidays: dict[int, set[date]] = {y: set() for y in range(first, last + 1)}
        for ts in pd.bdate_range(start, end):
            d = ts.date()
            if d not in sessions:
                holidays[d.year].add(d)
        early: dict[int, dict[date, datetime]] = {y: {} for y in range(first, last + 1)}
        for ts, row in self._cal.early_closes(schedule).iterrows():
            close = row["market_close"].to_pydatetime().astimezone(UTC)
            early[ts.year][ts.date()] = close
        for y in range(first, last + 1):
            self._years[y] = YearDays(frozenset(holidays[y]), early[y])


def _roll(cal: Any, default: time | None) -> time | None:
    """A library calendar's `EXCHANGE_ROLL`: its regular close. A window opening after it
    trades in the exchange's next session, whether that one opens the evening before (CME)
    or the next morning (NYSE: a window of the CME's hours opening Thursday at 18:00 New
    York trades on Friday, and is Friday's, a holiday's when Friday is one)."""
    try:
        close = cal.regular_market_times["market_close"][-1]
    except (AttributeError, KeyError, IndexError, TypeError):
        return default
    return close[1] if len(close) > 1 and isinstance(close[1], time) else default


def _library_calendar(name: str) -> Any:
    try:
        import pandas_market_calendars as mcal
    except ImportError:  # pragma: no cover - the dependency is declared
        raise ValueError("needs the pandas_market_calendars package (or set it to none)") from None
    try:
        return mcal.get_calendar(name)
    except (RuntimeError, KeyError, ValueError):
        raise ValueError(
            f"unknown exchange calendar '{name}' (e.g. 'CME Globex Equity', "
            "'CMEGlobex_Energy', 'CMEGlobex_Metals'; none to turn it off)"
        ) from None


#: the `ExchangeDays` in use, by calendar name
_DAYS: dict[str, ExchangeDays] = {}


def exchange_days(name: str) -> ExchangeDays:
    """The shared, cached `ExchangeDays` of a calendar (raises ValueError for an unknown one)."""
    found = _DAYS.get(name)
    if found is None:
        found = _DAYS[name] = ExchangeDays(name)
    return found


def provide(days: ExchangeDays) -> None:
    """Use ``days`` (years computed by an earlier run) for its calendar from now on, unless
    that calendar is already in use."""
    _DAYS.setdefault(days.name, days)


def in_use() -> list[ExchangeDays]:
    """The calendars `exchange_days` has handed out or been given."""
    return list(_DAYS.values())


# --- sessions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    """One occurrence of a window (instants in UTC). Trading is allowed in [open, stop)."""

    window: Window
    day: date  # the session date: the local date it closes on
    open: datetime
    stop: datetime  # flat-by, early close minus the lead, or the end: the earliest
    end: datetime  # the window's end
    holiday: bool
    early_close: datetime | None
    #: what sets the stop: end, flat_by, early_close, holiday_close, weekend_close or
    #: daily_close (the exchange's close came before the flat-by)
    cut: str = "end"
    #: with the holiday_close, weekend_close or daily_close cut: the exchange's close
    close: datetime | None = None

    @property
    def tradable(self) -> bool:
        return not self.holiday and self.stop > self.open


@dataclass(frozen=True, slots=True)
class Status:
    """Whether trading is allowed at an instant, and if not why (with the session, if any)."""

    allowed: bool
    session: Session | None
    reason: Reason | None = None

    @property
    def stop(self) -> datetime | None:
        """While allowed: the instant trading must stop (the rule's deadline)."""
        return self.session.stop if self.allowed and self.session is not None else None


class TradingSchedule:
    """The allowed trading time of one configuration: windows in a time zone, a flat-by
    time, holidays and early closes (an exchange calendar plus settings overrides)."""

    def __init__(
        self,
        windows: Iterable[Window],
        tz: str = "America/Chicago",
        *,
        flat_by: time | None = None,
        early_close_lead: timedelta = timedelta(0),
        exchange: ExchangeDays | None = None,
        extra_holidays: Iterable[date] = (),
        early_closes: Iterable[EarlyClose] = (),
        clock: tuple[str, time | None] | None = None,
    ) -> None:
        self.windows = tuple(sorted(windows, key=lambda w: w.seconds()))
        self.tz = tz
        self.flat_by = flat_by
        self.lead = early_close_lead
        self.exchange = exchange
        #: with no ``exchange``: its zone and daily close (None: pure windows, no closes)
        self._clock = clock
        self._cal = SessionCalendar(tz)
        self._holidays = frozenset(extra_holidays)
        self._early = {e.day: self._cal.at(e.day, e.at) for e in early_closes}
        self._by_weekday: dict[int, tuple[Window, ...]] = {
            wd: tuple(w for w in self.windows if w.weekday == wd) for wd in range(7)
        }
        self._starting: dict[date, tuple[Session, ...]] = {}
        self._last: Session | None = None  # the last tradable session found (fast path)
        self._status_at: datetime | None = None  # the instant of the last answer, and it
        self._status: Status | None = None
        self._exchange_zones: dict[str, SessionCalendar] = {}

    # -- special days -------------------------------------------------------------------------

    def is_holiday(self, d: date, listed: date | None = None) -> bool:
        """Whether the session dated ``d`` here (``listed`` by the exchange, if it differs)
        is a holiday: one of the settings' (by ``d``) or the exchange's (by ``listed``)."""
        if d in self._holidays:
            return True
        x = d if listed is None else listed
        return self.exchange is not None and x in self.exchange.year(x.year).holidays

    def early_close(self, d: date, listed: date | None = None) -> datetime | None:
        found = self._early.get(d)
        x = d if listed is None else listed
        if found is None and self.exchange is not None:
            found = self.exchange.year(x.year).early_closes.get(x)
        return found

    def _listed(self, opens: datetime) -> date | None:
        """The exchange's date of the session a window opening at ``opens`` trades in: the date
        there, or the next one from its daily close on (`ExchangeDays.roll`: a CME session
        opens at 17:00 Chicago the day before its date). The local date of a window written
        far east of the exchange is a day off either way: Singapore's whole CME session closes
        the next local date; Sydney's 10:00-16:00 opens at 17:00 Chicago, the next day's."""
        clock = self._exchange_clock()
        if clock is None:
            return None
        tz, roll = clock
        there = self._exchange_zone(tz).local(opens)
        late = roll is not None and there.time() >= roll
        return there.date() + timedelta(days=1) if late else there.date()

    def _exchange_clock(self) -> tuple[str, time | None] | None:
        """The exchange's zone and daily close: its calendar's, else the one given (with the
        library turned off the windows still trade CME, which closes for the weekend)."""
        x = self.exchange
        return self._clock if x is None else (x.tz, x.roll)

    def _exchange_holiday(self, listed: date) -> bool:
        """Whether the exchange's session dated ``listed`` is a holiday: the settings' or the
        library's."""
        x = self.exchange
        return listed in self._holidays or (
            x is not None and listed in x.year(listed.year).holidays
        )

    def _exchange_early(self, listed: date) -> datetime | None:
        """The early close of the exchange's session dated ``listed``: the settings', else the
        library's."""
        found = self._early.get(listed)
        if found is None and self.exchange is not None:
            found = self.exchange.year(listed.year).early_closes.get(listed)
        return found

    def _regular_close(self, listed: date) -> datetime | None:
        clock = self._exchange_clock()
        if clock is None or clock[1] is None:
            return None
        return self._exchange_zone(clock[0]).at(listed, clock[1])

    def _shut(self, listed: date, flat: datetime) -> datetime | None:
        """The exchange's regular close of its session dated ``listed`` when the flat-by
        instant ``flat`` falls at or after it while the exchange is shut: before the CME
        reopen (`EXCHANGE_REOPEN`), or at any time after the close of another calendar (its
        reopen is not known). None when the flat-by comes first or the market has reopened."""
        close = self._regular_close(listed)
        if close is None or flat < close:
            return None
        tz = EXCHANGE_TZ
        if self._exchange_clock() != (tz, EXCHANGE_ROLL):
            return close
        return None if flat >= self._exchange_zone(tz).at(listed, EXCHANGE_REOPEN) else close

    def _exchange_zone(self, tz: str) -> SessionCalendar:
        zone = self._exchange_zones.get(tz)
        if zone is None:
            zone = self._exchange_zones[tz] = SessionCalendar(tz)
        return zone

    def _closing(self, listed: date | None, ends: datetime) -> tuple[datetime, str] | None:
        """The exchange's close a window trading in its session dated ``listed`` (a weekday)
        and ending at ``ends`` must stop before if it runs on past it: that session's close
        (its early close, else its regular close, `ExchangeDays.roll`) when the exchange's
        next weekday is a holiday (the exchange stays shut until the session after it opens:
        Thu 31 Dec 16:00 to Sun 3 Jan 17:00 Chicago), cut ``holiday_close``; the same close
        on a Friday, cut ``weekend_close``, unless another window opens the instant this one
        ends (windows written end to end over the weekend hold on through it); else the next
        session's early close, cut ``early_close`` (a window from Wednesday 15:00 to Thursday
        14:00 Chicago runs past Thanksgiving's 12:00). None when neither: the exchange
        reopens after its daily close and the window goes on. A session dated on a weekend
        (a Tokyo Monday morning opens on Sunday in Chicago) has no close of its own."""
        if listed is None or listed.weekday() >= 5:
            return None
        after = listed + timedelta(days=1)
        while after.weekday() >= 5:  # the weekend: no session dated then
            after += timedelta(days=1)
        holiday = self._exchange_holiday(after)
        weekend = after - listed > timedelta(days=1) and not self._goes_on(ends)
        if holiday or weekend:
            close = self._exchange_early(listed) or self._regular_close(listed)
            cut = "holiday_close" if holiday else "weekend_close"
            return None if close is None else (close, cut)
        early = self._exchange_early(after)
        return None if early is None else (early, "early_close")

    def _goes_on(self, ends: datetime) -> bool:
        """Another window opens the instant one ends at ``ends`` (``Sun-Sat 12:00-00:00``,
        then ``Sun-Sat 00:00-12:00``): the two are one stretch of trading."""
        there = self._cal.local(ends)
        return any(w.start == there.time() for w in self._by_weekday[there.weekday()])

    # -- sessions -----------------------------------------------------------------------------

    def sessions_starting(self, d: date) -> tuple[Session, ...]:
        """The sessions that open on local date ``d`` (cached)."""
        found = self._starting.get(d)
        if found is None:
            found = self._starting[d] = tuple(
                self._session(d, w) for w in self._by_weekday[d.weekday()]
            )
        return found

    def _session(self, d: date, w: Window) -> Session:
        at = self._cal.at
        end_date = d + timedelta(days=1) if w.crosses_midnight else d
        opens, ends = at(d, w.start), at(end_date, w.end)
        # a window that ends at midnight belongs to the day it started on
        day = end_date if w.crosses_midnight and w.end != time(0) else d
        stop, cut = ends, "end"
        if self.flat_by is not None and w.contains(self.flat_by):
            on = d if not w.crosses_midnight or self.flat_by > w.start else end_date
            # (in a spring-forward gap: the change, so an earlier flat-by never stops later)
            stop, cut = min(stop, self._cal.at_or_change(on, self.flat_by)), "flat_by"
        listed = self._listed(opens)
        early = self.early_close(day, listed)
        if early is not None and listed is not None and listed.weekday() < 5:
            # one listed in the settings after the exchange's close, while it is shut (16:45
            # Chicago): the exchange closed first, and nothing fills until it reopens
            early = self._shut(listed, early) or early
        if early is not None and early - self.lead < stop:
            stop, cut = early - self.lead, "early_close"
        close = None
        closing = self._closing(listed, ends)
        if closing is not None and closing[0] - self.lead < stop:
            stop, cut = closing[0] - self.lead, closing[1]
            if cut == "early_close":
                early = closing[0]
            else:
                close = closing[0]
        if cut == "flat_by" and listed is not None and listed.weekday() < 5:
            shut = self._shut(listed, stop)  # (a weekend or holiday eve is cut above)
            if shut is not None and shut - self.lead < stop:
                stop, cut, close = shut - self.lead, "daily_close", shut
        holiday = self.is_holiday(day, listed)
        return Session(w, day, opens, stop, ends, holiday, early, cut, close)

    def _around(self, now: datetime) -> Iterable[Session]:
        """Every session that could contain ``now`` (windows are at most a day long, and a
        local date is at most a day away from the UTC date)."""
        today = now.astimezone(UTC).date()
        for k in (-2, -1, 0, 1):
            yield from self.sessions_starting(today + timedelta(days=k))

    def status(self, now: datetime) -> Status:
        if now is self._status_at and self._status is not None:
            return self._status  # asked twice for one event (evaluate, then the deadline)
        self._status_at = now
        self._status = found = self._status_uncached(now)
        return found

    def _status_uncached(self, now: datetime) -> Status:
        last = self._last
        if last is not None and last.open <= now < last.stop:
            return Status(True, last)
        for s in self._around(now):
            if s.open <= now < s.end:
                if s.tradable and now < s.stop:
                    self._last = s
                    return Status(True, s)
                return Status(False, s, Reason.HOLIDAY if s.holiday else Reason.FLAT_BY)
        return Status(False, None, Reason.OUTSIDE_TRADING_HOURS)

    def next_open(self, now: datetime) -> datetime | None:
        """The first tradable session opening strictly after ``now``."""
        first = now.astimezone(UTC).date() - timedelta(days=2)
        for k in range(HORIZON_DAYS):
            for s in self.sessions_starting(first + timedelta(days=k)):
                if s.tradable and s.open > now:
                    return s.open
        return None

    def local(self, t: datetime) -> str:
        """An instant as the trader reads it: 'Sun 2026-11-29 17:00 CST'."""
        return self._cal.local(t).strftime("%a %Y-%m-%d %H:%M %Z")


def check_flat_by(windows: Iterable[Window], flat_by: time | None) -> None:
    """A flat-by time must fall inside every window (before each session's end)."""
    if flat_by is None:
        return
    for w in windows:
        if not w.contains(flat_by):
            raise ValueError(
                f"flat_by: {_hhmm(flat_by)} is outside the window '{w}' "
                "(it must fall inside every window, or be none)"
            )


def build_schedule(
    windows: Iterable[Window],
    tz: str,
    flat_by: time | None,
    lead: timedelta,
    calendar: str | None,
    extra_holidays: Iterable[date],
    early_closes: Iterable[EarlyClose],
    load: Callable[[str], ExchangeDays] = exchange_days,
) -> TradingSchedule:
    exchange = load(calendar) if calendar is not None else None
    return TradingSchedule(
        windows,
        tz,
        flat_by=flat_by,
        early_close_lead=lead,
        exchange=exchange,
        extra_holidays=extra_holidays,
        early_closes=early_closes,
        clock=None if exchange is not None else (EXCHANGE_TZ, EXCHANGE_ROLL),
    )


def _secs(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _hhmm(t: time) -> str:
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")
