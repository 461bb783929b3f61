"""A review of positions the gateway removes without a fill (a cash settlement at expiry) or
with a firm's reset of the account: each case proved a settlement booked wrongly or not at
all. Long 2 MNQ at 21,010.50 cash-settled at 20,890 is -$482; a daily loss limit of 450."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import ReadTrades
from fsm_risk.core.events import Fill, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ACC,
    MNQ,
    T0,
    Driver,
    account,
    alerts,
    fill,
    gateway_read,
    gateway_trades,
    position,
    quote,
    rule_driver,
)
from tests.unit.test_settled_without_fill import long_two

D = Decimal
LIMIT = "450"


def settled_said(d: Driver) -> list[tuple[str, str]]:
    return [
        (a.level.name, a.message) for a in alerts(d.effects) if a.reason is Reason.POSITION_SETTLED
    ]


def _past_the_settle_timeout(d: Driver) -> list:
    return d.advance(seconds=d.engine.settings.settle_timeout.total_seconds() + 1)


def test_a_settlement_whose_read_comes_after_the_settle_timeout_is_booked() -> None:
    """The live closed record and the balance come (no fill); the read the balance asks for
    is answered only after the settle timeout (reads 429ing, queued behind other accounts).
    The timeout took the gateway's flat as final, and the read then found nothing gone: the
    -482 was taken into the balance unbooked (a POSITION_WITHOUT_FILLS warning only) and the
    daily limit never saw it. Taken as final, the position is found gone without a fill, and
    the read, however late, books it."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    long_two(d)
    d.send(position(MNQ, 0, "0", at=d.now), account("49518.00"))  # live: no fill explains either
    _past_the_settle_timeout(d)
    assert d.acct.day.realized == 0  # (not booked before a read confirms it)
    gateway_read(d, account("49518.00"))
    assert d.acct.day.realized == D("-482.00") and d.acct.day.settled == D("-482.00")
    assert d.acct.week.realized == D("-482.00") and not d.acct.vanished
    assert [level for level, _ in settled_said(d)] == ["WARNING"], settled_said(d)
    assert d.acct.state is State.LockedDaily


