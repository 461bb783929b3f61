"""Prices read over REST for the held contracts whose quotes have stopped.

A market hub can stay connected and send nothing (the SDK's own stale-feed watchdog is off:
it reconnects in a loop that fails). A held contract silent for longer than the feed's
silence limit is then priced by reads of its last bar: one read per contract (whoever holds
it), every `READ_EVERY` while the silence lasts, never more than `BARS_SHARE` reads in a
`BARS_WINDOW` (the bar history's own request bucket is the smaller: 30 per 30 s; the rest of
it stays for the start-up's reads of the prices at a reset). A read that fails is tried again
after a wait that doubles.

No quote is not proof of a broken feed: the gateway sends none while a price stands still
(a quiet or closed market). A read whose price differs from the last one quoted is: the price
moved and no quote said so (the contract is `frozen`). Only then is the market hub subscribed
again, then reconnected, after waits that double (`RESUBSCRIBE_SECOND` up to
`RESUBSCRIBE_LONGEST`), and a frozen contract priced by reads for `CRITICAL_AFTER` raises a
CRITICAL alert. A quiet contract is priced by its reads all the same.

A bar's close is a trade print, the last price traded: the mark itself when marks are last
prices. It says nothing of the bid and the ask: `rest_quote` takes them one spread (the last
one quoted, else one tick) on the losing side of the print, so a position valued at the bid
(a long) or the ask (a short) is never valued better than the print allows. A print equal to
the last one quoted is no news of the book: that quote's own bid and ask are kept (a book
that moved off an old print with no trade since, built again from that print, showed a
profit never made and a loss hidden). The price a silence is held to is one quoted since the
service started (a mark restored from before a restart is older than the subscription: a
price that moved meanwhile proves nothing of the feed).

Pure: time is an argument; the shell sends the reads and the quotes they make.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from fsm_risk.core.events import Quote
from fsm_risk.core.models import Mark

#: the bar history's request bucket, and the share of it these reads may use
BARS_WINDOW = timedelta(seconds=30)
BARS_SHARE = 20
#: a silent contract's price is read again this often (when the share allows)
READ_EVERY = timedelta(seconds=2)
#: a failed read is tried again after this, doubling up to `READ_RETRY_LONGEST`
READ_RETRY_FIRST = timedelta(seconds=2)
READ_RETRY_LONGEST = timedelta(seconds=30)
#: the market hub is subscribed again once a contract is frozen, then reconnected after
#: waits doubling from `RESUBSCRIBE_SECOND` up to `RESUBSCRIBE_LONGEST`
RESUBSCRIBE_SECOND = timedelta(seconds=5)
RESUBSCRIBE_LONGEST = timedelta(seconds=300)
#: frozen and priced by reads this long since the silence was seen: a CRITICAL alert
CRITICAL_AFTER = timedelta(seconds=60)


@dataclass(slots=True)
class Silent:
    """One held contract whose quotes have stopped, priced by reads of its last bar."""

    since: datetime  # when the silence was seen
    next_read: datetime
    quoted: Decimal | None = None  # the last price quoted before the silence
    spread: Decimal | None = None  # the last spread quoted before it (ask - bid)
    book: tuple[Decimal, Decimal] | None = None  # the last bid and ask quoted before it
    frozen: bool = False  # a read's price differed from it: the feed is broken
    reads: int = 0  # reads answered with a price
    failures: int = 0  # reads failed in a row
    in_flight: bool = False
    last_read: datetime | None = None  # when the last read that gave a price was sent
    price: Decimal | None = None
    alerted: bool = False  # the CRITICAL alert was given

    def view(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat(),
            "reads": self.reads,
            "failures": self.failures,
            "last_read": self.last_read.isoformat() if self.last_read else None,
            "price": str(self.price) if self.price is not None else None,
            "frozen": self.frozen,
        }


class RestPricing:
    """Which silent contracts to read the price of, and when to subscribe quotes again."""

    def __init__(self) -> None:
        self.contracts: dict[str, Silent] = {}
        self.sent: deque[datetime] = deque()  # the reads sent within the last `BARS_WINDOW`
        #: when the market hub is next subscribed again (None: no silence) and the wait after
        self.resubscribe_at: datetime | None = None
        self.resubscribe_wait = RESUBSCRIBE_SECOND
        self.resubscribes = 0  # in this silence

    def update(
        self, silent: Mapping[str, Mark | None], now: datetime
    ) -> tuple[list[str], list[str]]:
        """The held contracts silent now, each with its last mark (None: never priced):
        those newly silent (priced by reads from now on) and those no longer (their quotes
        came back, or nobody holds them any more). A mark is read only when its contract
        becomes silent (later, it holds the reads' prices)."""
        ended = sorted(c for c in self.contracts if c not in silent)
        for c in ended:
            del self.contracts[c]
        started = sorted(c for c in silent if c not in self.contracts)
        for c in started:
            mark = silent[c]
            spread, book = None, None
            if mark is not None and mark.bid is not None and mark.ask is not None:
                spread = mark.ask - mark.bid if mark.ask >= mark.bid else None
                book = (mark.bid, mark.ask) if spread is not None else None
            quoted = mark.last if mark is not None else None
            self.contracts[c] = Silent(
                since=now, next_read=now, quoted=quoted, spread=spread, book=book
            )
        if not any(s.frozen for s in self.contracts.values()):
            self.resubscribe_at = None
            self.resubscribe_wait = RESUBSCRIBE_SECOND
            self.resubscribes = 0
        return started, ended

    def due(self, now: datetime) -> list[str]:
        """The contracts to read the price of now (each marked in flight): those whose read
        is due, the longest waiting first, as many as the share of the bars bucket allows."""
        while self.sent and self.sent[0] <= now - BARS_WINDOW:
            self.sent.popleft()
        room = BARS_SHARE - len(self.sent)
        waiting = sorted(
            (s.next_read, c)
            for c, s in self.contracts.items()
            if not s.in_flight and s.next_read <= now
        )
        chosen = [c for _, c in waiting[: max(room, 0)]]
        for c in chosen:
            self.contracts[c].in_flight = True
            self.sent.append(now)
        return chosen

    def answered(self, contract_id: str, sent: datetime, price: Decimal | None) -> bool:
        """The read sent at ``sent`` answered ``price`` (None: the gateway had no bar). True
        when it shows the contract frozen (its first price differing from the last quoted)."""
        s = self.contracts.get(contract_id)
        if s is None or sent < s.since:
            return False  # its quotes came back meanwhile (a later silence is not its own)
        s.in_flight = False
        if price is None:
            self.failed(contract_id, sent)
            return False
        s.failures = 0
        s.reads += 1
        s.last_read, s.price = sent, price
        s.next_read = sent + READ_EVERY
        if s.quoted is None:
            s.quoted = price  # never quoted: the first read is what later ones are held to
        if s.frozen or price == s.quoted:
            return False
        s.frozen = True
        if self.resubscribe_at is None:
            self.resubscribe_at = sent  # the first proof: subscribed again at once
        return True

    def failed(self, contract_id: str, sent: datetime) -> None:
        """The read sent at ``sent`` failed: tried again after a wait that doubles."""
        s = self.contracts.get(contract_id)
        if s is None or sent < s.since:
            return  # its quotes came back meanwhile (a later silence is not its own)
        s.in_flight = False
        s.failures += 1
        # the doublings capped: a closed market fails every read for hours, and two to the
        # 47th power of 2 s overflowed a timedelta (no wait set: read at every look after)
        wait = min(READ_RETRY_FIRST * 2 ** min(s.failures - 1, 16), READ_RETRY_LONGEST)
        s.next_read = sent + wait

    def resubscribe(self, now: datetime) -> int | None:
        """Whether to subscribe the market hub again now: None, or the attempt's number in
        this silence (0 first: subscribe the silent contracts again; later: reconnect)."""
        if self.resubscribe_at is None or now < self.resubscribe_at:
            return None
        attempt = self.resubscribes
        self.resubscribes += 1
        self.resubscribe_at = now + self.resubscribe_wait
        self.resubscribe_wait = min(self.resubscribe_wait * 2, RESUBSCRIBE_LONGEST)
        return attempt

    def overdue(self, now: datetime) -> list[str]:
        """The frozen contracts priced by reads for `CRITICAL_AFTER` and not alerted yet
        (each once)."""
        found = sorted(
            c
            for c, s in self.contracts.items()
            if s.frozen and not s.alerted and now - s.since >= CRITICAL_AFTER
        )
        for c in found:
            self.contracts[c].alerted = True
        return found

    def view(self) -> dict[str, dict[str, object]]:
        return {c: s.view() for c, s in sorted(self.contracts.items())}


def rest_quote(
    contract_id: str,
    close: Decimal,
    at: datetime,
    spread: Decimal | None,
    tick: Decimal | None,
    quoted: Silent | None = None,
) -> Quote:
    """The quote a bar's ``close`` read at ``at`` makes: last = the close; bid and ask one
    spread below and above it (the last ``spread`` quoted when above zero, else one ``tick``,
    else none), so a position valued at the bid or the ask is never valued better than the
    print allows. A close equal to the price ``quoted`` before the silence is no new print:
    that quote's bid and ask stand."""
    if quoted is not None and quoted.book is not None and close == quoted.quoted:
        return Quote(contract_id, at, last=close, bid=quoted.book[0], ask=quoted.book[1])
    width = Decimal(0)
    if spread is not None and spread > 0:
        width = spread
    elif tick is not None and tick > 0:
        width = tick
    return Quote(contract_id, at, last=close, bid=close - width, ask=close + width)
