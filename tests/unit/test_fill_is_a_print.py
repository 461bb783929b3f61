"""A fill is a print: the contract traded at its price at its time (`Valuation.traded`).

A resting limit order fills at its limit because the market traded there, a stop where the
market ran: the fill is a newer price than the last quote. The user hub's trade and position
can arrive before the market hub's quote of that move (two connections, no order between
them); valued at the older quote until it comes, the new position showed a gain the
gateway's equity never had (an intraday trailing peak rose on it, kept for the week: a floor
raised by it locked the account on a drawdown the firm never saw) or a loss it never had (a
daily loss limit flattened an account that was up). A fill newer than the contract's mark
now moves it, for every holder, until a newer quote; an older one, or one as old, does not."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.models import Mark
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ES,
    Driver,
    account,
    closes,
    fill,
    make_engine,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
)

D = Decimal
MS = timedelta(milliseconds=300)
INTRADAY = {"mode": "intraday", "drawdown": "2000"}


def peak(d: Driver) -> Decimal:
    return D(d.acct.rule_state["RULE-004"]["peak"])


def mark(d: Driver) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    m = d.engine.marks[ES]
    return m.last, m.bid, m.ask


def long_five(d: Driver, bid: str = "6000", ask: str = "6000") -> None:
    """Long 5 ES at 6000 (fees 7.00: balance 49,993.00), ES quoted at 6000 (``bid``/``ask``)."""
    d.send(fill(ES, Side.BUY, 5, "6000", fees="7.00", order_id=40, at=d.now))
    d.send(position(ES, 5, "6000", at=d.now), account("49993.00"))
    d.send(quote(ES, "6000", at=d.now, bid=bid, ask=ask))


def liquidation_driver() -> Driver:
    d = Driver(make_engine({TrailingDrawdown: INTRADAY}, mark_mode=MarkMode.LIQUIDATION))
    d.send(account())
    return d


def test_an_intraday_peak_does_not_rise_on_a_fill_valued_at_an_older_quote() -> None:
    """Long 5 ES at 6000 (fees 7.00), ES at 6000. A resting buy limit of 5 at 5999 fills (the
    market traded down through it); its trade, the position (10 at 5999.50) and the balance
    (49,986.00) come before the quote at 5998.75. Valued at 6000 the long read +250 and the
    peak rose to 50,236; at every moment the gateway's equity was at most 49,986 less 250 (the
    market at or below 5999). The market falls to 5995.75: equity 48,111, above the firm's
    floor of 48,000 (peak 50,000 less 2,000), below the raised one (48,236): flattened and
    locked for the week."""
    d = rule_driver(TrailingDrawdown, **INTRADAY)
    long_five(d)
    assert d.acct.equity == D("49993.00")
    d.now += MS  # the market trades down to 5999: the limit fills
    d.send(fill(ES, Side.BUY, 5, "5999", fees="7.00", order_id=41, at=d.now))
    d.send(position(ES, 10, "5999.5", at=d.now), account("49986.00"))
    assert d.acct.equity == D("49736.00")  # valued at the fill's 5999: -250
    d.send(quote(ES, "5998.75", at=d.now))
    assert peak(d) == D("50000")
    d.send(quote(ES, "5995.75", at=d.now))
    assert d.acct.equity == D("48111.00")
    assert d.acct.state is State.Trading


@pytest.mark.parametrize("order", ["position, balance, fill", "position, fill, balance"])
def test_whatever_order_the_records_come_in_the_peak_takes_nothing_from_the_older_quote(
    order: str,
) -> None:
    """The same fill at 5999, its position and balance in another order (the position first:
    the size it reports waits for the fill): once all three are in, the long is valued at
    5999, and the peak never rose (at 6000 it rose to 50,236)."""
    d = rule_driver(TrailingDrawdown, **INTRADAY)
    long_five(d)
    d.now += MS
    records = {
        "fill": fill(ES, Side.BUY, 5, "5999", fees="7.00", order_id=41, at=d.now),
        "position": position(ES, 10, "5999.5", at=d.now),
        "balance": account("49986.00"),
    }
    for name in order.split(", "):
        d.send(records[name])
        assert peak(d) == D("50000"), name
    assert d.acct.equity == D("49736.00")


def test_a_short_filled_where_the_market_went_raises_no_peak_either() -> None:
    """The other side: short 5 ES at 6000, a resting sell limit of 5 at 6001 fills (the market
    traded up through it), short 10 at 6000.50 before the quote. Valued at 6000 the short read
    +250 (peak 50,236); at the fill's 6001 it reads -250."""
    d = rule_driver(TrailingDrawdown, **INTRADAY)
    d.send(fill(ES, Side.SELL, 5, "6000", fees="7.00", order_id=40, at=d.now))
    d.send(position(ES, 5, "6000", long=False, at=d.now), account("49993.00"))
    d.send(quote(ES, "6000", at=d.now))
    d.now += MS
    d.send(fill(ES, Side.SELL, 5, "6001", fees="7.00", order_id=41, at=d.now))
    d.send(position(ES, 10, "6000.5", long=False, at=d.now), account("49986.00"))
    assert d.acct.equity == D("49736.00")
    assert peak(d) == D("50000")
    d.send(quote(ES, "6004.25", at=d.now))  # 49,986 - 3.75 x 10 x 50 = 48,111: above 48,000
    assert d.acct.equity == D("48111.00")
    assert d.acct.state is State.Trading


