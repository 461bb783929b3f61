"""Found by a review: a read's print built into a book. With ``mark = liquidation`` the last
quote's book (bid 21,000, ask 21,000.25, last trade 21,015: a spike print, no trade since)
values a long at its bid. The quotes stop; the read's bar close is that same old print, and
`rest_quote` built bid 21,014.75 from it, stamped fresh: a profit never made (a false RULE-005
flatten and lock), RULE-004's peak raised above any quoted equity."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.events import Side
from fsm_risk.core.models import Mark
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.silence import RestPricing, rest_quote
from fsm_risk.core.states import State
from fsm_risk.rules.daily_profit_target import DailyProfitTarget
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import MNQ, T0, Driver, account, closes, fill, make_engine, position, quote

D = Decimal
S = timedelta(seconds=1)
TICK = D("0.25")


def long_ten_after_a_spike(d: Driver) -> None:
    """Long 10 MNQ at 21,000; the last trade printed 21,015, the book 21,000 x 21,000.25."""
    d.send(account("50000"))
    d.send(fill(MNQ, Side.BUY, 10, "21000", order_id=7, at=d.now))
    d.send(position(MNQ, 10, "21000", at=d.now))
    d.send(quote(MNQ, "21015", at=d.now, bid="21000", ask="21000.25"))


def read_after_silence(d: Driver, price: str) -> list[object]:
    """The quotes stop for 31 s; the contract's price is read: ``price``."""
    p = RestPricing()
    m = d.engine.marks[MNQ]
    d.now = T0 + 31 * S
    p.update({MNQ: Mark(m.last, m.bid, m.ask, m.at)}, d.now)
    assert p.due(d.now) == [MNQ]
    p.answered(MNQ, d.now, D(price))
    s = p.contracts[MNQ]
    try:  # the fixed signature (the quote before the silence given)
        q = rest_quote(MNQ, D(price), d.now, s.spread, TICK, s)  # type: ignore[call-arg]
    except TypeError:  # as landed
        q = rest_quote(MNQ, D(price), d.now, s.spread, TICK)
    return list(d.send(q))


def test_an_old_print_read_again_is_no_profit_target() -> None:
    d = Driver(make_engine({DailyProfitTarget: {"target": "250"}}, mark_mode=MarkMode.LIQUIDATION))
    long_ten_after_a_spike(d)
    assert d.acct.day_pnl(with_unrealized=True) == D("0")  # at the bid 21,000
    out = read_after_silence(d, "21015")  # the same print: nothing traded since
    assert closes(out) == [], "flattened at a profit never made"
    assert d.acct.state is State.Trading
    assert d.acct.day_pnl(with_unrealized=True) == D("0")


def test_an_old_print_read_again_never_raises_the_peak() -> None:
    d = Driver(
        make_engine(
            {TrailingDrawdown: {"mode": "intraday", "drawdown": "2000"}},
            mark_mode=MarkMode.LIQUIDATION,
        )
    )
    long_ten_after_a_spike(d)
    assert d.acct.equity == D("50000")
    read_after_silence(d, "21015")
    peak = D(d.acct.rule_state["RULE-004"]["peak"])
    assert peak == D("50000"), "the peak rose on a bid no quote showed"


def test_a_new_print_is_still_priced_one_spread_on_the_losing_side() -> None:
    """The fix keeps the landed behaviour for a print that differs (the market traded)."""
    d = Driver(make_engine({DailyProfitTarget: {"target": "250"}}, mark_mode=MarkMode.LIQUIDATION))
    long_ten_after_a_spike(d)
    read_after_silence(d, "20990")  # a new trade, 10 below the bid
    m = d.engine.marks[MNQ]
    assert (m.last, m.bid, m.ask) == (D("20990"), D("20989.75"), D("20990.25"))
    assert d.acct.day_pnl(with_unrealized=True) == D("-205")  # (20989.75 - 21000) x 10 x 2
