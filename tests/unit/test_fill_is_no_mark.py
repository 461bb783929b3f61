"""Found by a review of "a fill is a print" (a fill newer than the mark moving the mark to its
price, reverted): a fill's price is never a mark. A limit filled at its limit beyond a gap, an
estimated bid, a mark's time moved back: each hid a loss or raised RULE-004's peak."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import Effect
from fsm_risk.core.events import Quote, Side
from fsm_risk.core.pnl import MarkMode
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
    rule_driver,
)

D = Decimal
MS = timedelta(milliseconds=300)


def long_ten(d: Driver) -> None:
    """Long 10 ES at 6000 (no fees), ES quoted 6000 / 5999.75 x 6000."""
    d.send(fill(ES, Side.BUY, 10, "6000", order_id=40, at=d.now))
    d.send(position(ES, 10, "6000", at=d.now), account("50000"))
    d.send(quote(ES, "6000", at=d.now, bid="5999.75", ask="6000"))


def gap_and_off_market_limit_fill(d: Driver) -> list[Effect]:
    """The market gaps down through a resting buy limit of 1 at 5999: the quote (last 5997,
    5996.75 x 5997) comes first; the sim fills the limit AT ITS LIMIT 5999 (as the paper
    gateway's `_evaluate` does for a resting limit), stamped after the quote. Long 11 at
    65,999 / 11. The market's truth: last 5997: (5997 x 11 - 65999) x 50 = -1,600."""
    d.now += MS
    out = d.send(quote(ES, "5997", at=d.now, bid="5996.75", ask="5997"))
    assert d.acct.day_pnl(with_unrealized=True) in (D("-1500"), D("-1625"))  # last / bid
    d.now += timedelta(milliseconds=20)
    out += d.send(fill(ES, Side.BUY, 1, "5999", order_id=41, at=d.now))
    out += d.send(position(ES, 11, str(D(65999) / 11), at=d.now), account("50000"))
    return out


def test_off_market_limit_fill_hides_a_daily_loss_while_no_trade_prints() -> None:
    """DLL 1,550. At the market's last (5997) the day is -1,600: the limit fires at the fill
    (it did before 1d4542d). The print (5999, a price the market never traded after the gap)
    values the long at -500; quotes that carry no lastPrice (no trade: only the bid and ask
    moved, as the SDK's quote handler allows) never take it back: the account stays Trading
    with the market's bid falling to 5995."""
    d = rule_driver(DailyLossLimit, limit="1550")
    long_ten(d)
    out = gap_and_off_market_limit_fill(d)
    for bid in ("5996.5", "5996", "5995.5", "5995"):
        d.now += MS
        out += d.send(Quote(ES, d.now, None, D(bid), D(bid) + D("0.25")))
    m = d.engine.marks[ES]
    assert closes(out), (m.last, d.acct.day_pnl(with_unrealized=True), d.acct.state)


def test_liquidation_mode_the_shifted_bid_sticks_while_only_the_ask_moves() -> None:
    """Liquidation mode, DLL 2,700. After the gap the long is valued at the bid 5996.75:
    (5996.75 x 11 - 65999) x 50 = -1,737.50; the bid never rises after. The print at 5999
    (above the 5997 ask) shifts the bid to 5998.75 (-637.50). Quotes that move only the ask
    leave that bid: with the real bid at 5996.75 and a 1-point-wide book, the account reads
    -637.50 (a real -1,737.50; the limit of 1,700 would have fired)."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "1700"}}, mark_mode=MarkMode.LIQUIDATION))
    d.send(account())
    long_ten(d)
    out = gap_and_off_market_limit_fill(d)
    for ask in ("5997.25", "5997.5", "5997.75"):
        d.now += MS
        out += d.send(Quote(ES, d.now, None, None, D(ask)))
    m = d.engine.marks[ES]
    assert closes(out), (m.bid, d.acct.day_pnl(with_unrealized=True), d.acct.state)


def test_a_print_clamped_to_now_lets_an_older_quote_overwrite_a_newer_one() -> None:
    """The gateway's clock 1.5 s ahead of ours (inside the 2 s the shell leaves alone: quotes
    keep the gateway's stamps). Long 10 ES at 6000, DLL 3,000. Q1 (stamped now+1.5 s) at
    5995: -2,500. A fill of another account stamped now+1.6 s prints 5995.25 and is marked
    NOW (c2e4d5c): the mark's time goes back 1.5 s. Q0, an older quote (now+1.2 s, delivered
    out of order, at 6000) is then taken: the long reads 0, its -2,500 gone, where before
    the fix Q0 was refused as older than Q1."""
    d = rule_driver(DailyLossLimit, limit="3000")
    other = Driver(d.engine, acc=1002)
    other.send(account(acc=1002))
    long_ten(d)
    ahead = d.now + timedelta(seconds=1)
    d.send(quote(ES, "5995", at=ahead + timedelta(milliseconds=500)))
    assert d.acct.day_pnl(with_unrealized=True) == D("-2500")
    other.send(
        fill(
            ES,
            Side.SELL,
            1,
            "5995.25",
            order_id=99,
            acc=1002,
            at=ahead + timedelta(milliseconds=600),
        )
    )  # another account's trade
    d.send(quote(ES, "6000", at=ahead + timedelta(milliseconds=200)))  # older than Q1
    m = d.engine.marks[ES]
    assert m.last != D("6000"), "an older quote overwrote the newer quote and print"


def test_liquidation_a_prints_guessed_bid_kept_by_ask_only_quotes_raises_the_peak() -> None:
    """Liquidation mode, RULE-004 intraday 2,000. Long 10 ES at 6000 quoted 5999.75 x 6000:
    equity 49,875 (peak 50,000). Another account's buy stop fills at 6002 (a spike through
    thin offers): the print moves the bid to 6001.75 (a guess: no quote ever showed it).
    The quotes after carry only the ask (6000.25, 6000.5: the bid unchanged at 5999.75, so
    not sent): the long stays valued at the guessed 6001.75 and the peak rises to 50,875
    (1.75 x 10 x 50 above 49,875): a floor $875 above any a quote made."""
    d = Driver(
        make_engine(
            {TrailingDrawdown: {"mode": "intraday", "drawdown": "2000"}},
            mark_mode=MarkMode.LIQUIDATION,
        )
    )
    d.send(account())
    a = Driver(d.engine, acc=1002)
    a.send(account(acc=1002))
    long_ten(d)
    assert d.acct.equity == D("49875")
    d.now = a.now = d.now + MS
    a.send(fill(ES, Side.BUY, 1, "6002", order_id=99, acc=1002, at=a.now))
    for ask in ("6000.25", "6000.5"):
        d.now += MS
        d.send(Quote(ES, d.now, None, None, D(ask)))
    peak = D(d.acct.rule_state["RULE-004"]["peak"])
    assert peak == D("50000"), "the peak rose on a bid no quote showed"