def test_a_stop_entry_valued_at_the_quote_before_it_is_no_daily_loss() -> None:
    """Long 5 ES at 6000, ES at 6000, a daily loss limit of 450. A buy stop of 5 at 6002
    fills (the market ran up through it); its trade and position (10 at 6001) come before
    the quote at 6002.25. Valued at 6000 the new contracts read -500 (the day -500 less fees):
    flattened and locked for the day, while the account was up (the market at or above 6002:
    +500 on the first five less 7.00 of fees)."""
    d = rule_driver(DailyLossLimit, limit="450")
    long_five(d)
    d.now += MS  # the market runs up through 6002: the stop fills
    out = d.send(fill(ES, Side.BUY, 5, "6002", fees="7.00", order_id=51, at=d.now))
    out += d.send(position(ES, 10, "6001", at=d.now), account("49986.00"))
    assert not closes(out), d.acct.day_pnl(with_unrealized=True)
    assert d.acct.day_pnl(with_unrealized=True) == D("486.00")  # +500 at 6002, fees 14.00
    d.send(quote(ES, "6002.25", at=d.now))
    assert d.acct.day_pnl(with_unrealized=True) == D("611.00")
    assert d.acct.state is State.Trading


def test_a_sell_stop_filled_in_a_run_down_is_no_daily_loss_on_a_short() -> None:
    """The other side: short 5 ES at 6000; a sell stop of 5 at 5998 fills in a run down;
    short 10 at 5999 before the quote. At 6000 the day read -514 (a limit of 450 fired); at
    the fill's 5998 it reads +486."""
    d = rule_driver(DailyLossLimit, limit="450")
    d.send(fill(ES, Side.SELL, 5, "6000", fees="7.00", order_id=50, at=d.now))
    d.send(position(ES, 5, "6000", long=False, at=d.now), account("49993.00"))
    d.send(quote(ES, "6000", at=d.now))
    d.now += MS
    out = d.send(fill(ES, Side.SELL, 5, "5998", fees="7.00", order_id=51, at=d.now))
    out += d.send(position(ES, 10, "5999", long=False, at=d.now), account("49986.00"))
    assert not closes(out), d.acct.day_pnl(with_unrealized=True)
    assert d.acct.day_pnl(with_unrealized=True) == D("486.00")
    assert d.acct.state is State.Trading


def test_a_fill_older_than_the_quote_moves_nothing() -> None:
    """A fill's record late behind a newer quote: the quote knows better. The mark stays the
    quote's (price and time), and the position is valued at it."""
    d = rule_driver(TrailingDrawdown, **INTRADAY)
    long_five(d)
    d.now += MS
    d.send(quote(ES, "6001", at=d.now, bid="6000.75", ask="6001"))
    stamped = d.now - timedelta(milliseconds=100)
    d.send(fill(ES, Side.BUY, 5, "5999", fees="7.00", order_id=41, at=stamped))
    assert mark(d) == (D("6001"), D("6000.75"), D("6001"))
    assert d.engine.marks[ES].at == d.now
    d.send(position(ES, 10, "5999.5", at=d.now), account("49986.00"))
    assert d.acct.equity == D("49986.00") + D("1.5") * 10 * 50


def test_a_fill_as_old_as_the_quote_moves_nothing_and_a_quote_as_old_as_a_fill_wins() -> None:
    """Stamped the same instant, a quote and a fill cannot be ordered: the quote (it has the
    bid and ask) stands, whichever came first."""
    d = rule_driver(TrailingDrawdown, **INTRADAY)
    long_five(d)
    d.send(fill(ES, Side.BUY, 5, "5999", fees="7.00", order_id=41, at=d.now))
    assert mark(d) == (D("6000"), D("6000"), D("6000"))
    d.now += MS
    d.send(fill(ES, Side.BUY, 1, "5998", fees="1.40", order_id=42, at=d.now))
    assert mark(d) == (D("5998"), D("5998"), D("5998"))
    d.send(quote(ES, "5999", at=d.now))  # the same instant as the fill: taken
    assert mark(d) == (D("5999"), D("5999"), D("5999"))