def test_a_flat_taken_at_the_settle_timeout_asks_for_a_read_when_no_balance_came() -> None:
    """Its live balance never came (lost): nothing else asks for a read. The timeout asks for
    one, and its balance books the settlement."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    long_two(d)
    d.send(position(MNQ, 0, "0", at=d.now))
    out = _past_the_settle_timeout(d)
    assert [type(e) for e in out if isinstance(e, ReadTrades)] == [ReadTrades]
    assert d.acct.vanished == {MNQ: 2}
    gateway_read(d, account("49518.00"))
    assert d.acct.day.realized == D("-482.00") and d.acct.state is State.LockedDaily


def test_a_close_whose_fill_was_only_late_is_booked_as_its_fill_not_a_settlement() -> None:
    """The fill was late, not missing: it comes live, or the read lists it. It closes the
    position found gone (its own P&L booked, the balance's move then explained) and nothing
    is settled. Before, the flat taken at the timeout left the fills at 0, and the late sell
    opened a short of 2 that no one held."""
    for live in (True, False):
        d = rule_driver(DailyLossLimit, limit="5000")
        long_two(d)
        d.send(position(MNQ, 0, "0", at=d.now))
        _past_the_settle_timeout(d)
        sell = fill(MNQ, Side.SELL, 2, "20890", pnl="-482", order_id=9, at=d.now)
        if live:
            d.send(sell, account("49518.00"))
            assert d.acct.net[MNQ] == 0 and not d.acct.vanished, live
        gateway_read(d, *(() if live else (sell,)), account("49518.00"))
        assert d.acct.day.realized == D("-482.00") and d.acct.day.settled == 0, live
        assert not d.acct.vanished and not d.acct.settled and d.acct.net[MNQ] == 0, live
        assert settled_said(d) == [], live


def _agreed_periodic_read(d: Driver) -> None:
    """A periodic read that agreed with the engine: only its balance is submitted (see
    `service._reconcile_now`), and no positions or trade list follow it."""
    d.send(dataclasses.replace(account("50000"), applied=frozenset(d.acct.seen_trades)))


def test_a_read_without_a_balance_after_an_agreed_periodic_read_keeps_the_settlement() -> None:
    """The agreed read's balance left its move (0) held, as a read's balance does until its
    positions come, and no trade list cleared it. The next read found the cash-settled
    position gone but listed no balance for the account (/Account/search with
    onlyActiveAccounts left it out, or its record was refused): the stale 0 was taken as this
    read's move, the position "settled at nothing", no read asked, -482 silently lost. A read
    that lists no balance has no move: the position waits, a read is asked, and its balance
    books the -482."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    long_two(d)
    _agreed_periodic_read(d)
    # settled at 20,890 (-482), its live balance not heard; the next read lists no balance
    out = gateway_read(d, trades=gateway_trades(d), since=d.acct.week.start)
    assert d.acct.vanished == {MNQ: 2} and d.acct.judged, [a.message for a in alerts(out)]
    assert any(isinstance(e, ReadTrades) for e in out)
    assert d.acct.day.realized == 0 and not d.acct.settled
    gateway_read(d, account("49518.00"))
    assert d.acct.day.realized == D("-482.00") and d.acct.day.settled == D("-482.00")
    assert not d.acct.vanished and d.acct.state is State.LockedDaily


def test_a_reads_listing_says_whether_it_listed_the_accounts_balance() -> None:
    """What the engine is told (`Listing.balance`), as the service builds it."""
    from fsm_risk.service import _ReadBegan

    began = _ReadBegan(frozenset(), frozenset({MNQ}), frozenset(), T0)
    listed = [account("49518.00", acc=ACC)]
    assert began.read(ACC, listed)[1].balance
    assert not began.read(ACC, [])[1].balance


def _held_overnight(d: Driver, pnl: str) -> tuple[Fill, ...]:
    """Yesterday a round trip of ``pnl``, then long 2 MNQ at 21,010.50 held overnight; today
    (same week) nothing traded. Returns the week's trades."""
    trades = (
        fill(MNQ, Side.BUY, 1, "21000", order_id=1, at=d.now),
        fill(MNQ, Side.SELL, 1, "21000", pnl=pnl, order_id=2, at=d.now),
        fill(MNQ, Side.BUY, 2, "21010.50", order_id=3, at=d.now),
    )
    d.send(trades[0], position(MNQ, 1, "21000"), trades[1], position(MNQ, 0, "0"))
    d.send(account(str(D("50000") + D(pnl))))
    d.send(trades[2], position(MNQ, 2, "21010.50", at=d.now), quote(MNQ, "21010.50", at=d.now))
    d.at(d.acct.day.end + timedelta(hours=12))  # the next day, the same week
    assert d.acct.day.realized == 0 and d.acct.week.realized == D(pnl)
    assert d.acct.state is State.Trading and d.acct.net[MNQ] == 2
    return trades


def test_a_reset_of_a_position_held_overnight_books_nothing_up_or_down() -> None:
    """The firm resets the account while the service runs; the position was opened
    yesterday and nothing was traded today. The trade list judged the position by the day's
    trades alone: none of them, so nothing looked wiped, and the reset's move was booked as
    today's settlement: up $600 yesterday, -600 today and locked (450 limit); down $400
    yesterday, +400 today, hiding the week's loss from the day. The list lacks the
    position's own trade and every one before it, yesterday's: a reset, nothing booked."""
    for pnl in ("600", "-400"):
        d = rule_driver(DailyLossLimit, limit=LIMIT)
        _held_overnight(d, pnl)
        # the reset: the position removed with no fill, 50,000, every trade wiped; the live
        # records, then the service's read (its trade list, of the week, empty)
        d.send(position(MNQ, 0, "0", at=d.now), account("50000.00"))
        gateway_read(d, account("50000.00"), trades=(), since=d.acct.week.start)
        said = settled_said(d)
        assert [level for level, _ in said] == ["CRITICAL"], (pnl, said)
        assert f"({-D(pnl):+.2f}) is not booked as a settlement" in said[0][1], said
        assert d.acct.day.realized == 0 and d.acct.day.settled == 0, (pnl, said)
        assert d.acct.week.settled == 0 and not d.acct.settled and not d.acct.vanished
        assert d.acct.balance == D("50000.00") and d.acct.state is State.Trading, pnl


def test_a_position_held_overnight_and_cash_settled_is_booked() -> None:
    """The same position settled, not reset: the list holds its trade (yesterday's): booked."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    week = _held_overnight(d, "600")
    d.send(quote(MNQ, "20900", at=d.now), position(MNQ, 0, "0", at=d.now), account("50118.00"))
    gateway_read(d, account("50118.00"), trades=week, since=d.acct.week.start)
    assert d.acct.day.realized == D("-482.00") and d.acct.week.realized == D("118.00")
    assert d.acct.state is State.LockedDaily


def test_a_position_opened_after_an_earlier_reset_and_held_overnight_is_settled() -> None:
    """The trades a reset wiped yesterday stay missing from every list of the week; a
    position opened after it (its trade listed) and held overnight was settled, not reset."""
    d = rule_driver(DailyLossLimit, limit=LIMIT)
    d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=1), position(MNQ, 1, "21000"))
    d.send(fill(MNQ, Side.SELL, 1, "21000", pnl="0", order_id=2), position(MNQ, 0, "0"))
    gateway_read(d, account("50000"), trades=(), since=d.acct.week.start)  # wiped
    d.advance(hours=1)
    buy = fill(MNQ, Side.BUY, 2, "21010.50", order_id=3, at=d.now)
    d.send(buy, position(MNQ, 2, "21010.50", at=d.now), account("50000"))
    d.at(d.acct.day.end + timedelta(hours=12))  # the next day, nothing traded
    d.send(quote(MNQ, "20900", at=d.now), position(MNQ, 0, "0", at=d.now), account("49518.00"))
    gateway_read(d, account("49518.00"), trades=(buy,), since=d.acct.week.start)
    assert d.acct.day.realized == D("-482.00") and d.acct.state is State.LockedDaily
