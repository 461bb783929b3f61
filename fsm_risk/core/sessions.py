"""Calendar maths: trading days and weeks, resets, across daylight-saving changes.

A trading day is the interval between two daily resets (default 17:00 America/Chicago); it is
labelled by the local date of the reset that ends it, so a fill at 18:00 Chicago on Monday
belongs to Tuesday. A trading week runs between weekly resets (default Sunday 17:00) and is
labelled by the local date of the reset that ends it.

Resets are wall-clock times in an IANA time zone, computed with pendulum, so 17:00 Chicago is
22:00 UTC in summer and 23:00 UTC in winter, and the day that contains a change is 23 or 25
hours long. A wall time that does not exist on a spring-forward day (e.g. 02:30) is moved
forward by the length of the gap; an ambiguous one on a fall-back day takes its first
occurrence. Every instant returned is an aware UTC `datetime`.

`MarketHours` is the exchange's own week, not the firm's: when the market is closed (the daily
maintenance break, the weekend), so that a close it refuses then goes again when it reopens.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pendulum


class SessionCalendar:
    def __init__(
        self,
        tz: str = "America/Chicago",
        daily_reset: time = time(17, 0),
        weekly_reset_weekday: int = 6,
        weekly_reset_time: time = time(17, 0),
    ) -> None:
        self.tz = tz
        self._zone = pendulum.timezone(tz)
        self.daily_reset = daily_reset
        self.weekly_weekday = weekly_reset_weekday
        self.weekly_time = weekly_reset_time

    # -- conversions ------------------------------------------------------------------------

    def local(self, t: datetime) -> pendulum.DateTime:
        return pendulum.instance(t).in_timezone(self._zone)

    def at(self, d: date, tm: time) -> datetime:
        """The instant of wall time ``tm`` on local date ``d``, in UTC."""
        args = (d.year, d.month, d.day, tm.hour, tm.minute, tm.second)
        first = pendulum.datetime(*args, tz=self._zone, fold=0)
        if (first.hour, first.minute, first.second) == (tm.hour, tm.minute, tm.second):
            return _utc(first)  # an ordinary time, or the first of an ambiguous pair
        return _utc(pendulum.datetime(*args, tz=self._zone, fold=1))  # in a gap: moved forward

    def at_or_change(self, d: date, tm: time) -> datetime:
        """Like `at`, but a wall time in a spring-forward gap is the moment of the change (the
        gap's end), not moved forward by the gap's length: a deadline written in the gap (a
        flat-by time) then comes no later than one written after it, as on every other day
        (Cairo's 00:30 on a night its clocks skip 00:00-01:00 is 01:00, not 01:30)."""
        moved = self.at(d, tm)
        there = self.local(moved)
        if (there.hour, there.minute, there.second) == (tm.hour, tm.minute, tm.second):
            return moved
        shown = datetime(*there.timetuple()[:6], tzinfo=UTC)  # its wall time, read as UTC
        wall = shown - datetime.combine(d, tm, tzinfo=UTC)  # how far the gap moved it
        after = there.utcoffset()
        lo, hi = moved - wall, moved  # the change lies in (lo, hi]
        while hi - lo > timedelta(seconds=1):
            mid = (lo + (hi - lo) / 2).replace(microsecond=0)
            if self.local(mid).utcoffset() == after:
                hi = mid
            else:
                lo = mid
        return hi

    # -- daily ------------------------------------------------------------------------------

    def last_daily_reset(self, t: datetime) -> datetime:
        """The latest daily reset at or before ``t``."""
        d = self.local(t).date()
        cand = self.at(d, self.daily_reset)
        if cand > t:
            cand = self.at(d - timedelta(days=1), self.daily_reset)
        return cand

    def next_daily_reset(self, t: datetime) -> datetime:
        """The first daily reset strictly after ``t``."""
        d = self.local(t).date()
        cand = self.at(d, self.daily_reset)
        if cand <= t:
            cand = self.at(d + timedelta(days=1), self.daily_reset)
        return cand

    def trading_day(self, t: datetime) -> date:
        return self.local(self.next_daily_reset(t)).date()

    # -- weekly -----------------------------------------------------------------------------

    def last_weekly_reset(self, t: datetime) -> datetime:
        d = self.local(t).date()
        back = (d.weekday() - self.weekly_weekday) % 7
        cand = self.at(d - timedelta(days=back), self.weekly_time)
        if cand > t:
            cand = self.at(d - timedelta(days=back + 7), self.weekly_time)
        return cand

    def next_weekly_reset(self, t: datetime) -> datetime:
        d = self.local(t).date()
        ahead = (self.weekly_weekday - d.weekday()) % 7
        cand = self.at(d + timedelta(days=ahead), self.weekly_time)
        if cand <= t:
            cand = self.at(d + timedelta(days=ahead + 7), self.weekly_time)
        return cand

    def trading_week(self, t: datetime) -> date:
        return self.local(self.next_weekly_reset(t)).date()


def lock_end(
    calendar: SessionCalendar, book_end: datetime, now: datetime, *, weekly: bool = False
) -> datetime:
    """The end of a lock "until the next daily (weekly) reset" taken at ``now``: the reset
    that ends the account's current trading day (week) as the engine applies it, its day
    (week) book's end (``book_end``), kept from the calendar in force when that day opened;
    the calendar's next reset only when that end is past (a reset due, not yet applied).
    A `[session] daily_reset` moved across a restart so never puts a lock past the end of
    the day it was taken in, and a rule firing again within the day never extends it."""
    if book_end > now:
        return book_end
    return calendar.next_weekly_reset(now) if weekly else calendar.next_daily_reset(now)


class MarketHours:
    """When the exchange is closed, by the clock: CME Globex futures (every contract the
    ProjectX gateway lists) trade from ``opens`` (17:00 Chicago) on each of ``days`` (Sunday
    to Thursday) until ``closes`` (16:00) the next day, so the market is closed for the daily
    maintenance break (16:00-17:00) and from Friday's close to Sunday's open.

    Holidays and early closes are not known here: the market counts as open then. That is the
    safe side for its one use (a close refused while the market is closed waits for the
    reopen; one refused while it counts as open is retried within seconds, as any refusal)."""

    def __init__(
        self,
        tz: str = "America/Chicago",
        opens: time = time(17, 0),
        closes: time = time(16, 0),
        days: frozenset[int] = frozenset({6, 0, 1, 2, 3}),  # Sunday to Thursday
    ) -> None:
        if closes >= opens:
            raise ValueError("the market must close before it opens again the same day")
        self._cal = SessionCalendar(tz)
        self.opens, self.closes, self.days = opens, closes, days

    def local(self, t: datetime) -> pendulum.DateTime:
        return self._cal.local(t)

    def reopen(self, t: datetime) -> datetime | None:
        """None while the market is open at ``t``; while it is closed, the instant it opens."""
        at, d = self._cal.at, self._cal.local(t).date()
        for back in (1, 0):  # a session begun yesterday evening, or this evening
            start = d - timedelta(days=back)
            opened, ends = at(start, self.opens), at(start + timedelta(days=1), self.closes)
            if start.weekday() in self.days and opened <= t < ends:
                return None
        for ahead in range(8):
            start = d + timedelta(days=ahead)
            if start.weekday() in self.days and (opens := at(start, self.opens)) > t:
                return opens
        return None  # (no trading day in the week: never said to be closed)


def _utc(p: pendulum.DateTime) -> datetime:
    ts = p.in_timezone("UTC")
    return datetime(
        ts.year, ts.month, ts.day, ts.hour, ts.minute, ts.second, ts.microsecond, tzinfo=UTC
    )