@pytest.mark.parametrize(
    ("price", "last", "bid", "ask", "equity"),
    [
        # a buy limit filled below the bid (the market went down to it): the bid is the fill's
        ("5999", "5999", "5999", "5999.25", "49736.00"),
        # a buy stop filled above the ask (a run up): the ask is the fill's, the bid a spread
        # below it; the long is valued below the print, never at it (no tick of phantom)
        ("6002", "6002", "6001.75", "6002", "50361.00"),
        # inside the quote: only the last price moves
        ("5999.75", "5999.75", "5999.75", "6000", "49923.50"),
    ],
)
def test_in_liquidation_mode_the_bid_and_ask_move_only_as_far_as_the_print(
    price: str, last: str, bid: str, ask: str, equity: str
) -> None:
    """Long 5 ES at 6000, quoted 5999.75 bid / 6000 ask (the long valued at the bid); 5 more
    bought at ``price`` (the position at their average, the balance 49,986.00)."""
    d = liquidation_driver()
    long_five(d, bid="5999.75", ask="6000")
    assert d.acct.equity == D("49993.00") - D("62.50")
    d.now += MS
    d.send(fill(ES, Side.BUY, 5, price, fees="7.00", order_id=41, at=d.now))
    average = (D("6000") + D(price)) / 2
    d.send(position(ES, 10, str(average), at=d.now), account("49986.00"))
    assert mark(d) == (D(last), D(bid), D(ask))
    assert d.acct.equity == D(equity)
    assert peak(d) == max(D("50000"), D(equity))
    # never more than the long at the print itself
    assert d.acct.equity <= D("49986.00") + (D(price) - average) * 10 * 50


def test_in_liquidation_mode_a_short_is_never_valued_below_the_print() -> None:
    """Short 5 ES at 6000, quoted 6000 bid / 6000.25 ask (the short valued at the ask); a
    resting sell limit of 5 at 6001 fills (the market went up to it): the ask is 6001, the
    bid 6000.75, short 10 at 6000.50 reads -250 (at the old ask, +125: a peak of 50,111)."""
    d = liquidation_driver()
    d.send(fill(ES, Side.SELL, 5, "6000", fees="7.00", order_id=40, at=d.now))
    d.send(position(ES, 5, "6000", long=False, at=d.now), account("49993.00"))
    d.send(quote(ES, "6000", at=d.now, bid="6000", ask="6000.25"))
    d.now += MS
    d.send(fill(ES, Side.SELL, 5, "6001", fees="7.00", order_id=41, at=d.now))
    d.send(position(ES, 10, "6000.5", long=False, at=d.now), account("49986.00"))
    assert mark(d) == (D("6001"), D("6000.75"), D("6001"))
    assert d.acct.equity == D("49736.00")
    assert peak(d) == D("50000")


def test_the_print_moves_the_mark_of_every_account_holding_the_contract() -> None:
    """Two accounts long 5 ES at 6000; one's buy limit fills at 5999: the other's position is
    valued at 5999 too (as a quote would), and its peak takes nothing from the old quote."""
    d = Driver(rule_engine(TrailingDrawdown, **INTRADAY))
    other = Driver(d.engine, acc=1002)
    for each in (d, other):
        each.send(account(acc=each.acc))
        each.send(fill(ES, Side.BUY, 5, "6000", fees="7.00", order_id=40, acc=each.acc))
        each.send(position(ES, 5, "6000", acc=each.acc), account("49993.00", acc=each.acc))
    d.send(quote(ES, "6000", at=d.now))
    d.now = other.now = d.now + MS
    d.send(fill(ES, Side.BUY, 5, "5999", fees="7.00", order_id=41, at=d.now))
    assert other.acct.open_upnl == D("-250")  # 5 x -1 point x $50
    assert other.acct.equity == D("49743.00")
    assert peak(other) == D("50000")


def test_after_a_restart_the_print_is_the_mark_and_the_trade_read_again_moves_nothing() -> None:
    """The service stops between the fill and the next quote: the mark it keeps is the fill's
    (the position is valued at it, not at the quote before); the same trade read back, and a
    quote older than the fill, change nothing; a newer quote does."""
    d = rule_driver(TrailingDrawdown, **INTRADAY)
    long_five(d)
    d.now += MS
    f = fill(ES, Side.BUY, 5, "5999", fees="7.00", order_id=41, at=d.now)
    d.send(f, position(ES, 10, "5999.5", at=d.now), account("49986.00"))
    again = restart(d, lambda: rule_engine(TrailingDrawdown, **INTRADAY), at=d.now + MS)
    assert again.engine.marks[ES] == Mark(D("5999"), D("5999"), D("5999"), f.at)
    again.send(position(ES, 10, "5999.5", at=again.now), account("49986.00"))
    assert again.acct.equity == D("49736.00")
    assert peak(again) == D("50000")
    again.send(f)  # a duplicate: read back again
    again.send(quote(ES, "6000", at=f.at - MS))  # the quote before the fill, late
    assert again.acct.equity == D("49736.00")
    again.send(quote(ES, "5998.75", at=again.now))
    assert again.acct.equity == D("49986.00") - D("0.75") * 10 * 50
    assert peak(again) == D("50000")


def test_a_void_of_the_printing_trade_puts_the_mark_back() -> None:
    """The gateway voids the trade: it never happened, nor its price. The mark is the one
    before it again; a void of a trade whose print a newer one replaced leaves that one."""
    d = rule_driver(TrailingDrawdown, **INTRADAY)
    long_five(d)
    before = d.engine.marks[ES].at
    d.now += MS
    first = fill(ES, Side.BUY, 1, "5999", fees="1.40", order_id=41, at=d.now)
    d.send(first)
    d.send(replace(first, voided=True))
    assert mark(d) == (D("6000"), D("6000"), D("6000"))
    assert d.engine.marks[ES].at == before
    assert d.acct.open_upnl == 0
    second = fill(ES, Side.BUY, 1, "5999", fees="1.40", order_id=42, at=d.now)
    third = fill(ES, Side.BUY, 1, "5998.5", fees="1.40", order_id=43, at=d.now + MS)
    d.send(second, third)
    d.send(replace(second, voided=True))
    assert mark(d) == (D("5998.5"), D("5998.5"), D("5998.5"))


def test_a_fill_stamped_far_ahead_of_our_clock_and_one_without_a_mark_move_nothing() -> None:
    d = rule_driver(TrailingDrawdown, **INTRADAY)
    d.send(fill(ES, Side.BUY, 5, "6000", fees="7.00", order_id=40, at=d.now))
    assert ES not in d.engine.marks  # no mark yet: the position waits for its first quote
    d.send(position(ES, 5, "6000", at=d.now), account("49993.00"))
    d.send(quote(ES, "6000", at=d.now))
    d.send(fill(ES, Side.BUY, 1, "5990", order_id=41, at=d.now + timedelta(minutes=5)))
    assert mark(d) == (D("6000"), D("6000"), D("6000"))
    assert d.engine.marks[ES].at == d.now


def test_a_fill_stamped_ahead_of_our_clock_never_holds_back_the_quotes_after_it() -> None:
    """The gateway's clock 5 s ahead of ours: the shell puts the quotes' stamps on our time,
    a fill keeps the gateway's. The print is taken, stamped now: the next quote (on our time,
    before the fill's stamp) is no older than it, and moves the mark."""
    d = rule_driver(TrailingDrawdown, **INTRADAY)
    long_five(d)
    d.send(fill(ES, Side.BUY, 5, "5999", fees="7.00", order_id=41, at=d.now + timedelta(seconds=5)))
    assert mark(d) == (D("5999"), D("5999"), D("5999"))
    assert d.engine.marks[ES].at == d.now
    d.now += MS
    d.send(quote(ES, "5998.75", at=d.now))
    assert mark(d) == (D("5998.75"), D("5998.75"), D("5998.75"))


def test_of_two_fills_stamped_ahead_of_our_clock_the_older_moves_nothing() -> None:
    """Stamped ahead of our clock, the newer fill's print is marked now; the fill stamped
    before it, arriving after, is still older than the print: the mark stays the newer's."""
    d = rule_driver(TrailingDrawdown, **INTRADAY)
    long_five(d)
    d.send(fill(ES, Side.BUY, 1, "5999", order_id=41, at=d.now + timedelta(seconds=5)))
    d.send(fill(ES, Side.BUY, 1, "5998", order_id=42, at=d.now + timedelta(seconds=4)))
    assert mark(d) == (D("5999"), D("5999"), D("5999"))
    d.send(fill(ES, Side.BUY, 1, "5998.5", order_id=43, at=d.now + timedelta(seconds=6)))
    assert mark(d) == (D("5998.5"), D("5998.5"), D("5998.5"))
